"""A bounded map that keeps the most recently used values: what the read caches of job rows and views need."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    """At most `size` values; the least recently used one goes first. Not thread-safe: one event loop's."""

    def __init__(
        self, size: int, on_evict: Callable[[V], None] | None = None, keep: Callable[[K], bool] | None = None
    ) -> None:
        self._size = size
        self._values: OrderedDict[K, V] = OrderedDict()
        self._on_evict = on_evict
        self._keep = keep  # keys not evicted while it says so (in use): the map grows past `size` meanwhile

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        value = self._values.get(key)
        if value is None:
            value = self._values[key] = make()
            self._evict(spare=key)
        else:
            self._values.move_to_end(key)
        return value

    def _evict(self, spare: K) -> None:
        """Drop the least recently used values over `size`, skipping `spare` and the keys `keep` holds."""
        over = len(self._values) - self._size
        if over <= 0:
            return
        keep = self._keep or (lambda _: False)
        oldest_first = (k for k in self._values if k != spare and not keep(k))
        for old in list(itertools.islice(oldest_first, over)):
            evicted = self._values.pop(old)
            if self._on_evict is not None:
                self._on_evict(evicted)

    def values(self) -> list[V]:
        return list(self._values.values())

    def clear(self) -> None:
        self._values.clear()
