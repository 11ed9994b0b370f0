"""What the emulated tenant holds: the configuration, snapshot jobs, their captured contents and the admin's changes."""

from __future__ import annotations

import copy
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from devtools.emulator import content

DEFAULT_TENANT_ID = "2fcf1c68-b412-4c85-bfb2-cb20152a6843"
SNAPSHOT_APP_ID = "7c1f0a4e-3b7d-4f63-9a51-6d0c2e8b9f10"
MAX_PAGE_SIZE = 999
NOT_COMPLETED = "0001-01-01T00:00:00Z"
TERMINAL = ("succeeded", "partiallySuccessful", "failed")
STATUSES = ("notStarted", "running", *TERMINAL, "unknownFutureValue")
CONTENT_CONTEXT = (
    "https://graph.microsoft.com/v1.0/$metadata#admin/configurationManagement/configurationSnapshots/$entity"
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_datetime(value: datetime) -> str:
    """Graph's form: 7 fractional digits and Z (`2025-02-18T15:43:59.7935268Z`)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_datetime(value: str) -> datetime:
    """ISO 8601 with up to 7 fractional digits and Z or an offset; naive means UTC."""
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def default_config() -> dict[str, Any]:
    return {
        "jobStartSeconds": 0.2,
        "jobDurationSeconds": 1.0,
        "latencyMs": 0,
        "pageSize": 100,
        "maxPageSize": MAX_PAGE_SIZE,
        "unsupportedTypes": [],
        "failingTypes": {},
        "resourceCounts": {},
        "defaultResourceCount": 3,
        "propertyBytes": {},
        "permission": "ReadWrite",
        "resourceLocationBase": None,
        "tenantId": DEFAULT_TENANT_ID,
        # What a create answers when 12 jobs exist. Graph publishes no such answer (docs/graph-utcm.md, section 7),
        # so it is configurable; the default is deliberately not 409. capBody None: Graph's error envelope.
        "capStatus": 400,
        "capBody": None,
    }


class ControlError(Exception):
    """A bad request to the control API."""


def _lower_keys(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ControlError(f"{key} must be an object keyed by resource type")
    return {str(k).lower(): v for k, v in value.items()}


def merge_config(config: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`config` with `update` merged in, validated; type-keyed settings are stored lowercase."""
    merged = dict(config)
    for key, value in update.items():
        if key not in merged:
            raise ControlError(f"unknown config key {key!r}; known: {sorted(merged)}")
        if key in ("jobStartSeconds", "jobDurationSeconds", "latencyMs"):
            if not isinstance(value, int | float) or value < 0:
                raise ControlError(f"{key} must be a number >= 0")
        elif key in ("pageSize", "maxPageSize", "defaultResourceCount"):
            if not isinstance(value, int) or value < (1 if key == "pageSize" else 0):
                raise ControlError(f"{key} must be an integer")
            if key in ("pageSize", "maxPageSize"):
                value = min(value, MAX_PAGE_SIZE)
        elif key == "unsupportedTypes":
            if not isinstance(value, list):
                raise ControlError("unsupportedTypes must be a list")
            value = [str(v).lower() for v in value]
        elif key in ("failingTypes", "resourceCounts", "propertyBytes"):
            value = _lower_keys(value, key)
        elif key == "permission":
            if value not in ("ReadWrite", "Read", "None"):
                raise ControlError("permission must be ReadWrite, Read or None")
        elif key == "resourceLocationBase":
            value = str(value).rstrip("/") if value else None
        elif key == "tenantId":
            value = str(value)
        elif key == "capStatus":
            if not isinstance(value, int) or not 400 <= value <= 499:
                raise ControlError("capStatus must be a 4xx status")
        elif key == "capBody" and value is not None and not isinstance(value, dict | str):
            raise ControlError("capBody is a JSON object (sent as it is), a string (the error message) or null")
        merged[key] = value
    if "pageSize" in update and "maxPageSize" not in update:
        # A configured page size is also the server's limit: $top above it still pages (server-driven paging).
        merged["maxPageSize"] = merged["pageSize"]
    return merged


@dataclass
class Job:
    """A snapshot job; its status follows from the clock unless the control API pinned or finished it."""

    id: str
    display_name: str
    description: str
    tenant_id: str
    resources: list[str]
    created: datetime
    created_by: dict[str, Any]
    pinned_status: str | None = None  # set through the control API: progress over time stops
    final_status: str | None = None
    completed: datetime | None = None
    error_details: list[Any] = field(default_factory=list)  # strings, or whatever the control API set
    snapshot_id: str | None = None
    status_text: str | None = None  # shown verbatim instead of the real status (a value Graph may add later)

    def status(self, config: dict[str, Any], now: datetime) -> str:
        if self.status_text:
            return self.status_text
        if self.final_status:
            return self.final_status
        if self.pinned_status:
            return self.pinned_status
        elapsed = (now - self.created).total_seconds()
        return "notStarted" if elapsed < float(config["jobStartSeconds"]) else "running"

    def due(self, config: dict[str, Any], now: datetime) -> datetime | None:
        """When the job finishes on its own, if that moment has passed."""
        if self.final_status or self.pinned_status:
            return None
        finish = self.created + timedelta(
            seconds=float(config["jobStartSeconds"]) + float(config["jobDurationSeconds"])
        )
        return finish if finish <= now else None


@dataclass
class Snapshot:
    """A finished job's content, serialised on first download."""

    content: dict[str, Any]
    _body: bytes | None = None

    def body(self) -> bytes:
        if self._body is None:
            self._body = json.dumps(self.content, ensure_ascii=False).encode("utf-8")
        return self._body


class EmulatorState:
    """The emulated tenant: config, jobs, snapshot contents and the admin's changes to generated resources."""

    def __init__(self, tenant_id: str = DEFAULT_TENANT_ID) -> None:
        self.tenant_id = tenant_id
        self.reset()

    def reset(self) -> None:
        self.config: dict[str, Any] = {**default_config(), "tenantId": self.tenant_id}
        self.jobs: dict[str, Job] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self.overrides: dict[tuple[str, str], dict[str, Any] | None] = {}

    # --- tenant -----------------------------------------------------------------------------------------

    def resource_count(self, type_lower: str) -> int:
        return int(self.config["resourceCounts"].get(type_lower, self.config["defaultResourceCount"]))

    def tenant_resources(self, resource_type: str) -> list[dict[str, Any]]:
        """The tenant's current instances of one type: generated ones, then the admin's changes."""
        type_lower = resource_type.lower()
        size = int(self.config["propertyBytes"].get(type_lower, 0))
        resources = content.generate_resources(type_lower, self.resource_count(type_lower), size)
        changes = {name: res for (t, name), res in self.overrides.items() if t == type_lower}
        if not changes:
            return resources
        result: list[dict[str, Any]] = []
        for resource in resources:
            name = resource["displayName"]
            if name in changes:
                replacement = changes.pop(name)
                if replacement is not None:
                    result.append(copy.deepcopy(replacement))
            else:
                result.append(resource)
        result.extend(copy.deepcopy(res) for res in changes.values() if res is not None)
        return result

    def change_tenant(self, body: dict[str, Any]) -> None:
        for item in body.get("set", []) or []:
            if not isinstance(item, dict) or not item.get("resourceType") or not item.get("displayName"):
                raise ControlError("each set entry needs resourceType and displayName")
            type_lower = str(item["resourceType"]).lower()
            resource = {
                "displayName": str(item["displayName"]),
                "resourceType": type_lower,
                "properties": item.get("properties", {}),
            }
            self.overrides[(type_lower, resource["displayName"])] = resource
        for item in body.get("remove", []) or []:
            if not isinstance(item, dict) or not item.get("resourceType") or not item.get("displayName"):
                raise ControlError("each remove entry needs resourceType and displayName")
            self.overrides[(str(item["resourceType"]).lower(), str(item["displayName"]))] = None

    # --- jobs -------------------------------------------------------------------------------------------

    def new_job(
        self,
        display_name: str,
        resources: list[str],
        description: str = "",
        created: datetime | None = None,
        created_by: dict[str, Any] | None = None,
    ) -> Job:
        job = Job(
            id=str(uuid.uuid4()),
            display_name=display_name,
            description=description,
            tenant_id=str(self.config["tenantId"]),
            resources=list(resources),
            created=created or utc_now(),
            created_by=created_by
            or {"user": None, "application": {"id": SNAPSHOT_APP_ID, "displayName": "snapshot app"}},
        )
        self.jobs[job.id] = job
        return job

    def advance(self, now: datetime | None = None) -> None:
        """Finish every job whose time has come, in creation order, capturing the tenant as it is now."""
        now = now or utc_now()
        for job in list(self.jobs.values()):
            due = job.due(self.config, now)
            if due is not None:
                self.finish(job, at=due)

    def finish(
        self, job: Job, status: str | None = None, error_details: list[Any] | None = None, at: datetime | None = None
    ) -> None:
        requested = list(dict.fromkeys(t.lower() for t in job.resources))
        failing_config: dict[str, str] = self.config["failingTypes"]
        failing = [t for t in requested if t in failing_config]
        if status is None:
            status = (
                "failed"
                if failing and len(failing) == len(requested)
                else ("partiallySuccessful" if failing else "succeeded")
            )
        if error_details is None:
            error_details = [
                f"{t}: Error exporting resource [{t}]. exceptionMessage(s):{failing_config[t]} ," for t in failing
            ]
            if status == "failed" and not error_details:
                error_details = [
                    f"{t}: Errors encountered while establishing connection with underlying workload" for t in requested
                ]
        job.final_status = status
        job.pinned_status = None
        job.completed = at or utc_now()
        job.error_details = list(error_details)
        if status in ("succeeded", "partiallySuccessful"):
            exported = [t for t in requested if status == "succeeded" or t not in failing]
            snapshot_id = str(uuid.uuid4())
            resources: list[dict[str, Any]] = []
            for type_lower in exported:
                resources.extend(self.tenant_resources(type_lower))
            captured = {
                "@odata.context": CONTENT_CONTEXT,
                "id": snapshot_id,
                "displayName": job.display_name,
                "description": job.description,
                "parameters": [],
                "resources": resources,
            }
            self.snapshots[snapshot_id] = Snapshot(captured)
            job.snapshot_id = snapshot_id

    def remove_job(self, job_id: str) -> None:
        job = self.jobs.pop(job_id, None)
        if job is not None and job.snapshot_id:
            self.snapshots.pop(job.snapshot_id, None)

    def job_json(self, job: Job, base: str, now: datetime | None = None) -> dict[str, Any]:
        """The job with every field, the real status (not masked); resourceLocation on `base`'s host under /beta/,
        as observed in real tenants whatever version the job was read with (unless resourceLocationBase is set)."""
        location = ""
        if job.snapshot_id:
            location_base = self.config["resourceLocationBase"] or base.rsplit("/", 1)[0] + "/beta"
            location = f"{location_base}/admin/configurationManagement/configurationSnapshots('{job.snapshot_id}')"
        return {
            "id": job.id,
            "displayName": job.display_name,
            "description": job.description,
            "tenantId": job.tenant_id,
            "status": job.status(self.config, now or utc_now()),
            "resources": list(job.resources),
            "createdDateTime": format_datetime(job.created),
            "completedDateTime": format_datetime(job.completed) if job.completed else NOT_COMPLETED,
            "resourceLocation": location,
            "createdBy": copy.deepcopy(job.created_by),
            "errorDetails": list(job.error_details),
        }
