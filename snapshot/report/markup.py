"""The HTML pieces of the change report: escaping, shortened values, and the elements with their inline styles.

Every function that takes tenant data escapes it; nothing here emits a `<style>` block, a script or a URL
other than the one it is given. `ELEMENTS` lists every tag this module writes (the browser test checks the
DOM a browser builds from a report against it).
"""

from __future__ import annotations

import html
import json
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from snapshot.diff.values import PropertyChange

MAX_VALUE_CHARS: Final = 300
ELEMENTS: Final = frozenset(
    {"html", "head", "meta", "title", "body", "div", "h1", "h2", "h3", "p", "b", "a", "span"}
    | {"table", "tbody", "tr", "th", "td", "ul", "li", "br", "details", "summary"}
)

FONT = "font-family:'Segoe UI',Helvetica,Arial,sans-serif"
MONO = "font-family:Consolas,'Courier New',monospace;font-size:13px"
WRAP = "overflow-wrap:anywhere;word-break:break-word"
PAGE = f"max-width:760px;margin:0 auto;padding:16px;background:#ffffff;color:#1f2328;{FONT};font-size:14px"
TABLE = "width:100%;table-layout:fixed;border-collapse:collapse;margin:4px 0 12px 0"
CELL = f"border:1px solid #d0d7de;padding:4px 6px;vertical-align:top;text-align:left;{WRAP}"
HEAD_CELL = f"{CELL};background:#f6f8fa;font-weight:600"
H1 = "font-size:20px;margin:0 0 8px 0"
H2 = "font-size:16px;margin:20px 0 6px 0;border-bottom:1px solid #d0d7de;padding-bottom:2px"
H3 = f"font-size:14px;margin:12px 0 2px 0;{WRAP}"
NOTE = "color:#57606a;margin:4px 0"
OLD, NEW = "background:#ffebe9", "background:#dafbe1"

_SHOWN_AS_ESCAPES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
_KEPT_FORMAT = {"\u200d"}  # zero-width joiner: part of emoji sequences


def visible(text: str) -> str:
    """`text` with control, format (bidi overrides, BOM, zero-width) and line separator characters written
    as `\\uXXXX`, so no character of the data can reorder, hide or break what the page shows."""
    out = []
    for ch in text:
        if ch not in _KEPT_FORMAT and unicodedata.category(ch) in _SHOWN_AS_ESCAPES:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return "".join(out)


def text(value: str) -> str:
    """Tenant text as HTML text or attribute content: visible, then escaped (quotes included)."""
    return html.escape(visible(value), quote=True)


def shortened(value: Any) -> str:
    """A property value as JSON text, cut to MAX_VALUE_CHARS characters with its full length stated, escaped."""
    raw = json.dumps(value, ensure_ascii=False)
    if len(raw) <= MAX_VALUE_CHARS:
        return text(raw)
    return f"{text(raw[:MAX_VALUE_CHARS])}… ({len(raw):,} characters in all)"


def when(moment: datetime | None) -> str:
    return "unknown time" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def element(tag: str, content: str, style: str = "") -> str:
    """`<tag style="...">content</tag>`; `content` is already markup, `style` one of this module's constants."""
    assert tag in ELEMENTS
    styled = f' style="{style}"' if style else ""
    return f"<{tag}{styled}>{content}</{tag}>"


def table(header: Iterable[str], rows: Iterable[str], widths: Iterable[str] = ()) -> str:
    """A fixed-layout table: `header` cells as text (this module's own words), `rows` already markup."""
    width_list = list(widths)
    head = "".join(
        f'<th style="{HEAD_CELL}{";width:" + width_list[i] if i < len(width_list) else ""}">{html.escape(h)}</th>'
        for i, h in enumerate(header)
    )
    return f'<table style="{TABLE}"><tbody><tr>{head}</tr>{"".join(rows)}</tbody></table>'


def row(cells: Iterable[str], style: str = CELL) -> str:
    return "<tr>" + "".join(f'<td style="{style}">{cell}</td>' for cell in cells) + "</tr>"


def resource_name(resource_type: str, display_name: str) -> str:
    return f'<span style="{MONO}">{text(resource_type)}</span> <b>{text(display_name)}</b>'


def change_row(change: PropertyChange) -> str:
    absent = '<span style="color:#57606a">(absent)</span>'
    old = absent if change.kind == "added" else f'<span style="{MONO}">{shortened(change.old)}</span>'
    new = absent if change.kind == "removed" else f'<span style="{MONO}">{shortened(change.new)}</span>'
    path = f'<span style="{MONO}">{text(change.path) or "(the properties)"}</span>'
    return (
        f'<tr><td style="{CELL}">{path}</td><td style="{CELL};{OLD}">{old}</td><td style="{CELL};{NEW}">{new}</td></tr>'
    )
