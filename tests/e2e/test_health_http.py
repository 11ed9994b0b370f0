"""Health over real HTTP: anonymous, healthy with both dependencies up."""

from __future__ import annotations

import httpx


def test_health_over_http_is_anonymous_and_healthy(api: httpx.Client) -> None:
    response = api.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
