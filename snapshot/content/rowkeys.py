"""Table-safe RowKeys for resources (`<type>|<name>|<occurrence>`) and for the part entities that continue them."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

PART_PREFIX = "~part~"
TYPE_SEGMENT_MAX = 100  # UTF-16 code units of the escaped resource type in a RowKey
NAME_SEGMENT_MAX = 360  # UTF-16 code units of the escaped display name in a RowKey
TRUNCATION_MARK = "%~"  # never produced by escaping (a literal % is always written %25)
HASH_CHARS = 32

_ESCAPED = re.compile("[/\\\\#?%'|\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # controls and lone surrogates too


def utf16_units(text: str) -> int:
    """The length of `text` in UTF-16 code units, the unit of Table Storage's key and string limits."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _needs_escape(ch: str) -> bool:
    return _ESCAPED.match(ch) is not None


def _percent(ch: str) -> str:
    return "".join(f"%{byte:02X}" for byte in ch.encode("utf-8", "surrogatepass"))


def _percent_match(match: re.Match[str]) -> str:
    return _percent(match.group())


def _segment(text: str, limit: int, leading: bool = False) -> str:
    """Escape `text` (one token per character, so a cut never splits an escape); cut + hash past `limit`."""
    plain = not _ESCAPED.search(text) and not (leading and text and ord(text[0]) >= 0x7E)
    if plain and utf16_units(text) <= limit:
        return text  # the common case: nothing to escape or cut
    lead = leading and bool(text) and ord(text[0]) >= 0x7E
    escaped = _percent(text[0]) + _ESCAPED.sub(_percent_match, text[1:]) if lead else _ESCAPED.sub(_percent_match, text)
    if utf16_units(escaped) <= limit:
        return escaped
    tokens = [_percent(ch) if _needs_escape(ch) or (lead and index == 0) else ch for index, ch in enumerate(text)]
    units = [utf16_units(token) for token in tokens]
    budget = limit - len(TRUNCATION_MARK) - HASH_CHARS
    kept: list[str] = []
    used = 0
    for token, size in zip(tokens, units, strict=True):
        if used + size > budget:
            break
        kept.append(token)
        used += size
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
    return "".join(kept) + TRUNCATION_MARK + digest


def _unescape(segment: str) -> str:
    """Undo the escaping of one RowKey segment (a cut segment keeps its `%~<hash>` tail)."""
    if TRUNCATION_MARK in segment:
        head, _, tail = segment.partition(TRUNCATION_MARK)
        return _unescape(head) + TRUNCATION_MARK + tail
    return unquote_to_bytes(segment).decode("utf-8", "surrogatepass")


def row_key(resource_type: str, display_name: str, occurrence: int) -> str:
    """`<type>|<escaped name>|<occurrence:04d>`: Table-safe, unique, sorts by type then name, before `~`.

    `/ \\ # ? % ' |`, control characters and lone surrogates are percent-encoded (UTF-8), as is a leading
    character >= `~`; a segment longer than its limit is cut and ends with `%~` + a hash of the full text.
    The type is lower-cased. At most ~470 UTF-16 code units, so a part key stays under 1 KiB too.
    """
    if occurrence < 0:
        raise ValueError("occurrence must be >= 0")
    type_segment = _segment(resource_type.lower(), TYPE_SEGMENT_MAX, leading=True)
    return f"{type_segment}|{_segment(display_name, NAME_SEGMENT_MAX)}|{occurrence:04d}"


def split_row_key(key: str) -> tuple[str, str, int]:
    """(type, display name, occurrence) of a head RowKey; a cut segment keeps its `%~<hash>` tail."""
    type_segment, name_segment, occurrence = key.split("|")
    return _unescape(type_segment), _unescape(name_segment), int(occurrence)


def part_key(head_key: str, n: int) -> str:
    return f"{PART_PREFIX}{head_key}~{n:04d}"


def is_part_key(key: str) -> bool:
    return key.startswith(PART_PREFIX)


def part_keys(head: Mapping[str, Any]) -> list[str]:
    """RowKeys of the part entities that continue `head` (none for most resources)."""
    return [part_key(head["RowKey"], n) for n in range(1, int(head.get("Parts", 1)))]
