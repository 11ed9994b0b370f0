"""Reading Logic App workflow definitions: their expressions, the names those expressions refer to, and
the actions at every depth (inside If, Switch and Scope actions)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Workflow expression functions that name another action, and the ones that name a workflow parameter.
ACTION_FUNCTIONS = ("body", "outputs", "actions", "result", "actionBody", "actionOutputs")
NAME_REFERENCE = re.compile(r"\b(" + "|".join(ACTION_FUNCTIONS) + r"|parameters)\('([^']*)'\)")


def load(path: Path) -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(path.read_text())
    return definition


def expressions(value: Any) -> Iterator[str]:
    """Every workflow expression string (starting with @, or holding @{...}) in a definition."""
    if isinstance(value, str) and (value.startswith("@") or "@{" in value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from expressions(item)


def own_parts(action: dict[str, Any]) -> dict[str, Any]:
    """An action without the actions nested in it (so its references are its own)."""
    return {key: value for key, value in action.items() if key not in ("actions", "else", "cases", "default")}


def references(action: dict[str, Any]) -> set[tuple[str, str]]:
    """(function, name) for every action or parameter the action's own expressions name."""
    return {match for text in expressions(own_parts(action)) for match in NAME_REFERENCE.findall(text)}


def scopes(actions: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """`actions` and every block of actions nested in them (If branches, Switch cases, Scope bodies)."""
    yield actions
    for action in actions.values():
        nested = [
            action.get("actions"),
            action.get("else", {}).get("actions"),
            action.get("default", {}).get("actions"),
        ]
        nested += [case.get("actions") for case in action.get("cases", {}).values()]
        for block in nested:
            if block:
                yield from scopes(block)


def all_actions(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every action of a definition by name, at any depth (names are unique across a workflow)."""
    found: dict[str, dict[str, Any]] = {}
    for block in scopes(definition["actions"]):
        for name, action in block.items():
            assert name not in found, f"action name {name} is used twice"
            found[name] = action
    return found


def secured(action: dict[str, Any]) -> set[str]:
    """What an action keeps out of run history (`runtimeConfiguration.secureData.properties`)."""
    return set(action.get("runtimeConfiguration", {}).get("secureData", {}).get("properties", []))


def outlook_mail_inputs(mail: dict[str, Any], page_action: str) -> dict[str, Any]:
    """The inputs of an Office 365 "Send an email (V2)" action that sends `page_action`'s body as its HTML body
    to `mailTo` through the workflow's office365 connection (asserted here); for the caller's own checks."""
    assert mail["type"] == "ApiConnection"
    inputs: dict[str, Any] = mail["inputs"]
    assert inputs["host"]["connection"]["name"] == "@parameters('$connections')['office365']['connectionId']"
    assert (inputs["method"], inputs["path"]) == ("post", "/v2/Mail")  # Send an email (V2)
    assert inputs["body"]["Body"] == f"@{{body('{page_action}')}}"
    assert inputs["body"]["To"] == "@parameters('mailTo')"
    return inputs
