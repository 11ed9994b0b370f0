"""Graph's monthly extraction quota (resources per tenant per calendar month, UTC), counted from the ledger.

Graph offers no way to read the remaining quota (docs/graph-utcm.md), so the app counts what it stored: a
ledger row per (month, job), written before the job is marked stored. The quota view also shows Graph's job
slots, counted from one Graph list call and the jobs table (who made each visible job).
"""

from __future__ import annotations

from datetime import UTC, datetime

from snapshot import clients, errors
from snapshot.models import GRAPH_JOB_LIMIT
from snapshot.store import Store
from snapshot.views import JobSlots, QuotaStatus


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def next_month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


async def status(store: Store, now: datetime | None = None) -> QuotaStatus:
    now = now or datetime.now(UTC)
    used = await store.ledger.used(month_of(now))
    limit = store.settings.monthly_resource_quota
    return QuotaStatus(
        month=month_of(now), used=used, limit=limit, remaining=max(0, limit - used), resetsAt=next_month_start(now)
    )


async def quota_status() -> QuotaStatus:
    store = clients.store()
    current = await status(store)
    current.jobSlots = await job_slots(store)
    return current


async def job_slots(store: Store) -> JobSlots:
    """Graph's visible jobs now, split by who made them (a job the table does not know yet counts as adopted)."""
    visible = await clients.graph().list_jobs()
    records = await store.jobs.get_many([job.id for job in visible])
    mine = sum(1 for record in records if record is not None and record.source == "api")
    return JobSlots(visible=len(visible), limit=GRAPH_JOB_LIMIT, madeByApp=mine, adopted=len(visible) - mine)


async def ensure_available(store: Store, now: datetime | None = None) -> None:
    """429 saying when the month resets, once this month's quota is used up (0 = no limit)."""
    if store.settings.monthly_resource_quota == 0:
        return
    now = now or datetime.now(UTC)
    current = await status(store, now)
    if current.remaining > 0:
        return
    resets = current.resetsAt.isoformat().replace("+00:00", "Z")
    raise errors.QuotaExhausted(
        f"this month's quota of {current.limit} extracted resources is used up ({current.used} stored in "
        f"{current.month}); it resets at {resets}. Start again after that, or raise "
        "SNAPSHOT_MONTHLY_RESOURCE_QUOTA if the tenant's real quota is higher",
        resets_at=resets,
    )
