"""Snapshot content (Graph's configurationBaseline shape) <-> Table Storage entities. Pure functions.

The content document is `{"@odata.context", "id", "displayName", "description", "parameters": [...],
"resources": [{"displayName", "resourceType", "properties": {...}}, ...]}` (utcm-api.md section 3.3).
It can hold 20,000 resources and tens of MB, so it is streamed with ijson: `read_metadata` reads the
top-level keys (skipping `resources` without building it) and `iter_resources` yields one resource at a time.

Each resource becomes one entity (PartitionKey = job id, RowKey = `row_key(type, name, occurrence)`) whose
properties are compact, key-sorted UTF-8 JSON split into binary columns `Properties0..` of at most 64,000
bytes. A resource needing more than `CHUNKS_PER_ENTITY` chunks continues in part entities with RowKey
`~part~<head row key>~<n:04d>`; heads all sort before `~`, so `RowKey lt '~'` selects the heads only.
The same input always gives the same entities, so re-running an ingestion rewrites the same rows.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any
from urllib.parse import unquote_to_bytes

import ijson
from ijson.common import ObjectBuilder

RESOURCES_KEY = "resources"
RESOURCES_PREFIX = "resources.item"
STANDARD_KEYS = ("displayName", "resourceType", "properties")

CHUNK_BYTES = 64_000  # a binary property holds at most 64 KiB
CHUNKS_PER_ENTITY = 14  # 14 * 64,000 bytes leaves room for the other columns under the 1 MiB entity limit
STRING_COLUMN_MAX = 12_000  # UTF-16 code units; longer type/name/annotations/extra go into an envelope payload
ENVELOPE_NAME_MAX = 1_000  # characters of ResourceType / DisplayName kept as columns for an enveloped resource
PROPERTY_PREFIX = "Properties"
PART_PREFIX = "~part~"
TYPE_SEGMENT_MAX = 100  # UTF-16 code units of the escaped resource type in a RowKey
NAME_SEGMENT_MAX = 360  # UTF-16 code units of the escaped display name in a RowKey
TRUNCATION_MARK = "%~"  # never produced by escaping (a literal % is always written %25)
HASH_CHARS = 32
ENTITY_MAX_BYTES = 1024 * 1024
ENTITY_MAX_PROPERTIES = 252
KEY_MAX_BYTES = 1024

_PYTHON_BACKEND = ijson.get_backend("python")
_ESCAPED = frozenset("/\\#?%'|")


# --- reading the document ---------------------------------------------------------------------------


def _is_overflow(exc: Exception) -> bool:
    """yajl rejects numbers outside int64 / double; the pure-Python backend reads them (slowly)."""
    return "overflow" in str(exc)


def _metadata_from_events(events: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    depth = 0
    key: str | None = None
    builder: ObjectBuilder | None = None
    for event, value in events:
        if depth == 0:
            if event != "start_map":
                raise ValueError("the snapshot content is not a JSON object")
            depth = 1
            continue
        if depth == 1 and event == "map_key":
            key = value
            builder = None if key == RESOURCES_KEY else ObjectBuilder()
            continue
        if depth == 1 and event == "end_map":
            return metadata
        if builder is not None:
            builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
        if depth == 1 and builder is not None and key is not None:
            metadata[key] = builder.value
    raise ValueError("the snapshot content ended early")


def read_metadata(stream: IO[bytes]) -> dict[str, Any]:
    """Every top-level key of the content except `resources`, which is skipped without being built."""
    start = stream.tell()
    try:
        return _metadata_from_events(ijson.basic_parse(stream, use_float=True))
    except ijson.JSONError as exc:
        if not _is_overflow(exc) or not stream.seekable():
            raise
    stream.seek(start)
    return _metadata_from_events(_PYTHON_BACKEND.basic_parse(stream, use_float=True))


def _checked(index: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValueError(f"resources[{index}] is not a JSON object")
    return item


def iter_resources(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    """The entries of `resources`, one at a time (ints stay int, other numbers are float, never Decimal)."""
    start = stream.tell()
    done = 0
    try:
        for item in ijson.items(stream, RESOURCES_PREFIX, use_float=True):
            yield _checked(done, item)
            done += 1
        return
    except ijson.JSONError as exc:
        if not _is_overflow(exc) or not stream.seekable():
            raise
    stream.seek(start)  # a number yajl cannot hold: read again with the Python backend, skipping what was yielded
    for index, item in enumerate(_PYTHON_BACKEND.items(stream, RESOURCES_PREFIX, use_float=True)):
        if index >= done:
            yield _checked(index, item)


# --- normalising one resource ------------------------------------------------------------------------


@dataclass(frozen=True)
class NormalisedResource:
    """A resource split for storage; `denormalise` gives the raw resource back.

    `values`: the properties without their top-level annotation keys, keys sorted.
    `annotations`: the top-level property keys containing `@` (e.g. `X@odata.type`) and their values.
    `extra`: raw keys to restore verbatim: keys other than displayName/resourceType/properties, plus any of
    those three whose raw value is not represented by the fields above (a non-lowercase resourceType,
    a non-string displayName, non-object properties).
    `absent`: which of displayName/resourceType/properties the raw resource did not have.
    """

    resource_type: str
    display_name: str
    values: dict[str, Any]
    annotations: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    absent: tuple[str, ...] = ()


def is_annotation(key: str) -> bool:
    return "@" in key


def normalise(resource: Mapping[str, Any]) -> NormalisedResource:
    extra = {key: value for key, value in resource.items() if key not in STANDARD_KEYS}
    absent = tuple(key for key in STANDARD_KEYS if key not in resource)

    raw_type = resource.get("resourceType")
    resource_type = raw_type.lower() if isinstance(raw_type, str) else ""
    if "resourceType" in resource and raw_type != resource_type:
        extra["resourceType"] = raw_type

    raw_name = resource.get("displayName")
    display_name = raw_name if isinstance(raw_name, str) else ""
    if "displayName" in resource and not isinstance(raw_name, str):
        extra["displayName"] = raw_name

    properties = resource.get("properties")
    values: dict[str, Any] = {}
    annotations: dict[str, Any] = {}
    if isinstance(properties, dict):
        for key in sorted(properties):
            (annotations if is_annotation(key) else values)[key] = properties[key]
    elif "properties" in resource:
        extra["properties"] = properties

    return NormalisedResource(
        resource_type=resource_type,
        display_name=display_name,
        values=values,
        annotations=annotations,
        extra=dict(sorted(extra.items())),
        absent=absent,
    )


def denormalise(n: NormalisedResource) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "displayName": n.display_name,
        "resourceType": n.resource_type,
        "properties": dict(sorted({**n.values, **n.annotations}.items())),
    }
    resource.update(n.extra)
    for key in n.absent:
        resource.pop(key, None)
    return resource


# --- row keys ------------------------------------------------------------------------------------------


def _utf16_units(text: str) -> int:
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def _needs_escape(ch: str) -> bool:
    code = ord(ch)
    return ch in _ESCAPED or code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF


def _percent(ch: str) -> str:
    return "".join(f"%{byte:02X}" for byte in ch.encode("utf-8", "surrogatepass"))


def _segment(text: str, limit: int, leading: bool = False) -> str:
    """Escape `text` (one token per character, so a cut never splits an escape); cut + hash past `limit`."""
    tokens = [
        _percent(ch) if _needs_escape(ch) or (leading and index == 0 and ord(ch) >= 0x7E) else ch
        for index, ch in enumerate(text)
    ]
    units = [_utf16_units(token) for token in tokens]
    if sum(units) <= limit:
        return "".join(tokens)
    budget = limit - len(TRUNCATION_MARK) - HASH_CHARS
    kept: list[str] = []
    used = 0
    for token, size in zip(tokens, units, strict=True):
        if used + size > budget:
            break
        kept.append(token)
        used += size
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
    return "".join(kept) + TRUNCATION_MARK + digest


def unescape(segment: str) -> str:
    """Undo the escaping of one RowKey segment (a cut segment keeps its `%~<hash>` tail)."""
    if TRUNCATION_MARK in segment:
        head, _, tail = segment.partition(TRUNCATION_MARK)
        return unescape(head) + TRUNCATION_MARK + tail
    return unquote_to_bytes(segment).decode("utf-8", "surrogatepass")


def row_key(resource_type: str, display_name: str, occurrence: int) -> str:
    """`<type>|<escaped name>|<occurrence:04d>`: Table-safe, unique, sorts by type then name, before `~`.

    `/ \\ # ? % ' |`, control characters and lone surrogates are percent-encoded (UTF-8), as is a leading
    character >= `~`; a segment longer than its limit is cut and ends with `%~` + a hash of the full text.
    The type is lower-cased. At most ~470 UTF-16 code units, so a part key stays under 1 KiB too.
    """
    if occurrence < 0:
        raise ValueError("occurrence must be >= 0")
    type_segment = _segment(resource_type.lower(), TYPE_SEGMENT_MAX, leading=True)
    return f"{type_segment}|{_segment(display_name, NAME_SEGMENT_MAX)}|{occurrence:04d}"


def split_row_key(key: str) -> tuple[str, str, int]:
    """(type, display name, occurrence) of a head RowKey; a cut segment keeps its `%~<hash>` tail."""
    type_segment, name_segment, occurrence = key.split("|")
    return unescape(type_segment), unescape(name_segment), int(occurrence)


def part_key(head_key: str, n: int) -> str:
    return f"{PART_PREFIX}{head_key}~{n:04d}"


def is_part_key(key: str) -> bool:
    return key.startswith(PART_PREFIX)


def part_keys(head: Mapping[str, Any]) -> list[str]:
    """RowKeys of the part entities that continue `head` (none for most resources)."""
    return [part_key(head["RowKey"], n) for n in range(1, int(head.get("Parts", 1)))]


# --- entities ------------------------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _json_bytes(value: Any) -> bytes:
    try:
        return _dumps(value).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: keep it as a \ud800 escape
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True, sort_keys=True).encode("ascii")


def _json_column(value: Any) -> str:
    text = _dumps(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True, sort_keys=True)
    return text


def entity_size(entity: Mapping[str, Any]) -> int:
    """Table Storage's own size formula (4 + keys + per property 8 + name + value), in bytes."""
    size = 4
    for key, value in entity.items():
        if key in ("PartitionKey", "RowKey"):
            size += 2 * _utf16_units(value)
            continue
        size += 8 + 2 * _utf16_units(key)
        if isinstance(value, bytes):
            size += 4 + len(value)
        elif isinstance(value, str):
            size += 4 + 2 * _utf16_units(value)
        elif isinstance(value, bool):
            size += 1
        else:
            size += 8
    return size


