"""Snapshot content <-> entities: streaming reads, normalising, row keys, chunking and rebuilding. No services."""

from __future__ import annotations

import copy
import inspect
import io
import json
import random
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapshot import content
from snapshot.content import (
    CHUNKS_PER_ENTITY,
    ENTITY_MAX_BYTES,
    ENTITY_MAX_PROPERTIES,
    NormalisedResource,
    assemble_resources,
    content_chunks,
    denormalise,
    entity_size,
    is_part_key,
    iter_resources,
    normalise,
    part_keys,
    read_metadata,
    resource_entities,
    resource_from_entities,
    row_key,
    split_row_key,
    view_from_entities,
)

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


# --- reading the document -------------------------------------------------------------------------


def test_metadata_streaming_reads_top_level_keys_without_resources() -> None:
    resources = realistic_resources()
    raw = json.dumps({"@odata.context": "ctx", "resources": resources, **{k: v for k, v in METADATA.items()}}).encode()
    metadata = read_metadata(io.BytesIO(raw))
    assert metadata == {**METADATA, "@odata.context": METADATA["@odata.context"]}
    assert "resources" not in metadata
    assert_no_decimal(metadata)


def test_metadata_handles_odd_top_level_keys() -> None:
    raw = b'{"": 1, "a.b": {"resources": [1]}, "resources": {"item": 2}, "after": [1.5, {"x": null}], "e": {}}'
    assert read_metadata(io.BytesIO(raw)) == {"": 1, "a.b": {"resources": [1]}, "after": [1.5, {"x": None}], "e": {}}
    with pytest.raises(ValueError):
        read_metadata(io.BytesIO(b"[1, 2]"))


def test_iter_resources_yields_each_resource_and_the_caller_can_seek_between() -> None:
    resources = realistic_resources()
    stream = io.BytesIO(document(resources))
    metadata = read_metadata(stream)
    stream.seek(0)
    items = iter_resources(stream)
    assert inspect.isgenerator(items)
    parsed = list(items)
    assert parsed == as_json(resources)
    assert metadata == METADATA
    for item in parsed:
        assert_no_decimal(item)


def test_numbers_round_trip_exactly() -> None:
    values = {
        "Int": 1,
        "Zero": 0,
        "Neg": -42,
        "Float": 0.1,
        "Whole": 1.0,
        "Exp": 1e21,
        "Small": 1.5e-10,
        "Max53": 9007199254740993,
        "Int64": 9223372036854775807,
        "Beyond": 123456789012345678901234567890,  # yajl overflows: the Python backend takes over
        "MinInt64": -9223372036854775808,
        "List": [0.30000000000000004, 3, 2.5],
    }
    resources = [
        {"displayName": "a", "resourceType": "microsoft.x.y", "properties": {"Small": 1}},
        {"displayName": "n", "resourceType": "microsoft.x.y", "properties": values},
    ]
    stream = io.BytesIO(document(resources, {**METADATA, "Count": 10**30}))
    assert read_metadata(stream)["Count"] == 10**30
    stream.seek(0)
    parsed = list(iter_resources(stream))
    assert parsed == resources
    got = parsed[1]["properties"]
    for key, value in values.items():
        assert type(got[key]) is type(value), key
        assert got[key] == value
    rebuilt = reassemble(entities_of(parsed))
    assert rebuilt == resources
    assert json.dumps(rebuilt[1]["properties"], sort_keys=True) == json.dumps(values, sort_keys=True)


def test_non_object_resources_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"resources\[1\]"):
        list(iter_resources(io.BytesIO(b'{"resources": [{}, 5]}')))


# --- normalise ---------------------------------------------------------------------------------------


def test_normalise_splits_top_level_annotations_and_sorts_values() -> None:
    resource = realistic_resources()[2]
    n = normalise(resource)
    assert n.resource_type == "microsoft.entra.grouplifecyclepolicy"
    assert n.display_name == "AADGroupLifecyclePolicy"
    assert n.annotations == {"GroupLifetimeInDays@odata.type": "#Int64"}
    assert "GroupLifetimeInDays@odata.type" not in n.values
    assert list(n.values) == sorted(n.values)
    assert n.extra == {}
    assert denormalise(n) == resource


def test_nested_annotations_stay_in_place() -> None:
    n = normalise(realistic_resources()[3])
    assert n.annotations == {}
    assert n.values["Nested"]["Inner@odata.type"] == "#Int32"


def test_normalise_keeps_what_it_needs_to_rebuild_odd_resources() -> None:
    mixed = normalise(realistic_resources()[4])
    assert mixed.resource_type == "microsoft.entra.namedlocationpolicy"
    assert mixed.extra == {"resourceType": "Microsoft.Entra.NamedLocationPolicy", "@odata.etag": 'W/"1"'}
    for odd in (
        {},
        {"displayName": None, "resourceType": 5, "properties": None},
        {"displayName": "x", "properties": [1, 2]},
        {"resourceType": "microsoft.a.b", "properties": {"@odata.type": "#x", "A": 1}},
    ):
        assert denormalise(normalise(odd)) == odd


