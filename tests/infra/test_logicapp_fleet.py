"""The fleet Logic App: weekly round (a snapshot in every working tenant, followed by the asynchronous pattern)
-> the fleet's HTML page -> sent by mail (Office 365 Outlook connection) or to a Teams Workflows webhook. Its
expressions name only actions and parameters that exist, its requests match what the app's fleet API reads and
answers, every action handling the key (or the webhook URL) is secured, and the Bicep with the connection parses."""

from __future__ import annotations

import functools
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from snapshot.fleet import Group
from snapshot.rounds import TIMEOUT_DEFAULT, TIMEOUT_MAX, TIMEOUT_MIN, RoundRequest
from tests.infra.bicep import (
    FLEET_LOGIC_APP,
    FLEET_WORKFLOW,
    body,
    decorator,
    only_resource,
    parse,
    variable,
    workflow_parameters,
)
from tests.infra.workflow import all_actions, expressions, load, outlook_mail_inputs, references, scopes, secured

SCHEMA = "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#"
SECRETS = {"functionKey", "teamsWebhookUrl"}
# The X-Fleet-* headers GET /api/fleet/report answers (snapshot/http_fleet.py), one per group.
FLEET_HEADERS = {group: f"X-Fleet-{group.value.capitalize()}" for group in Group}
ROUND_COUNTS = ("stored", "failed", "timedOut")
HEADER = "outputs('Get_fleet_report')?['headers']?['{}']"

# What the workflow definition language allows (https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-definition-language).
PARAMETER_TYPES = {"Array", "Bool", "Float", "Int", "Object", "SecureObject", "SecureString", "String"}
PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {"Array": list, "Bool": bool, "Int": int, "Object": dict}
ACTION_TYPES = {"Http", "ApiConnection", "Compose", "If", "Switch", "Terminate"}
RUN_AFTER_STATUSES = {"Succeeded", "Failed", "Skipped", "TimedOut"}
ISO_DURATION = re.compile(r"P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?")


@functools.cache
def definition() -> dict[str, Any]:
    return load(FLEET_WORKFLOW)


def actions() -> dict[str, dict[str, Any]]:
    return all_actions(definition())


def template() -> dict[str, Any]:
    return parse(FLEET_LOGIC_APP)


def duration(text: str) -> timedelta:
    match = ISO_DURATION.fullmatch(text)
    assert match and text not in ("P", "PT"), f"{text!r} is not an ISO 8601 duration"
    return timedelta(**{unit: int(value) for unit, value in match.groupdict().items() if value})


# --- the workflow definition ---------------------------------------------------------------------


def test_the_definition_is_a_workflow_definition() -> None:
    """The shape the Logic Apps schema requires: its $schema, parameters with their types, known action types."""
    definition_ = definition()
    assert definition_["$schema"] == SCHEMA and definition_["contentVersion"] == "1.0.0.0"
    assert set(definition_) == {"$schema", "contentVersion", "parameters", "triggers", "actions", "outputs"}
    for name, parameter in definition_["parameters"].items():
        assert parameter["type"] in PARAMETER_TYPES, name
        assert parameter["metadata"]["description"].strip(), f"{name}: describe it"
        if "defaultValue" in parameter and parameter["type"] in PYTHON_TYPES:
            assert isinstance(parameter["defaultValue"], PYTHON_TYPES[parameter["type"]]), name
        if "allowedValues" in parameter and "defaultValue" in parameter:
            assert parameter["defaultValue"] in parameter["allowedValues"], name
    for name, action in actions().items():
        assert action["type"] in ACTION_TYPES, f"{name}: {action['type']}"
        assert "runAfter" in action, f"{name}: runAfter is required"
        for statuses in action["runAfter"].values():
            assert statuses and set(statuses) <= RUN_AFTER_STATUSES, f"{name}: {statuses}"
    roots = [n for n, a in definition_["actions"].items() if a["runAfter"] == {}]
    assert roots == ["Round_request"], "one first action, after the trigger"


