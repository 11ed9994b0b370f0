"""Reads, served from Table Storage only: a job, a page of jobs, a stored job's resources, content and diff."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from snapshot import clients, errors
from snapshot.content.document import assemble_resources, content_chunks, resource_from_entities
from snapshot.content.rowkeys import part_keys
from snapshot.diff.merge import diff_streams
from snapshot.models import JobRecord, JobStatus, Lifecycle, parse_top
from snapshot.store.tables import decode_token

FILTERABLE_STATUSES = tuple(status.value for status in JobStatus)


async def get_job(job_id: str) -> JobRecord:
    record = await clients.store().jobs.get(job_id)
    if record is None:
        raise errors.NotFound(f"no snapshot job with id {job_id!r}")
    return record


def continuation_token(token: str | None) -> str | None:
    try:
        decode_token(token)
    except ValueError as exc:
        raise errors.ValidationFailed([errors.FieldError("continuationToken", str(exc))]) from None
    return token


async def list_jobs(
    status: str | None, top: str | None, continuation: str | None
) -> tuple[list[JobRecord], str | None]:
    if status is not None and status not in FILTERABLE_STATUSES:
        raise errors.ValidationFailed([errors.FieldError("status", f"must be one of {', '.join(FILTERABLE_STATUSES)}")])
    return await clients.store().jobs.page(status, parse_top(top), continuation_token(continuation))


async def stored_job(job_id: str) -> JobRecord:
    """The job, if its content is stored; 409 while it is not (yet)."""
    record = await get_job(job_id)
    if record.lifecycle == Lifecycle.RUNNING:
        raise errors.Conflict(
            f"the content of snapshot job {job_id} is not stored yet; poll GET /api/snapshots/{job_id} until it answers 200"
        )
    if record.lifecycle != Lifecycle.STORED:
        raise errors.Conflict(f"snapshot job {job_id} has no stored content ({record.status.value})")
    return record


async def list_resources(
    job_id: str, resource_type: str | None, top: str | None, continuation: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    await stored_job(job_id)
    resources = clients.store().resources
    page = await resources.heads_page(job_id, resource_type, parse_top(top), continuation_token(continuation))
    items = []
    for head in page.items:
        items.append(resource_from_entities(head, await resources.parts(job_id, part_keys(head))))
    return items, page.continuation


async def content_bytes(job_id: str) -> bytes:
    """The whole snapshot in Graph's baseline shape, rebuilt from the table (resources by type and name)."""
    record = await stored_job(job_id)
    chunks = [chunk async for chunk in content_chunks(record.content_metadata or {}, stored_resources(job_id))]
    return b"".join(chunks)


async def stored_resources(job_id: str) -> AsyncIterator[dict[str, Any]]:
    """The job's resources rebuilt from their entities, in RowKey order (type, then name)."""
    resources = clients.store().resources

    async def fetch(row_key: str) -> dict[str, Any]:
        return (await resources.parts(job_id, [row_key]))[0]

    async for resource in assemble_resources(resources.scan(job_id), fetch):
        yield resource


async def diff_jobs(job_id: str, against: str | None, resource_type: str | None) -> dict[str, Any]:
    """What changed from snapshot `against` (older) to `job_id`, streamed from the table (both stored)."""
    if not against:
        raise errors.ValidationFailed(
            [errors.FieldError("against", "is required: the id of the snapshot to compare with")]
        )
    await stored_job(job_id)
    await stored_job(against)
    result = await diff_streams(stored_resources(against), stored_resources(job_id), resource_type or None)
    return {"id": job_id, "against": against, **result.to_json()}
