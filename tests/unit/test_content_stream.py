"""snapshot.content.stream: streaming reads of the content document (metadata, resources, numbers)."""

from __future__ import annotations

import gc
import inspect
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from snapshot.content import stream as content_stream
from snapshot.content.entities import resource_entities
from snapshot.content.stream import check_document, iter_resources, read_content, read_metadata
from tests.unit.content_samples import (
    JOB,
    METADATA,
    as_json,
    assert_no_decimal,
    document,
    entities_of,
    realistic_resources,
    reassemble,
)


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


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b"5", "not a JSON object"),
        (b'{"id": 1}', "no resources array"),
        (b'{"resources": {"item": 2}}', "resources is not an array"),
        (b'{"resources": 3}', "resources is not an array"),
        (b'{"resources": [{}, 5]}', "entry that is not a JSON object"),
        (b'{"resources": [{}, [{}]]}', "entry that is not a JSON object"),
        (b'{"resources": [{"a": [1, 2]}, {}', "not complete JSON"),
        (b'{"resources": []} {"resources": []}', "not complete JSON"),
        (b'{"resources": []} x', "not complete JSON"),
    ],
)
def test_check_document_rejects_what_is_not_the_baseline_shape(raw: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_document(io.BytesIO(raw))


def test_check_document_reads_the_metadata_in_the_same_pass_and_rewinds() -> None:
    raw = document(realistic_resources())
    stream = io.BytesIO(raw)
    checked = check_document(stream)
    assert checked.metadata == METADATA == read_metadata(io.BytesIO(raw))
    assert checked.resources == len(realistic_resources())
    assert stream.tell() == 0
    both = b'{"resources": [{}], "a": {"resources": 1}, "resources": [{"x": [1, {"y": 2}]}], "n": 1000000000000000000000000000000}'
    checked = check_document(io.BytesIO(both))
    assert checked.metadata == {"a": {"resources": 1}, "n": 10**30}
    assert checked.resources == 2 == len(list(iter_resources(io.BytesIO(both))))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"resources": []}',
        b'{"resources": [{}, {"a": {"b": [{}, []]}}, {}], "x": [{}]}',
        b'{"x": {}, "resources": [{}]}',
    ],
)
def test_check_document_counts_what_iter_resources_yields(raw: bytes) -> None:
    assert check_document(io.BytesIO(raw)).resources == len(list(iter_resources(io.BytesIO(raw))))


# --- read_content: small contents parsed whole (json), large ones streamed (ijson); both read alike ----------

NUMBERS = b'{"resources": [{"i": 9223372036854775807, "big": 123456789012345678901234567890, "f": 0.1, "w": 1.0, "e": 1e21, "z": -0}], "n": 1000000000000000000000000000000}'
AGREEING = [
    b'{"resources": []}',
    b'  {"resources": [{}]}  \n',
    b'{"resources": [{}], "a": {"resources": 1}, "resources": [{"x": [1, {"y": 2}]}], "n": 1}',  # repeated key
    b'{"": 1, "a.b": {"resources": [1]}, "resources": [{"k": 1, "k": 2}], "after": [1.5, {"x": null}], "a.b": 2}',
    b'{"resources": [{"a": "\xc3\xa9\xf0\x9f\x98\x80 \\u00e9 \\n"}]}',
    NUMBERS,
    b'{"resources": [{"deep": ' + b"[" * 5000 + b"]" * 5000 + b"}]}",  # deeper than json's parser goes: refused
    document(realistic_resources()),
    # not the baseline shape
    b"[1, 2]",
    b"5",
    b'{"id": 1}',
    b'{"resources": {"item": 2}}',
    b'{"resources": [{}], "resources": 3}',
    b'{"resources": [{}, [{}]]}',
    b'{"resources": [{}, 5]}',
    # not complete JSON
    b'{"resources": [{"a": [1, 2]}, {}',
    b'{"resources": []} {"resources": []}',
    b'{"resources": []} x',
    b'{"resources": []}\x00',
    b'{"resources": [{"a": NaN}]}',
    b'{"resources": [{"a": -Infinity}]}',
    b'{"resources": [{"a": 1e400}]}',
    b'{"resources": [{"a": -1e400}]}',
    b'{"resources": [{"a": 12345678901234567890123.5e400}]}',
    b'{"resources": [{"a": 01}]}',
    b'{"resources": [{"a": "\xff"}]}',
    b'{"resources": [{"a": "x\x01y"}]}',
    b'\xef\xbb\xbf{"resources": []}',
    b"",
]


