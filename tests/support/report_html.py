"""Reading a change report back with the standard library's html.parser: its elements, text and tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"meta", "br", "img", "input", "link", "hr"}


@dataclass
class Page:
    elements: list[tuple[str, tuple[tuple[str, str | None], ...]]] = field(default_factory=list)
    text: str = ""
    headings: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)  # every table row, cells as text
    items: list[str] = field(default_factory=list)  # every <li>, as text
    links: list[str] = field(default_factory=list)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._text: list[str] = []
        self._open: list[str] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._capture: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.elements.append((tag, tuple(attrs)))
        if tag == "a":
            self.page.links.append(dict(attrs).get("href") or "")
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("li", "h1", "h2", "h3"):
            self._capture = []
        if tag not in VOID:
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.page.rows.append(self._row)
            self._row = None
        elif tag in ("li", "h1", "h2", "h3") and self._capture is not None:
            (self.page.items if tag == "li" else self.page.headings).append("".join(self._capture))
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] in ("title", "script", "style"):
            return
        self._text.append(data)
        for sink in (self._cell, self._capture):
            if sink is not None:
                sink.append(data)

    def close(self) -> None:
        super().close()
        self.page.text = "".join(self._text)


def read(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.page
