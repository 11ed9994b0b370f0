"""The sample Logic App: its own function key, the key kept out of run history, and a workflow whose
expressions name only actions and parameters that exist."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from tests.infra.bicep import LOGIC_APP, WORKFLOW, body, only_resource, parse, variable
from tests.infra.workflow import expressions, load, references


@functools.cache
def workflow() -> dict[str, Any]:
    return load(WORKFLOW)


def http_action() -> tuple[str, dict[str, Any]]:
    actions = [(name, a) for name, a in workflow()["actions"].items() if a["type"] == "Http"]
    assert len(actions) == 1
    return actions[0]


def logic_app() -> dict[str, Any]:
    return only_resource(LOGIC_APP, "Microsoft.Logic/workflows")


# --- the function key ----------------------------------------------------------------------------


def test_logic_app_has_a_named_function_key_of_its_own() -> None:
    """Point 1: a host-level key for this caller alone (rotate it without touching others)."""
    template = parse(LOGIC_APP)
    keys = {n: r for n, r in template["resources"].items() if r["type"] == "Microsoft.Web/sites/host/functionKeys"}
    assert list(keys) == ["logicAppKey"]
    key = body(keys["logicAppKey"])
    assert key["parent"] == {
        "operator": {"type": "nested_resource_accessor", "operands": {"operand_1": "functionApp", "operand_2": "host"}}
    }
    assert key["name"] == key["properties"]["name"] == "functionKeyName"
    assert variable(template, "functionKeyName") == "name"
    assert "value" not in key["properties"], "let the platform generate the key"
    host = template["resources"]["functionApp__host"]
    assert host["existing"] is True and host["config"]["name"] == "default"


def test_logic_app_reads_its_own_key_by_symbol_after_creating_it() -> None:
    """Point 1: functionApp::host.listKeys().functionKeys[<own key>], not the host's default key or resourceId()."""
    value = logic_app()["properties"]["parameters"]["functionKey"]["value"]
    accessor = value["operator"]
    assert accessor["type"] == "nested_resource_accessor" and accessor["operands"]["operand_1"] == "functionApp"
    call, index = accessor["operands"]["operand_2"]["operator"]["operands"].values()
    assert call == {
        "operator": {"type": "function_accessor", "operands": {"operand_1": "host", "func_name": "listKeys"}}
    }
    assert index == {
        "operator": {
            "type": "index_accessor",
            "operands": {"operand_1": "functionKeys", "operand_2": "functionKeyName"},
        }
    }
    assert logic_app()["dependsOn"] == ["logicAppKey"]
    text = LOGIC_APP.read_text()
    assert "resourceId(" not in text and "listKeys(resourceId" not in text
    assert "functionKeys.default" not in text


def test_function_key_is_a_secure_string_sent_as_code() -> None:
    assert workflow()["parameters"]["functionKey"]["type"] == "SecureString"
    _, action = http_action()
    assert action["inputs"]["queries"] == {"code": "@parameters('functionKey')"}


def test_every_action_that_carries_or_reads_the_key_secures_inputs_and_outputs() -> None:
    """Point 1: ?code= comes back in Location and in the job's links, so outputs hold the key as well."""
    actions = workflow()["actions"]
    carrying = {name for name, action in actions.items() if ("parameters", "functionKey") in references(action)}
    assert carrying == {http_action()[0]}
    readers = {
        name
        for name, action in actions.items()
        if any(function != "parameters" and target in carrying for function, target in references(action))
    }
    assert readers, "the success and failure branches read the HTTP action's outputs"
    for name in carrying | readers:
        secured = actions[name].get("runtimeConfiguration", {}).get("secureData", {}).get("properties", [])
        assert set(secured) >= {"inputs", "outputs"}, f"{name}: secure inputs and outputs"


# --- the workflow definition ---------------------------------------------------------------------


def test_workflow_expressions_name_existing_actions_and_parameters() -> None:
    """Point 5: every body()/outputs()/actions() names an action, every parameters() a workflow parameter."""
    actions, parameters = workflow()["actions"], workflow()["parameters"]
    for name, action in actions.items():
        for function, target in references(action):
            known = parameters if function == "parameters" else actions
            assert target in known, f"{name}: {function}('{target}') names nothing"
            assert target != name, f"{name}: {function}('{target}') names itself"
        for after in action.get("runAfter", {}):
            assert after in actions, f"{name}: runAfter {after} names no action"


def test_workflow_expressions_are_balanced() -> None:
    for text in expressions(workflow()):
        inner = re.findall(r"@\{([^}]*)\}", text) or [text[1:]]
        for expression in inner:
            assert expression.count("(") == expression.count(")"), text
            assert expression.count("'") % 2 == 0, text


def test_logic_app_passes_every_required_workflow_parameter() -> None:
    app = logic_app()
    assert app["properties"]["definition"]["function"]["type"] == "load_json_content"
    assert app["properties"]["definition"]["function"]["parameters"]["file_path"] == WORKFLOW.name
    required = {name for name, p in workflow()["parameters"].items() if "defaultValue" not in p}
    assert required <= set(app["properties"]["parameters"])
    assert set(app["properties"]["parameters"]) <= set(workflow()["parameters"])


def test_logic_app_runs_weekly() -> None:
    (trigger,) = workflow()["triggers"].values()
    assert trigger["type"] == "Recurrence"
    assert trigger["recurrence"]["frequency"] == "Week"
    assert trigger["recurrence"]["interval"] == 1


def test_logic_app_posts_to_start_snapshot() -> None:
    inputs = http_action()[1]["inputs"]
    assert inputs["method"] == "POST"
    assert inputs["uri"].startswith("https://")
    assert inputs["uri"].endswith("/api/snapshots")
    assert inputs["headers"]["Idempotency-Key"] == "@{workflow().run.name}"
    assert set(inputs["body"]) == {"displayName", "resources"}


def test_logic_app_display_name_follows_graph_rules() -> None:
    template = http_action()[1]["inputs"]["body"]["displayName"]
    rendered = re.sub(r"@\{formatDateTime\(utcNow\(\), '([^']*)'\)\}", "20260427 0600", template)
    assert "@" not in rendered
    assert re.fullmatch(r"[A-Za-z0-9 ]{8,32}", rendered)


def test_logic_app_keeps_the_async_pattern_and_retries() -> None:
    action = http_action()[1]
    assert "DisableAsyncPattern" not in json.dumps(action)
    retry = action["inputs"]["retryPolicy"]
    assert retry["type"] in {"exponential", "fixed"}
    assert retry["count"] >= 1


def test_logic_app_branches_on_success_and_failure() -> None:
    name, _ = http_action()
    after = [a["runAfter"].get(name) for a in workflow()["actions"].values() if name in a.get("runAfter", {})]
    assert ["Succeeded"] in after
    assert any(statuses and {"Failed", "TimedOut"} <= set(statuses) for statuses in after)


def test_the_failure_message_reads_fields_the_failed_answers_really_have() -> None:
    """424 carries the job view, a rejected start a problem: the message must read a field of each."""
    from snapshot.openapi.schemas import component_schemas

    schemas = component_schemas("#/{model}")
    job_fields, problem_fields = set(schemas["JobView"]["properties"]), set(schemas["Problem"]["properties"])
    message = workflow()["actions"]["Snapshot_failed"]["inputs"]["runError"]["message"]
    read = set(re.findall(r"body\('Take_snapshot'\)\?\['([^']+)'\]", message))
    assert read, message
    assert read <= job_fields | problem_fields, read - (job_fields | problem_fields)
    assert read & job_fields and read & problem_fields, read
