"""Helpers for the offline checks of infra/: parse Bicep with pycep-parser and walk its expression trees.

No Bicep CLI runs here (CI runs `az bicep build` with the pinned version), so the tests read the parsed
templates. pycep gives every expression as a small tree: a plain value, a name (parameter, variable,
resource), or {"function": {"type", "parameters"}} / {"operator": {"type", "operands"}}.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

MAIN = INFRA / "main.bicep"
PARAMS = INFRA / "main.bicepparam"
STORAGE = INFRA / "modules" / "storage.bicep"
MONITORING = INFRA / "modules" / "monitoring.bicep"
FUNCTION_APP = INFRA / "modules" / "functionapp.bicep"
IDENTITY = INFRA / "modules" / "identity.bicep"
RBAC = INFRA / "modules" / "rbac.bicep"
APP_REGISTRATION = INFRA / "modules" / "app-registration.bicep"
GRAPH = INFRA / "graph-permissions.bicep"
LOGIC_APP = INFRA / "logicapp-sample.bicep"
WORKFLOW = INFRA / "logicapp-workflow.json"
REPORT_LOGIC_APP = INFRA / "logicapp-report.bicep"
REPORT_WORKFLOW = INFRA / "logicapp-report-workflow.json"
FLEET_LOGIC_APP = INFRA / "logicapp-fleet.bicep"
FLEET_WORKFLOW = INFRA / "logicapp-fleet-workflow.json"
BICEPCONFIG = INFRA / "bicepconfig.json"
CI_WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
AZURE_YAML = ROOT / "azure.yaml"


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    return cast(dict[str, Any], BicepParser().parse(file_path=path))


def parse_text(text: str) -> dict[str, Any]:
    return cast(dict[str, Any], BicepParser().parse(text=text))


def body(declaration: dict[str, Any]) -> dict[str, Any]:
    """The properties of a resource or module, without the loop or `if (...)` wrapper around them."""
    config: dict[str, Any] = declaration["config"]
    while "loop_type" in config or ("condition" in config and "config" in config):
        config = config["config"]
    return config


def condition(declaration: dict[str, Any]) -> Any:
    """The `if (...)` condition of a resource or module; None when it has none."""
    return declaration["config"].get("condition") if "config" in declaration["config"] else None


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: res
        for name, res in template.get("resources", {}).items()
        if res["type"].lower() == resource_type.lower() and not res["existing"]
    }


def only_resource(path: Path, resource_type: str) -> dict[str, Any]:
    found = resources_of_type(parse(path), resource_type)
    assert len(found) == 1, f"{path.name}: expected one {resource_type}, found {sorted(found)}"
    return body(next(iter(found.values())))


def modules_calling(path: Path, module_path: str) -> dict[str, dict[str, Any]]:
    return {name: m for name, m in parse(path).get("modules", {}).items() if m["detail"]["path"] == module_path}


def branches(value: Any) -> list[Any]:
    """Both outcomes of a `cond ? a : b` expression (recursively); any other value as is."""
    if isinstance(value, dict) and value.get("operator", {}).get("type") == "conditional":
        operands = value["operator"]["operands"]
        return branches(operands["true_value"]) + branches(operands["false_value"])
    return [value]


def variable(template: dict[str, Any], name: str) -> Any:
    return template["variables"][name]["value"]


def decorator(parameter: dict[str, Any], kind: str) -> Any:
    """The argument of a parameter's @kind(...) decorator; None when it has none."""
    return next((d["argument"] for d in parameter["decorators"] if d["type"] == kind), None)


def unquote(key: str) -> str:
    return key[1:-1] if key.startswith("'") and key.endswith("'") else key


