"""Delete a snapshot: the Graph job (a 404 there is fine), then, unless the content is kept, its rows here (and
the tenant's fleet summary computed again when it named that snapshot)."""

from __future__ import annotations

from typing import Any

from snapshot import clients
from snapshot.models import ContentState
from snapshot.usecases import fleet
from snapshot.usecases.graph_jobs import forget_in_graph
from snapshot.usecases.reads import get_job


async def delete_job(job_id: str, keep_content: bool) -> None:
    store = clients.store()
    record = await get_job(job_id)
    if not record.graph_deleted:
        change: dict[str, Any] = {}
        if record.content_state == ContentState.PENDING or record.awaiting_content:
            change.update(content_state=ContentState.UNAVAILABLE, content_retry_at=None)
            change["content_error"] = "the Graph job was deleted before its content was stored"
        record = await forget_in_graph(store, clients.graph(), record, "at the caller's request", change)
    if keep_content:
        return
    await store.resources.delete_all(job_id)
    await store.jobs.delete(record)
    summary = await store.fleet.summary(store.tenant.id)
    if summary is not None and job_id in (summary.snapshot_id, summary.previous_id):
        await fleet.refresh_later(store.tenant.id)  # its fleet row named this snapshot
