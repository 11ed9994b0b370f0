"""Room under Graph's 12-job cap: delete this app's stored jobs from Graph to start a new one, or after 7 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from snapshot import errors
from snapshot.models import ContentState, JobRecord, StartSnapshotRequest
from snapshot.settings import get_settings
from snapshot.store import Store
from snapshot.usecases.graph_jobs import forget_in_graph

if TYPE_CHECKING:
    from snapshot.graph import GraphJob, UtcmClient

GRAPH_RETENTION = timedelta(days=7)


def _freeable(record: JobRecord) -> bool:
    return record.content_state == ContentState.STORED and not record.graph_deleted


async def create_making_room(store: Store, client: UtcmClient, request: StartSnapshotRequest) -> GraphJob:
    """Create; if Graph holds 12 jobs and pruning is on, delete the oldest stored one and create once more."""
    try:
        return await client.create_snapshot(request.displayName, request.description, request.resources)
    except errors.GraphJobLimit:
        if not get_settings().prune_stored_jobs or not await prune_oldest_stored(store, client):
            raise
    return await client.create_snapshot(request.displayName, request.description, request.resources)


async def prune_oldest_stored(store: Store, client: UtcmClient) -> bool:
    """Delete from Graph the oldest visible job whose content is stored here; never one that is not."""
    visible = {job.id for job in await client.list_jobs()}
    stored = [record for record in await store.jobs.all() if record.id in visible and _freeable(record)]
    if not stored:
        return False
    oldest = min(stored, key=lambda record: record.created or datetime.now(UTC))
    await forget_in_graph(store, client, oldest, "to make room under Graph's 12-job cap")
    return True


def past_retention(records: list[JobRecord], now: datetime | None = None) -> list[JobRecord]:
    """Stored jobs older than Graph's 7-day retention, whose Graph slot can be freed."""
    cutoff = (now or datetime.now(UTC)) - GRAPH_RETENTION
    return [r for r in records if r.created is not None and r.created < cutoff and _freeable(r)]