class ResourceEntities(Iterator[dict[str, Any]]):
    """The entities of a stream of resources, made one resource at a time; counts filled as it goes.

    Head columns: PartitionKey, RowKey, ResourceType (lower-case), DisplayName, Ordinal (index in the
    document), Annotations / Extra / Absent (JSON strings, only when non-empty), Envelope (only when True),
    PropertiesSize (bytes of the JSON), Parts (entities in all, head included), Properties0.. (bytes).
    Part columns: PartitionKey, RowKey (`~part~<head>~<n:04d>`), Part (n), Properties0.. (bytes).
    """

    def __init__(self, job_id: str, resources: Iterable[Mapping[str, Any]]) -> None:
        self.job_id = job_id
        self.count = 0  # resources seen
        self.entity_count = 0  # entities yielded (heads and parts)
        self.type_counts: dict[str, int] = {}
        self._occurrences: dict[tuple[str, str], int] = {}
        self._entities = self._generate(resources)

    def __iter__(self) -> ResourceEntities:
        return self

    def __next__(self) -> dict[str, Any]:
        entity = next(self._entities)
        self.entity_count += 1
        return entity

    def _generate(self, resources: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
        for ordinal, resource in enumerate(resources):
            n = normalise(resource)
            self.count += 1
            self.type_counts[n.resource_type] = self.type_counts.get(n.resource_type, 0) + 1
            identity = (n.resource_type, n.display_name)
            occurrence = self._occurrences.get(identity, 0)
            self._occurrences[identity] = occurrence + 1
            yield from entities_for(self.job_id, row_key(n.resource_type, n.display_name, occurrence), ordinal, n)


def resource_entities(job_id: str, resources: Iterable[Mapping[str, Any]]) -> ResourceEntities:
    """Lazily the entities of `resources`; read `.count` and `.type_counts` once it is consumed."""
    return ResourceEntities(job_id, resources)


def entities_for(job_id: str, key: str, ordinal: int, n: NormalisedResource) -> Iterator[dict[str, Any]]:
    """The head entity (and part entities, for a large resource) of one normalised resource."""
    resource_type, display_name = _clean(n.resource_type), _clean(n.display_name)
    if (resource_type, display_name) != (n.resource_type, n.display_name):  # lone surrogates: raw values in Extra
        extra = dict(n.extra)
        if resource_type != n.resource_type:
            extra.setdefault("resourceType", n.resource_type)
        if display_name != n.display_name:
            extra["displayName"] = n.display_name
        n = replace(n, resource_type=resource_type, display_name=display_name, extra=dict(sorted(extra.items())))
    head: dict[str, Any] = {
        "PartitionKey": job_id,
        "RowKey": key,
        "ResourceType": n.resource_type,
        "DisplayName": n.display_name,
        "Ordinal": ordinal,
    }
    columns = {
        "Annotations": _json_column(n.annotations) if n.annotations else None,
        "Extra": _json_column(n.extra) if n.extra else None,
        "Absent": _json_column(list(n.absent)) if n.absent else None,
    }
    texts = [n.resource_type, n.display_name, *(text for text in columns.values() if text is not None)]
    if all(_utf16_units(text) <= STRING_COLUMN_MAX for text in texts):
        head.update({name: text for name, text in columns.items() if text is not None})
        payload = _json_bytes(n.values)
    else:  # pathological sizes: everything goes into the binary payload, the columns keep prefixes
        head["ResourceType"] = n.resource_type[:ENVELOPE_NAME_MAX]
        head["DisplayName"] = n.display_name[:ENVELOPE_NAME_MAX]
        head["Envelope"] = True
        payload = _json_bytes(
            {
                "resourceType": n.resource_type,
                "displayName": n.display_name,
                "values": n.values,
                "annotations": n.annotations,
                "extra": n.extra,
                "absent": list(n.absent),
            }
        )
    chunks = [payload[start : start + CHUNK_BYTES] for start in range(0, len(payload), CHUNK_BYTES)] or [b""]
    groups = [chunks[start : start + CHUNKS_PER_ENTITY] for start in range(0, len(chunks), CHUNKS_PER_ENTITY)]
    head["PropertiesSize"] = len(payload)
    head["Parts"] = len(groups)
    head.update(_chunk_columns(groups[0]))
    yield head
    for number, group in enumerate(groups[1:], start=1):
        yield {"PartitionKey": job_id, "RowKey": part_key(key, number), "Part": number, **_chunk_columns(group)}


def _clean(text: str) -> str:
    """`text` with lone surrogates (which a string column cannot hold) replaced by `?`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _chunk_columns(chunks: Sequence[bytes]) -> dict[str, bytes]:
    return {f"{PROPERTY_PREFIX}{index}": chunk for index, chunk in enumerate(chunks)}


# --- back from entities --------------------------------------------------------------------------------


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


def payload_from_entities(head: Mapping[str, Any], parts: Sequence[Mapping[str, Any]]) -> bytes:
    """The JSON bytes stored across the head and its parts (parts in any order); ValueError if incomplete."""
    expected = int(head.get("Parts", 1))
    ordered = sorted(parts, key=_part_number)
    if [_part_number(part) for part in ordered] != list(range(1, expected)):
        raise ValueError(f"resource {head.get('RowKey')!r} needs parts 1..{expected - 1}, got {len(parts)}")
    payload = b"".join([*_chunks_of(head), *(chunk for part in ordered for chunk in _chunks_of(part))])
    if "PropertiesSize" in head and len(payload) != int(head["PropertiesSize"]):
        raise ValueError(f"resource {head.get('RowKey')!r} has {len(payload)} bytes, not {head['PropertiesSize']}")
    return payload


def normalised_from_entities(head: Mapping[str, Any], parts: Sequence[Mapping[str, Any]] = ()) -> NormalisedResource:
    payload = json.loads(payload_from_entities(head, parts))
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
    return denormalise(normalised_from_entities(head, parts))


def view_from_entities(head: Mapping[str, Any], parts: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """A diff-friendly view: lower-case type, name, ordinal and the properties without OData annotations."""
    n = normalised_from_entities(head, parts)
    return {
        "resourceType": n.resource_type,
        "displayName": n.display_name,
        "ordinal": head.get("Ordinal"),
        "properties": n.values,
    }


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


# --- rebuilding the document ---------------------------------------------------------------------------


async def content_chunks(
    metadata: Mapping[str, Any], resources: AsyncIterable[Mapping[str, Any]], chunk_bytes: int = 64 * 1024
) -> AsyncIterator[bytes]:
    """The content document as UTF-8 JSON, streamed: the metadata keys, then `"resources":[...]`."""
    buffer: list[bytes] = []
    size = 0
    first = True
    for key, value in metadata.items():
        if key == RESOURCES_KEY:
            continue
        buffer.append(b"{" if first else b",")
        buffer.append(_plain_json_bytes(key) + b":" + _plain_json_bytes(value))
        first = False
    buffer.append((b"{" if first else b",") + b'"resources":[')
    size = sum(len(piece) for piece in buffer)
    separator = b""
    async for resource in resources:
        piece = separator + _plain_json_bytes(resource)
        separator = b","
        buffer.append(piece)
        size += len(piece)
        if size >= chunk_bytes:
            yield b"".join(buffer)
            buffer, size = [], 0
    buffer.append(b"]}")
    yield b"".join(buffer)


def _plain_json_bytes(value: Any) -> bytes:
    """Compact JSON keeping the value's own key order."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode("ascii")
