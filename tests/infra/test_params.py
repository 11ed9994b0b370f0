"""main.bicepparam against main.bicep: every value has its parameter's type and respects its allowed values and bounds."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest

from tests.infra.bicep import MAIN, PARAMS, decorator, parse, parse_text

# The Bicep types of main.bicep's parameters, as Python types of the parsed values.
PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "int": (int,),
    "bool": (bool,),
    "object": (dict,),
    "array": (list,),
}


@functools.cache
def assigned() -> dict[str, Any]:
    """The parameter file's values, parsed by pycep-parser (which cannot read `using`): each `param X = V`
    is read as `var X = V`."""
    text = PARAMS.read_text()
    body = re.sub(r"^using\s+.*$", "", text, flags=re.MULTILINE)
    body = re.sub(r"^param(\s+\w+\s*=)", r"var\1", body, flags=re.MULTILINE)
    return {name: declaration["value"] for name, declaration in parse_text(body).get("variables", {}).items()}


def value_of(expression: Any) -> Any:
    """A value as main.bicep receives it: readEnvironmentVariable(name, default) gives its default here."""
    if isinstance(expression, dict) and expression.get("function", {}).get("type") == "readEnvironmentVariable":
        arguments = list(expression["function"]["parameters"].values())
        assert len(arguments) == 2, "give every readEnvironmentVariable() a default, so the file builds anywhere"
        return arguments[1]
    return expression


def test_bicepparam_uses_main_and_sets_only_its_parameters() -> None:
    text = PARAMS.read_text()
    assert re.search(r"^using\s+'\./main\.bicep'\s*$", text, re.MULTILINE)
    parameters = parse(MAIN)["parameters"]
    assert set(assigned()) <= set(parameters), f"unknown parameters: {set(assigned()) - set(parameters)}"
    required = {name for name, param in parameters.items() if param["default"] is None}
    assert required <= set(assigned()), f"parameters without a value: {required - set(assigned())}"


def test_bicepparam_is_read_whole() -> None:
    """Every `param` line became a value: a value the parser dropped would escape the checks below."""
    lines = re.findall(r"^param\s+(\w+)\s*=", PARAMS.read_text(), re.MULTILINE)
    assert sorted(lines) == sorted(assigned())


@pytest.mark.parametrize("name", sorted(assigned()))
def test_bicepparam_value_fits_the_parameter(name: str) -> None:
    parameter = parse(MAIN)["parameters"][name]
    value = value_of(assigned()[name])
    expected = PYTHON_TYPES[parameter["type"]]
    # A bool is an int in Python: check both ways. (No isinstance() in the assert: mypy would narrow to object.)
    fits = isinstance(value, expected) and isinstance(value, bool) == (parameter["type"] == "bool")
    assert fits, f"{name}: {value!r} is not a {parameter['type']}"
    allowed = decorator(parameter, "allowed")
    if allowed is not None:
        assert value in allowed, f"{name}: {value!r} is not one of {allowed}"
    if decorator(parameter, "min_value") is not None:
        assert value >= decorator(parameter, "min_value"), name
    if decorator(parameter, "max_value") is not None:
        assert value <= decorator(parameter, "max_value"), name
    if decorator(parameter, "min_length") is not None:
        assert len(value) >= decorator(parameter, "min_length"), name
    if decorator(parameter, "max_length") is not None:
        assert len(value) <= decorator(parameter, "max_length"), name


def test_environment_values_come_from_azd() -> None:
    environment = {
        name: value["function"]["parameters"]["arg_1"]
        for name, value in assigned().items()
        if isinstance(value, dict) and value.get("function", {}).get("type") == "readEnvironmentVariable"
    }
    assert environment == {
        "environmentName": "AZURE_ENV_NAME",
        "deployerPrincipalId": "AZURE_PRINCIPAL_ID",
        # Not an azd variable: the app setting's own name (azd env set SNAPSHOT_TENANCY multi).
        "tenancy": "SNAPSHOT_TENANCY",
    }