def test_expressions_name_only_existing_actions_and_parameters() -> None:
    known_actions, parameters = actions(), definition()["parameters"]
    assert len(known_actions) >= 9
    for name, action in known_actions.items():
        for function, target in references(action):
            known = parameters if function == "parameters" else known_actions
            assert target in known, f"{name}: {function}('{target}') names nothing"
            assert target != name, f"{name}: {function}('{target}') names itself"
    for block in scopes(definition()["actions"]):
        for name, action in block.items():
            for after in action.get("runAfter", {}):
                assert after in block, f"{name}: runAfter {after} is not an action of the same scope"
    used = {target for action in known_actions.values() for f, target in references(action) if f == "parameters"}
    assert used == set(parameters), f"unused workflow parameters: {sorted(set(parameters) - used)}"


def test_expressions_are_balanced() -> None:
    for text in expressions(definition()):
        inner = [part.split("}", 1)[0] for part in text.split("@{")[1:]] or [text[1:]]
        for expression in inner:
            assert expression.count("(") == expression.count(")"), text
            assert expression.count("'") % 2 == 0, text


def test_it_runs_every_week() -> None:
    (trigger,) = definition()["triggers"].values()
    assert trigger["type"] == "Recurrence"
    recurrence = trigger["recurrence"]
    assert (recurrence["frequency"], recurrence["interval"]) == ("Week", 1)
    assert len(recurrence["schedule"]["weekDays"]) == 1, "one run a week"
    assert len(recurrence["schedule"]["hours"]) == len(recurrence["schedule"]["minutes"]) == 1


def test_every_action_that_handles_the_key_or_the_webhook_secures_inputs_and_outputs() -> None:
    """The key goes out as ?code= and comes back in the round's Location; the webhook URL is signed."""
    every = actions()
    carrying = {n for n, a in every.items() if any(f == "parameters" and t in SECRETS for f, t in references(a))}
    assert carrying == {"Start_round", "Get_fleet_report", "Post_to_Teams"}
    readers = {n for n, a in every.items() if any(f != "parameters" and t in carrying for f, t in references(a))}
    assert readers >= {"Attention_and_changed", "Send_fleet_report_by_mail", "Round_failed", "Fleet_report_failed"}
    for name in carrying | readers:
        assert secured(every[name]) >= {"inputs", "outputs"}, f"{name}: secure inputs and outputs"
    for name in SECRETS:
        assert definition()["parameters"][name]["type"] == "SecureString"
    for name in ("Start_round", "Get_fleet_report"):
        assert every[name]["inputs"]["queries"] == {"code": "@parameters('functionKey')"}, name


def test_start_round_posts_the_round_request_and_follows_the_asynchronous_pattern() -> None:
    every = actions()
    start = every["Start_round"]
    inputs = start["inputs"]
    assert start["type"] == "Http" and inputs["method"] == "POST"
    assert inputs["uri"] == "https://@{parameters('functionHost')}/api/fleet/rounds"
    assert start["runAfter"] == {"Round_request": ["Succeeded"]}
    # A retry after a 5xx that came too late returns the round the first attempt started (same key).
    assert inputs["headers"]["Idempotency-Key"] == "@{workflow().run.name}"
    # The 202 + Location pattern, as logicapp-report's Take_snapshot: not disabled in any way.
    assert "DisableAsyncPattern" not in json.dumps(start) and "operationOptions" not in start
    # The body: timeoutMinutes always, resourceTypes only when the parameter names some (the API refuses []).
    request = every["Round_request"]
    assert request["type"] == "Compose" and request["inputs"] == {"timeoutMinutes": "@parameters('timeoutMinutes')"}
    assert inputs["body"] == (
        "@if(empty(parameters('resourceTypes')), outputs('Round_request'), "
        "setProperty(outputs('Round_request'), 'resourceTypes', parameters('resourceTypes')))"
    )
    assert set(request["inputs"]) | {"resourceTypes"} == set(RoundRequest.model_fields)
    with pytest.raises(ValidationError):  # why resourceTypes is left out rather than sent empty
        RoundRequest(resourceTypes=[])
    parameters = definition()["parameters"]
    assert parameters["timeoutMinutes"]["type"] == "Int"
    assert parameters["timeoutMinutes"]["defaultValue"] == TIMEOUT_DEFAULT
    assert parameters["resourceTypes"]["type"] == "Array" and parameters["resourceTypes"]["defaultValue"] == []


