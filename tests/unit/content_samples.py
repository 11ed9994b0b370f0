"""Sample content documents and resources for the content tests, and the checks they share."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from snapshot.content.document import resource_from_entities
from snapshot.content.entities import ENTITY_MAX_BYTES, ENTITY_MAX_PROPERTIES, entity_size, resource_entities
from snapshot.content.rowkeys import is_part_key, part_keys

JOB = "2f1c6d7e-1111-4a3b-9c55-000000000001"
FORBIDDEN_KEY_CHARS = {"/", "\\", "#", "?"} | {chr(c) for c in range(0x20)} | {chr(c) for c in range(0x7F, 0xA0)}

METADATA: dict[str, Any] = {
    "@odata.context": "https://graph.microsoft.com/beta/$metadata#admin/configurationManagement/configurationSnapshots/$entity",
    "@microsoft.graph.tips": "Use $select to choose only the properties your app needs on this API.",
    "id": "3b05c24c-db31-4d15-b386-947768ed66b0",
    "displayName": "Snapshot Blog Post",
    "description": "Snapshot Description",
    "parameters": [{"name": "TenantId", "value": "contoso.onmicrosoft.com"}],
}

HOSTILE_NAMES = [
    "O'Brien's policy",
    "#hash?query/slash\\back",
    "100% sure %25 %%",
    "tab\there\nnewline\x00nul\x7fdel\x9fc1",
    "pipe|inside|name",
    "~tilde first",
    "~part~looks like a part",
    "",
    " ",
    "x" * 2000,
    "é" * 2000,
    "😀" * 700,
    "%~" + "a" * 32,
]


def realistic_resources() -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = [
        {
            "displayName": "TeamsMeetingPolicy-Global",
            "resourceType": "microsoft.teams.meetingpolicy",
            "properties": {
                "Identity": "Global",
                "AllowCloudRecording": True,
                "MediaBitRateKb": 50000,
                "Ensure": "Present",
            },
        },
        {
            "displayName": "EXOTransportRule-Deny Sending Outbound by Default",
            "resourceType": "microsoft.exchange.transportrule",
            "properties": {
                "Name": "Deny Sending Outbound by Default",
                "Priority": 1,
                "FromMemberOf": ["FinanceTeam@contoso.com"],
                "ExceptIfFrom": [],
                "Ensure": "Present",
            },
        },
        {
            "displayName": "AADGroupLifecyclePolicy",
            "resourceType": "microsoft.entra.grouplifecyclepolicy",
            "properties": {
                "IsSingleInstance": "Yes",
                "GroupLifetimeInDays@odata.type": "#Int64",
                "GroupLifetimeInDays": 99,
                "Ensure": "Present",
                "ManagedGroupTypes": "Selected",
                "AlternateNotificationEmails": ["Admin@M365x73318397.onmicrosoft.com"],
            },
        },
        {
            "displayName": "AADAuthenticationMethodPolicy",
            "resourceType": "microsoft.entra.authenticationmethodpolicy",
            "properties": {
                "SystemCredentialPreferences": "System.Collections.Hashtable",
                "RegistrationEnforcement": "System.Collections.Hashtable",
                "DeviceFilterRule": "",
                "Nested": {"Inner@odata.type": "#Int32", "Inner": 5, "List": [{"A": 1.5}, [], {}], "Null": None},
                "Ratio": 0.1,
                "Big": 9007199254740993,
                "Negative": -9223372036854775807,
                "Tiny": 5e-324,
                "Huge": 1.7976931348623157e308,
                "Whole": 1.0,
                "Unicode": "Zürich \u2013 東京 \u2013 😀 \u2013 \u2028",
            },
        },
        {
            "displayName": "AADNamedLocationPolicy-Office",
            "resourceType": "Microsoft.Entra.NamedLocationPolicy",  # not lower-case: kept in Extra
            "properties": {"IpRanges": "20.29.89.128/32", "Ensure": "Present"},
            "@odata.etag": 'W/"1"',  # an unexpected extra key
        },
        {"displayName": "EmptyProps", "resourceType": "microsoft.entra.user", "properties": {}},
    ]
    # duplicates: the same (type, name) twice, with different properties
    resources.append({**copy.deepcopy(resources[0]), "properties": {"Identity": "Global", "Ensure": "Absent"}})
    resources.append(copy.deepcopy(resources[0]))
    for index, name in enumerate(HOSTILE_NAMES):
        resources.append(
            {"displayName": name, "resourceType": "microsoft.entra.group", "properties": {"Index": index, "Name": name}}
        )
    resources.append({"displayName": HOSTILE_NAMES[0], "resourceType": "microsoft.entra.group", "properties": {}})
    return resources


def document(resources: list[dict[str, Any]], metadata: Mapping[str, Any] = METADATA) -> bytes:
    return json.dumps({**metadata, "resources": resources}, ensure_ascii=False).encode("utf-8")


def entities_of(resources: Iterable[dict[str, Any]], job: str = JOB) -> list[dict[str, Any]]:
    return list(resource_entities(job, resources))


def reassemble(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Resources back from entities in RowKey order (like a Table query), restored to document order."""
    by_key = {e["RowKey"]: e for e in entities}
    heads = sorted((e for e in entities if not is_part_key(e["RowKey"])), key=lambda e: e["RowKey"])
    rebuilt = [(h["Ordinal"], resource_from_entities(h, [by_key[k] for k in part_keys(h)])) for h in heads]
    return [resource for _, resource in sorted(rebuilt, key=lambda pair: pair[0])]


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def assert_no_decimal(value: Any) -> None:
    if isinstance(value, dict):
        for item in value.values():
            assert_no_decimal(item)
    elif isinstance(value, list):
        for item in value:
            assert_no_decimal(item)
    else:
        assert not isinstance(value, Decimal)


def assert_within_limits(entity: Mapping[str, Any]) -> None:
    key = entity["RowKey"]
    assert not (set(key) & FORBIDDEN_KEY_CHARS), key
    assert len(key.encode("utf-16-le")) <= 1024
    assert len(entity) + 1 < ENTITY_MAX_PROPERTIES  # + Timestamp
    assert entity_size(entity) < ENTITY_MAX_BYTES
    for name, value in entity.items():
        if isinstance(value, bytes):
            assert len(value) <= 65_536, name
        elif isinstance(value, str):
            assert len(value.encode("utf-16-le")) <= 65_536, name
    if is_part_key(key):
        assert key.startswith("~part~")
    else:
        assert key < "~"


def big_resource(size: int, seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789 é東😀"\\\n'
    text = "".join(rng.choice(alphabet) for _ in range(size // 2))
    members = [f"user{i}@contoso.com" for i in range(size // 40)]
    return {
        "displayName": f"AADGroup-Big {seed}",
        "resourceType": "microsoft.entra.group",
        "properties": {"Description": text, "Members": members, "Count@odata.type": "#Int64", "Count": len(members)},
    }
