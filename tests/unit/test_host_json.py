"""host.json is strict JSON (no comments: the host may ignore a file with one), and every queue setting it
makes is listed with its reason in docs/tenants.md, with the same value."""

from __future__ import annotations

import json
import re

from devtools.services import ROOT


def test_host_json_is_strict_json_and_its_queue_settings_are_explained() -> None:
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))  # raises on a comment
    queues = host["extensions"]["queues"]
    docs = (ROOT / "docs" / "tenants.md").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^\s*\| `(\w+)` \| `([^`]+)` \| ", docs, flags=re.M))
    assert {name: str(value) for name, value in queues.items()} == {name: documented.get(name) for name in queues}, (
        "docs/tenants.md section 5 and host.json disagree"
    )
    assert {"batchSize", "visibilityTimeout", "maxDequeueCount"} <= queues.keys()
