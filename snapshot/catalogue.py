"""The catalogue of documented UTCM resource type names (shipped in snapshot/data), and how a request's names resolve.

Graph's own page says the list is incomplete (docs/graph-utcm.md, section 3): a well-formed name of one of the five
workloads that the catalogue lacks is passed to Graph with a warning, and Graph's answer decides.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

CATALOGUE_FILE = Path(__file__).resolve().parent / "data" / "utcm-resource-types.txt"
WORKLOADS = ("entra", "exchange", "intune", "securityAndCompliance", "teams")
WELL_FORMED = re.compile(r"^microsoft\.(?:" + "|".join(WORKLOADS) + r")\.[A-Za-z][A-Za-z0-9]*$", re.IGNORECASE)
WILDCARD = re.compile(r"^microsoft\.(?P<workload>[A-Za-z]+)\.\*$", re.IGNORECASE)


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


def documented_types(names: list[str]) -> list[str]:
    """`names` in their documented spelling, each once, in order; ValueError naming every unknown one (a
    pydantic validator's answer: the field and these messages)."""
    unknown = [name for name in names if canonical(name) is None]
    if unknown:
        raise ValueError("; ".join(unknown_type_message(name) for name in unknown))
    return list(dict.fromkeys(canonical(name) or name for name in names))


def suggestions(name: str, limit: int = 3) -> list[str]:
    """The closest known names, for a 'did you mean' message."""
    matches = difflib.get_close_matches(name.strip().lower(), list(_by_lower()), n=limit, cutoff=0.6)
    return [_by_lower()[match] for match in matches]


def unknown_type_message(name: str) -> str:
    """`'x' is not a known resource type`, with the closest known names when there are any."""
    return f"{name!r} is not a known resource type{_hint(name)}"


def workload(name: str) -> str:
    """`microsoft.<workload>.<type>` -> workload (entra, exchange, intune, securityAndCompliance, teams)."""
    parts = name.split(".")
    return parts[1] if len(parts) >= 3 else "unknown"


def grouped() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name in resource_types():
        groups.setdefault(workload(name), []).append(name)
    return groups


def well_formed(name: str) -> bool:
    """`microsoft.<workload>.<type>` for one of the five workloads (case-insensitive)."""
    return WELL_FORMED.fullmatch(name.strip()) is not None


def expand(name: str) -> list[str] | None:
    """The documented types of `microsoft.<workload>.*`; None if `name` is not a wildcard of a known workload."""
    match = WILDCARD.fullmatch(name.strip())
    if match is None:
        return None
    wanted = match["workload"].lower()
    workload_name = next((w for w in WORKLOADS if w.lower() == wanted), None)
    return None if workload_name is None else list(grouped().get(workload_name, []))


@dataclass(frozen=True)
class Resolution:
    """What a request's resource names become: the names sent to Graph, warnings, wildcard expansions, problems."""

    names: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    expansion: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _hint(name: str) -> str:
    hint = suggestions(name)
    return f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""


def resolve(requested: list[str]) -> Resolution:
    """Names in request order, documented spelling where known, wildcards expanded (each name once)."""
    result = Resolution()
    explicit: dict[str, int] = {}
    for index, raw in enumerate(requested):
        name = raw.strip()
        types = expand(name)
        if types is not None:
            if name.lower() in result.expansion:
                result.problems.append(f"[{index}] {raw!r} repeats an earlier wildcard")
            result.expansion[name.lower()] = types
            continue
        known = canonical(name)
        if known is None and not well_formed(name):
            result.problems.append(
                f"[{index}] {raw!r} is not a resource type name: use microsoft.<workload>.<type> or "
                f"microsoft.<workload>.* with a workload of {', '.join(WORKLOADS)}{_hint(name)}"
            )
            continue
        if known is None:
            result.warnings.append(
                f"resources[{index}] {name!r} is not in the documented catalogue; it was passed to Microsoft Graph, "
                f"which decides{_hint(name)}"
            )
        if name.lower() in explicit:
            result.problems.append(
                f"[{index}] {raw!r} repeats [{explicit[name.lower()]}] (names compare case-insensitively)"
            )
            continue
        explicit[name.lower()] = index
    seen: set[str] = set()
    for raw in requested:
        name = raw.strip()
        for each in result.expansion.get(name.lower(), [canonical(name) or name]):
            if each.lower() not in seen and (each.lower() in explicit or name.lower() in result.expansion):
                seen.add(each.lower())
                result.names.append(each)
    return result