def test_start_round_retries_and_waits_long_enough_for_the_longest_round() -> None:
    start = actions()["Start_round"]
    retry = start["inputs"]["retryPolicy"]
    assert retry == actions()["Get_fleet_report"]["inputs"]["retryPolicy"]
    assert retry["type"] == "exponential" and 1 <= retry["count"] <= 90  # retried: 408, 429 and 5xx
    for key in ("interval", "minimumInterval", "maximumInterval"):
        duration(retry[key])
    timeout = duration(start["limit"]["timeout"])
    # The API answers 200 once the deadline has passed (open tenants are timed out), so the longest round is
    # TIMEOUT_MAX minutes plus a poll interval; keep margin for the start and a slow poll.
    assert timeout >= timedelta(minutes=TIMEOUT_MAX) + timedelta(hours=1)
    assert timeout <= timedelta(days=7), "a round that never ends must fail the run before next week's"


def test_then_the_fleet_page_with_its_counts() -> None:
    every = actions()
    report = every["Get_fleet_report"]
    assert report["type"] == "Http" and report["runAfter"] == {"Start_round": ["Succeeded"]}
    assert report["inputs"]["method"] == "GET"
    assert report["inputs"]["uri"] == "https://@{parameters('functionHost')}/api/fleet/report"
    assert "body" not in report["inputs"]
    count = every["Attention_and_changed"]["inputs"]
    for group in (Group.ATTENTION, Group.CHANGED):
        assert HEADER.format(FLEET_HEADERS[group]) in count
    assert HEADER.format(FLEET_HEADERS[Group.QUIET]) not in count
    assert every["Round_failed"]["runAfter"] == {"Start_round": ["Failed", "TimedOut"]}
    assert every["Fleet_report_failed"]["runAfter"] == {"Get_fleet_report": ["Failed", "TimedOut"]}
    for name in ("Round_failed", "Fleet_report_failed"):
        assert every[name]["type"] == "Terminate" and every[name]["inputs"]["runStatus"] == "Failed"


def test_sends_every_week_unless_told_to_stay_quiet() -> None:
    every = actions()
    gate = every["Should_send"]
    assert gate["type"] == "If" and gate["runAfter"] == {"Attention_and_changed": ["Succeeded"]}
    assert gate["expression"] == {
        "or": [
            {"equals": ["@parameters('sendWhenQuiet')", True]},
            {"greater": ["@outputs('Attention_and_changed')", 0]},
        ]
    }
    assert list(gate["actions"]) == ["Send_by"] and gate["else"]["actions"] == {}
    send_when_quiet = definition()["parameters"]["sendWhenQuiet"]
    assert send_when_quiet["type"] == "Bool" and send_when_quiet["defaultValue"] is True
    assert template()["parameters"]["sendWhenQuiet"]["default"] is True


# The sender switch (outlook / teams, every allowed value) is checked for both Logic Apps in test_logicapp_report.py.


def test_outlook_sends_the_page_as_the_html_body_with_the_counts_in_the_subject() -> None:
    inputs = outlook_mail_inputs(actions()["Send_fleet_report_by_mail"], "Get_fleet_report")
    subject = inputs["body"]["Subject"]
    for header in FLEET_HEADERS.values():
        assert HEADER.format(header) in subject
    for count in ROUND_COUNTS:
        assert f"body('Start_round')?['counts']?['{count}']" in subject


