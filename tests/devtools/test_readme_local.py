"""The README's local instructions do what they say: Core Tools get every service they need, and the
emulator routes it shows exist (checked against the emulator's own listing)."""

from __future__ import annotations

import re

from devtools import services
from devtools.emulator_client import EmulatorControl

README = (services.ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"### {title}")
    return README[start : re.compile(r"\n##+ ").search(README, start + 4).start()]  # type: ignore[union-attr]


def test_the_core_tools_steps_start_blob_storage_and_say_how_the_venv_is_used() -> None:
    steps = section("Under Azure Functions Core Tools")
    assert "make setup" in steps and steps.index("make setup") < steps.rindex("func start")
    azurite = next(line for line in steps.splitlines() if line.startswith("npx azurite"))
    assert azurite.split()[1] == "azurite", "all of Azurite: the timer trigger needs Blob storage"
    assert (services.ROOT / "node_modules" / ".bin" / "azurite").exists()
    assert "--disableTelemetry" in azurite  # as make run starts it
    assert "source .venv/bin/activate" in steps and "-m devtools.emulator" in steps


def test_the_readme_shows_three_emulator_routes_that_exist_and_says_jobs_live_in_memory(
    emulator: EmulatorControl,
) -> None:
    text = section("Driving the Graph emulator")
    assert "in memory" in text and "/_emulator/`" in text
    shown = re.findall(r"curl -s -X (\w+) http://127\.0\.0\.1:7072(/_emulator/\S+)", text)
    assert len(shown) == 3, shown
    listed = {(r["method"], re.sub(r"\{[^}]+\}", "<id>", r["path"])) for r in emulator.routes()}
    for method, path in shown:
        assert (method, path) in listed, (method, path, sorted(listed))
