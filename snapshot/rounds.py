"""A round: one snapshot started in every working tenant at once, followed until each is stored, failed or timed
out (docs/fleet.md, "Rounds"). Pure: the request, the records, and the outcome decided from what is stored.

A member's outcome is decided from its job's row: `stored` once its content is stored, `failed` once Graph
failed the job or its content cannot be had, `timedOut` when the round's deadline passed first. The round is
done (200) when no member is still open; until then GET answers 202, as a snapshot does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from snapshot import catalogue
from snapshot.models import JobRecord, Lifecycle

TIMEOUT_DEFAULT, TIMEOUT_MIN, TIMEOUT_MAX = 240, 5, 1440  # minutes
KEY_PREFIX = "fleet-round-"  # the Idempotency-Key of a member's snapshot: one job per tenant per round


class RoundRequest(BaseModel):
    """POST /api/fleet/rounds."""

    model_config = ConfigDict(extra="forbid")

    resourceTypes: list[str] | None = Field(
        None, min_length=1, max_length=400, description="the types to snapshot (default: the standard's)"
    )
    timeoutMinutes: int = Field(
        TIMEOUT_DEFAULT, ge=TIMEOUT_MIN, le=TIMEOUT_MAX, description="after this, tenants not stored are timed out"
    )

    @field_validator("resourceTypes")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else catalogue.documented_types(value)


class Round(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    resource_types: list[str]
    started: datetime
    deadline: datetime
    tenants: int

    @property
    def display_name(self) -> str:
        """The members' snapshot name: Graph allows letters, digits and spaces, 8 to 32 characters."""
        return f"Fleet round {self.id[:8]}"

    @property
    def idempotency_key(self) -> str:
        return KEY_PREFIX + self.id


class MemberState(StrEnum):
    QUEUED = "queued"  # its message not run yet
    STARTED = "started"  # its job started; outcome from the job's row
    STORED = "stored"
    FAILED = "failed"
    TIMED_OUT = "timedOut"


OPEN = frozenset({MemberState.QUEUED, MemberState.STARTED})


class Member(BaseModel):
    """One tenant's part of a round."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    display_name: str
    state: MemberState = MemberState.QUEUED
    job_id: str | None = None
    detail: str | None = None  # Graph's or the app's text behind `failed` or `timedOut`
    etag: str | None = Field(None, exclude=True)


def outcome_of(member: Member, job: JobRecord | None, round_: Round, now: datetime) -> Member:
    """The member as its job's row shows it now (unchanged while the job runs and the deadline is ahead)."""
    if member.state not in OPEN:
        return member
    if member.state == MemberState.STARTED and job is None:
        return _decided(member, MemberState.FAILED, f"its job {member.job_id} is no longer stored")
    if job is not None and job.lifecycle == Lifecycle.STORED:
        return _decided(member, MemberState.STORED, None)
    if job is not None and job.lifecycle in (Lifecycle.FAILED, Lifecycle.NO_CONTENT):
        reason = job.content_error or "; ".join(job.error_details) or f"the job ended {job.status.value}"
        return _decided(member, MemberState.FAILED, reason[:500])
    if now >= round_.deadline:
        where = "its snapshot was not started" if job is None else f"its job {job.id} was not stored"
        return _decided(member, MemberState.TIMED_OUT, f"{where} by the round's deadline")
    return member


def _decided(member: Member, state: MemberState, detail: str | None) -> Member:
    return member.model_copy(update={"state": state, "detail": detail or member.detail})


def deadline_of(started: datetime, request: RoundRequest) -> datetime:
    return started + timedelta(minutes=request.timeoutMinutes)


def round_view(
    round_: Round, members: list[Member], url: str, now: datetime, summaries_pending: int = 0
) -> dict[str, Any]:
    """The round; `completed` once every member row is written (the start writes them just after the round's
    row) and none is open, and every stored one shows on the fleet's summaries; or once the deadline passed."""
    counts = {state.value: 0 for state in MemberState}
    for member in members:
        counts[member.state.value] += 1
    written = len(members) >= round_.tenants or now >= round_.deadline
    done = written and not any(member.state in OPEN for member in members) and summaries_pending == 0
    return {
        "id": round_.id,
        "status": "completed" if done else "running",
        "summariesPending": summaries_pending,
        "resourceTypes": round_.resource_types,
        "startedAt": round_.started,
        "deadline": round_.deadline,
        "counts": counts,
        "tenants": [_member_view(m) for m in sorted(members, key=lambda m: (m.display_name.lower(), m.tenant_id))],
        "links": {"self": url},
    }


def _member_view(member: Member) -> dict[str, Any]:
    return {
        "tenantId": member.tenant_id,
        "displayName": member.display_name,
        "outcome": member.state.value,
        "jobId": member.job_id,
        "detail": member.detail,
    }
