"""Use cases: start a snapshot, read jobs, health. The HTTP and timer triggers call these and nothing else.

msgraph is imported lazily (snapshot.graph) so that status reads and health never pay for it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from snapshot import errors, quota
from snapshot.models import LIST_TOP_DEFAULT, LIST_TOP_MAX, ContentState, JobRecord, JobStatus, StartSnapshotRequest
from snapshot.settings import Settings, get_settings
from snapshot.store import ConcurrencyConflict, IdempotencyClaim, TableStore, get_store

if TYPE_CHECKING:
    from snapshot.graph import GraphJob, UtcmClient

log = logging.getLogger(__name__)

# A pending idempotency key older than this belongs to a request that died; the next one takes over.
IDEMPOTENCY_STALE_SECONDS = 90.0
# How long a duplicate request waits for the first one to learn the job id before answering 503.
IDEMPOTENCY_WAIT_SECONDS = 15.0
IDEMPOTENCY_POLL_SECONDS = 0.2


def graph_client(settings: Settings | None = None) -> UtcmClient:
    from snapshot.graph import get_client

    return get_client(settings or get_settings())


def table_store(settings: Settings | None = None) -> TableStore:
    return get_store(settings or get_settings())


def record_from_graph(job: GraphJob, source: str, idempotency_key: str | None = None) -> JobRecord:
    status = JobStatus.parse(job.status)
    return JobRecord(
        id=job.id,
        display_name=job.display_name,
        description=job.description,
        resources=job.resources,
        status=status,
        created=job.created or datetime.now(UTC),
        completed=job.completed,
        tenant_id=job.tenant_id,
        error_details=job.error_details,
        resource_location=job.resource_location,
        content_state=ContentState.UNAVAILABLE if status == JobStatus.FAILED else ContentState.PENDING,
        source=source,
        idempotency_key=idempotency_key,
    )


@dataclass
class StartResult:
    record: JobRecord
    created: bool  # False when an earlier request with the same Idempotency-Key created it


async def start_snapshot(
    request: StartSnapshotRequest, idempotency_key: str | None = None, jobs_url: str | None = None
) -> StartResult:
    """Create one Graph snapshot job for this request, exactly once per Idempotency-Key."""
    store = table_store()
    claim: IdempotencyClaim | None = None
    if idempotency_key:
        claim = await _claim(store, idempotency_key, request.fingerprint())
        if claim.job_id:
            return StartResult(await _job_of_claim(store, claim), created=False)
    try:
        await quota.ensure_available(store, get_settings())
    except errors.QuotaExhausted:
        if claim is not None:
            await store.release_key(claim)
        raise
    adopt_first = claim is not None and claim.taken_over
    job = await _create_in_graph(store, request, claim, adopt_first)
    record = record_from_graph(job, "api", idempotency_key)
    if jobs_url:
        record.job_url = f"{jobs_url}/{quote(job.id, safe='')}"
    if request.callbackUrl:
        from snapshot.callbacks import CallbackState

        record.callback = CallbackState.create(request.callbackUrl).model_dump(mode="json")
    try:
        record = await store.insert_job(record)
    except ConcurrencyConflict:  # the poller adopted it between Graph's answer and this write
        adopted = await store.get_job(job.id)
        if adopted is not None:
            mine = {
                "source": "api",
                "idempotency_key": idempotency_key,
                "job_url": record.job_url,
                "callback": record.callback,
            }
            record = await store.update_job(adopted.model_copy(update=mine))
    except errors.StorageUnavailable:
        raise errors.StorageUnavailable(
            f"snapshot job {job.id} was created in Microsoft Graph but could not be recorded; "
            f"it will appear at GET /api/snapshots/{job.id} after the next poll",
            retry_after=get_settings().retry_after_seconds,
        ) from None
    if claim is not None:
        await store.complete_key(claim, job.id)
    return StartResult(record, created=True)


async def _claim(store: TableStore, key: str, body_hash: str) -> IdempotencyClaim:
    """Own the key, or wait for the request that owns it; 409 if it was used with another body."""
    claim = await store.claim_key(key, body_hash)
    deadline = asyncio.get_running_loop().time() + IDEMPOTENCY_WAIT_SECONDS
    while True:
        if claim.body_hash != body_hash:
            raise errors.Conflict(
                "this Idempotency-Key was already used with a different request body; use a new key "
                "for a different snapshot",
                existing_job_id=claim.job_id,
            )
        if claim.owned or claim.job_id:
            return claim
        age = (datetime.now(UTC) - claim.created).total_seconds()
        if age > IDEMPOTENCY_STALE_SECONDS:
            try:
                taken = await store.take_over_key(claim)
            except ConcurrencyConflict:
                claim = await store.read_key(key) or await store.claim_key(key, body_hash)
                continue
            taken.taken_over = True
            return taken
        if asyncio.get_running_loop().time() > deadline:
            raise errors.Unavailable(
                "a request with this Idempotency-Key is still creating the job; retry shortly",
                retry_after=get_settings().retry_after_seconds,
            )
        await asyncio.sleep(IDEMPOTENCY_POLL_SECONDS)
        claim = await store.read_key(key) or await store.claim_key(key, body_hash)


async def _job_of_claim(store: TableStore, claim: IdempotencyClaim) -> JobRecord:
    assert claim.job_id is not None
    record = await store.get_job(claim.job_id)
    if record is None:
        # Created in Graph, not recorded (storage failed then): the poller adopts it.
        raise errors.Unavailable(
            f"snapshot job {claim.job_id} exists in Microsoft Graph and will appear after the next poll",
            retry_after=get_settings().retry_after_seconds,
        )
    return record


async def _create_in_graph(
    store: TableStore, request: StartSnapshotRequest, claim: IdempotencyClaim | None, adopt_first: bool
) -> GraphJob:
    client = graph_client()
    if adopt_first:  # an earlier request died holding this key: it may have created the job
        existing = await _find_by_name(client, request.displayName)
        if existing is not None:
            return existing
    try:
        return await _create_making_room(store, client, request)
    except errors.GraphUnavailable as exc:
        return await _after_ambiguous_failure(store, client, request, claim, exc)
    except errors.GraphNameConflict:
        if claim is not None:
            await store.release_key(claim)
        existing = await _find_by_name(client, request.displayName)
        raise errors.Conflict(
            f"a snapshot job named {request.displayName!r} already exists in Microsoft Graph"
            + (f" (id {existing.id})" if existing else "")
            + "; display names must be unique among visible jobs",
            existing_job_id=existing.id if existing else None,
        ) from None
    except errors.GraphJobLimit:
        if claim is not None:
            await store.release_key(claim)
        raise errors.Conflict(
            "Microsoft Graph already holds 12 snapshot jobs, its maximum. Free a slot with "
            "DELETE /api/snapshots/{id}?keepContent=true on a job whose content is stored (the content "
            "stays in this app), then start again"
        ) from None
    except errors.ServiceError:
        if claim is not None:
            await store.release_key(claim)
        raise


async def _create_making_room(store: TableStore, client: UtcmClient, request: StartSnapshotRequest) -> GraphJob:
    """Create; if Graph holds 12 jobs and pruning is on, delete the oldest stored one and create once more."""
    try:
        return await client.create_snapshot(request.displayName, request.description, request.resources)
    except errors.GraphJobLimit:
        if not get_settings().prune_stored_jobs or not await prune_oldest_stored(store, client):
            raise
    return await client.create_snapshot(request.displayName, request.description, request.resources)


async def prune_oldest_stored(store: TableStore, client: UtcmClient) -> bool:
    """Delete from Graph the oldest visible job whose content is stored here; never one that is not."""
    visible = {job.id for job in await client.list_jobs()}
    stored = [
        record
        for record in await store.all_jobs()
        if record.id in visible and record.content_state == ContentState.STORED and not record.graph_deleted
    ]
    if not stored:
        return False
    oldest = min(stored, key=lambda record: record.created or datetime.now(UTC))
    await forget_in_graph(store, client, oldest, "to make room under Graph's 12-job cap")
    return True


async def forget_in_graph(store: TableStore, client: UtcmClient, record: JobRecord, why: str) -> JobRecord:
    """Delete the Graph job (its content is safe here) and mark the record graphDeleted."""
    await client.delete_job(record.id)
    log.info("deleted job %s (%s) from Graph %s", record.id, record.display_name, why)
    return await store.apply_to_job(record, {"graph_deleted": True})


async def _after_ambiguous_failure(
    store: TableStore,
    client: UtcmClient,
    request: StartSnapshotRequest,
    claim: IdempotencyClaim | None,
    failure: errors.GraphUnavailable,
) -> GraphJob:
    """The create may or may not have happened: look for the job by name before answering."""
    try:
        existing = await _find_by_name(client, request.displayName)
    except errors.ServiceError:
        # Cannot tell. The key stays pending; a retry after it goes stale looks the job up again.
        raise errors.Unavailable(
            "Microsoft Graph did not confirm the snapshot; retry with the same Idempotency-Key",
            retry_after=failure.retry_after,
        ) from None
    if existing is not None:
        log.warning("adopted job %s after an ambiguous create failure", existing.id)
        return existing
    if claim is not None:
        await store.release_key(claim)
    raise errors.Unavailable(
        "Microsoft Graph is unavailable and did not create the snapshot; retry later",
        retry_after=failure.retry_after,
    ) from None


async def _find_by_name(client: UtcmClient, display_name: str) -> GraphJob | None:
    jobs = await client.list_jobs(display_name=display_name)
    return next((job for job in jobs if job.display_name == display_name), None)


async def get_job(job_id: str) -> JobRecord:
    record = await table_store().get_job(job_id)
    if record is None:
        raise errors.NotFound(f"no snapshot job with id {job_id!r}")
    return record


@dataclass
class HealthReport:
    checks: dict[str, str]

    @property
    def healthy(self) -> bool:
        return all(value == "ok" for value in self.checks.values())


async def health() -> HealthReport:
    """Table Storage reachable and a Graph token obtainable; failures named, no configuration revealed."""
    checks: dict[str, str] = {}
    try:
        settings = get_settings()
    except Exception:
        return HealthReport({"configuration": "invalid app settings (see the function log)"})
    try:
        await table_store(settings).ping()
        checks["tableStorage"] = "ok"
    except Exception:
        checks["tableStorage"] = "unreachable"
    try:
        await graph_client(settings).token_check()
        checks["managedIdentity"] = "ok"
    except Exception:
        checks["managedIdentity"] = "no token for Microsoft Graph"
    return HealthReport(checks)


# --- reads (served from Table Storage only) ---------------------------------------------------------

FILTERABLE_STATUSES = tuple(status.value for status in JobStatus)


def parse_top(value: str | None) -> int:
    if value is None or value == "":
        return LIST_TOP_DEFAULT
    if not re.fullmatch(r"[0-9]{1,4}", value) or not 1 <= int(value) <= LIST_TOP_MAX:
        raise errors.ValidationFailed([errors.FieldError("top", f"must be a whole number from 1 to {LIST_TOP_MAX}")])
    return int(value)


def _continuation(token: str | None) -> str | None:
    from snapshot.store import decode_token

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
    return await table_store().list_jobs(status, parse_top(top), _continuation(continuation))


async def stored_job(job_id: str) -> JobRecord:
    """The job, if its content is stored; 409 while it is not (yet)."""
    record = await get_job(job_id)
    if record.content_state == ContentState.PENDING:
        raise errors.Conflict(
            f"the content of snapshot job {job_id} is not stored yet; poll GET /api/snapshots/{job_id} until it answers 200"
        )
    if record.content_state != ContentState.STORED:
        raise errors.Conflict(f"snapshot job {job_id} has no stored content ({record.status.value})")
    return record


async def list_resources(
    job_id: str, resource_type: str | None, top: str | None, continuation: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    from snapshot import content

    await stored_job(job_id)
    store = table_store()
    page = await store.query_resources(job_id, resource_type, parse_top(top), _continuation(continuation))
    items = []
    for head in page.items:
        items.append(content.resource_from_entities(head, await store.resource_parts(job_id, content.part_keys(head))))
    return items, page.continuation


async def content_bytes(job_id: str) -> bytes:
    """The whole snapshot in Graph's baseline shape, rebuilt from the table (resources by type and name)."""
    from snapshot import content

    record = await stored_job(job_id)
    chunks = [chunk async for chunk in content.content_chunks(record.content_metadata or {}, _resources(job_id))]
    return b"".join(chunks)