# --- row keys ----------------------------------------------------------------------------------------


def test_row_key_form_is_readable_and_reversible() -> None:
    assert row_key("microsoft.teams.meetingpolicy", "TeamsMeetingPolicy-Global", 0) == (
        "microsoft.teams.meetingpolicy|TeamsMeetingPolicy-Global|0000"
    )
    assert row_key("Microsoft.Entra.User", "a", 3) == "microsoft.entra.user|a|0003"
    key = row_key("microsoft.x.y", "O'B #1 / 50% ?\\|", 1)
    assert key == "microsoft.x.y|O%27B %231 %2F 50%25 %3F%5C%7C|0001"
    assert split_row_key(key) == ("microsoft.x.y", "O'B #1 / 50% ?\\|", 1)
    assert split_row_key(row_key("microsoft.x.y", "tab\t\x85é😀", 2)) == ("microsoft.x.y", "tab\t\x85é😀", 2)


def test_row_keys_never_start_with_a_tilde() -> None:
    for resource_type in ("~evil", "\x7fdel", "ÿ", "😀", "", "|"):
        key = row_key(resource_type, "~name", 0)
        assert key < "~", key
        assert split_row_key(key)[0] == resource_type


def test_long_names_are_cut_with_a_hash() -> None:
    a, b = "x" * 2000, "x" * 1999 + "y"
    key_a, key_b = row_key("microsoft.x.y", a, 0), row_key("microsoft.x.y", b, 0)
    assert key_a != key_b
    assert len(key_a) < 480
    assert "%~" in key_a
    assert key_a.startswith("microsoft.x.y|xxxx")
    # an escape is never split by the cut
    cut = row_key("microsoft.x.y", "#" * 500, 0).split("|")[1]
    assert cut.split("%~")[0].replace("%23", "") == ""


def test_row_keys_group_by_type_then_name() -> None:
    pairs = [
        ("microsoft.a", "z"),
        ("microsoft.a.b", "a"),
        ("microsoft.a", "a"),
        ("microsoft.a", "a b"),
        ("microsoft.b", ""),
    ]
    keys = sorted(row_key(t, n, 0) for t, n in pairs)
    types = [split_row_key(k)[0] for k in keys]
    # each type's keys are contiguous
    seen: list[str] = []
    for t in types:
        if not seen or seen[-1] != t:
            assert t not in seen
            seen.append(t)


