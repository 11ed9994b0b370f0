"""Reads, served from Table Storage only: a job, a page of jobs, a stored job's resources, content and diff."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from snapshot import catalogue, clients, errors
from snapshot.content.document import assemble_resources, content_chunks, resource_from_entities
from snapshot.content.rowkeys import part_keys
from snapshot.diff.merge import diff_streams
from snapshot.models import JobRecord, JobStatus, Lifecycle, parse_top
from snapshot.store.tables import decode_token

FILTERABLE_STATUSES = tuple(status.value for status in JobStatus)
_STATUS_BY_LOWER = {status.lower(): status for status in FILTERABLE_STATUSES}


async def get_job(job_id: str) -> JobRecord:
    record = await clients.store().jobs.get(job_id)
    if record is None:
        raise errors.NotFound(f"no snapshot job with id {job_id!r}")
    return record


def _continuation(token: str | None) -> str | None:
    try:
        decode_token(token)
    except ValueError as exc:
        raise errors.ValidationFailed([errors.FieldError("continuationToken", str(exc))]) from None
    return token


async def list_jobs(
    status: str | None, top: str | None, continuation: str | None
) -> tuple[list[JobRecord], str | None]:
    """A page of jobs, newest first; `status` compares case-insensitively, like `resourceType`."""
    if status is not None and status.lower() not in _STATUS_BY_LOWER:
        raise errors.ValidationFailed([errors.FieldError("status", f"must be one of {', '.join(FILTERABLE_STATUSES)}")])
    wanted = _STATUS_BY_LOWER[status.lower()] if status is not None else None
    return await clients.store().jobs.page(wanted, parse_top(top), _continuation(continuation))


def _resource_type(value: str | None) -> str | None:
    """A `resourceType` filter: a documented type name (any case), or 400 with the closest names."""
    if not value:
        return None
    if catalogue.canonical(value) is None:
        raise errors.ValidationFailed([errors.FieldError("resourceType", catalogue.unknown_type_message(value))])
    return value


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
    resource_type = _resource_type(resource_type)
    await stored_job(job_id)
    resources = clients.store().resources
    page = await resources.heads_page(job_id, resource_type, parse_top(top), _continuation(continuation))
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
    resource_type = _resource_type(resource_type)
    await stored_job(job_id)
    await stored_job(against)
    result = await diff_streams(stored_resources(against), stored_resources(job_id), resource_type)
    return {"id": job_id, "against": against, **result.to_json()}
