"""host.json is strict JSON (no comments: the host may ignore a file with one), and every queue setting it
makes is listed with its reason in docs/tenants.md, with the same value."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from devtools.services import ROOT
from snapshot.onboarding import HOST_MESSAGE_LEASE, MESSAGE_LEASE


def test_host_json_is_strict_json_and_its_queue_settings_are_explained() -> None:
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))  # raises on a comment
    queues = host["extensions"]["queues"]
    docs = (ROOT / "docs" / "tenants.md").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^\s*\| `(\w+)` \| `([^`]+)` \| ", docs, flags=re.M))
    assert {name: str(value) for name, value in queues.items()} == {name: documented.get(name) for name in queues}, (
        "docs/tenants.md section 5 and host.json disagree"
    )
    assert {"batchSize", "visibilityTimeout", "maxDequeueCount"} <= queues.keys()


def _timespan(value: str) -> timedelta:
    hours, minutes, seconds = value.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds))


def test_a_fan_out_claim_outlives_every_try_the_host_makes_of_its_message() -> None:
    """A claim that lapsed while its message was still being tried would let a tick send a second message, and
    the late run clear the newer claim: the lease must cover maxDequeueCount x (functionTimeout + the time the
    message is hidden after a try: visibilityTimeout, or the host's 10-minute lease when the host died)."""
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    queues = host["extensions"]["queues"]
    hidden = max(_timespan(queues["visibilityTimeout"]), HOST_MESSAGE_LEASE)  # a failed try, or a host that died
    longest = queues["maxDequeueCount"] * (_timespan(host["functionTimeout"]) + hidden)
    assert longest < MESSAGE_LEASE, f"MESSAGE_LEASE {MESSAGE_LEASE} is not longer than {longest}"
