"""Start a snapshot: one Graph job per request (per Idempotency-Key), recorded before the caller hears 202."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from snapshot import clients, errors
from snapshot.models import CallbackState, JobRecord, StartSnapshotRequest
from snapshot.settings import get_settings
from snapshot.store import Store
from snapshot.store.idempotency import IdempotencyClaim
from snapshot.store.tables import ConcurrencyConflict
from snapshot.usecases import idempotency, quota, room
from snapshot.usecases.graph_jobs import named, record_from_graph

if TYPE_CHECKING:
    from snapshot.graph import GraphJob, UtcmClient

log = logging.getLogger(__name__)


@dataclass
class StartResult:
    record: JobRecord
    created: bool  # False when an earlier request with the same Idempotency-Key created it


async def start_snapshot(
    request: StartSnapshotRequest, idempotency_key: str | None = None, jobs_url: str | None = None
) -> StartResult:
    """Create one Graph snapshot job for this request, exactly once per Idempotency-Key.

    A key returns its job for as long as this app keeps the job's record; once the job is deleted (the
    record too) and Graph no longer has it, the key is free again and the same request starts a new job.
    """
    store = clients.store()
    if not idempotency_key:
        return StartResult(await _start(store, request, None, jobs_url), created=True)
    while True:
        claim = await idempotency.claim(store, idempotency_key, request.fingerprint())
        if not claim.job_id:
            break
        known = await _job_of_key(store, request, claim, jobs_url)
        if known is not None:
            return StartResult(known, created=False)
    try:
        record = await _start(store, request, claim, jobs_url)
    except BaseException:
        await idempotency.hand_back(store, claim)
        raise
    await store.keys.complete(claim, record.id)
    return StartResult(record, created=True)


async def _start(
    store: Store, request: StartSnapshotRequest, claim: IdempotencyClaim | None, jobs_url: str | None
) -> JobRecord:
    try:
        await quota.ensure_available(store)
    except errors.QuotaExhausted:
        await _release(store, claim)
        raise
    resolution = request.resolution
    job, skipped = await _create_in_graph(store, request, resolution.names, claim)
    record = _new_record(job, request, claim, jobs_url).model_copy(
        update={
            "warnings": resolution.warnings,
            "resource_expansion": resolution.expansion,
            "skipped_resources": skipped,
        }
    )
    return await _record(store, record)


async def _job_of_key(
    store: Store, request: StartSnapshotRequest, claim: IdempotencyClaim, jobs_url: str | None
) -> JobRecord | None:
    """The job an earlier request with this key created; None (and the key freed) if it is gone."""
    assert claim.job_id is not None
    record = await store.jobs.get(claim.job_id)
    if record is not None:
        return record
    try:
        job = await clients.graph().get_job(claim.job_id)
    except errors.GraphNotFound:
        await store.keys.release(claim)  # deleted here and in Graph: nothing left that the key names
        return None
    # Created in Graph but never recorded (storage failed then): record it now rather than wait for a poll.
    return await _record(store, _new_record(job, request, claim, jobs_url))


def _new_record(
    job: GraphJob, request: StartSnapshotRequest, claim: IdempotencyClaim | None, jobs_url: str | None
) -> JobRecord:
    update: dict[str, object] = {}
    if jobs_url:
        update["job_url"] = f"{jobs_url}/{quote(job.id, safe='')}"
    if request.callbackUrl:
        update["callback"] = CallbackState.create(request.callbackUrl)
    return record_from_graph(job, "api", claim.key if claim else None).model_copy(update=update)


async def _record(store: Store, record: JobRecord) -> JobRecord:
    try:
        return await store.jobs.insert(record)
    except ConcurrencyConflict:  # the poller adopted it between Graph's answer and this write
        adopted = await store.jobs.get(record.id)
        if adopted is None:
            raise errors.StorageUnavailable(f"job {record.id} vanished from the table") from None
        mine = {
            "source": "api",
            "idempotency_key": record.idempotency_key,
            "job_url": record.job_url,
            "callback": record.callback,
        }
        return await store.jobs.update(adopted.model_copy(update=mine))
    except errors.StorageUnavailable:
        raise errors.StorageUnavailable(
            f"snapshot job {record.id} was created in Microsoft Graph but could not be recorded; "
            f"it will appear at GET /api/snapshots/{record.id} after the next poll",
            retry_after=get_settings().retry_after_seconds,
        ) from None


async def _create_in_graph(
    store: Store, request: StartSnapshotRequest, names: list[str], claim: IdempotencyClaim | None
) -> tuple[GraphJob, list[str]]:
    """The job Graph made, and the types left out on Graph's word (skipUnsupported)."""
    client = clients.graph()
    # An earlier request that died holding this key may have created the job: a job with the name is that job.
    adopt = claim is not None and claim.taken_over
    try:
        try:
            job = await room.create_making_room(store, client, request.displayName, request.description, names, adopt)
            return job, []
        except errors.GraphUnsupportedTypes as exc:
            named = {name.lower() for name in exc.types}
            skipped = [name for name in names if name.lower() in named]
            kept = [name for name in names if name.lower() not in named]
            if not request.skipUnsupported or not skipped or not kept:
                raise
            log.info("Graph does not accept %s: creating once more without them (skipUnsupported)", skipped)
            job = await room.create_making_room(store, client, request.displayName, request.description, kept, adopt)
            return job, skipped
    except errors.GraphUnavailable as exc:
        return await _after_ambiguous_failure(store, client, request, claim, exc), []
    except errors.ServiceError:
        await _release(store, claim)
        raise


async def _release(store: Store, claim: IdempotencyClaim | None) -> None:
    if claim is not None:
        await store.keys.release(claim)


async def _after_ambiguous_failure(
    store: Store,
    client: UtcmClient,
    request: StartSnapshotRequest,
    claim: IdempotencyClaim | None,
    failure: errors.GraphUnavailable,
) -> GraphJob:
    """The create may or may not have happened: look for the job by name before answering."""
    try:
        existing = await find_by_name(client, request.displayName)
    except errors.ServiceError:
        # Cannot tell. The key is handed back (abandoned); the retry looks the job up by name first.
        raise errors.Unavailable(
            "Microsoft Graph did not confirm the snapshot; retry with the same Idempotency-Key",
            retry_after=failure.retry_after,
        ) from None
    if existing is not None:
        log.warning("adopted job %s after an ambiguous create failure", existing.id)
        return existing
    await _release(store, claim)
    raise errors.Unavailable(
        "Microsoft Graph is unavailable and did not create the snapshot; retry later",
        retry_after=failure.retry_after,
    ) from None


async def find_by_name(client: UtcmClient, display_name: str) -> GraphJob | None:
    return named(await client.list_jobs(display_name=display_name), display_name)
