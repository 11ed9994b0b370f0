"""A job row read again unchanged is neither parsed nor rendered again; any write (a new ETag) is seen at once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest
from pydantic import ValidationError

from snapshot import http_support
from snapshot.http_support import RenderedJobs, job_response
from snapshot.models import ContentState, JobRecord, JobStatus
from snapshot.store import jobs
from snapshot.store.jobs import ParsedRecords, job_entity


class Row(dict[str, Any]):
    """Stands for the SDK's TableEntity: the row's columns, and its ETag in `metadata`."""

    def __init__(self, columns: dict[str, Any], etag: str) -> None:
        super().__init__(columns)
        self.metadata = {"etag": etag}


RECORD = JobRecord(
    id="job-1",
    display_name="Weekly baseline",
    resources=["microsoft.entra.user"],
    status=JobStatus.SUCCEEDED,
    created=datetime(2026, 11, 2, 8, 0, tzinfo=UTC),
)


def row(record: JobRecord, etag: str) -> Row:
    return Row(job_entity(record, record.id), etag)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = jobs.record_from_entity

    def counting(entity: Any) -> JobRecord:
        seen.append(getattr(entity, "metadata", {}).get("etag", "no ETag"))
        return original(entity)

    monkeypatch.setattr(jobs, "record_from_entity", counting)
    return seen


def test_an_unchanged_row_is_parsed_once_and_its_record_cannot_be_changed_by_a_reader(parses: list[str]) -> None:
    parsed = ParsedRecords()
    first = parsed.record(row(RECORD, "W/1"))
    with pytest.raises(ValidationError):
        first.display_name = "changed by a caller"  # type: ignore[misc]
    second = parsed.record(row(RECORD, "W/1"))
    assert parses == ["W/1"]
    assert second.display_name == "Weekly baseline" and second.etag == "W/1"


def test_a_new_etag_is_parsed_again_and_the_oldest_entries_go(parses: list[str]) -> None:
    parsed = ParsedRecords(size=2)
    stored = RECORD.model_copy(update={"content_state": ContentState.STORED})
    assert parsed.record(row(RECORD, "W/1")).content_state == ContentState.PENDING
    assert parsed.record(row(stored, "W/2")).content_state == ContentState.STORED
    parsed.record(row(RECORD, "W/3"))
    parsed.record(row(RECORD, "W/1"))  # pushed out by W/3: parsed again
    assert parses == ["W/1", "W/2", "W/3", "W/1"]


def test_a_row_without_an_etag_is_never_kept(parses: list[str]) -> None:
    parsed = ParsedRecords()
    columns = job_entity(RECORD, RECORD.id)
    parsed.record(columns)
    parsed.record(columns)
    assert parses == ["no ETag", "no ETag"]


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = http_support.render_job

    def counting(record: JobRecord, url: str) -> str:
        seen.append(f"{record.etag} {url}")
        return original(record, url)

    monkeypatch.setattr(http_support, "render_job", counting)
    return seen


def test_a_job_view_is_rendered_once_per_row_version_and_url(renders: list[str]) -> None:
    rendered = RenderedJobs(size=8)
    one = RECORD.model_copy(update={"etag": "W/1"})
    body = rendered.body(one, "https://h/api/snapshots/job-1")
    assert rendered.body(one.model_copy(), "https://h/api/snapshots/job-1") == body
    rendered.body(one, "https://h/api/snapshots/job-1?code=k2")  # another caller's URL: its own links
    changed = one.model_copy(update={"etag": "W/2", "content_state": ContentState.STORED})
    assert json.loads(rendered.body(changed, "https://h/api/snapshots/job-1"))["contentState"] == "stored"
    assert renders == [
        "W/1 https://h/api/snapshots/job-1",
        "W/1 https://h/api/snapshots/job-1?code=k2",
        "W/2 https://h/api/snapshots/job-1",
    ]


def test_only_records_read_from_their_row_are_kept(renders: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_support, "RENDERED_JOBS", RenderedJobs())
    monkeypatch.setattr(http_support, "get_settings", lambda: type("S", (), {"retry_after_seconds": 7})())
    req = func.HttpRequest(method="GET", url="https://h/api/snapshots/job-1", body=b"")
    fresh = RECORD.model_copy(update={"etag": "W/1"})
    for _ in range(2):
        job_response(req, fresh, 202)  # e.g. the start's answer: made from the record in hand, not a row
    for _ in range(2):
        answer = job_response(req, fresh, 202, read_from_row=True)
    assert len(renders) == 3
    assert answer.headers["Location"] == "https://h/api/snapshots/job-1"
    assert answer.headers["Retry-After"] == "7"
    assert json.loads(answer.get_body())["id"] == "job-1"
