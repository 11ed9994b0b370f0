"""Strict checks: the linter rules that matter are errors, CI pins its tools and fails on warnings, azd is wired."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.infra.bicep import AZURE_YAML, BICEPCONFIG, CI_WORKFLOW, MAIN, ROOT, body, parse

# Linter rules whose findings must fail the build (https://learn.microsoft.com/azure/azure-resource-manager/bicep/linter).
REQUIRED_ERROR_RULES = {
    "no-hardcoded-env-urls",
    "no-unused-params",
    "no-unused-vars",
    "no-unused-existing-resources",
    "no-unnecessary-dependson",
    "outputs-should-not-contain-secrets",
    "secure-parameter-default",
    "secure-params-in-nested-deploy",
    "secure-secrets-in-params",
    "use-resource-symbol-reference",
    "use-parent-property",
    "use-secure-value-for-secure-inputs",
    "use-stable-resource-identifiers",
    "no-loc-expr-outside-params",
    "explicit-values-for-loc-params",
}

SHA_PINNED = re.compile(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}")


def ci() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CI_WORKFLOW.read_text())
    return loaded


def runs(job: str) -> str:
    return "\n".join(step.get("run", "") for step in ci()["jobs"][job]["steps"])


def test_bicepconfig_makes_the_rules_that_matter_errors() -> None:
    analyzers = json.loads(BICEPCONFIG.read_text())["analyzers"]["core"]
    assert analyzers["enabled"] is True
    levels = {rule: config["level"] for rule, config in analyzers["rules"].items()}
    assert {rule for rule in REQUIRED_ERROR_RULES if levels.get(rule) != "error"} == set()


def test_every_action_is_pinned_to_a_commit_sha() -> None:
    uses = [step["uses"] for job in ci()["jobs"].values() for step in job["steps"] if "uses" in step]
    assert uses
    assert [u for u in uses if not SHA_PINNED.fullmatch(u)] == []


def test_ci_pins_the_bicep_version_and_installs_that_one() -> None:
    version = ci()["env"]["BICEP_VERSION"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", version)
    major, minor, _ = (int(part) for part in version[1:].split("."))
    assert (major, minor) >= (0, 36), "the Graph extension needs Bicep 0.36.1 or later"
    for job in ("bicep", "cloud-validate"):
        assert 'az bicep install --version "$BICEP_VERSION"' in runs(job)


def test_ci_builds_every_bicep_file_and_fails_on_warnings() -> None:
    bicep = runs("bicep")
    assert "find infra -name '*.bicep'" in bicep
    assert "az bicep build --file" in bicep
    assert "az bicep build-params --file infra/main.bicepparam" in bicep
    assert bicep.count("grep -Eq ': (Warning|Error) '") >= 2, "a warning from a build must fail the job"
    assert "set -euo pipefail" in bicep


def test_ci_validates_and_runs_what_if_when_cloud_credentials_exist() -> None:
    job = ci()["jobs"]["cloud-validate"]
    assert "vars.AZURE_CLIENT_ID" in job["if"]
    assert job["permissions"]["id-token"] == "write"
    commands = runs("cloud-validate")
    assert "az deployment group validate" in commands
    assert "az deployment group what-if" in commands
    assert "-p infra/main.bicepparam" in commands


def test_ci_runs_the_tests() -> None:
    uses = {step.get("uses", "") + json.dumps(step.get("with", {})) for step in ci()["jobs"]["test"]["steps"]}
    assert "make test" in runs("test")
    assert any("setup-python" in u and '"3.11"' in u for u in uses)
    assert any("setup-node" in u and '"20"' in u for u in uses)


def test_azure_yaml_provisions_main_and_deploys_the_function_app() -> None:
    config = yaml.safe_load(AZURE_YAML.read_text())
    assert config["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    assert config["services"]["api"] == {"project": ".", "language": "python", "host": "function"}
    call = body(parse(MAIN)["modules"]["functionApp"])
    assert call["params"]["siteTags"] == {"'azd-service-name'": "api"}


def test_pyyaml_is_declared_not_inherited() -> None:
    """These tests import yaml unconditionally: it must be a declared, pinned dependency."""
    requirements = (ROOT / "requirements-dev.txt").read_text()
    assert re.search(r"^PyYAML>=[\d.]+,<\d+$", requirements, re.MULTILINE | re.IGNORECASE)
    skip_if_missing = "pytest.importor" + "skip("
    for path in sorted(Path(__file__).parent.glob("*.py")):
        assert skip_if_missing not in path.read_text(), path.name
