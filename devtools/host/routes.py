"""HTTP routing: the route templates this app declares, matched like the Functions host matches them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import unquote

from devtools.host.errors import HostError

T = TypeVar("T")
_PARAMETER = re.compile(r"\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")


class RouteTemplate:
    """A route template of literal segments and whole-segment `{name}` parameters (what the app's routes use).

    Constraints, optional, default and catch-all parameters are refused at startup rather than matched wrongly.
    """

    def __init__(self, template: str) -> None:
        self.template = template.strip("/")
        self.segments: list[str | None] = []  # a literal, or None for a parameter
        self.names: list[str] = []
        for text in self.template.split("/") if self.template else []:
            self._add_segment(text)

    def _add_segment(self, text: str) -> None:
        parameter = _PARAMETER.fullmatch(text)
        if parameter is not None:
            name = parameter["name"]
            if name.lower() in (n.lower() for n in self.names):
                raise HostError(f"route {self.template!r}: parameter {name!r} appears twice")
            self.names.append(name)
            self.segments.append(None)
        elif not text or "{" in text or "}" in text:
            raise HostError(
                f"route {self.template!r}: segment {text!r} is not supported (only literals and {{name}} parameters)"
            )
        else:
            self.segments.append(text.lower())

    @property
    def precedence(self) -> tuple[int, ...]:
        """Sort key: at each position a literal segment comes before a parameter (as ASP.NET routing orders them)."""
        return tuple(0 if s is not None else 1 for s in self.segments)

    def match(self, path: str) -> dict[str, str] | None:
        """The route parameters for a raw (percent-encoded) path relative to the route prefix, or None.

        Literals compare case-insensitively; a trailing '/' is ignored; parameter values are percent-decoded.
        """
        path = path.strip("/")
        texts = [unquote(t) for t in path.split("/")] if path else []
        if len(texts) != len(self.segments):
            return None
        values: list[str] = []
        for literal, text in zip(self.segments, texts, strict=True):
            if not text or (literal is not None and text.lower() != literal):
                return None
            if literal is None:
                values.append(text)
        return dict(zip(self.names, values, strict=True))


@dataclass(frozen=True)
class Route(Generic[T]):
    template: RouteTemplate
    methods: tuple[str, ...] | None  # None: every method
    target: T


class RouteTable(Generic[T]):
    """The routes under one route prefix; `find` picks the most specific template that serves the method."""

    def __init__(self, route_prefix: str) -> None:
        self.prefix = [s.lower() for s in route_prefix.strip("/").split("/") if s]
        self._routes: list[Route[T]] = []

    def add(self, template: RouteTemplate, methods: tuple[str, ...] | None, target: T) -> None:
        self._routes.append(Route(template, methods, target))
        self._routes.sort(key=lambda r: r.template.precedence)

    def find(self, raw_path: str, method: str) -> tuple[T, dict[str, str]] | None:
        """The target serving `method raw_path`, with its route parameters; None (a 404) when nothing does."""
        segments = raw_path.split("?", 1)[0].strip("/").split("/")
        if [unquote(s).lower() for s in segments[: len(self.prefix)]] != self.prefix:
            return None
        path = "/".join(segments[len(self.prefix) :])
        for route in self._routes:
            params = route.template.match(path)
            if params is not None and (route.methods is None or method.upper() in route.methods):
                return route.target, params
        return None
