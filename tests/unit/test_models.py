"""Start-request validation (Graph's rules, before Graph is called) and errorDetails parsing."""

from __future__ import annotations

import pytest

from snapshot import catalogue
from snapshot.errors import ValidationFailed
from snapshot.models import parse_start_request
from snapshot.views import parse_error_detail

VALID = {"displayName": "Weekly baseline 1", "resources": ["microsoft.entra.conditionalAccessPolicy"]}


def fields(body: object) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_start_request(body)
    return {error.field: error.message for error in caught.value.errors}


def test_a_valid_body_is_normalised_to_documented_names() -> None:
    request = parse_start_request({**VALID, "resources": ["MICROSOFT.ENTRA.CONDITIONALACCESSPOLICY"]})
    assert request.resources == ["microsoft.entra.conditionalAccessPolicy"]
    assert request.description is None


@pytest.mark.parametrize(
    "name", ["short", "x" * 33, "with-hyphen ok", "under_score ok", "colon: here", "accénted name", " " * 8, " " * 32]
)
def test_display_name_rules(name: str) -> None:
    errors = fields({**VALID, "displayName": name})
    assert list(errors) == ["displayName"]


def test_display_name_is_required_and_a_string() -> None:
    assert fields({"resources": VALID["resources"]}) == {"displayName": "is required"}
    assert "displayName" in fields({**VALID, "displayName": 12345678})


def test_resources_rules() -> None:
    assert "resources" in fields({**VALID, "resources": []})
    assert "resources[0]" in fields({**VALID, "resources": [42]})
    duplicate = fields({**VALID, "resources": ["microsoft.entra.user", "Microsoft.Entra.User"]})
    assert "repeats" in duplicate["resources"]


def test_a_well_formed_name_outside_the_catalogue_is_a_warning_with_suggestions() -> None:
    request = parse_start_request({**VALID, "resources": ["microsoft.entra.conditionalAccesPolicy"]})
    resolution = request.resolution
    assert resolution.names == ["microsoft.entra.conditionalAccesPolicy"]  # passed to Graph, which decides
    [warning] = resolution.warnings
    assert "not in the documented catalogue" in warning and "microsoft.entra.conditionalAccessPolicy" in warning


@pytest.mark.parametrize("name", ["microsoft.defender.alertPolicy", "entra.user", "microsoft.entra.user-x", "x"])
def test_a_malformed_name_is_refused_with_suggestions(name: str) -> None:
    message = fields({**VALID, "resources": [name]})["resources"]
    assert "is not a resource type name" in message and "securityAndCompliance" in message


def test_a_workload_wildcard_expands_from_the_catalogue_once_per_type() -> None:
    request = parse_start_request({**VALID, "resources": ["microsoft.teams.meetingPolicy", "Microsoft.Teams.*"]})
    resolution = request.resolution
    teams = [name for name in catalogue.resource_types() if name.startswith("microsoft.teams.")]
    assert resolution.expansion == {"microsoft.teams.*": teams}
    assert sorted(resolution.names) == sorted(teams)  # meetingPolicy once
    assert "resources" in fields({**VALID, "resources": ["microsoft.nothing.*"]})


def test_unknown_fields_and_long_description_are_rejected() -> None:
    assert fields({**VALID, "extra": 1}) == {"extra": "is not a known field"}
    assert "description" in fields({**VALID, "description": "d" * 1001})


def test_body_must_be_an_object() -> None:
    assert fields([VALID]) == {"body": "must be a JSON object"}


def test_fingerprint_ignores_case_of_resource_names_but_not_content() -> None:
    a = parse_start_request(VALID)
    b = parse_start_request({**VALID, "resources": ["microsoft.entra.CONDITIONALACCESSPOLICY"]})
    c = parse_start_request({**VALID, "description": "other"})
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_error_details_in_graph_export_shape_are_split() -> None:
    raw = (
        "microsoft.teams.meetingpolicy: Error exporting resource [microsoft.teams.meetingpolicy]. "
        'exceptionMessage(s):Error during Export: {"code":"Forbidden","message":"Access Denied."} ,'
    )
    detail = parse_error_detail(raw)
    assert detail.resourceType == "microsoft.teams.meetingpolicy"
    assert detail.message.startswith("Error during Export:")
    assert detail.raw == raw


def test_error_details_in_other_shapes_are_kept_whole() -> None:
    detail = parse_error_detail("something odd happened")
    assert detail.resourceType is None
    assert detail.message == "something odd happened"
