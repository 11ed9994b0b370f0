"""Resources -> Table Storage entities: one head per resource, its JSON chunked into binary columns and parts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from snapshot.content.normalised import STANDARD_KEYS, NormalisedResource, any_annotation, normalise
from snapshot.content.rowkeys import part_key, row_key, utf16_units

CHUNK_BYTES = 64_000  # a binary property holds at most 64 KiB
CHUNKS_PER_ENTITY = 14  # 14 * 64,000 bytes leaves room for the other columns under the 1 MiB entity limit
STRING_COLUMN_MAX = 12_000  # UTF-16 code units; longer type/name/annotations/extra go into an envelope payload
ENVELOPE_NAME_MAX = 1_000  # characters of ResourceType / DisplayName kept as columns for an enveloped resource
PROPERTY_PREFIX = "Properties"
FIRST_COLUMN = f"{PROPERTY_PREFIX}0"
ENTITY_MAX_BYTES = 1024 * 1024
ENTITY_MAX_PROPERTIES = 252


# Made once: json.dumps builds a new encoder on every call that passes options (measurable per resource).
_ENCODERS = {
    sort_keys: json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    for sort_keys in (False, True)
}


def compact_json(value: Any, *, sort_keys: bool = True) -> bytes:
    """Compact UTF-8 JSON; a value holding a lone surrogate (UTF-8 cannot) is written ASCII, as `\\ud800`."""
    try:
        return _ENCODERS[sort_keys].encode(value).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True, sort_keys=sort_keys).encode("ascii")


def _json_column(value: Any) -> str:
    return compact_json(value).decode("utf-8")


def entity_size(entity: Mapping[str, Any]) -> int:
    """Table Storage's own size formula (4 + keys + per property 8 + name + value), in bytes."""
    size = 4
    for key, value in entity.items():
        if key in ("PartitionKey", "RowKey"):
            size += 2 * utf16_units(value)
            continue
        size += 8 + 2 * utf16_units(key)
        if isinstance(value, bytes):
            size += 4 + len(value)
        elif isinstance(value, str):
            size += 4 + 2 * utf16_units(value)
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
            plain = _plain(resource)
            if plain is not None:  # the usual resource: its one entity made directly (same result, less work)
                resource_type, display_name, properties = plain
            else:
                n = normalise(resource)
                resource_type, display_name = n.resource_type, n.display_name
            self.count += 1
            self.type_counts[resource_type] = self.type_counts.get(resource_type, 0) + 1
            identity = (resource_type, display_name)
            occurrence = self._occurrences.get(identity, 0)
            self._occurrences[identity] = occurrence + 1
            key = row_key(resource_type, display_name, occurrence)
            if plain is not None:
                head = _plain_head(self.job_id, key, ordinal, resource_type, display_name, properties)
                if head is not None:
                    yield head
                    continue
                n = normalise(resource)
            yield from _entities_for(self.job_id, key, ordinal, n)


_STANDARD_KEYS = frozenset(STANDARD_KEYS)