def object_keys(template: dict[str, Any], value: Any, bindings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Keys (and values) an object expression can have: literal objects, union(), `?:`, variables,
    parameter defaults, and `bindings` (values a module's caller passes to parameters)."""
    bindings = bindings or {}
    if isinstance(value, dict) and value.get("function", {}).get("type") == "fail":
        return {}  # a branch that stops the deployment gives no settings
    if isinstance(value, dict) and "function" in value:
        assert value["function"]["type"] == "union", f"cannot read the keys of {value}"
        merged: dict[str, Any] = {}
        for argument in value["function"]["parameters"].values():
            merged.update(object_keys(template, argument, bindings))
        return merged
    if isinstance(value, dict) and "operator" in value:
        merged = {}
        for branch in branches(value):
            merged.update(object_keys(template, branch, bindings))
        return merged
    if isinstance(value, dict):
        return {unquote(key): item for key, item in value.items()}
    if isinstance(value, str) and value in bindings:
        caller, expression = bindings[value]
        return object_keys(caller, expression)
    if isinstance(value, str) and value in template.get("variables", {}):
        return object_keys(template, variable(template, value), bindings)
    if isinstance(value, str) and value in template.get("parameters", {}):
        return object_keys(template, template["parameters"][value]["default"] or {}, bindings)
    raise AssertionError(f"cannot read the keys of {value!r}")


def strings(value: Any) -> Iterator[str]:
    """Every string in an expression tree (names and literals alike)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def resolved_strings(template: dict[str, Any], value: Any) -> set[str]:
    """Strings of an expression, with variable names replaced by their string values."""
    variables = template.get("variables", {})
    return {
        variables[s]["value"] if s in variables and isinstance(variables[s]["value"], str) else s
        for s in strings(value)
    }


def property_access(operand: Any, name: Any) -> dict[str, Any]:
    """The tree of `operand.name`."""
    return {"operator": {"type": "property_accessor", "operands": {"operand_1": operand, "operand_2": name}}}


# --- evaluating string expressions (for resource names) --------------------------------------------

_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def unique_string(*values: str) -> str:
    """A stand-in for ARM's uniqueString(): 13 characters of [a-z0-9], deterministic per input."""
    digest = hashlib.sha256("|".join(values).encode()).hexdigest()
    return (digest[0] if digest[0].isalpha() else "a") + digest[1:13]


def evaluate(template: dict[str, Any], value: Any, parameters: dict[str, Any]) -> Any:
    """Evaluates the small subset of Bicep that names are built with: literals, `${name}` interpolation
    of variables and parameters, toLower, replace, take, uniqueString, subscription().id, resourceGroup().id."""
    if isinstance(value, str):
        if value in parameters:
            return parameters[value]
        if value in template.get("variables", {}):
            return evaluate(template, variable(template, value), parameters)
        return _INTERPOLATION.sub(lambda m: str(evaluate(template, m.group(1), parameters)), value)
    if isinstance(value, int | bool) or value is None:
        return value
    if "operator" in value and value["operator"]["type"] == "property_accessor":
        operands = value["operator"]["operands"]
        base = operands["operand_1"]
        if (
            isinstance(base, dict)
            and "function" in base
            and base["function"]["type"] in {"subscription", "resource_group"}
        ):
            return f"/{base['function']['type']}/{operands['operand_2']}"
    if "function" in value:
        function, arguments = value["function"]["type"], value["function"]["parameters"]
        args = [evaluate(template, a, parameters) for a in arguments.values() if a is not None]
        if function == "to_lower":
            return str(args[0]).lower()
        if function == "replace":
            return str(args[0]).replace(str(args[1]), str(args[2]))
        if function == "take":
            return args[0][: args[1]]
        if function == "unique_string":
            return unique_string(*map(str, args))
    raise AssertionError(f"cannot evaluate {json.dumps(value)}")


def workflow_parameters(path: Path) -> dict[str, Any]:
    """The parameters a Logic App's bicep passes to its workflow, by name."""
    workflow = only_resource(path, "Microsoft.Logic/workflows")
    return {key.strip("'"): value for key, value in workflow["properties"]["parameters"].items()}
