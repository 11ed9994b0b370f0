"""The process-wide clients: a Graph UTCM client per tenant and one table service, rebuilt when the settings change.

`graph()` and `store()` answer for the current tenant (snapshot/tenancy.py): the home tenant unless a trigger
scoped the work to another. The Graph clients of the most recently used tenants are kept (each holds its own
token cache and connection pool); one evicted is closed, and made again with a new credential when needed.

msgraph is imported here, lazily, and nowhere else on a cold path: status reads and health never pay for it.
The Functions worker has no shutdown hook, so the clients are closed when their event loop shuts down
(`loop.shutdown_asyncgens()`, which asyncio.run calls before closing the loop): no aiohttp session is left
for the garbage collector to report as "Unclosed client session".
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from snapshot import errors, tenancy
from snapshot.recent import Recent
from snapshot.settings import IDENTITY_CLIENT_OPTIONS, Settings, get_settings
from snapshot.store import Store
from snapshot.tenancy import Tenant

if TYPE_CHECKING:
    from azure.identity.aio import ManagedIdentityCredential

    from snapshot.graph import UtcmClient
    from snapshot.identity import TokenShelf
    from snapshot.monitor_graph import MonitorGraph
    from snapshot.queues import Queues


class Closable(Protocol):
    settings: Settings

    async def close(self) -> None: ...


T = TypeVar("T", bound=Closable)


class ProcessWide(Generic[T]):
    """One instance per process, made by `factory` on first use and again when the settings change."""

    def __init__(self, factory: Callable[[Settings], T]) -> None:
        self._factory = factory
        self._instance: T | None = None
        self._frozen = False

    def get(self, settings: Settings) -> T:
        current = self._instance
        # `is` first: every read asks, and comparing two settings models field by field is what costs
        if current is None or (current.settings is not settings and current.settings != settings):
            if current is not None:
                _close_soon(current)
            current = self._instance = self._factory(settings)
            _close_with_loop()
            if not self._frozen:
                self._frozen = True
                freeze_long_lived()
        return current

    async def reset(self) -> None:
        """Close and forget the instance."""
        if self._instance is not None:
            with contextlib.suppress(Exception):
                await self._instance.close()
        self._instance = None


def freeze_long_lived() -> None:
    """Move every object alive now out of the garbage collector's reach (`gc.freeze()`, Python's documented API).

    Once the first client of a kind is built, what the process holds (the SDKs' modules and classes: ~85,000
    objects, more once msgraph is loaded) lives as long as the process. Left tracked, each full collection scans
    all of it again: one such collection took ~45 ms of a 1,000-resource tick (bench/RESULTS.md). Frozen
    objects are still freed by reference counting; only cycles among them would outlive their use.
    """
    gc.freeze()


GRAPH_CLIENTS_KEPT = 64  # tenants polled at once by one instance are at most a few queue batches


class TenantGraphs:
    """The Graph clients of the tenants: the managed identity in the home tenant, `FederatedCredential` elsewhere
    (sharing one managed-identity credential for the exchange token).

    The most recently used GRAPH_CLIENTS_KEPT are kept; an older one is closed, unless work in its tenant is
    still running (`hold`, which `working_in` takes) or it is the home tenant's: a long poll never has its
    client closed under it by the tenants polled after it started.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._held: Counter[str] = Counter()
        self._home = tenancy.home_tenant(settings).id
        self._clients: Recent[str, UtcmClient] = Recent(GRAPH_CLIENTS_KEPT, on_evict=_close_soon, keep=self._in_use)
        self._exchange: ManagedIdentityCredential | None = None
        self._tokens: TokenShelf | None = None  # made with the first FederatedCredential (azure-identity is lazy)

    def _in_use(self, tenant_id: str) -> bool:
        return tenant_id == self._home or self._held[tenant_id] > 0

    @contextlib.contextmanager
    def hold(self, tenant: Tenant) -> Iterator[None]:
        self._held[tenant.id] += 1
        try:
            yield
        finally:
            self._held[tenant.id] -= 1
            if self._held[tenant.id] <= 0:
                del self._held[tenant.id]

    def get(self, tenant: Tenant) -> UtcmClient:
        return self._clients.get_or_make(tenant.id, lambda: self._make(tenant))

    def _make(self, tenant: Tenant) -> UtcmClient:
        from snapshot.graph import UtcmClient

        if tenant.home:
            return UtcmClient(self.settings)
        refusal = self.refusal(tenant)
        if refusal is not None:
            raise refusal
        from snapshot.identity import FederatedCredential, TokenShelf

        self._tokens = self._tokens or TokenShelf()
        credential = FederatedCredential(self.settings, tenant, self._exchange_identity(), self._tokens)
        return UtcmClient(self.settings, credential)

    def refusal(self, tenant: Tenant) -> errors.TenancyIsSingle | None:
        """Why this deployment cannot reach the tenant (None: it can). The one place the tenancy mode decides."""
        if tenant.home or self.settings.tenancy == "multi":
            return None
        return errors.TenancyIsSingle(
            "this deployment serves its home tenant only: deploy it with tenancy=multi (SNAPSHOT_TENANCY=multi "
            "and SNAPSHOT_APP_CLIENT_ID) to register other tenants"
        )

    def _exchange_identity(self) -> ManagedIdentityCredential:
        if self._exchange is None:
            from azure.identity.aio import ManagedIdentityCredential

            self._exchange = ManagedIdentityCredential(
                client_id=self.settings.azure_client_id, **IDENTITY_CLIENT_OPTIONS
            )
        return self._exchange

    async def close(self) -> None:
        clients, exchange = self._clients.values(), self._exchange
        self._clients.clear()
        self._exchange = None
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
        if exchange is not None:
            await exchange.close()


