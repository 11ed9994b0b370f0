"""A bounded map that keeps the most recently used values: what the read caches of job rows and views need."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    """At most `size` values; the least recently used one goes first. Not thread-safe: one event loop's."""

    def __init__(self, size: int, on_evict: Callable[[V], None] | None = None) -> None:
        self._size = size
        self._values: OrderedDict[K, V] = OrderedDict()
        self._on_evict = on_evict

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        value = self._values.get(key)
        if value is None:
            value = self._values[key] = make()
            if len(self._values) > self._size:
                _, evicted = self._values.popitem(last=False)
                if self._on_evict is not None:
                    self._on_evict(evicted)
        else:
            self._values.move_to_end(key)
        return value

    def values(self) -> list[V]:
        return list(self._values.values())

    def clear(self) -> None:
        self._values.clear()
