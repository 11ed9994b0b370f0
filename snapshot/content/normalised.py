"""One resource split into what storage keeps (`normalise`) and put back exactly as it was (`denormalise`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

STANDARD_KEYS = ("displayName", "resourceType", "properties")


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


def any_annotation(keys: Iterable[str]) -> bool:
    """Any of the keys `is_annotation`: one test over them all (`@` is one character, so it spans no two keys)."""
    return "@" in "".join(keys)


def normalise(resource: Mapping[str, Any]) -> NormalisedResource:
    if len(resource) == len(STANDARD_KEYS) and all(key in resource for key in STANDARD_KEYS):
        extra: dict[str, Any] = {}  # the usual resource: exactly the three standard keys
        absent: tuple[str, ...] = ()
    else:
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
        extra=dict(sorted(extra.items())) if extra else extra,
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
