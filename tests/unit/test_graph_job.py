"""GraphJob.from_json reads a job body's typed fields exactly as the SDK's ConfigurationSnapshotJob model does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from kiota_serialization_json.json_parse_node import JsonParseNode
from msgraph.generated.models.configuration_snapshot_job import ConfigurationSnapshotJob

from snapshot.graph import NOT_COMPLETED, GraphJob

FULL = {
    "id": "6b1b4f5e-0000-4000-8000-000000000001",
    "displayName": "Weekly baseline",
    "description": "every Monday",
    "status": "partiallySuccessful",
    "tenantId": "tenant-1",
    "createdDateTime": "2026-11-02T08:15:30.1234567Z",
    "completedDateTime": "2026-11-02T08:20:00Z",
    "resources": ["microsoft.entra.user", "", "microsoft.exchange.accepteddomain"],
    "resourceLocation": "https://graph.microsoft.com/beta/admin/configurationManagement/configurationSnapshots('x')",
    "errorDetails": ["one failed", {"code": "odd"}],
    "createdBy": {"application": {"id": "app", "displayName": "UTCM"}},
}
BODIES: list[dict[str, Any]] = [
    FULL,
    {"id": "a", "status": "running", "completedDateTime": "0001-01-01T00:00:00Z", "resourceLocation": ""},
    {"id": "b", "displayName": None, "description": None, "resources": None, "createdDateTime": None},
    {"id": "c", "displayName": 7, "tenantId": ["not", "text"], "resources": ["x", None, 3]},
    {"id": "d", "createdDateTime": "2026-11-02", "completedDateTime": "2026-11-02T08:20:00+02:00"},
    {},
]


def through_the_model(data: dict[str, Any]) -> dict[str, Any]:
    """The fields as the SDK's generated model parses them (what GraphJob read before; slow, see from_json)."""
    typed = {key: value for key, value in data.items() if key not in ("status", "errorDetails")}
    job = JsonParseNode(typed).get_object_value(ConfigurationSnapshotJob)
    completed = job.completed_date_time
    return {
        "id": job.id or "",
        "display_name": job.display_name or "",
        "description": job.description or None,
        "tenant_id": job.tenant_id or None,
        "resources": [name for name in job.resources or [] if name],
        "created": job.created_date_time,
        "completed": None if completed is None or completed <= NOT_COMPLETED else completed,
        "resource_location": job.resource_location or None,
    }


@pytest.mark.parametrize("body", BODIES)
def test_typed_fields_match_the_sdk_model(body: dict[str, Any]) -> None:
    job = GraphJob.from_json(body)
    assert {name: getattr(job, name) for name in through_the_model(body)} == through_the_model(body)


def test_graphs_sentinels_and_status_are_kept_as_sent() -> None:
    job = GraphJob.from_json(FULL)
    assert job.created == datetime(2026, 11, 2, 8, 15, 30, 123456, tzinfo=UTC)
    assert job.status == "partiallySuccessful"
    assert job.resources == ["microsoft.entra.user", "microsoft.exchange.accepteddomain"]
    assert job.error_details == ["one failed", '{"code": "odd"}']
    pending = GraphJob.from_json(BODIES[1])
    assert (pending.completed, pending.resource_location) == (None, None)
    assert GraphJob.from_json({"id": "x", "status": 3}).status == "unknownFutureValue"


def test_an_unreadable_date_fails_as_the_sdk_model_does() -> None:
    body = {"id": "x", "createdDateTime": "yesterday at noon"}
    with pytest.raises(ValueError):
        through_the_model(body)
    with pytest.raises(ValueError):
        GraphJob.from_json(body)
