"""The catalogue of documented UTCM resource type names (shipped in snapshot/data)."""

from __future__ import annotations

import difflib
import functools
from pathlib import Path

CATALOGUE_FILE = Path(__file__).resolve().parent / "data" / "utcm-resource-types.txt"


@functools.cache
def resource_types() -> tuple[str, ...]:
    """Documented names, camelCase as on the Learn page, in file order."""
    lines = CATALOGUE_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@functools.cache
def _by_lower() -> dict[str, str]:
    return {name.lower(): name for name in resource_types()}


def canonical(name: str) -> str | None:
    """The documented spelling of a type name, matched case-insensitively; None if unknown."""
    return _by_lower().get(name.strip().lower())


def suggestions(name: str, limit: int = 3) -> list[str]:
    """The closest known names, for a 'did you mean' message."""
    matches = difflib.get_close_matches(name.strip().lower(), list(_by_lower()), n=limit, cutoff=0.6)
    return [_by_lower()[match] for match in matches]


def unknown_type_message(name: str) -> str:
    """`'x' is not a known resource type`, with the closest known names when there are any."""
    hint = suggestions(name)
    tail = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
    return f"{name!r} is not a known resource type{tail}"


def workload(name: str) -> str:
    """`microsoft.<workload>.<type>` -> workload (entra, exchange, intune, securityAndCompliance, teams)."""
    parts = name.split(".")
    return parts[1] if len(parts) >= 3 else "unknown"


def grouped() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name in resource_types():
        groups.setdefault(workload(name), []).append(name)
    return groups
