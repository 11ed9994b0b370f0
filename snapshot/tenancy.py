"""Which tenant a piece of work is for, and how that tenant's rows are keyed (docs/tenants.md).

Every use case reads its tenant from `current()`: the triggers set it (`scoped`) from the route's `{tenantId}`
or the queue message, and the unscoped routes and timers leave it unset, which is the home tenant. The clients
(`snapshot.clients`) hand out the Graph client and the Store of the current tenant, so no use case branches on
the tenancy mode.

Keys: the home tenant's rows keep the keys they had before there were tenants (so rows written then read as
the home tenant's, with no migration); every other tenant's PartitionKeys start with `~<tenantId>|`. No home
partition starts with `~` (they are Graph ids, sha256 hex, month names and a few fixed words), so one range
of PartitionKeys holds exactly one tenant's rows and a query bounded by it cannot read another tenant's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from snapshot import errors
from snapshot.settings import GUID, Settings

HOME_ALIAS = "home"
TENANT_MARK = "~"
TENANT_END = "|"
AFTER_TENANT_END = chr(ord(TENANT_END) + 1)


@dataclass(frozen=True)
class Tenant:
    """A tenant the app works in: its id (a GUID; `home` when the home tenant's id is not configured)."""

    id: str
    home: bool

    @property
    def prefix(self) -> str:
        return "" if self.home else f"{TENANT_MARK}{self.id}{TENANT_END}"

    def partition(self, key: str) -> str:
        """The PartitionKey of this tenant's row for `key`. A home key never starts with TENANT_MARK, so a caller's
        key that does (an id such as `~<tenant>|<monitor>`) names no home row, and cannot reach another tenant's."""
        if self.home and key.startswith(TENANT_MARK):
            raise errors.NotFound(f"no row for {key[:80]!r}: ids never start with {TENANT_MARK!r}")
        return self.prefix + key

    def unscoped(self, partition: str) -> str:
        """The key a PartitionKey of this tenant was made from."""
        return partition[len(self.prefix) :]

    def range_filter(self) -> tuple[str, dict[str, Any]]:
        """An OData clause and its parameters that hold a cross-partition query to this tenant's rows."""
        if self.home:
            return "PartitionKey lt @tenant_end", {"tenant_end": TENANT_MARK}
        start = f"{TENANT_MARK}{self.id}"
        return (
            "PartitionKey ge @tenant_start and PartitionKey lt @tenant_end",
            {"tenant_start": start + TENANT_END, "tenant_end": start + AFTER_TENANT_END},
        )


_current: ContextVar[Tenant | None] = ContextVar("tenant", default=None)


def home_tenant(settings: Settings) -> Tenant:
    return Tenant(settings.home_tenant_id or HOME_ALIAS, home=True)


def current(settings: Settings) -> Tenant:
    """The tenant of the work in progress: the one `scoped` set, else the home tenant."""
    return _current.get() or home_tenant(settings)


@contextlib.contextmanager
def scoped(tenant: Tenant) -> Iterator[Tenant]:
    """Run the block (and the tasks it starts) for `tenant`."""
    token = _current.set(tenant)
    try:
        yield tenant
    finally:
        _current.reset(token)


def parse_tenant_id(settings: Settings, value: str, field: str = "tenantId") -> Tenant:
    """A tenant id from a caller: a GUID (the home tenant's own id names the home tenant) or `home`."""
    candidate = (value or "").strip().lower()
    home = home_tenant(settings)
    if candidate in (HOME_ALIAS, home.id):
        return home
    if not GUID.fullmatch(candidate):
        raise errors.ValidationFailed(
            [errors.FieldError(field, "must be a tenant id (a GUID such as 00000000-0000-0000-0000-000000000000)")]
        )
    return Tenant(candidate, home=False)