def test_teams_gets_an_adaptive_card_with_the_counts() -> None:
    post = actions()["Post_to_Teams"]["inputs"]
    assert post["method"] == "POST" and post["uri"] == "@parameters('teamsWebhookUrl')"
    (attachment,) = post["body"]["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["type"] == "AdaptiveCard"
    facts = json.dumps(attachment["content"])
    for header in FLEET_HEADERS.values():
        assert HEADER.format(header) in facts
    for count in ROUND_COUNTS:
        assert f"body('Start_round')?['counts']?['{count}']" in facts


# --- the Bicep -----------------------------------------------------------------------------------


# The Outlook connection (mail only, no credentials) is checked for both Logic Apps in test_logicapp_report.py.


def test_the_workflow_gets_its_connection_key_and_every_parameter() -> None:
    parsed, passed = template(), workflow_parameters(FLEET_LOGIC_APP)
    assert set(passed) == set(definition()["parameters"])
    for name in set(passed) - {"functionHost", "functionKey", "$connections"}:
        assert passed[name]["value"] == name, f"{name}: pass the Bicep parameter of the same name"
        assert name in parsed["parameters"], name
    connections = passed["$connections"]["value"]["operator"]["operands"]
    assert connections["condition"] == "sendsMail" and connections["false_value"] == {}
    office365 = variable(parsed, connections["true_value"])["office365"]
    assert office365["connectionId"]["operator"]["operands"] == {"operand_1": "outlook", "operand_2": "id"}
    assert office365["id"] == "office365ApiId"
    key = passed["functionKey"]["value"]["operator"]
    assert key["type"] == "nested_resource_accessor" and key["operands"]["operand_1"] == "functionApp"
    keys = [r for r in parsed["resources"].values() if r["type"] == "Microsoft.Web/sites/host/functionKeys"]
    assert len(keys) == 1 and body(keys[0])["name"] == "functionKeyName"
    assert "value" not in body(keys[0])["properties"], "let the platform generate the key"
    assert variable(parsed, "functionKeyName") == "name"
    workflow_body = only_resource(FLEET_LOGIC_APP, "Microsoft.Logic/workflows")
    assert workflow_body["dependsOn"] == ["logicAppKey"], "listKeys() must run after the key exists"
    assert workflow_body["properties"]["definition"]["function"]["parameters"]["file_path"] == FLEET_WORKFLOW.name


def test_the_round_parameters_respect_the_api_bounds() -> None:
    parameters = template()["parameters"]
    timeout = parameters["timeoutMinutes"]
    assert timeout["type"] == "int" and timeout["default"] == TIMEOUT_DEFAULT
    assert (decorator(timeout, "min_value"), decorator(timeout, "max_value")) == (TIMEOUT_MIN, TIMEOUT_MAX)
    assert parameters["resourceTypes"]["type"] == "array" and parameters["resourceTypes"]["default"] == []


def test_no_literal_key_or_secret_anywhere() -> None:
    parsed = template()
    assert any(d["type"] == "secure" for d in parsed["parameters"]["teamsWebhookUrl"]["decorators"])
    assert parsed["parameters"]["teamsWebhookUrl"]["default"] == ""
    for name in SECRETS:
        assert definition()["parameters"][name].get("defaultValue", "") == "", f"{name}: no default secret"
    for path in (FLEET_LOGIC_APP, FLEET_WORKFLOW):
        text = path.read_text()
        for marker in ("code=", "sig=", "functionKeys.default", "x-functions-key", "listKeys(resourceId"):
            assert marker.lower() not in text.lower(), f"{path.name}: {marker}"
        # Nothing that looks like a key: function keys and signatures are long runs of base64 characters.
        assert re.findall(r"[A-Za-z0-9+_-]{32,}={0,2}", text) == [], path.name
    function_key = workflow_parameters(FLEET_LOGIC_APP)["functionKey"]["value"]
    assert not isinstance(function_key, str), "the key is read with listKeys(), never written"


def test_the_header_comment_says_how_to_deploy_it() -> None:
    text = FLEET_LOGIC_APP.read_text()
    comment = "\n".join(line for line in text.splitlines() if line.startswith("//"))
    assert text.startswith("// ") and FLEET_WORKFLOW.name in comment
    assert "az deployment group create -g <rg> -f infra/logicapp-fleet.bicep" in comment
    for word in ("Start_round", "Get_fleet_report", "secures inputs AND outputs", "Authorize"):
        assert word in comment
    named = set(re.findall(r"\b(\w+)=", comment.split("az deployment group create", 1)[1]))
    assert named and named <= set(template()["parameters"]), named
