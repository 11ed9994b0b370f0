"""Write a job's resources so that a tick that stops early leaves a marker the next tick resumes from.

The marker is the job record's `content_progress`: how many entities, in the content's own order, are
stored. The same content always gives the same entities in the same order, so the next tick skips that
many and writes the rest. It is saved every few dozen transactions (a process that dies loses at most
that much) and when the write fails; it is only ever an optimisation: a missing marker means a full rewrite.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any

from snapshot import errors
from snapshot.models import JobRecord
from snapshot.store import Store
from snapshot.store.resources import WriteProgress
from snapshot.store.tables import ConcurrencyConflict

log = logging.getLogger(__name__)


async def write_resources(store: Store, record: JobRecord, entities: Iterator[dict[str, Any]]) -> JobRecord:
    """Upsert the job's entities past its marker; returns the record as last saved (its ETag current)."""
    skip = record.content_progress or 0
    for _ in itertools.islice(entities, skip):  # consumed, not written: the entity counts still include them
        pass
    if skip:
        log.info("job %s: %d entities already stored, resuming after them", record.id, skip)
    current = record
    progress = WriteProgress(committed=skip)

    async def checkpoint(committed: int) -> None:
        nonlocal current
        if committed > (current.content_progress or 0):
            current = await _save_marker(store, current, committed)

    try:
        await store.resources.write(entities, progress, checkpoint)
    except Exception:
        await checkpoint(progress.committed)
        raise
    return current


async def _save_marker(store: Store, record: JobRecord, committed: int) -> JobRecord:
    try:
        return await store.jobs.save(record.model_copy(update={"content_progress": committed}))
    except (ConcurrencyConflict, errors.StorageUnavailable) as exc:
        log.info("job %s: progress marker not saved (%s); a later tick rewrites more", record.id, type(exc).__name__)
        return record
