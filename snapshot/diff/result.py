"""The diff report: counts per resource type and the capped lists of added, removed and changed resources.

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

from dataclasses import dataclass, field
from typing import Any, Final

from snapshot.diff.values import PropertyChange

MAX_ENTRIES: Final = 5_000  # resource entries across added / removed / changed / notComparable
MAX_CHANGES: Final = 20_000  # path entries across all listed resources


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


class ResultBuilder:
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

    def take(self, kind: str, ref: ResourceRef, changes: list[PropertyChange]) -> None:
        """Count (and list, within the caps) one resource the merge found: `added`, `removed` or `matched`."""
        if kind == "added":
            self.added(ref)
        elif kind == "removed":
            self.removed(ref)
        else:
            self.matched(ref, changes)

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
