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

Consumers. `diff_events` yields one `DiffEvent` per distinct resource, in RowKey order, as the merge finds
it (the HTML report consumes these and keeps what it can afford); `diff_streams` folds them into the capped
`DiffResult` of the JSON diff.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from snapshot.content.normalised import normalise
from snapshot.content.rowkeys import row_key
from snapshot.diff.result import MAX_CHANGES, MAX_ENTRIES, DiffResult, ResourceRef, ResultBuilder
from snapshot.diff.values import PropertyChange, diff_resource


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


@dataclass(frozen=True)
class DiffEvent:
    """One distinct resource: only in the new stream (`added`), only in the old (`removed`), or in both
    (`matched`, with its differing paths, possibly none)."""

    kind: Literal["added", "removed", "matched"]
    ref: ResourceRef
    changes: list[PropertyChange] = field(default_factory=list)


class _Side:
    """One stream: the current resource only, its merge key and the occurrence within its (type, name) run."""

    def __init__(self, name: str, stream: AsyncIterable[Mapping[str, Any]], type_keys: frozenset[bytes] | None) -> None:
        self.name = name
        self._iterator: AsyncIterator[Mapping[str, Any]] = aiter(stream)
        self._filter = type_keys
        self._last_type = max(type_keys) if type_keys else None
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
            if self._filter is None or entry.type_key in self._filter:
                return entry
            if self._last_type is not None and entry.type_key > self._last_type:  # sorted by type: no more match
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


def _type_keys(resource_types: str | Iterable[str] | None) -> frozenset[bytes] | None:
    if resource_types is None:
        return None
    names = [resource_types] if isinstance(resource_types, str) else list(resource_types)
    return frozenset(_utf16(f"{_type_segment(name)}|") for name in names)


async def diff_events(
    old: AsyncIterable[Mapping[str, Any]],
    new: AsyncIterable[Mapping[str, Any]],
    resource_types: str | Iterable[str] | None = None,
) -> AsyncIterator[DiffEvent]:
    """One event per distinct resource of `old` and `new` (both in RowKey order, see the module docstring).

    Holds one resource per stream at a time. `resource_types` (one name or several) keeps only those types
    (case-insensitive) and stops reading a stream once it is past the last of them. ValueError if a stream
    is out of order.
    """
    type_keys = _type_keys(resource_types)
    old_side, new_side = _Side("old", old, type_keys), _Side("new", new, type_keys)
    a, b = await old_side.next(), await new_side.next()
    while a is not None or b is not None:
        if b is None or (a is not None and a.key < b.key):
            assert a is not None
            yield DiffEvent("removed", a.ref)
            a = await old_side.next()
        elif a is None or b.key < a.key:
            yield DiffEvent("added", b.ref)
            b = await new_side.next()
        else:
            yield DiffEvent("matched", b.ref, diff_resource(a.properties, b.properties))
            a, b = await old_side.next(), await new_side.next()


async def diff_streams(
    old: AsyncIterable[Mapping[str, Any]],
    new: AsyncIterable[Mapping[str, Any]],
    resource_type: str | Iterable[str] | None = None,
    *,
    max_entries: int = MAX_ENTRIES,
    max_changes: int = MAX_CHANGES,
) -> DiffResult:
    """Added / removed / changed resources from `old` to `new`, capped (`diff_events`' rules and order)."""
    builder = ResultBuilder(max_entries, max_changes)
    async for event in diff_events(old, new, resource_type):
        builder.take(event.kind, event.ref, event.changes)
    return builder.result
