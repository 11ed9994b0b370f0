"""Unsafe callback URLs are refused at submit time, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from devtools.emulator_client import EmulatorControl

TYPES = ["microsoft.entra.conditionalAccessPolicy"]


@pytest.mark.parametrize(
    "url",
    [
        "http://prod-12.westeurope.logic.azure.com/workflows/x/run",  # not https
        "https://evil.example/hook",  # not an allowed host
        "https://logic.azure.com.evil.example/hook",
        "https://127.0.0.1/hook",  # IP literal
        "https://[::1]/hook",
        "https://2130706433/hook",
    ],
)
def test_unsafe_callback_urls_are_refused_at_submit_time(
    api: httpx.Client, emulator: EmulatorControl, url: str
) -> None:
    response = api.post(
        "/api/snapshots", json={"displayName": "Unsafe callback", "resources": TYPES, "callbackUrl": url}
    )
    assert response.status_code == 400, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["callbackUrl"]
    assert emulator.counts()["create"] == 0
