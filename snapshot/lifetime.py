"""One client per process, rebuilt when the settings change (tests switch settings between cases)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from snapshot.settings import Settings


class Closable(Protocol):
    settings: Settings

    async def close(self) -> None: ...


T = TypeVar("T", bound=Closable)


class ProcessWide(Generic[T]):
    def __init__(self, factory: Callable[[Settings], T]) -> None:
        self._factory = factory
        self._instance: T | None = None

    def get(self, settings: Settings) -> T:
        if self._instance is None or self._instance.settings != settings:
            self._instance = self._factory(settings)
        return self._instance

    async def reset(self) -> None:
        """Close and forget the instance."""
        if self._instance is not None:
            with contextlib.suppress(Exception):
                await self._instance.close()
        self._instance = None
