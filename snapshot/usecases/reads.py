"""Reads, served from Table Storage only: a job, a page of jobs, a stored job's resources, content and diff
(with `against=previous` resolved to the snapshot it means)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from snapshot import catalogue, clients, errors
from snapshot.content.document import assemble_resources, content_chunks, resource_from_entities
from snapshot.content.rowkeys import part_keys
from snapshot.models import PREVIOUS, JobRecord, JobStatus, Lifecycle, parse_top
from snapshot.store import Store
from snapshot.store.tables import decode_token

FILTERABLE_STATUSES = tuple(status.value for status in JobStatus)
_STATUS_BY_LOWER = {status.lower(): status for status in FILTERABLE_STATUSES}


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
    """A page of jobs, newest first; `status` compares case-insensitively, like `resourceType`."""
    if status is not None and status.lower() not in _STATUS_BY_LOWER:
        raise errors.ValidationFailed([errors.FieldError("status", f"must be one of {', '.join(FILTERABLE_STATUSES)}")])
    wanted = _STATUS_BY_LOWER[status.lower()] if status is not None else None
    return await clients.store().jobs.page(wanted, parse_top(top), continuation_token(continuation))


def resource_type_filter(value: str | None) -> str | None:
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
    resource_type = resource_type_filter(resource_type)
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


async def stored_resources(job_id: str, store: Store | None = None) -> AsyncIterator[dict[str, Any]]:
    """The job's resources rebuilt from their entities, in RowKey order (type, then name); from `store` (another
    tenant's, for a comparison across tenants) or the current tenant's."""
    resources = (store or clients.store()).resources

    async def fetch(row_key: str) -> dict[str, Any]:
        return (await resources.parts(job_id, [row_key]))[0]

    async for resource in assemble_resources(resources.scan(job_id), fetch):
        yield resource


def types_of(record: JobRecord) -> set[str]:
    """The resource types a snapshot asked for (or, if none were recorded, those it stored), lower-cased."""
    return {name.lower() for name in record.resources or record.resource_type_counts}


async def previous_job(record: JobRecord) -> JobRecord:
    """The newest stored snapshot created before `record` whose resource types include all of its types."""
    wanted = types_of(record)
    if record.created is None:
        raise errors.NotFound(f"snapshot job {record.id} has no creation time, so no snapshot comes before it")
    looked, newest_lacks = 0, None
    async for candidate in clients.store().jobs.older(record):
        if candidate.created is None or candidate.created >= record.created:
            continue
        if candidate.lifecycle != Lifecycle.STORED:
            continue
        looked += 1
        missing = wanted - types_of(candidate)
        if not missing:
            return candidate
        if newest_lacks is None:
            newest_lacks = f"; the newest of them, {candidate.id}, lacks {', '.join(sorted(missing))}"
    raise errors.NotFound(
        f"no stored snapshot created before {record.id} ({record.created.isoformat()}) has all of its resource "
        f"types ({', '.join(sorted(wanted))}): {looked} older stored snapshot(s) looked at{newest_lacks or ''}"
    )


@dataclass(frozen=True)
class ComparedPair:
    """Two stored snapshots to compare, and the resource types the comparison keeps (None: all)."""

    new: JobRecord
    old: JobRecord
    resource_types: list[str] | None


async def compared_pair(job_id: str, against: str | None, resource_type: str | None = None) -> ComparedPair:
    """Snapshot `job_id` and the one it is compared with: `against` is an id, or `previous` (then only
    `job_id`'s resource types are compared). Both must be stored."""
    if not against:
        raise errors.ValidationFailed(
            [errors.FieldError("against", f"is required: the id of the snapshot to compare with, or {PREVIOUS}")]
        )
    resource_type = resource_type_filter(resource_type)
    new = await stored_job(job_id)
    old = await previous_job(new) if against == PREVIOUS else await stored_job(against)
    if resource_type:
        return ComparedPair(new, old, [resource_type])
    return ComparedPair(new, old, sorted(types_of(new)) if against == PREVIOUS else None)