async def _resources(job_id: str) -> AsyncIterator[dict[str, Any]]:
    from snapshot import content

    store = table_store()

    async def fetch(row_key: str) -> dict[str, Any]:
        return (await store.resource_parts(job_id, [row_key]))[0]

    async for resource in content.assemble_resources(store.iter_resources(job_id), fetch):
        yield resource


async def delete_job(job_id: str, keep_content: bool) -> None:
    """Delete the Graph job (a 404 there is fine), then, unless keep_content, the stored rows and the job."""
    store = table_store()
    record = await get_job(job_id)
    if not record.graph_deleted:
        await graph_client().delete_job(job_id)
        change: dict[str, Any] = {"graph_deleted": True}
        if record.content_state == ContentState.PENDING:
            change["content_state"] = ContentState.UNAVAILABLE
            change["content_error"] = "the Graph job was deleted before its content was stored"
        record = await store.apply_to_job(record, change)
    if keep_content:
        return
    await store.delete_resources(job_id)
    await store.delete_job(record)


async def quota_status() -> quota.QuotaStatus:
    return await quota.status(table_store(), get_settings())


async def diff_jobs(job_id: str, against: str | None, resource_type: str | None) -> dict[str, Any]:
    """What changed from snapshot `against` (older) to `job_id`, streamed from the table (both stored)."""
    from snapshot import diff

    if not against:
        raise errors.ValidationFailed(
            [errors.FieldError("against", "is required: the id of the snapshot to compare with")]
        )
    await stored_job(job_id)
    await stored_job(against)
    result = await diff.diff_streams(_resources(against), _resources(job_id), resource_type or None)
    return {"id": job_id, "against": against, **result.to_json()}
