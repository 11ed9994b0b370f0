"""The fleet's pure rules: a row's group and order, deviations per workload, a round member's outcome from its
job's row and the deadline, and a standard that follows its golden tenant only forwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from snapshot.fleet import Counts, FleetRow, Group, Standard, Summary, deviations_by_workload, ordered
from snapshot.models import ContentState, JobRecord, JobStatus
from snapshot.onboarding import TenantRecord, TenantStatus
from snapshot.rounds import Member, MemberState, Round, outcome_of
from snapshot.usecases.fleet import _later

NOW = datetime(2026, 12, 7, tzinfo=UTC)
TYPE = "microsoft.entra.conditionalAccessPolicy"


def row(name: str, status: TenantStatus = TenantStatus.READY, revision: int = 2, **summary: object) -> FleetRow:
    tenant = TenantRecord(tenant_id=f"id-{name}", display_name=name, status=status)
    return FleetRow(tenant=tenant, summary=Summary(tenant_id=f"id-{name}", **summary), standard_revision=revision)


def test_a_rows_group_follows_deviations_status_and_changes() -> None:
    assert row("a", standard_revision=2, deviations={"entra": 1}).group == Group.ATTENTION
    assert row("b", TenantStatus.FAILING, standard_revision=2, deviations={"entra": 0}).group == Group.ATTENTION
    assert row("c", standard_revision=2, deviation_error="lacks a type").group == Group.ATTENTION
    assert row("d", standard_revision=2, deviations={"entra": 0}, changes=Counts(changed=1)).group == Group.CHANGED
    assert row("e", standard_revision=2, deviations={"entra": 0}, changes=Counts()).group == Group.QUIET
    stale = row("f", standard_revision=1, deviations={"entra": 5})
    assert stale.deviations is None and not stale.current  # counted against an older standard: not shown


def test_rows_order_by_deviations_then_name_and_by_age_oldest_first() -> None:
    rows = [row("b", standard_revision=2, deviations={"x": 1}), row("a", standard_revision=2, deviations={"x": 3}),
            row("c"), row("d", standard_revision=2, deviations={"x": 1})]  # fmt: skip
    assert [r.tenant.display_name for r in ordered(rows, "deviations")] == ["a", "b", "d", "c"]
    aged = [row("new", snapshot_stored=NOW), row("none"), row("old", snapshot_stored=NOW - timedelta(days=3))]
    assert [r.tenant.display_name for r in ordered(aged, "age")] == ["none", "old", "new"]


def test_deviations_count_added_removed_and_changed_per_workload() -> None:
    counts = {TYPE.lower(): {"added": 1, "removed": 2, "changed": 3, "unchanged": 9},
              "microsoft.exchange.accepteddomain": {"added": 0, "removed": 0, "changed": 1}}  # fmt: skip
    assert deviations_by_workload(counts) == {"entra": 6, "exchange": 1}


def job(**fields: object) -> JobRecord:
    return JobRecord(id="j1", display_name="Fleet round 1", **fields)


def test_a_members_outcome_comes_from_its_jobs_row_and_the_deadline() -> None:
    round_ = Round(id="r", resource_types=[TYPE], started=NOW, deadline=NOW + timedelta(hours=1), tenants=1)
    started = Member(tenant_id="t", display_name="T", state=MemberState.STARTED, job_id="j1")
    assert outcome_of(started, job(content_state=ContentState.STORED), round_, NOW).state == MemberState.STORED
    failed = outcome_of(started, job(status=JobStatus.FAILED, error_details=["Forbidden"]), round_, NOW)
    assert failed.state == MemberState.FAILED and failed.detail == "Forbidden"
    assert outcome_of(started, job(status=JobStatus.RUNNING), round_, NOW).state == MemberState.STARTED
    late = outcome_of(started, job(status=JobStatus.RUNNING), round_, round_.deadline)
    assert late.state == MemberState.TIMED_OUT and "was not stored by the round's deadline" in (late.detail or "")
    queued = Member(tenant_id="t", display_name="T")
    assert outcome_of(queued, None, round_, round_.deadline).state == MemberState.TIMED_OUT
    assert outcome_of(started, None, round_, NOW).state == MemberState.FAILED  # its job row is gone
    assert outcome_of(late, job(content_state=ContentState.STORED), round_, NOW) == late  # decided stays decided


def test_a_followed_standard_only_moves_forwards_to_a_snapshot_with_its_types() -> None:
    standard = Standard(tenant_id="g", snapshot_id="s3", follows_latest=True, resource_types=[TYPE], revision=1,
                        set_at=NOW, snapshot_stored=NOW)  # fmt: skip
    assert _later(job(resources=[TYPE], stored=NOW + timedelta(minutes=1)), standard)
    assert not _later(job(resources=[TYPE], stored=NOW - timedelta(minutes=1)), standard)  # an older one
    assert not _later(job(resources=["microsoft.teams.meetingPolicy"], stored=NOW + timedelta(days=1)), standard)
    assert not _later(JobRecord(id="s3", display_name="x", resources=[TYPE], stored=NOW + timedelta(1)), standard)
