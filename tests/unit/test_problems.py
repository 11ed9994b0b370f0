"""problem+json answers: the `type` is an identifier the project owns, not a made-up web address."""

from __future__ import annotations

import json

from snapshot import errors
from snapshot.http_support import PROBLEM_TYPE_PREFIX, error_response


def test_problem_types_are_urns_of_the_project() -> None:
    for exc in (
        errors.NotFound("x"),
        errors.ValidationFailed([errors.FieldError("f", "m")]),
        errors.StorageUnavailable("down"),
    ):
        body = json.loads(error_response(exc).get_body())
        assert body["type"].startswith(PROBLEM_TYPE_PREFIX) and PROBLEM_TYPE_PREFIX.startswith("urn:")
        assert "://" not in body["type"] and " " not in body["type"]
        assert body["title"] == exc.title and body["status"] == exc.status


def test_the_quota_problem_says_when_the_month_resets_and_sends_no_retry_after() -> None:
    response = error_response(errors.QuotaExhausted("used up", resets_at="2026-12-01T00:00:00Z"))
    assert response.status_code == 429 and "Retry-After" not in response.headers
    assert json.loads(response.get_body())["resetsAt"] == "2026-12-01T00:00:00Z"
