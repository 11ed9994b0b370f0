"""Entities -> resources -> document: rebuilds stored resources and streams the content document out again."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

from snapshot.content.entities import PROPERTY_PREFIX, compact_json
from snapshot.content.normalised import NormalisedResource, denormalise
from snapshot.content.rowkeys import is_part_key, part_keys
from snapshot.content.stream import RESOURCES_KEY


def _as_bytes(value: Any) -> bytes:
    value = getattr(value, "value", value)  # an EntityProperty
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return base64.b64decode(value)
    raise ValueError(f"a {PROPERTY_PREFIX} column holds {type(value).__name__}, not bytes")


def _chunks_of(entity: Mapping[str, Any]) -> Iterator[bytes]:
    index = 0
    while f"{PROPERTY_PREFIX}{index}" in entity:
        yield _as_bytes(entity[f"{PROPERTY_PREFIX}{index}"])
        index += 1


def _part_number(entity: Mapping[str, Any]) -> int:
    if "Part" in entity:
        return int(entity["Part"])
    return int(str(entity["RowKey"]).rsplit("~", 1)[1])


def _payload(head: Mapping[str, Any], parts: Sequence[Mapping[str, Any]]) -> bytes:
    """The JSON bytes stored across the head and its parts (parts in any order); ValueError if incomplete."""
    expected = int(head.get("Parts", 1))
    ordered = sorted(parts, key=_part_number)
    if [_part_number(part) for part in ordered] != list(range(1, expected)):
        raise ValueError(f"resource {head.get('RowKey')!r} needs parts 1..{expected - 1}, got {len(parts)}")
    payload = b"".join([*_chunks_of(head), *(chunk for part in ordered for chunk in _chunks_of(part))])
    if "PropertiesSize" in head and len(payload) != int(head["PropertiesSize"]):
        raise ValueError(f"resource {head.get('RowKey')!r} has {len(payload)} bytes, not {head['PropertiesSize']}")
    return payload


def _normalised(head: Mapping[str, Any], parts: Sequence[Mapping[str, Any]]) -> NormalisedResource:
    payload = json.loads(_payload(head, parts))
    if head.get("Envelope"):
        return NormalisedResource(
            resource_type=payload["resourceType"],
            display_name=payload["displayName"],
            values=payload["values"],
            annotations=payload["annotations"],
            extra=payload["extra"],
            absent=tuple(payload["absent"]),
        )
    return NormalisedResource(
        resource_type=head.get("ResourceType", ""),
        display_name=head.get("DisplayName", ""),
        values=payload,
        annotations=json.loads(head["Annotations"]) if head.get("Annotations") else {},
        extra=json.loads(head["Extra"]) if head.get("Extra") else {},
        absent=tuple(json.loads(head["Absent"])) if head.get("Absent") else (),
    )


def resource_from_entities(head: Mapping[str, Any], parts: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The raw resource as it was in the content: annotations back in properties, extra keys restored."""
    return denormalise(_normalised(head, parts))


async def assemble_resources(
    entities: AsyncIterable[Mapping[str, Any]],
    fetch: Callable[[str], Awaitable[Mapping[str, Any]]],
) -> AsyncIterator[dict[str, Any]]:
    """Raw resources from a query of a job's entities: parts are skipped, and fetched by key (`fetch(row_key)`)
    for the few heads that have them. Resources come in the entities' order (RowKey: type, then name)."""
    async for entity in entities:
        if is_part_key(str(entity.get("RowKey", ""))):
            continue
        parts = [await fetch(key) for key in part_keys(entity)]
        yield resource_from_entities(entity, parts)


async def content_chunks(
    metadata: Mapping[str, Any], resources: AsyncIterable[Mapping[str, Any]], chunk_bytes: int = 64 * 1024
) -> AsyncIterator[bytes]:
    """The content document as UTF-8 JSON, streamed: the metadata keys, then `"resources":[...]` (key order kept)."""
    buffer: list[bytes] = []
    first = True
    for key, value in metadata.items():
        if key == RESOURCES_KEY:
            continue
        buffer.append(b"{" if first else b",")
        buffer.append(compact_json(key, sort_keys=False) + b":" + compact_json(value, sort_keys=False))
        first = False
    buffer.append((b"{" if first else b",") + b'"resources":[')
    size = sum(len(piece) for piece in buffer)
    separator = b""
    async for resource in resources:
        piece = separator + compact_json(resource, sort_keys=False)
        separator = b","
        buffer.append(piece)
        size += len(piece)
        if size >= chunk_bytes:
            yield b"".join(buffer)
            buffer, size = [], 0
    buffer.append(b"]}")
    yield b"".join(buffer)
