"""The sample Logic App, second version: weekly snapshot -> change report against `previous` -> sent by mail
(Office 365 Outlook connection) or to a Teams Workflows webhook when something changed. Its expressions name
only actions and parameters that exist, every action handling the key (or the webhook URL) is secured, and
the Bicep with the connection parses."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep import (
    FLEET_LOGIC_APP,
    FLEET_WORKFLOW,
    REPORT_LOGIC_APP,
    REPORT_WORKFLOW,
    body,
    condition,
    decorator,
    only_resource,
    parse,
    variable,
    workflow_parameters,
)
from tests.infra.workflow import all_actions, expressions, load, outlook_mail_inputs, references, scopes, secured

SECRETS = {"functionKey", "teamsWebhookUrl"}


@functools.cache
def definition() -> dict[str, Any]:
    return load(REPORT_WORKFLOW)


def actions() -> dict[str, dict[str, Any]]:
    return all_actions(definition())


def template() -> dict[str, Any]:
    return parse(REPORT_LOGIC_APP)


# --- the workflow definition ---------------------------------------------------------------------


def test_expressions_name_only_existing_actions_and_parameters() -> None:
    known_actions, parameters = actions(), definition()["parameters"]
    assert len(known_actions) >= 7
    for name, action in known_actions.items():
        for function, target in references(action):
            known = parameters if function == "parameters" else known_actions
            assert target in known, f"{name}: {function}('{target}') names nothing"
            assert target != name, f"{name}: {function}('{target}') names itself"
    for block in scopes(definition()["actions"]):
        for name, action in block.items():
            for after in action.get("runAfter", {}):
                assert after in block, f"{name}: runAfter {after} is not an action of the same scope"


def test_expressions_are_balanced() -> None:
    for text in expressions(definition()):
        inner = [part.split("}", 1)[0] for part in text.split("@{")[1:]] or [text[1:]]
        for expression in inner:
            assert expression.count("(") == expression.count(")"), text
            assert expression.count("'") % 2 == 0, text


def test_every_action_that_handles_the_key_or_the_webhook_secures_inputs_and_outputs() -> None:
    """The key goes out as ?code= and comes back in Location and the job's links; the webhook URL is signed."""
    every = actions()
    carrying = {n for n, a in every.items() if any(f == "parameters" and t in SECRETS for f, t in references(a))}
    assert carrying == {"Take_snapshot", "Get_report", "Post_to_Teams"}
    readers = {n for n, a in every.items() if any(f != "parameters" and t in carrying for f, t in references(a))}
    assert readers >= {"Change_count", "Send_report_by_mail", "Snapshot_failed", "Report_failed"}
    for name in carrying | readers:
        assert secured(every[name]) >= {"inputs", "outputs"}, f"{name}: secure inputs and outputs"
    for name in SECRETS:
        assert definition()["parameters"][name]["type"] == "SecureString"


def test_snapshot_then_report_against_previous() -> None:
    every = actions()
    take = every["Take_snapshot"]
    assert take["inputs"]["method"] == "POST" and take["inputs"]["uri"].endswith("/api/snapshots")
    assert "DisableAsyncPattern" not in json.dumps(take)  # the 202 + Location pattern, as in the first sample
    report = every["Get_report"]
    assert report["runAfter"] == {"Take_snapshot": ["Succeeded"]}
    assert report["inputs"]["method"] == "GET"
    assert report["inputs"]["uri"].endswith("/report") and "body('Take_snapshot')?['id']" in report["inputs"]["uri"]
    assert report["inputs"]["queries"] == {"against": "previous", "code": "@parameters('functionKey')"}
    assert every["Report_failed"]["runAfter"] == {"Get_report": ["Failed", "TimedOut"]}


def test_sends_only_when_the_summary_has_changes() -> None:
    every = actions()
    count = every["Change_count"]["inputs"]
    for header in ("X-Diff-Added", "X-Diff-Removed", "X-Diff-Changed"):
        assert f"outputs('Get_report')?['headers']?['{header}']" in count
    gate = every["Has_changes"]
    assert gate["type"] == "If" and gate["runAfter"] == {"Change_count": ["Succeeded"]}
    assert gate["expression"] == {"and": [{"greater": ["@outputs('Change_count')", 0]}]}
    assert list(gate["actions"]) == ["Send_by"] and gate["else"]["actions"] == {}


