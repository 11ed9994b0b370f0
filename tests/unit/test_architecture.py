"""The layout holds: imports flow one way (triggers -> use cases -> adapters and domain -> settings), no
import cycle (type-only imports count), no module over 400 lines, no tracked file pointing outside the repo."""

from __future__ import annotations

import ast
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400

# Lower layers never import higher ones. A module's layer is its longest matching prefix.
LAYERS = {
    "snapshot.settings": 0,
    "snapshot.errors": 0,
    "snapshot.catalogue": 0,
    "snapshot.models": 1,
    "snapshot.views": 1,
    "snapshot.content": 1,
    "snapshot.diff": 1,
    "snapshot.report": 1,
    "snapshot.callbacks.urls": 1,
    "snapshot.callbacks.policy": 1,
    "snapshot.baseline": 1,
    "snapshot.monitoring": 1,
    "snapshot.recent": 1,
    "snapshot.tenancy": 1,
    "snapshot.callbacks": 2,  # the package and delivery: I/O
    "snapshot.graph": 2,
    "snapshot.identity": 2,
    "snapshot.queues": 2,
    "snapshot.onboarding": 1,
    "snapshot.fleet": 1,
    "snapshot.rounds": 1,
    "snapshot.monitor_graph": 2,
    "snapshot.store": 2,
    "snapshot.clients": 2,
    "snapshot.usecases": 3,
    "snapshot.openapi": 3,
    "snapshot.http_support": 4,
    "snapshot.http_api": 4,
    "snapshot.http_fleet": 4,
    "snapshot.poller": 4,
    "snapshot": 0,  # the package's own __init__
    "function_app": 5,
}
LAYER_NAMES = ["settings and errors", "domain", "adapters", "use cases", "triggers", "function_app"]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    files = [*ROOT.glob("snapshot/**/*.py"), *ROOT.glob("devtools/**/*.py"), ROOT / "function_app.py"]
    return {module_name(path): path for path in files}


def imports_of(name: str) -> set[str]:
    """The project's modules that `name` imports anywhere in its body, type-only imports included."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*kept, base] if base else kept)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        found.update(t for t in targets if t in modules() and t != name)
    return found


def layer(name: str) -> int | None:
    matches = [prefix for prefix in LAYERS if name == prefix or name.startswith(prefix + ".")]
    return LAYERS[max(matches, key=len)] if matches else None


def test_imports_flow_from_triggers_down_to_settings() -> None:
    wrong = []
    for name in modules():
        own = layer(name)
        if own is None:
            continue
        for target in imports_of(name):
            theirs = layer(target)
            if theirs is not None and theirs > own:
                wrong.append(f"{name} ({LAYER_NAMES[own]}) imports {target} ({LAYER_NAMES[theirs]})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle() -> None:
    graph = {name: imports_of(name) for name in modules()}
    state: dict[str, int] = {}  # 1 on the path, 2 done
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "\n".join(" -> ".join(cycle) for cycle in cycles)


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_stays_small_and_says_its_job(name: str) -> None:
    path = modules()[name]
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_LINES, f"{path.relative_to(ROOT)} has over {MAX_LINES} lines"
    if text.strip():
        assert ast.get_docstring(ast.parse(text)), f"{path.relative_to(ROOT)} has no docstring saying its job"


def test_no_tracked_file_points_outside_the_repository() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    outside = "../" + "shared"
    offenders = [
        name
        for name in tracked.splitlines()
        if (ROOT / name).is_file() and outside in (ROOT / name).read_text(encoding="utf-8", errors="ignore")
    ]
    assert not offenders, offenders


def test_the_architecture_document_names_every_snapshot_module() -> None:
    document = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    files = sorted(str(path.relative_to(ROOT)) for path in ROOT.glob("snapshot/**/*.py"))
    missing = [name for name in files if f"`{name}`" not in document]
    assert not missing, f"docs/ARCHITECTURE.md does not name: {missing}"


def test_the_readme_layout_names_every_module() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout") :]
    stems = {path.stem for path in ROOT.glob("snapshot/**/*.py") if path.stem != "__init__"}
    stems |= {path.name for path in ROOT.glob("snapshot/*/") if (path / "__init__.py").exists()}
    missing = sorted(stem for stem in stems if f"`{stem}" not in layout)
    assert not missing, f"README's Layout does not name: {missing}"
