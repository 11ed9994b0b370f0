"""Reads a content document as a stream with ijson: checks its shape, then its metadata, then its resources one at a time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import ijson
from ijson.common import ObjectBuilder

RESOURCES_KEY = "resources"
RESOURCES_PREFIX = "resources.item"

_PYTHON_BACKEND = ijson.get_backend("python")


def _is_overflow(exc: Exception) -> bool:
    """yajl rejects numbers outside int64 / double; the pure-Python backend reads them (slowly)."""
    return "overflow" in str(exc)


def _metadata_from_events(events: Iterator[tuple[str, Any]], check: bool = False) -> dict[str, Any]:
    """Every top-level key but `resources` (skipped, not built). With `check`, also the baseline shape (an
    object whose `resources` is an array of objects), and the events are read to the document's end."""
    metadata: dict[str, Any] = {}
    has_resources = False
    depth = 0
    key: str | None = None
    builder: ObjectBuilder | None = None
    for event, value in events:
        if depth == 0:
            if event != "start_map":
                raise ValueError("the content is not a JSON object")
            depth = 1
            continue
        if depth == 1 and event == "map_key":
            key = value
            builder = None if key == RESOURCES_KEY else ObjectBuilder()
            continue
        if depth == 1 and event == "end_map":
            if check:
                if not has_resources:
                    raise ValueError("the content has no resources array")
                for _ in events:  # what follows the object: yajl raises on anything but whitespace
                    pass
            return metadata
        if check and builder is None:  # inside `resources`: depth 1 is its value, depth 2 its entries
            if depth == 1 and event != "start_array":
                raise ValueError("the content's resources is not an array")
            if depth == 2 and event not in ("start_map", "end_array"):
                raise ValueError("the content's resources holds an entry that is not a JSON object")
            has_resources = True
        if builder is not None:
            builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
        if depth == 1 and builder is not None and key is not None:
            metadata[key] = builder.value
    raise ValueError("the snapshot content ended early")


def check_document(stream: IO[bytes]) -> dict[str, Any]:
    """Read the whole document once: ValueError saying why unless it is complete JSON in the baseline shape
    (an object whose `resources` is an array of objects); else its metadata (as `read_metadata`). The stream
    is left where it was. One pass of ijson's basic events, which cost less than its prefixed ones."""
    start = stream.tell()
    try:
        try:
            return _metadata_from_events(iter(ijson.basic_parse(stream, use_float=True)), check=True)
        except ijson.JSONError as exc:
            if not _is_overflow(exc) or not stream.seekable():
                raise
            stream.seek(start)
            return _metadata_from_events(iter(_PYTHON_BACKEND.basic_parse(stream, use_float=True)), check=True)
    except ijson.JSONError as exc:
        raise ValueError(f"the content is not complete JSON ({str(exc)[:200]})") from None
    finally:
        stream.seek(start)


def read_metadata(stream: IO[bytes]) -> dict[str, Any]:
    """Every top-level key of the content except `resources`, which is skipped without being built."""
    start = stream.tell()
    try:
        return _metadata_from_events(iter(ijson.basic_parse(stream, use_float=True)))
    except ijson.JSONError as exc:
        if not _is_overflow(exc) or not stream.seekable():
            raise
    stream.seek(start)
    return _metadata_from_events(iter(_PYTHON_BACKEND.basic_parse(stream, use_float=True)))


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
