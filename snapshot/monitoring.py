"""Monitors, drifts and runs: the requests, the records the app keeps and Graph's documented limits.

Limits (docs/graph-utcm.md section 6, "API limits" of the UTCM overview): at most 30 monitors per tenant;
800 monitored resources per day per tenant, counted as baseline instances x 4 runs (one per 6-hour slot).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

from snapshot import catalogue
from snapshot.baseline import Selection
from snapshot.callbacks.urls import validate_callback_url
from snapshot.models import DESCRIPTION_MAX, CallbackState, StartSnapshotRequest

MAX_MONITORS = 30
DAILY_RESOURCE_BUDGET = 800
RUNS_PER_DAY = 4
FILTER_MAX = 300


def daily_cost(baseline_entries: int) -> int:
    """Monitored resources per day a baseline of this many instances costs."""
    return baseline_entries * RUNS_PER_DAY


class MonitorRequest(BaseModel):
    """Body of `POST /api/snapshots/{id}/monitor`; Graph's rules checked before Graph is called."""

    model_config = ConfigDict(extra="forbid", strict=True)

    displayName: str
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)
    resourceTypes: list[str] | None = Field(None, min_length=1, max_length=FILTER_MAX)
    resourceNames: list[str] | None = Field(None, min_length=1, max_length=FILTER_MAX)
    properties: dict[str, list[str]] | None = None
    callbackUrl: str | None = None

    # Graph observed refusing monitor names outside 8-32 characters: the snapshot name rule applies.
    @field_validator("displayName")
    @classmethod
    def _display_name(cls, value: str) -> str:
        return StartSnapshotRequest._display_name(value)

    @field_validator("resourceTypes")
    @classmethod
    def _types(cls, names: list[str] | None) -> list[str] | None:
        if names is None:
            return None
        unknown = [f"{name!r} is not a known resource type" for name in names if catalogue.canonical(name) is None]
        if unknown:
            raise ValueError("; ".join(unknown))
        return [name.lower() for name in names]

    @field_validator("properties")
    @classmethod
    def _properties(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if value is None:
            return None
        problems = [f"{name!r} is not a known resource type" for name in value if catalogue.canonical(name) is None]
        problems += [f"{name!r} lists no property" for name, props in value.items() if not props]
        if problems:
            raise ValueError("; ".join(problems))
        return {name.lower(): props for name, props in value.items()}

    @field_validator("callbackUrl")
    @classmethod
    def _callback_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        return validate_callback_url(value, (info.context or {}).get("allowed_hosts", []))

    def selection(self) -> Selection:
        return make_selection(self.resourceTypes, self.resourceNames, self.properties)


def make_selection(
    types: list[str] | None, names: list[str] | None, properties: dict[str, list[str]] | None
) -> Selection:
    return Selection(
        resource_types=frozenset(types) if types is not None else None,
        resource_names=frozenset(names) if names is not None else None,
        properties={name: frozenset(props) for name, props in (properties or {}).items()},
    )


class RebaselineRequest(BaseModel):
    """Body of `POST /api/monitors/{id}/baseline`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    snapshotId: str = Field(min_length=1, max_length=200)


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class MonitorRecord(_Camel):
    """What the app keeps of a monitor it created (Graph holds the rest)."""

    id: str
    display_name: str
    description: str | None = None
    snapshot_id: str
    resource_types: list[str] | None = None
    resource_names: list[str] | None = None
    properties: dict[str, list[str]] | None = None
    baseline_entries: int = 0
    created: datetime
    rebaselined: datetime | None = None
    callback: CallbackState | None = None
    pending_changes: list[dict[str, Any]] = Field(default_factory=list)  # drift changes not yet called back
    etag: str | None = Field(None, exclude=True)

    def selection(self) -> Selection:
        return make_selection(self.resource_types, self.resource_names, self.properties)


class DriftState(StrEnum):
    ACTIVE = "active"
    FIXED = "fixed"  # Graph reported it fixed, or it vanished from Graph while active (`resolution`)


class DriftRecord(_Camel):
    """One drift as the app keeps it: Graph's fields, and what the app observed over time."""

    id: str
    monitor_id: str
    resource_type: str = ""
    baseline_resource_display_name: str = ""
    resource_instance_identifier: dict[str, Any] = Field(default_factory=dict)
    drifted_properties: list[dict[str, Any]] = Field(default_factory=list)
    status: DriftState = DriftState.ACTIVE
    graph_status: str = "active"  # as Graph last showed it ("gone" once Graph no longer lists it)
    first_reported: datetime | None = None
    last_seen_active: datetime | None = None
    resolved_at: datetime | None = None  # when the app first saw it fixed or gone
    resolution: str | None = None  # "fixed" (Graph said so) or "vanished" (Graph stopped listing it)


class RunRecord(_Camel):
    """One monitoring result. A run that did not succeed counts no drifts: `driftsCount` None = unknown."""

    id: str
    monitor_id: str
    run_status: str
    drifts_count: int | None = None
    graph_drifts_count: int | None = None  # Graph's number as given (0 on a failed run means nothing)
    initiated: datetime | None = None
    completed: datetime | None = None
    error_details: list[dict[str, Any]] = Field(default_factory=list)