def _tokens(value: Any) -> list[tuple[str, Any]]:
    """The value in pre-order, each scalar with its type: equal only if the values and their number types are.
    Iterative, so a document nested thousands deep can be compared."""
    tokens: list[tuple[str, Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            tokens.append(("dict", list(item)))
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            tokens.append(("list", len(item)))
            stack.extend(reversed(item))
        else:
            tokens.append((type(item).__name__, item))
    return tokens


def _outcome(raw: bytes) -> tuple[Any, ...]:
    """What a read gives: the content (metadata, count, resources with their number types), or the reason it
    failed, up to the parser's own words (yajl and json word a syntax error differently)."""
    try:
        content = read_content(io.BytesIO(raw))
        resources = list(content.resources)
    except ValueError as exc:
        return ("invalid", str(exc).split(" (")[0])
    return ("ok", _tokens(content.metadata), content.count, _tokens(resources))


@pytest.mark.parametrize("raw", AGREEING, ids=range(len(AGREEING)))
def test_contents_read_whole_and_streamed_agree(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _outcome(raw)
    monkeypatch.setattr(content_stream, "IN_MEMORY_BYTES", -1)
    assert _outcome(raw) == whole


def test_small_contents_are_parsed_whole_and_large_ones_streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = document(realistic_resources())
    stream = io.BytesIO(raw)
    whole = read_content(stream)
    stream.close()  # read whole: the resources no longer need the stream
    assert whole.count == len(realistic_resources()) and whole.metadata == METADATA
    resources = iter(whole.resources)
    first = next(resources)
    holders = [ref for ref in gc.get_referrers(first) if isinstance(ref, list)]
    assert not any(item is first for holder in holders for item in holder)  # handed over: the parse keeps none
    handed = [first, *resources]
    assert handed == as_json(realistic_resources())
    monkeypatch.setattr(content_stream, "IN_MEMORY_BYTES", len(raw) - 1)
    stream = io.BytesIO(raw)
    streamed = read_content(stream)
    assert inspect.isgenerator(streamed.resources) and stream.tell() == 0  # checked, rewound, read as iterated
    assert list(streamed.resources) == handed


def test_read_content_counts_and_keeps_numbers_exactly() -> None:
    content = read_content(io.BytesIO(NUMBERS))
    assert content.metadata == {"n": 10**30}
    [resource] = list(content.resources)
    assert resource == {"i": 2**63 - 1, "big": 123456789012345678901234567890, "f": 0.1, "w": 1.0, "e": 1e21, "z": 0}
    assert [type(resource[k]) for k in ("i", "big", "f", "w", "e", "z")] == [int, int, float, float, float, int]


@pytest.mark.parametrize(
    ("raw", "whole", "streamed"),
    [
        (b'{"resources": [{"a": "x\\ud800y"}]}', ("ok", [{"a": "x\ud800y"}]), ("ok", [{"a": "x?y"}])),
        (b'{"resources":\f[]}', ("invalid", "the content is not complete JSON"), ("ok", [])),
        (
            b'{"resources": [{"a": ' + b"[" * 600 + b"]" * 600 + b"}]}",
            ("ok", 1),
            ("invalid", content_stream.TOO_DEEP),
        ),
    ],
    ids=["lone surrogate", "form feed", "600 levels"],
)
def test_the_documented_differences_between_the_two_reads(
    raw: bytes, whole: tuple[str, Any], streamed: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The differences the module's docstring names (yajl's, not this app's choice; no Graph content has them)."""

    def outcome() -> tuple[str, Any]:
        try:
            resources = list(read_content(io.BytesIO(raw)).resources)
        except ValueError as exc:
            return ("invalid", str(exc).split(" (")[0])
        return ("ok", len(resources) if isinstance(whole[1], int) else resources)

    assert outcome() == whole
    monkeypatch.setattr(content_stream, "IN_MEMORY_BYTES", -1)
    assert outcome() == streamed


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
