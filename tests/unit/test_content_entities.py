"""snapshot.content.entities: resources -> entities (columns, chunks, parts, envelopes), and back."""

from __future__ import annotations

import copy
import io
import json
import random
from typing import Any

import pytest

from snapshot.content import entities as entities_module
from snapshot.content.document import resource_from_entities
from snapshot.content.entities import CHUNKS_PER_ENTITY, resource_entities
from snapshot.content.rowkeys import is_part_key, part_keys
from snapshot.content.stream import iter_resources, read_metadata
from tests.unit.content_samples import (
    HOSTILE_NAMES,
    JOB,
    METADATA,
    as_json,
    assert_within_limits,
    big_resource,
    document,
    entities_of,
    realistic_resources,
    reassemble,
)


def test_realistic_document_round_trips_through_entities() -> None:
    resources = realistic_resources()
    raw = document(resources)
    stream = io.BytesIO(raw)
    metadata = read_metadata(stream)
    stream.seek(0)
    writer = resource_entities(JOB, iter_resources(stream))
    entities = list(writer)
    for entity in entities:
        assert entity["PartitionKey"] == JOB
        assert_within_limits(entity)
    keys = [e["RowKey"] for e in entities]
    assert len(set(keys)) == len(keys)
    assert reassemble(entities) == as_json(resources)
    assert metadata == METADATA
    assert writer.count == len(resources)
    assert writer.type_counts == {
        "microsoft.teams.meetingpolicy": 3,
        "microsoft.exchange.transportrule": 1,
        "microsoft.entra.grouplifecyclepolicy": 1,
        "microsoft.entra.authenticationmethodpolicy": 1,
        "microsoft.entra.namedlocationpolicy": 1,
        "microsoft.entra.user": 1,
        "microsoft.entra.group": len(HOSTILE_NAMES) + 1,
    }
    # duplicates get occurrences in document order
    teams = [e for e in entities if e["ResourceType"] == "microsoft.teams.meetingpolicy"]
    assert [(e["RowKey"].rsplit("|", 1)[1], e["Ordinal"]) for e in teams] == [("0000", 0), ("0001", 6), ("0002", 7)]


