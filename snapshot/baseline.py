"""A monitor baseline built from stored snapshot resources, by the documented conversion rules.

Graph's baseline has the shape of snapshot content (docs/graph-utcm.md section 6): `{displayName,
description, parameters, resources: [{displayName, resourceType, properties}]}`. The rules:
- one entry per stored instance, filtered by resource type and by resource name when asked;
- each type's key property (how Graph matches an instance; a drift's `resourceInstanceIdentifier` holds
  exactly it) and `Ensure` are always kept; the other properties are all kept, or the caller's list;
- dropped: `Id` and other GUID-valued top-level properties (they differ between tenants and are not keys),
  nulls (not supported in a baseline), OData annotations (`X@odata.type`) at any depth, and Graph's
  `"System.Collections.Hashtable"` placeholders (an object it did not serialise, so nothing to compare);
- entry names are unique and at most 128 characters; `IsSingleInstance` is kept, never added.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from snapshot.content.normalised import normalise
from snapshot.diff.values import HASHTABLE_PLACEHOLDER, strip_annotations

ENSURE = "Ensure"
NAME_MAX = 128
# Documented Key parameters (the per-type pages under "UTCM resources" on Learn mark them `Key`).
DOCUMENTED_KEYS: dict[str, tuple[str, ...]] = {
    "microsoft.exchange.accepteddomain": ("Identity",),
    "microsoft.entra.conditionalaccesspolicy": ("DisplayName",),
    "microsoft.entra.grouplifecyclepolicy": ("IsSingleInstance",),
}
# For other types, the M365DSC convention the UTCM resources follow: the first of these the instance has.
KEY_CANDIDATES = ("IsSingleInstance", "Identity", "UserPrincipalName", "DisplayName", "Name")
_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")


@dataclass(frozen=True)
class Selection:
    """What a caller wants watched: types and names (None = all) and properties per type (absent = all)."""

    resource_types: frozenset[str] | None = None  # lowercase
    resource_names: frozenset[str] | None = None
    properties: Mapping[str, frozenset[str]] = field(default_factory=dict)  # lowercase type -> property names

    def wants(self, resource_type: str, name: str) -> bool:
        if self.resource_types is not None and resource_type not in self.resource_types:
            return False
        return self.resource_names is None or name in self.resource_names


def key_properties(resource_type: str, values: Mapping[str, Any]) -> tuple[str, ...]:
    """The key property names of an instance of `resource_type`."""
    documented = DOCUMENTED_KEYS.get(resource_type.lower())
    if documented is not None:
        return documented
    return next(((name,) for name in KEY_CANDIDATES if name in values), ())


def _clean(value: Any) -> Any:
    """Nulls and placeholders dropped from dicts and lists, at any depth (annotations are gone already)."""
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items() if v is not None and v != HASHTABLE_PLACEHOLDER}
    if isinstance(value, list):
        return [_clean(item) for item in value if item is not None and item != HASHTABLE_PLACEHOLDER]
    return value


def _is_id(name: str, value: Any) -> bool:
    return name.lower() == "id" or (isinstance(value, str) and bool(_GUID.fullmatch(value)))


def baseline_properties(resource_type: str, values: Mapping[str, Any], wanted: frozenset[str] | None) -> dict[str, Any]:
    """The properties of one baseline entry (see the module docstring for the rules)."""
    keys = key_properties(resource_type, values)
    result: dict[str, Any] = {}
    for name, raw in values.items():
        keep = name in keys or name == ENSURE
        if not keep and (wanted is not None and name not in wanted):
            continue
        if raw is None or raw == HASHTABLE_PLACEHOLDER or (not keep and _is_id(name, raw)):
            continue
        result[name] = _clean(strip_annotations(raw))
    return result


def _unique_name(name: str, taken: set[str]) -> str:
    candidate = name[:NAME_MAX] or "resource"
    number = 2
    while candidate in taken:
        suffix = f" ({number})"
        candidate = name[: NAME_MAX - len(suffix)] + suffix
        number += 1
    taken.add(candidate)
    return candidate


def baseline_resources(resources: Iterable[Mapping[str, Any]], selection: Selection) -> list[dict[str, Any]]:
    """One baseline entry per selected resource with at least one property left, names unique."""
    entries: list[dict[str, Any]] = []
    taken: set[str] = set()
    for raw in resources:
        resource = normalise(raw)
        if not selection.wants(resource.resource_type, resource.display_name):
            continue
        wanted = selection.properties.get(resource.resource_type)
        properties = baseline_properties(resource.resource_type, resource.values, wanted)
        if not properties:
            continue  # Graph refuses an entry without properties
        entries.append(
            {
                "displayName": _unique_name(resource.display_name, taken),
                "resourceType": resource.resource_type,
                "properties": properties,
            }
        )
    return entries


def baseline_document(display_name: str, description: str | None, resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The `baseline` of a monitor create or update: Graph needs the whole baseline every time."""
    return {
        "displayName": display_name,
        "description": description or "",
        "parameters": [],
        "resources": resources,
    }
