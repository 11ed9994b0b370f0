"""Delete a snapshot: the Graph job (a 404 there is fine), then, unless the content is kept, its rows here."""

from __future__ import annotations

import logging
from typing import Any

from snapshot import clients
from snapshot.models import ContentState
from snapshot.usecases.reads import get_job

log = logging.getLogger(__name__)


async def delete_job(job_id: str, keep_content: bool) -> None:
    store = clients.store()
    record = await get_job(job_id)
    if not record.graph_deleted:
        await clients.graph().delete_job(job_id)
        log.info("deleted job %s (%r, source %s) from Graph at the caller's request", job_id, record.display_name,
                 record.source)  # fmt: skip
        change: dict[str, Any] = {"graph_deleted": True}
        if record.content_state == ContentState.PENDING or record.awaiting_content:
            change.update(content_state=ContentState.UNAVAILABLE, content_retry_at=None)
            change["content_error"] = "the Graph job was deleted before its content was stored"
        record = await store.jobs.apply(record, change)
    if keep_content:
        return
    await store.resources.delete_all(job_id)
    await store.jobs.delete(record)
