"""Reads a content document: checks its shape and reads its metadata and resources.

A content of at most IN_MEMORY_BYTES is parsed once, whole, with json (C); a larger one is read as a stream
with ijson: one pass checks its shape and reads its metadata, a second yields its resources one at a time,
so memory stays bounded. Both read a document the same way (tests/unit/test_content_stream.py compares
them) but for three things no Graph content holds: ijson's yajl backend reads a lone surrogate escape
(`\\ud800`) as `?` where json keeps it; it takes form feed and vertical tab as whitespace between tokens where
json refuses them; and a value nested deeper than MAX_NESTING is refused streamed, read whole up to ~900 levels.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson
from ijson.common import ObjectBuilder

RESOURCES_KEY = "resources"
RESOURCES_PREFIX = "resources.item"
IN_MEMORY_BYTES = 1024 * 1024  # parsed whole: ~3.5x its size in objects, a third of the CPU of two ijson passes

NOT_AN_OBJECT = "the content is not a JSON object"
NO_RESOURCES = "the content has no resources array"
RESOURCES_NOT_AN_ARRAY = "the content's resources is not an array"
ENTRY_NOT_AN_OBJECT = "the content's resources holds an entry that is not a JSON object"
MAX_NESTING = 500  # levels below a top-level value; json's C parser and encoder stop near 1,000 (the stack)
TOO_DEEP = f"the content nests values deeper than {MAX_NESTING} levels"

_PYTHON_BACKEND = ijson.get_backend("python")


def _is_overflow(exc: Exception) -> bool:
    """yajl rejects numbers outside int64 / double; the pure-Python backend reads them (slowly)."""
    return "overflow" in str(exc)


OPENERS = frozenset(("start_map", "start_array"))
CLOSERS = frozenset(("end_map", "end_array"))
_END = ("", None)


@dataclass(frozen=True)
class CheckedDocument:
    """What one pass over a whole document learnt: its metadata and how many resources it holds."""

    metadata: dict[str, Any]
    resources: int


def _scan(events: Iterator[tuple[str, Any]], check: bool = False) -> CheckedDocument:
    """Every top-level key but `resources` (skipped, not built, its entries counted). With `check`, also the
    baseline shape (an object whose `resources` is an array of objects), and the events are read to the end."""
    if next(events, _END)[0] != "start_map":
        raise ValueError(NOT_AN_OBJECT)
    metadata: dict[str, Any] = {}
    count = 0
    has_resources = False
    for event, key in events:  # at the top level: a key, or the object's end
        if event == "end_map":
            if check:
                if not has_resources:
                    raise ValueError(NO_RESOURCES)
                for _ in events:  # what follows the object: yajl raises on anything but whitespace
                    pass
            return CheckedDocument(metadata, count)
        if key == RESOURCES_KEY:
            count += _resources_entries(events, check)
            has_resources = True
        else:
            metadata[key] = _value(events)
    raise ValueError("the snapshot content ended early")


def _resources_entries(events: Iterator[tuple[str, Any]], check: bool) -> int:
    """Consume the value of `resources`; how many objects it holds. With `check`, ValueError unless an array of
    objects. The tightest loop of the check: it sees every event of every resource."""
    event = next(events, _END)[0]
    if event != "start_array":
        if check:
            raise ValueError(RESOURCES_NOT_AN_ARRAY)
        _skip(event, events)
        return 0
    count = 0
    depth = 0  # inside an entry
    for event, _ in events:
        if depth == 0:
            if event == "end_array":
                return count
            if event != "start_map":
                if check:
                    raise ValueError(ENTRY_NOT_AN_OBJECT)
                _skip(event, events)
                continue
            count += 1
            depth = 1
        elif event in OPENERS:
            depth += 1
            if depth > MAX_NESTING:
                raise ValueError(TOO_DEEP)
        elif event in CLOSERS:
            depth -= 1
    raise ValueError("the snapshot content ended early")


def _skip(first: str, events: Iterator[tuple[str, Any]]) -> None:
    """Consume the rest of a value whose first event was `first`."""
    for _ in _value_events((first, None), events):
        pass


def _value(events: Iterator[tuple[str, Any]]) -> Any:
    first = next(events, _END)
    if first is _END:
        raise ValueError("the snapshot content ended early")
    builder = ObjectBuilder()
    for event, value in _value_events(first, events):
        builder.event(event, value)
    return builder.value


def _value_events(first: tuple[str, Any], events: Iterator[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """The events of one value, `first` and the rest up to its end; nesting past MAX_NESTING is refused."""
    yield first
    if first[0] not in OPENERS:
        return
    depth = 1
    for event, value in events:
        yield event, value
        if event in OPENERS:
            depth += 1
            if depth > MAX_NESTING:
                raise ValueError(TOO_DEEP)
        elif event in CLOSERS:
            depth -= 1
            if depth == 0:
                return
    raise ValueError("the snapshot content ended early")


def check_document(stream: IO[bytes]) -> CheckedDocument:
    """Read the whole document once: ValueError saying why unless it is complete JSON in the baseline shape
    (an object whose `resources` is an array of objects); else its metadata (as `read_metadata`) and resource
    count. The stream is left where it was. One pass of ijson's basic events, which cost less than its prefixed
    ones."""
    start = stream.tell()
    try:
        try:
            return _scan(iter(ijson.basic_parse(stream, use_float=True)), check=True)
        except ijson.JSONError as exc:
            if not _is_overflow(exc) or not stream.seekable():
                raise
            stream.seek(start)
            return _scan(_finite_numbers(_PYTHON_BACKEND.basic_parse(stream, use_float=True)), check=True)
    except ijson.JSONError as exc:
        raise _not_complete(exc) from None
    finally:
        stream.seek(start)


def _finite_numbers(events: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """The Python backend reads -1e400 as -infinity (yajl refuses it, as JSON has no such number): refused."""
    for event, value in events:
        if event == "number" and isinstance(value, float) and not math.isfinite(value):
            raise _not_complete(ValueError(f"the number {value} is out of range"))
        yield event, value


def _not_complete(exc: Exception) -> ValueError:
    return ValueError(f"the content is not complete JSON ({str(exc)[:200]})")


def read_metadata(stream: IO[bytes]) -> dict[str, Any]:
    """Every top-level key of the content except `resources`, which is skipped without being built."""
    start = stream.tell()
    try:
        return _scan(iter(ijson.basic_parse(stream, use_float=True))).metadata
    except ijson.JSONError as exc:
        if not _is_overflow(exc) or not stream.seekable():
            raise
    stream.seek(start)
    return _scan(iter(_PYTHON_BACKEND.basic_parse(stream, use_float=True))).metadata


def _checked(index: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValueError(f"resources[{index}] is not a JSON object")
    return item


def iter_resources(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    """The entries of `resources`, one at a time (ints stay int, other numbers are float, never Decimal)."""
    start = stream.tell()
    done = 0
    try:
        for item in ijson.items(stream, RESOURCES_PREFIX, use_float=True):
            yield _checked(done, item)
            done += 1
        return
    except ijson.JSONError as exc:
        if not _is_overflow(exc) or not stream.seekable():
            raise
    stream.seek(start)  # a number yajl cannot hold: read again with the Python backend, skipping what was yielded
    for index, item in enumerate(_PYTHON_BACKEND.items(stream, RESOURCES_PREFIX, use_float=True)):
        if index >= done:
            yield _checked(index, item)


@dataclass(frozen=True)
class Content:
    """A checked content: its metadata, how many resources it holds, and the resources themselves (a list, or
    read from the stream as they are iterated: iterate them once, while the stream is open)."""

    metadata: dict[str, Any]
    count: int
    resources: Iterable[dict[str, Any]]


def read_content(stream: IO[bytes]) -> Content:
    """ValueError saying why unless the content is complete JSON in the baseline shape (an object whose
    `resources` is an array of objects), as `check_document`; else its metadata, count and resources.
    At most IN_MEMORY_BYTES: parsed once, whole; larger: checked in one pass, resources streamed in a second."""
    start = stream.tell()
    size = stream.seek(0, io.SEEK_END) - start
    stream.seek(start)
    if size <= IN_MEMORY_BYTES:
        try:
            return _parse_whole(stream.read())
        except RecursionError:  # deeper than json's parser goes: the streaming check says how deep is too deep
            stream.seek(start)
    checked = check_document(stream)
    return Content(checked.metadata, checked.resources, iter_resources(stream))


_DONE: dict[str, Any] = {}


def _parse_whole(data: bytes) -> Content:
    top: list[tuple[str, Any]] = []

    def keep_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal top
        top = pairs  # objects are reported as they close: the document's own comes last, repeated keys and all
        return dict(pairs)

    try:
        document = json.loads(
            data.decode("utf-8"), object_pairs_hook=keep_pairs, parse_constant=_no_constant, parse_float=_finite
        )
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _not_complete(exc) from None
    if not isinstance(document, dict):
        raise ValueError(NOT_AN_OBJECT)
    metadata: dict[str, Any] = {}
    resources: list[dict[str, Any]] = []
    has_resources = False
    for key, value in top:
        if key != RESOURCES_KEY:
            metadata[key] = value
            continue
        if not isinstance(value, list):
            raise ValueError(RESOURCES_NOT_AN_ARRAY)
        if not all(isinstance(entry, dict) for entry in value):
            raise ValueError(ENTRY_NOT_AN_OBJECT)
        resources.extend(value)  # a repeated `resources` adds its entries, as the streaming read does
        has_resources = True
    if not has_resources:
        raise ValueError(NO_RESOURCES)
    return Content(metadata, len(resources), _handed_over(resources))


def _handed_over(resources: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each resource in turn, dropped from the list as it is handed over: a resource is freed once stored, so
    the collector does not walk the rest of the document again and again while the write goes on."""
    for index, resource in enumerate(resources):
        resources[index] = _DONE
        yield resource


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # json reads NaN and Infinity; JSON (and yajl) has no such literals


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # yajl rejects a number a double cannot hold; json would read it as infinity
        raise ValueError(f"the number {text[:40]} is out of range")
    return value