def _plain(resource: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
    """(type, name, properties) of a resource that `normalise` would keep whole: exactly the three standard
    keys, a lower-case type and a name without lone surrogates, and an object of properties without
    annotation keys."""
    if resource.keys() != _STANDARD_KEYS:
        return None
    resource_type, display_name, properties = (
        resource["resourceType"],
        resource["displayName"],
        resource["properties"],
    )
    if (
        type(resource_type) is str
        and type(display_name) is str
        and type(properties) is dict
        and resource_type == resource_type.lower()
        and not any_annotation(properties)
        and _clean(resource_type) is resource_type
        and _clean(display_name) is display_name
    ):
        return resource_type, display_name, properties
    return None


def _plain_head(
    job_id: str, key: str, ordinal: int, resource_type: str, display_name: str, properties: dict[str, Any]
) -> dict[str, Any] | None:
    """The one entity of a plain resource, as `_entities_for` makes it; None if it needs parts or an envelope."""
    if len(resource_type) > STRING_COLUMN_MAX // 2 or len(display_name) > STRING_COLUMN_MAX // 2:
        return None  # may exceed a string column in UTF-16 units: the general path measures exactly
    payload = compact_json(properties)  # keys sorted at every level, as normalise's sorted values give
    if len(payload) > CHUNK_BYTES:
        return None
    return _one_chunk(_head(job_id, key, ordinal, resource_type, display_name), payload)


def _head(job_id: str, key: str, ordinal: int, resource_type: str, display_name: str) -> dict[str, Any]:
    return {
        "PartitionKey": job_id,
        "RowKey": key,
        "ResourceType": resource_type,
        "DisplayName": display_name,
        "Ordinal": ordinal,
    }


def _one_chunk(head: dict[str, Any], payload: bytes) -> dict[str, Any]:
    """The head of a resource whose JSON fits one binary column: no part entities."""
    head["PropertiesSize"] = len(payload)
    head["Parts"] = 1
    head[FIRST_COLUMN] = payload
    return head


def resource_entities(job_id: str, resources: Iterable[Mapping[str, Any]]) -> ResourceEntities:
    """Lazily the entities of `resources`; read `.count` and `.type_counts` once it is consumed."""
    return ResourceEntities(job_id, resources)


def _entities_for(job_id: str, key: str, ordinal: int, n: NormalisedResource) -> Iterator[dict[str, Any]]:
    """The head entity (and part entities, for a large resource) of one normalised resource."""
    resource_type, display_name = _clean(n.resource_type), _clean(n.display_name)
    if resource_type is not n.resource_type or display_name is not n.display_name:  # lone surrogates: raw in Extra
        extra = dict(n.extra)
        if resource_type != n.resource_type:
            extra.setdefault("resourceType", n.resource_type)
        if display_name != n.display_name:
            extra["displayName"] = n.display_name
        n = replace(n, resource_type=resource_type, display_name=display_name, extra=dict(sorted(extra.items())))
    head = _head(job_id, key, ordinal, n.resource_type, n.display_name)
    columns = {}
    if n.annotations:
        columns["Annotations"] = _json_column(n.annotations)
    if n.extra:
        columns["Extra"] = _json_column(n.extra)
    if n.absent:
        columns["Absent"] = _json_column(list(n.absent))
    texts = (n.resource_type, n.display_name, *columns.values())
    if all(len(text) <= STRING_COLUMN_MAX // 2 or utf16_units(text) <= STRING_COLUMN_MAX for text in texts):
        head.update(columns)
        payload = compact_json(n.values)
    else:  # pathological sizes: everything goes into the binary payload, the columns keep prefixes
        head["ResourceType"] = n.resource_type[:ENVELOPE_NAME_MAX]
        head["DisplayName"] = n.display_name[:ENVELOPE_NAME_MAX]
        head["Envelope"] = True
        payload = compact_json(
            {
                "resourceType": n.resource_type,
                "displayName": n.display_name,
                "values": n.values,
                "annotations": n.annotations,
                "extra": n.extra,
                "absent": list(n.absent),
            }
        )
    if len(payload) <= CHUNK_BYTES:  # the common case: one chunk, no parts
        yield _one_chunk(head, payload)
        return
    head["PropertiesSize"] = len(payload)
    chunks = [payload[start : start + CHUNK_BYTES] for start in range(0, len(payload), CHUNK_BYTES)]
    groups = [chunks[start : start + CHUNKS_PER_ENTITY] for start in range(0, len(chunks), CHUNKS_PER_ENTITY)]
    head["Parts"] = len(groups)
    head.update(_chunk_columns(groups[0]))
    yield head
    for number, group in enumerate(groups[1:], start=1):
        yield {"PartitionKey": job_id, "RowKey": part_key(key, number), "Part": number, **_chunk_columns(group)}


def _clean(text: str) -> str:
    """`text` with lone surrogates (which a string column cannot hold) replaced by `?`; `text` itself if none."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _chunk_columns(chunks: Sequence[bytes]) -> dict[str, bytes]:
    return {f"{PROPERTY_PREFIX}{index}": chunk for index, chunk in enumerate(chunks)}
