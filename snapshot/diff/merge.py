"""The streaming merge-join of two snapshots' resources in RowKey order, one resource per side in memory.

Matching. A resource's identity is (lower-cased resourceType, displayName, occurrence), where occurrence
counts the resources with the same type and name before it in its stream. The merge key is
`(UTF-16-BE bytes of "<type segment>|<name segment>|", occurrence)`, the segments being those of
`content.rowkeys.row_key`, so it sorts exactly as Table Storage sorts RowKeys (ordinal comparison of UTF-16
code units; Python's `str` comparison is by code point and differs for astral characters such as emoji). A
stream that is not in that order raises ValueError. The resources of one (type, name) are adjacent in
RowKey order (`|` is escaped inside segments), so occurrence is counted per run, in stream order, rather
than parsed back (`{occurrence:04d}` grows a fifth digit past 9,999 and then sorts out of numeric order).
Keys outside `properties` (other than the type and name) are not compared; a resourceType differing only
by case is the same resource.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from snapshot.content.normalised import normalise
from snapshot.content.rowkeys import row_key
from snapshot.diff.result import MAX_CHANGES, MAX_ENTRIES, DiffResult, ResourceRef, ResultBuilder
from snapshot.diff.values import diff_resource


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-be", "surrogatepass")


def _type_segment(resource_type: str) -> str:
    return row_key(resource_type, "", 0).split("|", 1)[0]


@dataclass(frozen=True)
class _Entry:
    key: tuple[bytes, int]
    type_key: bytes
    ref: ResourceRef
    properties: Any


class _Side:
    """One stream: the current resource only, its merge key and the occurrence within its (type, name) run."""

    def __init__(self, name: str, stream: AsyncIterable[Mapping[str, Any]], type_key: bytes | None) -> None:
        self.name = name
        self._iterator: AsyncIterator[Mapping[str, Any]] = aiter(stream)
        self._filter = type_key
        self._last: tuple[bytes, int] | None = None
        self.count = 0

    async def next(self) -> _Entry | None:
        while True:
            try:
                resource = await anext(self._iterator)
            except StopAsyncIteration:
                return None
            if not isinstance(resource, Mapping):
                raise ValueError(f"the {self.name} stream yielded a {type(resource).__name__}, not a resource")
            entry = self._entry(resource)
            if self._filter is None or entry.type_key == self._filter:
                return entry
            if entry.type_key > self._filter:  # sorted by type: nothing further can match
                return None

    def _entry(self, resource: Mapping[str, Any]) -> _Entry:
        n = normalise(resource)
        segment_type, segment_name, _ = row_key(n.resource_type, n.display_name, 0).split("|")
        prefix = _utf16(f"{segment_type}|{segment_name}|")
        if self._last is not None and prefix < self._last[0]:
            raise ValueError(
                f"the {self.name} stream is not in RowKey order: {n.resource_type!r} {n.display_name!r} "
                f"(resource {self.count}) comes after a later key"
            )
        occurrence = self._last[1] + 1 if self._last is not None and prefix == self._last[0] else 0
        self._last = (prefix, occurrence)
        self.count += 1
        return _Entry(
            key=(prefix, occurrence),
            type_key=_utf16(f"{segment_type}|"),
            ref=ResourceRef(n.resource_type, n.display_name),
            properties=resource.get("properties", {}),
        )


async def diff_streams(
    old: AsyncIterable[Mapping[str, Any]],
    new: AsyncIterable[Mapping[str, Any]],
    resource_type: str | None = None,
    *,
    max_entries: int = MAX_ENTRIES,
    max_changes: int = MAX_CHANGES,
) -> DiffResult:
    """Added / removed / changed resources from `old` to `new`, both in RowKey order (see module docstring).

    Holds one resource per stream at a time. `resource_type` keeps only that type (case-insensitive) and stops
    reading a stream once it is past that type. ValueError if a stream is out of order.
    """
    type_key = None if resource_type is None else _utf16(f"{_type_segment(resource_type)}|")
    old_side, new_side = _Side("old", old, type_key), _Side("new", new, type_key)
    builder = ResultBuilder(max_entries, max_changes)
    a, b = await old_side.next(), await new_side.next()
    while a is not None or b is not None:
        if b is None or (a is not None and a.key < b.key):
            assert a is not None
            builder.removed(a.ref)
            a = await old_side.next()
        elif a is None or b.key < a.key:
            builder.added(b.ref)
            b = await new_side.next()
        else:
            builder.matched(b.ref, diff_resource(a.properties, b.properties))
            a, b = await old_side.next(), await new_side.next()
    return builder.result
