"""The OData query options Graph accepts on snapshot jobs: $select, $filter, $orderby, and paging by $top and $skiptoken."""

from __future__ import annotations

import base64
import json
import operator
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from devtools.emulator.responses import GraphError
from devtools.emulator.state import parse_datetime

DEFAULT_FIELDS = ("id", "displayName", "description", "status", "tenantId", "createdDateTime", "completedDateTime")
SELECT_ONLY_FIELDS = ("createdBy", "errorDetails", "resourceLocation", "resources")
ALL_FIELDS = DEFAULT_FIELDS + SELECT_ONLY_FIELDS
FILTERABLE = DEFAULT_FIELDS

# $filter: clauses joined by `and`; `field op literal` (eq, ne, ge, le, gt, lt) or startswith(field,'x').
FILTER_COMPARE = re.compile(r"^\s*(\w+)\s+(eq|ne|ge|le|gt|lt)\s+('(?:[^']|'')*'|[^\s']+)\s*$", re.IGNORECASE)
FILTER_STARTSWITH = re.compile(r"^\s*startswith\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$", re.IGNORECASE)

Job = dict[str, Any]


def parse_select(query: Mapping[str, str]) -> list[str] | None:
    """The fields `$select` names, in Graph's spelling; None without `$select`."""
    raw = query.get("$select")
    if raw is None:
        return None
    fields = [f.strip() for f in raw.split(",") if f.strip()]
    by_lower = {f.lower(): f for f in ALL_FIELDS}
    result: list[str] = []
    for name in fields:
        if name == "*":
            result.extend(ALL_FIELDS)
            continue
        known = by_lower.get(name.lower())
        if known is None:
            raise GraphError(
                400, f"Could not find a property named '{name}' on type 'microsoft.graph.configurationSnapshotJob'."
            )
        result.append(known)
    return list(dict.fromkeys(result))


def select(job: Job, fields: list[str] | None) -> Job:
    """The job's default fields, or `id` and the selected ones, in Graph's order."""
    wanted = DEFAULT_FIELDS if fields is None else ("id", *fields)
    return {name: job[name] for name in ALL_FIELDS if name in wanted}


def _split_and(expression: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    in_quote = False
    i = 0
    while i < len(expression):
        ch = expression[i]
        if ch == "'":
            in_quote = not in_quote
        if not in_quote and expression[i : i + 5].lower() == " and ":
            parts.append("".join(current))
            current = []
            i += 5
            continue
        current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def _literal(text: str) -> Any:
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if text.lower() == "null":
        return None
    try:
        return parse_datetime(text)
    except ValueError as exc:
        raise GraphError(400, f"Invalid filter literal {text!r}.") from exc


def filter_predicate(expression: str) -> Callable[[Job], bool]:
    """A test for one job from a `$filter` expression."""
    by_lower = {f.lower(): f for f in FILTERABLE}
    checks: list[Callable[[Job], bool]] = []
    for clause in _split_and(expression):
        starts = FILTER_STARTSWITH.match(clause)
        compare = FILTER_COMPARE.match(clause)
        if starts:
            name = by_lower.get(starts.group(1).lower())
            prefix = starts.group(2).replace("''", "'")
            if name is None:
                raise GraphError(400, f"Invalid filter clause: unknown property '{starts.group(1)}'.")

            def starts_with(job: Job, n: str = name, p: str = prefix) -> bool:
                return str(job[n]).lower().startswith(p.lower())

            checks.append(starts_with)
        elif compare:
            name = by_lower.get(compare.group(1).lower())
            if name is None:
                raise GraphError(400, f"Invalid filter clause: unknown property '{compare.group(1)}'.")
            op, value = compare.group(2).lower(), _literal(compare.group(3))

            def check(job: Job, n: str = name, o: str = op, v: Any = value) -> bool:
                actual: Any = job[n]
                if isinstance(v, datetime):
                    actual = parse_datetime(actual)
                elif isinstance(v, str) and n != "status":
                    actual, v = str(actual).lower(), v.lower()
                if o == "eq":
                    return bool(actual == v)
                if o == "ne":
                    return bool(actual != v)
                if v is None:
                    return False
                return bool({"ge": actual >= v, "le": actual <= v, "gt": actual > v, "lt": actual < v}[o])

            checks.append(check)
        else:
            raise GraphError(400, f"Invalid filter clause: '{clause.strip()}'.")
    return lambda job: all(check(job) for check in checks)


def order(jobs: list[Job], orderby: str | None) -> list[Job]:
    """The jobs sorted by an `$orderby` expression (`field [asc|desc], ...`)."""
    if not orderby:
        return jobs
    by_lower = {f.lower(): f for f in FILTERABLE}
    for part in reversed([p.strip() for p in orderby.split(",") if p.strip()]):
        words = part.split()
        name = by_lower.get(words[0].lower())
        direction = words[1].lower() if len(words) > 1 else "asc"
        if name is None or direction not in ("asc", "desc") or len(words) > 2:
            raise GraphError(400, f"Invalid $orderby clause: '{part}'.")
        jobs = sorted(jobs, key=operator.itemgetter(name), reverse=direction == "desc")
    return jobs


def page_size(query: Mapping[str, str], default: int, limit: int) -> int:
    """`$top` or the default, never above the server's limit (past it, the client follows nextLinks)."""
    size = default
    if "$top" in query:
        try:
            size = int(query["$top"])
        except ValueError as exc:
            raise GraphError(400, "Invalid value for $top.") from exc
        if size < 1:
            raise GraphError(400, "Invalid value for $top.")
    return min(size, limit)


def offset(query: Mapping[str, str]) -> int:
    """Where the page starts: the offset `$skiptoken` carries, else 0."""
    token = query.get("$skiptoken")
    if token is None:
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        return int(json.loads(base64.urlsafe_b64decode(padded))["offset"])
    except (ValueError, KeyError, TypeError) as exc:
        raise GraphError(400, "Invalid $skiptoken.") from exc


def next_link(url: str, query: Mapping[str, str], next_offset: int) -> str:
    """`url` with the same query and a `$skiptoken` for the page at `next_offset`."""
    params = {k: v for k, v in query.items() if k != "$skiptoken"}
    params["$skiptoken"] = base64.urlsafe_b64encode(json.dumps({"offset": next_offset}).encode()).decode().rstrip("=")
    return f"{url}?{urlencode(params, safe='$,')}"
