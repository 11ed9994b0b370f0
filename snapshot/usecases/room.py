"""Room under Graph's 12-job cap, decided from Graph's list: count before a create, explain a refusal from a
second count, free the slot of a job this app may delete (SNAPSHOT_PRUNE_SCOPE), and the 7-day retention.

Graph documents the cap but not its answer to a 13th job (docs/graph-utcm.md, section 7): no status code or
text is read as "the cap" here. A refused create is explained from the count: 12 visible jobs is the cap
whatever Graph said, fewer means Graph's own answer stands and is shown as it is.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from snapshot import errors
from snapshot.models import GRAPH_JOB_LIMIT, ContentState, JobRecord
from snapshot.settings import Settings, get_settings
from snapshot.store import Store
from snapshot.usecases.graph_jobs import forget_in_graph, named

if TYPE_CHECKING:
    from snapshot.graph import GraphJob, UtcmClient

log = logging.getLogger(__name__)

GRAPH_RETENTION = timedelta(days=7)


def freeable(record: JobRecord, settings: Settings) -> bool:
    """A job whose Graph slot the app may free: content stored here, and made here unless the scope is `stored`."""
    mine = record.source == "api" or settings.prune_scope == "stored"
    return mine and record.content_state == ContentState.STORED and not record.graph_deleted


async def create_making_room(
    store: Store, client: UtcmClient, name: str, description: str | None, resources: list[str], adopt_same_name: bool
) -> GraphJob:
    """Count, make room if Graph shows 12 jobs, create; after a refused create, count again to explain it.

    A visible job with this name is a conflict, or (adopt_same_name: an earlier request may have made it) the job.
    """
    visible = await client.list_jobs()
    same = named(visible, name)
    if same is not None:
        if adopt_same_name:
            return same
        raise name_taken(name, same.id)
    if len(visible) >= GRAPH_JOB_LIMIT:
        await make_room(store, client, visible)
    try:
        return await client.create_snapshot(name, description, resources)
    except (errors.GraphUnsupportedTypes, errors.GraphUnavailable):
        raise  # a documented answer, or an ambiguous one the caller looks up by name
    except errors.GraphError as refused:
        if refused.graph_status is None or not 400 <= refused.graph_status < 500:
            raise
        again = await client.list_jobs()
        same = named(again, name)
        if same is not None:
            raise name_taken(name, same.id) from None
        if len(again) < GRAPH_JOB_LIMIT:
            raise  # not the cap: Graph's own answer, shown as it is
        log.info("create refused (%s) while Graph shows %d jobs: the cap", refused.graph_status, len(again))
        await make_room(store, client, again)
    return await client.create_snapshot(name, description, resources)


def name_taken(name: str, job_id: str) -> errors.Conflict:
    return errors.Conflict(
        f"a snapshot job named {name!r} already exists in Microsoft Graph (id {job_id}); display names must be "
        "unique among visible jobs: choose another name, or delete that job",
        existing_job_id=job_id,
    )


async def make_room(store: Store, client: UtcmClient, visible: list[GraphJob]) -> None:
    """Free one slot (the oldest visible job the app may delete), or answer 409 naming the visible jobs."""
    settings = get_settings()
    if settings.prune_stored_jobs:
        # Point reads of the (at most 12) visible jobs rather than a scan of every job ever recorded.
        records = await store.jobs.get_many([job.id for job in visible])
        candidates = [record for record in records if record is not None and freeable(record, settings)]
        if candidates:
            oldest = min(candidates, key=lambda record: record.created or datetime.now(UTC))
            await forget_in_graph(store, client, oldest, f"to make room under Graph's {GRAPH_JOB_LIMIT}-job cap")
            return
    whose = "jobs this app created" if settings.prune_scope == "own" else "jobs"
    raise errors.JobSlotsFull(
        f"Microsoft Graph shows {len(visible)} snapshot jobs, its maximum of {GRAPH_JOB_LIMIT}, and none is one of the "
        f"{whose} with stored content that the app may delete (SNAPSHOT_PRUNE_STORED_JOBS="
        f"{str(settings.prune_stored_jobs).lower()}, SNAPSHOT_PRUNE_SCOPE={settings.prune_scope}). Free a slot with "
        "DELETE /api/snapshots/{id}?keepContent=true on one of visibleJobs (or in the tool that made it), then "
        "start again",
        [(job.id, job.display_name) for job in visible],
    )


def past_retention(records: list[JobRecord], now: datetime | None = None) -> list[JobRecord]:
    """Jobs older than Graph's 7-day retention whose Graph slot the app may free."""
    settings = get_settings()
    cutoff = (now or datetime.now(UTC)) - GRAPH_RETENTION
    return [r for r in records if r.created is not None and r.created < cutoff and freeable(r, settings)]
