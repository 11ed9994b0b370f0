"""Delete a snapshot: the Graph job (a 404 there is fine), then, unless the content is kept, its rows here."""

from __future__ import annotations

from typing import Any

from snapshot import clients
from snapshot.models import ContentState
from snapshot.usecases.reads import get_job


async def delete_job(job_id: str, keep_content: bool) -> None:
    store = clients.store()
    record = await get_job(job_id)
    if not record.graph_deleted:
        await clients.graph().delete_job(job_id)
        change: dict[str, Any] = {"graph_deleted": True}
        if record.content_state == ContentState.PENDING:
            change["content_state"] = ContentState.UNAVAILABLE
            change["content_error"] = "the Graph job was deleted before its content was stored"
        record = await store.jobs.apply(record, change)
    if keep_content:
        return
    await store.resources.delete_all(job_id)
    await store.jobs.delete(record)
