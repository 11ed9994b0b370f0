"""What the emulated tenant holds for monitoring: monitors with their baselines, drifts and monitoring results.

A slot runs only when the control API says so (`run_slot`): each active monitor's baseline is compared with
the tenant as it is then (EmulatorState.tenant_resources). An instance is matched by its type's key
property; a missing instance drifts on `Ensure` (Present -> Absent), a changed one on each baseline property
whose value differs. A drift keeps its id and firstReportedDateTime while active; when the tenant matches
the baseline again it turns `fixed`, and `age_fixed` removes fixed drifts as Graph does after 30 days.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devtools.emulator.state import EmulatorState, format_datetime, utc_now

MAX_MONITORS = 30
DAILY_BUDGET = 800
RUNS_PER_DAY = 4
# Graph documents no answer for a 31st monitor or a baseline over 800 resources a day: the emulator's guess,
# configurable through the control API.
DEFAULT_LIMIT_ERROR = {"status": 400, "code": "BadRequest", "message": "Monitor limits exceeded for the tenant."}
# The key parameter of each type the emulator generates (the per-type Learn pages mark one `Key`).
KEYS = {
    "microsoft.entra.conditionalaccesspolicy": "DisplayName",
    "microsoft.exchange.transportrule": "Identity",
    "microsoft.entra.grouplifecyclepolicy": "IsSingleInstance",
    "microsoft.entra.authenticationmethodpolicy": "IsSingleInstance",
    "microsoft.entra.namedlocationpolicy": "DisplayName",
    "microsoft.teams.meetingpolicy": "Identity",
    "microsoft.entra.user": "UserPrincipalName",
    "microsoft.exchange.sharedmailbox": "Identity",
}
GENERIC_KEY = "Identity"


def key_of(resource_type: str) -> str:
    return KEYS.get(resource_type.lower(), GENERIC_KEY)


@dataclass
class Monitor:
    id: str
    display_name: str
    description: str
    baseline: dict[str, Any]
    parameters: dict[str, Any]
    tenant_id: str
    created: datetime
    created_by: dict[str, Any]
    status: str = "active"
    modified: datetime | None = None

    @property
    def entries(self) -> int:
        return len(self.baseline.get("resources") or [])

    def to_json(self) -> dict[str, Any]:
        modified = self.modified or self.created
        return {
            "id": self.id,
            "displayName": self.display_name,
            "description": self.description,
            "tenantId": self.tenant_id,
            "status": self.status,
            "mode": "monitorOnly",
            "monitorRunFrequencyInHours": 6,
            "createdDateTime": format_datetime(self.created),
            "lastModifiedDateTime": format_datetime(modified),
            "createdBy": copy.deepcopy(self.created_by),
            "lastModifiedBy": copy.deepcopy(self.created_by),
            "inactivationReason": None,
            "parameters": copy.deepcopy(self.parameters),
        }


@dataclass
class Drift:
    id: str
    monitor_id: str
    resource_type: str
    baseline_name: str
    identifier: dict[str, Any]
    properties: list[dict[str, Any]]
    first_reported: datetime
    tenant_id: str
    status: str = "active"
    fixed_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "monitorId": self.monitor_id,
            "tenantId": self.tenant_id,
            "resourceType": self.resource_type,
            "baselineResourceDisplayName": self.baseline_name,
            "firstReportedDateTime": format_datetime(self.first_reported),
            "status": self.status,
            "resourceInstanceIdentifier": copy.deepcopy(self.identifier),
            "driftedProperties": copy.deepcopy(self.properties),
        }


@dataclass
class MonitorState:
    monitors: dict[str, Monitor] = field(default_factory=dict)
    drifts: dict[str, Drift] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    max_monitors: int = MAX_MONITORS
    daily_budget: int = DAILY_BUDGET
    limit_error: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_LIMIT_ERROR))

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def used_per_day(self, except_id: str | None = None) -> int:
        return sum(m.entries for m in self.monitors.values() if m.id != except_id) * RUNS_PER_DAY

    def over_limits(self, new_entries: int, replacing: str | None = None) -> bool:
        if replacing is None and len(self.monitors) >= self.max_monitors:
            return True
        return self.used_per_day(replacing) + new_entries * RUNS_PER_DAY > self.daily_budget

    def add(self, body: dict[str, Any], tenant_id: str, created_by: dict[str, Any]) -> Monitor:
        monitor = Monitor(
            id=str(uuid.uuid4()),
            display_name=str(body["displayName"]),
            description=str(body.get("description") or ""),
            baseline=copy.deepcopy(body["baseline"]),
            parameters=copy.deepcopy(body.get("parameters") or {}),
            tenant_id=tenant_id,
            created=utc_now(),
            created_by=created_by,
        )
        self.monitors[monitor.id] = monitor
        return monitor

    def forget_history(self, monitor_id: str) -> None:
        """What Graph does when a monitor's baseline changes (or the monitor goes): its drifts and results go."""
        self.drifts = {k: d for k, d in self.drifts.items() if d.monitor_id != monitor_id}
        self.results = [r for r in self.results if r["monitorId"] != monitor_id]

    def run_slot(self, tenant: EmulatorState, fail: bool = False) -> list[dict[str, Any]]:
        """Run every active monitor now; the results it produced."""
        produced = []
        for monitor in list(self.monitors.values()):
            if monitor.status != "active":
                continue
            started = utc_now()
            errors: list[dict[str, Any]] = []
            if fail:
                errors = [{"errorMessage": "Errors encountered while establishing connection with underlying workload",
                           "resourceInstanceName": "", "resourceType": ""}]  # fmt: skip
            else:
                self._compare(monitor, tenant, started)
            active = [d for d in self.drifts.values() if d.monitor_id == monitor.id and d.status == "active"]
            result = {
                "id": str(uuid.uuid4()),
                "monitorId": monitor.id,
                "tenantId": monitor.tenant_id,
                "runInitiationDateTime": format_datetime(started),
                "runCompletionDateTime": format_datetime(utc_now()),
                "runStatus": "failed" if fail else "successful",
                "driftsCount": 0 if fail else len(active),
                "errorDetails": errors,
            }
            self.results.append(result)
            produced.append(result)
        return produced

    def _compare(self, monitor: Monitor, tenant: EmulatorState, now: datetime) -> None:
        for entry in monitor.baseline.get("resources") or []:
            resource_type = str(entry["resourceType"]).lower()
            desired: dict[str, Any] = entry.get("properties") or {}
            key = key_of(resource_type)
            identifier = {key: desired.get(key)}
            current = next(
                (r["properties"] for r in tenant.tenant_resources(resource_type)
                 if r.get("properties", {}).get(key) == desired.get(key)),
                None,
            )  # fmt: skip
            drifted = _differences(desired, current, key)
            existing = next(
                (d for d in self.drifts.values()
                 if d.monitor_id == monitor.id and d.status == "active" and d.resource_type == resource_type
                 and d.identifier == identifier),
                None,
            )  # fmt: skip
            if drifted and existing is not None:
                existing.properties = drifted
            elif drifted:
                drift = Drift(str(uuid.uuid4()), monitor.id, resource_type, str(entry.get("displayName") or ""),
                              identifier, drifted, now, monitor.tenant_id)  # fmt: skip
                self.drifts[drift.id] = drift
            elif existing is not None:
                existing.status, existing.fixed_at = "fixed", now

    def age_fixed(self) -> int:
        """Remove every fixed drift, as Graph does 30 days after a drift is resolved; how many went."""
        before = len(self.drifts)
        self.drifts = {k: d for k, d in self.drifts.items() if d.status != "fixed"}
        return before - len(self.drifts)


def _differences(desired: dict[str, Any], current: dict[str, Any] | None, key: str) -> list[dict[str, Any]]:
    if current is None:
        return [{"propertyName": "Ensure", "currentValue": "Absent", "desiredValue": desired.get("Ensure", "Present")}]
    drifted = []
    for name, value in desired.items():
        if name == key:
            continue
        actual = current.get(name)
        if json.dumps(actual, sort_keys=True) != json.dumps(value, sort_keys=True):
            drifted.append({"propertyName": name, "currentValue": actual, "desiredValue": value})
    return drifted
