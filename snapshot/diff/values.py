"""The per-resource rules: normalise raw property values, compare them, and walk two resources' properties.

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
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from snapshot.content.normalised import is_annotation

HASHTABLE_PLACEHOLDER: Final = "System.Collections.Hashtable"

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
        return {key: strip_annotations(item) for key, item in value.items() if not is_annotation(str(key))}
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
        return {key: normalise_value(value[key]) for key in sorted(value, key=str) if not is_annotation(str(key))}
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
        keys = {k for k in a if not is_annotation(str(k))} | {k for k in b if not is_annotation(str(k))}
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


def diff_resource(old_properties: Any, new_properties: Any) -> list[PropertyChange]:
    """The paths whose normalised values differ, in key order (see the module docstring for the rules).

    Either side may be any JSON value (a `properties` that is not an object): the same rules apply from path `""`.
    """
    out: list[PropertyChange] = []
    _walk("", old_properties, new_properties, out)
    return out