KEY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=600) | st.sampled_from(HOSTILE_NAMES)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(KEY_TEXT, KEY_TEXT, st.integers(0, 20)), min_size=1, max_size=5, unique=True),
)
def test_row_key_is_table_safe_and_unique(identities: list[tuple[str, str, int]]) -> None:
    keys = set()
    for resource_type, name, occurrence in identities:
        key = row_key(resource_type, name, occurrence)
        assert not (set(key) & FORBIDDEN_KEY_CHARS), key
        assert "'" not in key
        assert key < "~"
        assert len(key.encode("utf-16-le", "surrogatepass")) <= 1024 - 2 * 11  # room for the part key wrapping
        assert len(content.part_key(key, 9999).encode("utf-16-le", "surrogatepass")) <= 1024
        assert row_key(resource_type, name, occurrence) == key
        got_type, got_name, got_occurrence = split_row_key(key)
        assert got_occurrence == occurrence
        if "%~" not in key:
            assert (got_type, got_name) == (resource_type.lower(), name)
        keys.add(key)
    lowered = {(t.lower(), n, o) for t, n, o in identities}
    assert len(keys) == len(lowered)


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.just("System.Collections.Hashtable")
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
PROPERTY_NAMES = st.text(max_size=12) | st.sampled_from(["A", "A@odata.type", "@odata.type", "B@x", "Ensure"])
RESOURCES = st.fixed_dictionaries(
    {},
    optional={
        "displayName": st.text(max_size=30) | JSON_SCALARS,
        "resourceType": st.sampled_from(["microsoft.entra.user", "Microsoft.Entra.User", "MICROSOFT.X", ""])
        | JSON_SCALARS,
        "properties": st.dictionaries(PROPERTY_NAMES, JSON_VALUES, max_size=6) | JSON_VALUES,
        "@odata.etag": st.text(max_size=5),
        "extra": JSON_VALUES,
    },
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(RESOURCES)
def test_normalise_denormalise_round_trip(resource: dict[str, Any]) -> None:
    n = normalise(resource)
    assert n.resource_type == n.resource_type.lower()
    assert not any("@" in key for key in n.values)
    assert all("@" in key for key in n.annotations)
    assert as_json(denormalise(n)) == as_json(resource)
    # and through entities, as JSON
    [rebuilt] = reassemble(entities_of([resource]))
    assert rebuilt == as_json(resource)


# --- entities ----------------------------------------------------------------------------------------


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
    view = view_from_entities(policy)
    assert view == {"resourceType": policy["ResourceType"], "displayName": "AADGroupLifecyclePolicy", "ordinal": 2,
                    "properties": values}  # fmt: skip


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


async def test_assemble_resources_fetches_parts_by_key() -> None:
    resources = [realistic_resources()[2], big_resource(2 * 1024 * 1024)]
    entities = sorted(entities_of(resources), key=lambda e: e["RowKey"])
    by_key = {e["RowKey"]: e for e in entities}
    fetched: list[str] = []

    async def query() -> AsyncIterator[dict[str, Any]]:
        for entity in entities:
            yield entity

    async def fetch(key: str) -> dict[str, Any]:
        fetched.append(key)
        return by_key[key]

    rebuilt = [r async for r in assemble_resources(query(), fetch)]

    def canonical(items: list[dict[str, Any]]) -> list[str]:
        return sorted(json.dumps(item, sort_keys=True) for item in items)

    assert canonical(rebuilt) == canonical(resources)
    assert fetched and all(is_part_key(k) for k in fetched)


def test_lone_surrogates_survive_as_escapes() -> None:
    resource = {"displayName": "bad\ud800name", "resourceType": "microsoft.x.y", "properties": {"A\udc00": "\ud800"}}
    entities = entities_of([resource])
    for entity in entities:
        assert_within_limits(entity)
    assert reassemble(entities) == [resource]


def test_binary_columns_may_come_back_base64() -> None:
    import base64

    [head] = entities_of([realistic_resources()[0]])
    encoded = {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in head.items()}
    assert resource_from_entities(encoded) == realistic_resources()[0]


# --- streaming ingestion ---------------------------------------------------------------------------------


def test_ingesting_20000_resources_streams() -> None:
    count = 20_000

    def generate() -> Iterator[bytes]:
        yield json.dumps(METADATA)[:-1].encode() + b',"resources":['
        for i in range(count):
            resource = {"displayName": f"AADUser-user{i}", "resourceType": "microsoft.entra.user",
                        "properties": {"UserPrincipalName": f"user{i}@contoso.com", "Ensure": "Present", "Index": i}}  # fmt: skip
            yield (b"," if i else b"") + json.dumps(resource).encode()
        yield b'],"trailer":true}'

    stream = io.BytesIO(b"".join(generate()))
    total = len(stream.getvalue())
    metadata = read_metadata(stream)
    assert metadata == {**METADATA, "trailer": True}
    stream.seek(0)
    resources: Iterator[dict[str, Any]] = iter_resources(stream)
    assert inspect.isgenerator(iter_resources(io.BytesIO(b"{}")))
    writer = resource_entities(JOB, resources)
    assert not isinstance(writer, list | tuple)
    first = next(writer)
    assert first["Ordinal"] == 0
    assert stream.tell() < total / 4  # only a buffer's worth was read, not the whole document
    assert writer.count == 1
    rest = sum(1 for _ in writer)
    assert rest + 1 == count
    assert writer.count == count
    assert writer.type_counts == {"microsoft.entra.user": count}
    assert writer.entity_count == count


# --- rebuilding the document ----------------------------------------------------------------------------


async def collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


async def test_content_chunks_rebuild_the_document() -> None:
    resources = [*realistic_resources(), big_resource(300 * 1024)]
    entities = entities_of(resources)

    async def stored() -> AsyncIterator[dict[str, Any]]:
        for resource in reassemble(entities):
            yield resource

    chunks = await collect(content_chunks(METADATA, stored()))
    assert len(chunks) > 1
    assert all(isinstance(chunk, bytes) for chunk in chunks)
    rebuilt = json.loads(b"".join(chunks))
    assert rebuilt == as_json({**METADATA, "resources": resources})


async def test_content_chunks_with_no_metadata_or_resources() -> None:
    async def nothing() -> AsyncIterator[dict[str, Any]]:
        empty: list[dict[str, Any]] = []
        for item in empty:
            yield item

    assert json.loads(b"".join(await collect(content_chunks({}, nothing())))) == {"resources": []}
    ignored = {"resources": [1], "id": "x"}
    assert json.loads(b"".join(await collect(content_chunks(ignored, nothing())))) == {"id": "x", "resources": []}


def test_normalised_resource_is_frozen() -> None:
    n = NormalisedResource("t", "n", {})
    with pytest.raises(AttributeError):
        n.display_name = "m"  # type: ignore[misc]
