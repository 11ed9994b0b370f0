"""The process-wide clients: one Graph UTCM client and one Store, rebuilt when the settings change.

msgraph is imported here, lazily, and nowhere else on a cold path: status reads and health never pay for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from snapshot.settings import Settings, get_settings
from snapshot.store import Store

if TYPE_CHECKING:
    from snapshot.graph import UtcmClient


class Closable(Protocol):
    settings: Settings

    async def close(self) -> None: ...


T = TypeVar("T", bound=Closable)


class ProcessWide(Generic[T]):
    """One instance per process, made by `factory` on first use and again when the settings change."""

    def __init__(self, factory: Callable[[Settings], T]) -> None:
        self._factory = factory
        self._instance: T | None = None

    def get(self, settings: Settings) -> T:
        current = self._instance
        # `is` first: every read asks, and comparing two settings models field by field is what costs
        if current is None or (current.settings is not settings and current.settings != settings):
            current = self._instance = self._factory(settings)
        return current

    async def reset(self) -> None:
        """Close and forget the instance."""
        if self._instance is not None:
            with contextlib.suppress(Exception):
                await self._instance.close()
        self._instance = None


def _graph_client(settings: Settings) -> UtcmClient:
    from snapshot.graph import UtcmClient

    return UtcmClient(settings)


# azure-core pipeline options for the Table clients (the bench counts requests with a raw_request_hook).
STORE_CLIENT_OPTIONS: dict[str, Any] = {}

_graph: ProcessWide[UtcmClient] = ProcessWide(_graph_client)
_store: ProcessWide[Store] = ProcessWide(lambda settings: Store(settings, **STORE_CLIENT_OPTIONS))


def graph(settings: Settings | None = None) -> UtcmClient:
    return _graph.get(settings or get_settings())


def store(settings: Settings | None = None) -> Store:
    return _store.get(settings or get_settings())


async def close_all() -> None:
    """Close and forget both clients (tests switch settings between cases)."""
    await _graph.reset()
    await _store.reset()