def test_entity_columns() -> None:
    resources = realistic_resources()
    entities = {e["DisplayName"]: e for e in entities_of(resources[:5])}
    policy = entities["AADGroupLifecyclePolicy"]
    assert policy["ResourceType"] == "microsoft.entra.grouplifecyclepolicy"
    assert policy["Ordinal"] == 2
    assert json.loads(policy["Annotations"]) == {"GroupLifetimeInDays@odata.type": "#Int64"}
    assert "Extra" not in policy
    assert policy["Parts"] == 1
    assert isinstance(policy["Properties0"], bytes)
    values = {k: v for k, v in resources[2]["properties"].items() if "@" not in k}
    assert (
        policy["Properties0"] == json.dumps(values, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()
    )
    assert policy["PropertiesSize"] == len(policy["Properties0"])
    named = entities["AADNamedLocationPolicy-Office"]
    assert named["ResourceType"] == "microsoft.entra.namedlocationpolicy"
    assert json.loads(named["Extra"])["resourceType"] == "Microsoft.Entra.NamedLocationPolicy"
    assert "Annotations" not in entities["TeamsMeetingPolicy-Global"]


def test_entities_are_deterministic() -> None:
    resources = [*realistic_resources(), big_resource(200 * 1024), big_resource(3 * 1024 * 1024, seed=2)]
    assert entities_of(resources) == entities_of(copy.deepcopy(resources))
    # key order inside properties does not matter either
    shuffled = copy.deepcopy(resources)
    for resource in shuffled:
        items = list(resource["properties"].items())
        random.Random(1).shuffle(items)
        resource["properties"] = dict(items)
    assert entities_of(resources) == entities_of(shuffled)


def test_a_200_kib_property_spans_chunks_of_one_entity() -> None:
    resource = big_resource(200 * 1024)
    entities = entities_of([resource])
    assert len(entities) == 1
    [head] = entities
    chunks = [k for k in head if k.startswith("Properties") and k != "PropertiesSize"]
    assert len(chunks) >= 4
    assert head["Parts"] == 1
    assert_within_limits(head)
    assert resource_from_entities(head, []) == resource


def test_a_3_mb_resource_continues_in_part_entities() -> None:
    resource = big_resource(3 * 1024 * 1024)
    entities = entities_of([resource, realistic_resources()[0]])
    head = entities[0]
    parts = [e for e in entities if is_part_key(e["RowKey"])]
    assert head["Parts"] == len(parts) + 1 >= 3
    assert [p["RowKey"] for p in parts] == part_keys(head)
    assert part_keys(head)[0] == f"~part~{head['RowKey']}~0001"
    for entity in entities:
        assert_within_limits(entity)
        chunks = sum(1 for k in entity if k.startswith("Properties") and k != "PropertiesSize")
        assert chunks <= CHUNKS_PER_ENTITY
    assert not any("ResourceType" in p for p in parts)  # a type filter finds heads only
    assert resource_from_entities(head, list(reversed(parts))) == resource
    with pytest.raises(ValueError):
        resource_from_entities(head, parts[:-1])
    assert reassemble(entities) == [resource, realistic_resources()[0]]


def test_pathological_columns_go_into_an_envelope() -> None:
    resource = {
        "displayName": "n" * 50_000,
        "resourceType": "microsoft." + "t" * 20_000,
        "properties": {f"K{i}@odata.type": "#String" * 50 for i in range(200)} | {"A": "x" * 100},
        "Extra": "e" * 40_000,
    }
    entities = entities_of([resource])
    head = entities[0]
    assert head["Envelope"] is True
    for entity in entities:
        assert_within_limits(entity)
    assert reassemble(entities) == [resource]


def test_lone_surrogates_survive_as_escapes() -> None:
    resource = {"displayName": "bad\ud800name", "resourceType": "microsoft.x.y", "properties": {"A\udc00": "\ud800"}}
    entities = entities_of([resource])
    for entity in entities:
        assert_within_limits(entity)
    assert reassemble(entities) == [resource]


# --- the plain-resource path: the usual resource's entity made directly, as the general path makes it -------

PLAIN: list[dict[str, Any]] = [
    {
        "displayName": "Zoë \u2013 東京 😀",
        "resourceType": "microsoft.entra.user",
        "properties": {"B": [1, {"z": 1, "a": 2}]},
    },
    *(
        {"displayName": name, "resourceType": "microsoft.entra.group", "properties": {"Name": name}}
        for name in HOSTILE_NAMES
    ),
    {"displayName": "x" * 6001, "resourceType": "microsoft.entra.user", "properties": {"A": 1}},  # general: too long
    {"displayName": "é" * 6000, "resourceType": "microsoft.entra.user", "properties": {"A": 1}},
    {"displayName": "😀" * 6001, "resourceType": "microsoft.entra.user", "properties": {"A": 1}},  # general: too long
    {"displayName": "big", "resourceType": "microsoft.entra.user", "properties": {"Text": "x" * 200_000}},  # general
]
NOT_PLAIN: list[dict[str, Any]] = [
    {"displayName": "big", "resourceType": "microsoft.entra.user", "properties": big_resource(200_000)["properties"]},
    {"displayName": "lone \ud800 name", "resourceType": "microsoft.entra.user", "properties": {"A": 1}},
    {"displayName": "n", "resourceType": "microsoft.entra.us\udc00er", "properties": {"A": 1}},
    {"displayName": "n", "resourceType": "microsoft.ENTRA.user", "properties": {"A": 1}},
    {"displayName": "n", "resourceType": "microsoft.entra.user", "properties": {"A@odata.type": "#Int64", "A": 1}},
    {"displayName": "n", "resourceType": "microsoft.entra.user", "properties": {"A": 1}, "extra": True},
    {"displayName": 5, "resourceType": "microsoft.entra.user", "properties": {"A": 1}},
    {"displayName": "n", "resourceType": "microsoft.entra.user", "properties": [1, 2]},
    {"displayName": "n", "resourceType": "microsoft.entra.user"},
]
PLAIN_AND_NOT = [*realistic_resources(), *PLAIN, *NOT_PLAIN]


def test_plain_resources_make_the_entities_the_general_path_makes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert all(entities_module._plain(r) is not None for r in PLAIN)  # odd names take the direct path too
    assert all(entities_module._plain(r) is None for r in NOT_PLAIN)
    fast = entities_of(copy.deepcopy(PLAIN_AND_NOT))
    monkeypatch.setattr(entities_module, "_plain", lambda resource: None)
    assert fast == entities_of(copy.deepcopy(PLAIN_AND_NOT))
    assert reassemble(fast) == as_json(PLAIN_AND_NOT)
