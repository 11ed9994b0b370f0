"""Hostile values for hardening tests: quotes, key-forbidden characters, control characters, OData injection."""

from __future__ import annotations

import re

CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


INJECTION = "x' or PartitionKey ne '"


HOSTILE = [
    "'",
    '"',
    "''",
    "#",
    "/",
    "\\",
    "?",
    "%",
    "%27",
    "%2F",
    "a/b",
    "..",
    "~",
    "~part~x",
    INJECTION,
    "' or 1 eq 1 or '",
    "\x00",
    "\x01\x1b[31m",
    "line\nbreak\r",
    "\t",
    "\x7f",
    "é ü 東京 🙂",
    "\u202e",
    "\ufeff",
    "<script>",
    "$filter=true",
    "null",
    "-1",
    "²",
    "0x10",
    " ",
    "x" * 10_000,
]
