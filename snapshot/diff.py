"""Compare two snapshots' resources, streaming (pure logic: no I/O, no services).

`diff_streams(old, new)` merge-joins two streams of raw resources (`{displayName, resourceType, properties}`)
that are both in the stores' RowKey order (what `service._resources(job_id)` yields) and holds one resource
per side at a time, never a whole snapshot.

Matching. A resource's identity is (lower-cased resourceType, displayName, occurrence), where occurrence
counts the resources with the same type and name before it in its stream. The merge key is
`(UTF-16-BE bytes of "<type segment>|<name segment>|", occurrence)`, the segments being those of
`content.row_key`, so it sorts exactly as Table Storage sorts RowKeys (ordinal comparison of UTF-16 code
units; Python's `str` comparison is by code point and differs for astral characters such as emoji). A
stream that is not in that order raises ValueError. The resources of one (type, name) are adjacent in
RowKey order (`|` is escaped inside segments), so occurrence is counted per run, in stream order, rather
than parsed back (`{occurrence:04d}` grows a fifth digit past 9,999 and then sorts out of numeric order).
Keys outside `properties` (other than the type and name) are not compared; a resourceType differing only
by case is the same resource.

Normalisation (`normalise_value`, for comparison only; reported values are raw, minus annotations):
- keys containing `@` (OData annotations such as `X@odata.type`) are dropped at any depth;
- a one-element list is replaced by its (normalised) element, so `"a" == ["a"]`, and `{...} == [{...}]`;
- dicts compare as dicts (key order is ignored; `normalise_value` also sorts keys for stable output);
- `"System.Collections.Hashtable"` (Graph's placeholder for an object it did not serialise) becomes the
  sentinel `NOT_COMPARABLE`, which can be neither equal nor different to anything;
- `true` and `1` differ (bools are not numbers); `1` and `1.0` are equal; strings and keys are case-sensitive.

Paths (`PropertyChange.path`). Property names joined by `.`, list indexes as `[i]`, e.g.
`Conditions.Users.IncludeUsers` or `Rules[2].Name`. A key that is not a plain identifier
(`[A-Za-z0-9_$-]+`) is written as a bracketed JSON string: `Settings["a.b"]`, `["Odd key"]` at the top.
The empty path `""` means the `properties` value itself, when either side's is not a JSON object.

Walking (`diff_resource`). At each path, one-element lists are unwrapped first. Two dicts are compared key
by key (a key on one side only is `added` / `removed`, with its whole value). Two lists of the same length
whose elements are all dicts are compared element by element (`[i]`). Anything else is compared as a whole
value (so lists of scalars are order-sensitive, and a list whose length changed is one `changed` entry).
A whole-value comparison involving the placeholder is `notComparable` if the values could be equal with the
placeholder standing for anything (e.g. placeholder vs `{...}`, or both placeholders), else `changed`
(e.g. `["System.Collections.Hashtable", "x"]` vs `["x"]`: the lengths differ; but a one-element list
holding the placeholder is the placeholder, so it can stand for `["x", "y"]`).

Result (`DiffResult.to_json()`):
- a resource is `changed` if it has at least one `changed`/`added`/`removed` path; it is listed under
  `changed` with those in `changes` and its not-comparable paths (if any) in `notComparable`;
- a resource whose only differences are not comparable counts as `unchanged` (in the totals and per type)
  and is listed under the top-level `notComparable` list (same entry shape, `changes` empty);
- `summary.notComparable` (and per type) counts the matched resources with at least one not-comparable
  path, changed or not; it overlaps `changed` / `unchanged`. added + removed + changed + unchanged is the
  number of distinct resources in both snapshots.
- The lists are capped (`max_entries` resource entries in all four lists together, `max_changes` path
  entries in all); past a cap the summary stays complete and `truncated` is true. A resource entry whose
  paths were cut has its own `truncated: true`. The caps count entries, not bytes: a listed `old` / `new`
  value is as large as the raw property value.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from snapshot import content

HASHTABLE_PLACEHOLDER: Final = "System.Collections.Hashtable"
MAX_ENTRIES: Final = 5_000  # resource entries across added / removed / changed / notComparable
MAX_CHANGES: Final = 20_000  # path entries across all listed resources

ChangeKind = Literal["changed", "added", "removed", "notComparable"]
_Comparison = Literal["equal", "changed", "notComparable"]

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_$-]+")


class _NotComparable:
    """The type of `NOT_COMPARABLE`: stands for a `System.Collections.Hashtable` placeholder."""

    def __repr__(self) -> str:
        return "NOT_COMPARABLE"


NOT_COMPARABLE: Final = _NotComparable()


# --- values ----------------------------------------------------------------------------------------------


def strip_annotations(value: Any) -> Any:
    """`value` without keys containing `@`, at any depth (lists and dicts are copied, scalars kept)."""
    if isinstance(value, Mapping):
        return {key: strip_annotations(item) for key, item in value.items() if not content.is_annotation(str(key))}
    if isinstance(value, list | tuple):
        return [strip_annotations(item) for item in value]
    return value


def _unwrap(value: Any) -> Any:
    while isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    return value


def normalise_value(value: Any) -> Any:
    """The comparison form of a raw value: no annotations, one-element lists unwrapped, keys sorted, and the
    Hashtable placeholder replaced by `NOT_COMPARABLE`. Compare two with `compare_values`, not `==`
    (which would take `True` for `1`)."""
    value = _unwrap(value)
    if isinstance(value, Mapping):
        return {
            key: normalise_value(value[key]) for key in sorted(value, key=str) if not content.is_annotation(str(key))
        }
    if isinstance(value, list | tuple):
        return [normalise_value(item) for item in value]
    if isinstance(value, str) and value == HASHTABLE_PLACEHOLDER:
        return NOT_COMPARABLE
    return value


def _contains_placeholder(value: Any) -> bool:
    if value is NOT_COMPARABLE:
        return True
    if isinstance(value, dict):
        return any(_contains_placeholder(item) for item in value.values())
    if isinstance(value, list):
        return any(_contains_placeholder(item) for item in value)
    return False


def _scalar_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _may_equal(a: Any, b: Any) -> bool:
    """Equal, with `NOT_COMPARABLE` standing for any value (arguments already normalised)."""
    if a is NOT_COMPARABLE or b is NOT_COMPARABLE:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_may_equal(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_may_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    return _scalar_equal(a, b)


def compare_values(old: Any, new: Any) -> _Comparison:
    """`equal`, `changed` or `notComparable`, comparing the normalised forms of two raw values as wholes."""
    a, b = normalise_value(old), normalise_value(new)
    if not _may_equal(a, b):
        return "changed"
    if _contains_placeholder(a) or _contains_placeholder(b):
        return "notComparable"
    return "equal"


# --- one resource -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PropertyChange:
    """One differing path. `old` / `new` are raw values minus annotations (None for a missing side)."""

    path: str
    kind: ChangeKind
    old: Any = None
    new: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "old": self.old, "new": self.new}


def _key_path(path: str, key: Any) -> str:
    text = str(key)
    if _PLAIN_KEY.fullmatch(text):
        return f"{path}.{text}" if path else text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ord(ch) >= 0x20 else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'{path}["{escaped}"]'


def _is_dict_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(_unwrap(item), Mapping) for item in value)


def _walk(path: str, old: Any, new: Any, out: list[PropertyChange]) -> None:
    a, b = _unwrap(old), _unwrap(new)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys = {k for k in a if not content.is_annotation(str(k))} | {k for k in b if not content.is_annotation(str(k))}
        for key in sorted(keys, key=str):
            child = _key_path(path, key)
            if key not in b:
                out.append(PropertyChange(child, "removed", old=strip_annotations(a[key])))
            elif key not in a:
                out.append(PropertyChange(child, "added", new=strip_annotations(b[key])))
            else:
                _walk(child, a[key], b[key], out)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and _is_dict_list(a) and _is_dict_list(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(f"{path}[{index}]", x, y, out)
        return
    verdict = compare_values(old, new)
    if verdict != "equal":
        out.append(PropertyChange(path, verdict, old=strip_annotations(old), new=strip_annotations(new)))


def diff_resource(old_properties: Mapping[str, Any], new_properties: Mapping[str, Any]) -> list[PropertyChange]:
    """The paths whose normalised values differ, in key order (see the module docstring for the rules)."""
    out: list[PropertyChange] = []
    _walk("", old_properties, new_properties, out)
    return out


# --- the result ---------------------------------------------------------------------------------------


@dataclass
class TypeCounts:
    added: int = 0
    removed: int = 0
    changed: int = 0
    unchanged: int = 0
    not_comparable: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "notComparable": self.not_comparable,
        }


@dataclass
class DiffSummary(TypeCounts):
    by_resource_type: dict[str, TypeCounts] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            **super().to_json(),
            "byResourceType": {name: counts.to_json() for name, counts in self.by_resource_type.items()},
        }


@dataclass(frozen=True)
class ResourceRef:
    resource_type: str
    display_name: str

    def to_json(self) -> dict[str, Any]:
        return {"resourceType": self.resource_type, "displayName": self.display_name}


@dataclass
class ResourceDiff:
    resource_type: str
    display_name: str
    changes: list[PropertyChange] = field(default_factory=list)
    not_comparable: list[PropertyChange] = field(default_factory=list)
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "resourceType": self.resource_type,
            "displayName": self.display_name,
            "changes": [change.to_json() for change in self.changes],
            "notComparable": [change.to_json() for change in self.not_comparable],
            "truncated": self.truncated,
        }


@dataclass
class DiffResult:
    summary: DiffSummary = field(default_factory=DiffSummary)
    added: list[ResourceRef] = field(default_factory=list)
    removed: list[ResourceRef] = field(default_factory=list)
    changed: list[ResourceDiff] = field(default_factory=list)
    not_comparable: list[ResourceDiff] = field(default_factory=list)
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary.to_json(),
            "added": [ref.to_json() for ref in self.added],
            "removed": [ref.to_json() for ref in self.removed],
            "changed": [entry.to_json() for entry in self.changed],
            "notComparable": [entry.to_json() for entry in self.not_comparable],
            "truncated": self.truncated,
        }


class _Builder:
    """Counts everything; lists entries until the caps are reached."""

    def __init__(self, max_entries: int, max_changes: int) -> None:
        self.result = DiffResult()
        self.entries_left = max_entries
        self.changes_left = max_changes

    def _counts(self, resource_type: str) -> TypeCounts:
        counts = self.result.summary.by_resource_type.get(resource_type)
        if counts is None:
            counts = self.result.summary.by_resource_type[resource_type] = TypeCounts()
        return counts

    def _take_entry(self) -> bool:
        if self.entries_left <= 0:
            self.result.truncated = True
            return False
        self.entries_left -= 1
        return True

    def _take_changes(self, changes: list[PropertyChange], entry: ResourceDiff) -> list[PropertyChange]:
        if len(changes) > self.changes_left:
            changes = changes[: self.changes_left]
            entry.truncated = self.result.truncated = True
        self.changes_left -= len(changes)
        return changes

    def added(self, ref: ResourceRef) -> None:
        self.result.summary.added += 1
        self._counts(ref.resource_type).added += 1
        if self._take_entry():
            self.result.added.append(ref)

    def removed(self, ref: ResourceRef) -> None:
        self.result.summary.removed += 1
        self._counts(ref.resource_type).removed += 1
        if self._take_entry():
            self.result.removed.append(ref)

    def matched(self, ref: ResourceRef, changes: list[PropertyChange]) -> None:
        summary, counts = self.result.summary, self._counts(ref.resource_type)
        real = [change for change in changes if change.kind != "notComparable"]
        vague = [change for change in changes if change.kind == "notComparable"]
        if real:
            summary.changed += 1
            counts.changed += 1
        else:
            summary.unchanged += 1
            counts.unchanged += 1
        if vague:
            summary.not_comparable += 1
            counts.not_comparable += 1
        if not changes or not self._take_entry():
            return
        entry = ResourceDiff(ref.resource_type, ref.display_name)
        entry.changes = self._take_changes(real, entry)
        entry.not_comparable = self._take_changes(vague, entry)
        (self.result.changed if real else self.result.not_comparable).append(entry)


# --- the merge-join -----------------------------------------------------------------------------------


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-be", "surrogatepass")


def _type_segment(resource_type: str) -> str:
    return content.row_key(resource_type, "", 0).split("|", 1)[0]


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
        n = content.normalise(resource)
        segment_type, segment_name, _ = content.row_key(n.resource_type, n.display_name, 0).split("|")
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


def _properties_diff(old: Any, new: Any) -> list[PropertyChange]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return diff_resource(old, new)
    out: list[PropertyChange] = []
    _walk("", old, new, out)  # a non-object `properties`: compared as a whole at path ""
    return out


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
    builder = _Builder(max_entries, max_changes)
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
            builder.matched(b.ref, _properties_diff(a.properties, b.properties))
            a, b = await old_side.next(), await new_side.next()
    return builder.result