@pytest.mark.parametrize(
    ("logic_app", "workflow", "mail"),
    [(REPORT_LOGIC_APP, REPORT_WORKFLOW, "Send_report_by_mail"),
     (FLEET_LOGIC_APP, FLEET_WORKFLOW, "Send_fleet_report_by_mail")],
    ids=["report", "fleet"],
)  # fmt: skip
def test_the_sender_is_a_parameter_choice_covering_every_allowed_value(
    logic_app: Path, workflow: Path, mail: str
) -> None:
    switch = all_actions(load(workflow))["Send_by"]
    assert switch["type"] == "Switch" and switch["expression"] == "@parameters('notifyBy')"
    cases = {case["case"]: list(case["actions"]) for case in switch["cases"].values()}
    assert cases == {"outlook": [mail], "teams": ["Post_to_Teams"]}
    assert set(cases) == set(load(workflow)["parameters"]["notifyBy"]["allowedValues"])
    assert set(cases) == set(decorator(parse(logic_app)["parameters"]["notifyBy"], "allowed"))


def test_outlook_sends_the_report_as_the_html_body_through_the_connection() -> None:
    outlook_mail_inputs(actions()["Send_report_by_mail"], "Get_report")


def test_teams_gets_an_adaptive_card_with_the_counts() -> None:
    post = actions()["Post_to_Teams"]["inputs"]
    assert post["method"] == "POST" and post["uri"] == "@parameters('teamsWebhookUrl')"
    (attachment,) = post["body"]["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    facts = json.dumps(attachment["content"])
    for header in ("X-Diff-Added", "X-Diff-Removed", "X-Diff-Changed", "X-Diff-Against"):
        assert header in facts


# --- the Bicep -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [REPORT_LOGIC_APP, FLEET_LOGIC_APP], ids=["report", "fleet"])
def test_the_bicep_parses_and_declares_the_outlook_connection_for_mail_only(path: Path) -> None:
    parsed = parse(path)
    connection = parsed["resources"]["outlook"]
    assert connection["type"] == "Microsoft.Web/connections" and not connection["existing"]
    assert condition(connection) == "sendsMail"
    assert variable(parsed, "sendsMail") == {
        "operator": {"type": "equals", "operands": {"operand_1": "notifyBy", "operand_2": "outlook"}}
    }
    assert body(connection)["properties"]["api"]["id"] == "office365ApiId"
    managed = variable(parsed, "office365ApiId")["function"]
    assert managed["type"] == "subscription_resource_id"
    assert managed["parameters"]["resource_type"] == "Microsoft.Web/locations/managedApis"
    assert managed["parameters"]["resource_name_2"] == "office365"
    assert "parameterValues" not in json.dumps(body(connection)), "no credentials: the admin consents in the portal"


def test_the_workflow_gets_its_connection_key_and_every_required_parameter() -> None:
    parsed, passed = template(), workflow_parameters(REPORT_LOGIC_APP)
    required = {name for name, p in definition()["parameters"].items() if "defaultValue" not in p}
    assert required <= set(passed) <= set(definition()["parameters"])
    connections = passed["$connections"]["value"]["operator"]["operands"]
    assert connections["condition"] == "sendsMail" and connections["false_value"] == {}
    office365 = variable(parsed, connections["true_value"])["office365"]
    assert office365["connectionId"]["operator"]["operands"] == {"operand_1": "outlook", "operand_2": "id"}
    assert office365["id"] == "office365ApiId"
    key = passed["functionKey"]["value"]["operator"]
    assert key["type"] == "nested_resource_accessor" and key["operands"]["operand_1"] == "functionApp"
    assert "functionKeys.default" not in REPORT_LOGIC_APP.read_text()
    keys = [r for r in parsed["resources"].values() if r["type"] == "Microsoft.Web/sites/host/functionKeys"]
    assert len(keys) == 1 and body(keys[0])["name"] == "functionKeyName"
    assert any(d["type"] == "secure" for d in parsed["parameters"]["teamsWebhookUrl"]["decorators"])
    workflow_body = only_resource(REPORT_LOGIC_APP, "Microsoft.Logic/workflows")
    assert workflow_body["properties"]["definition"]["function"]["parameters"]["file_path"] == REPORT_WORKFLOW.name