def _make_queues(settings: Settings) -> Queues:
    from snapshot.queues import Queues

    return Queues(settings)


# azure-core pipeline options for the Table clients (the bench counts requests with a raw_request_hook).
STORE_CLIENT_OPTIONS: dict[str, Any] = {}

_graphs: ProcessWide[TenantGraphs] = ProcessWide(TenantGraphs)
_store: ProcessWide[Store] = ProcessWide(lambda settings: Store(settings, **STORE_CLIENT_OPTIONS))
_queues: ProcessWide[Queues] = ProcessWide(_make_queues)


def graph(settings: Settings | None = None) -> UtcmClient:
    """The current tenant's Graph client."""
    settings = settings or get_settings()
    return _graphs.get(settings).get(tenancy.current(settings))


def monitor_graph(settings: Settings | None = None) -> MonitorGraph:
    """The monitor API on the process-wide Graph client (same adapter, token and call counter)."""
    from snapshot.monitor_graph import MonitorGraph

    return MonitorGraph(graph(settings))


@contextlib.contextmanager
def working_in(tenant: Tenant, settings: Settings | None = None) -> Iterator[Tenant]:
    """Run the block for `tenant` (tenancy.scoped), its Graph client kept open until the block ends."""
    with _graphs.get(settings or get_settings()).hold(tenant), tenancy.scoped(tenant):
        yield tenant


def current_tenant(settings: Settings | None = None) -> Tenant:
    """The tenant of the work in progress: the one `working_in` set, else the home tenant."""
    return tenancy.current(settings or get_settings())


def tenant_named(value: str, settings: Settings | None = None) -> Tenant:
    """The tenant a caller's or a message's id names (`home` or the home tenant's id: the home tenant);
    ValidationFailed when it is not a tenant id."""
    return tenancy.parse_tenant_id(settings or get_settings(), value)


def graph_of(tenant: Tenant, settings: Settings | None = None) -> UtcmClient:
    """That tenant's Graph client (made, not called): TenancyIsSingle for another tenant than home in single mode."""
    return _graphs.get(settings or get_settings()).get(tenant)


def reaches(tenant: Tenant, settings: Settings | None = None) -> bool:
    """Whether this deployment can reach the tenant at all (a tenant left from a multi deployment: no)."""
    return _graphs.get(settings or get_settings()).refusal(tenant) is None


def queues(settings: Settings | None = None) -> Queues:
    """The work queues (the fan-out's)."""
    return _queues.get(settings or get_settings())


def store(settings: Settings | None = None) -> Store:
    """The current tenant's rows (the home tenant's Store shares its table service with every other tenant's)."""
    settings = settings or get_settings()
    root = _store.get(settings)
    tenant = tenancy.current(settings)
    return root if tenant == root.tenant else root.for_tenant(tenant)


async def close_all() -> None:
    """Close and forget both clients (tests switch settings between cases)."""
    await _graphs.reset()
    await _store.reset()
    await _queues.reset()


_loop_guards: dict[int, AsyncIterator[None]] = {}  # id(loop) -> its guard; a strong reference keeps it alive
_closing: set[asyncio.Task[None]] = set()


def _close_with_loop() -> None:
    """Have the running loop close the clients as it shuts down: an async generator it finalises then."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    if id(loop) in _loop_guards:
        return

    async def guard() -> AsyncIterator[None]:
        try:
            yield
        finally:
            _loop_guards.pop(id(loop), None)
            await close_all()

    _loop_guards[id(loop)] = agen = guard()
    with contextlib.suppress(StopIteration):  # run it to its yield: the loop now tracks it
        agen.asend(None).send(None)  # type: ignore[attr-defined]


def _close_soon(instance: Closable) -> None:
    """Close a client replaced after a settings change, without making the caller wait."""
    with contextlib.suppress(RuntimeError):  # no running loop: nothing can be awaited here
        task = asyncio.get_running_loop().create_task(instance.close())
        _closing.add(task)
        task.add_done_callback(_closing.discard)
