"""Storage keyed by tenant, on Azurite: one tenant's Store never reads or deletes another's rows, the home
tenant's rows keep the keys they had before tenants existed, and a purge takes one tenant's rows only."""

from __future__ import annotations

from datetime import UTC, datetime

from snapshot import clients, tenancy
from snapshot.models import JobRecord
from snapshot.monitoring import DriftRecord
from snapshot.store import Store
from snapshot.store.jobs import JOBS_PARTITION
from snapshot.store.purge import purge_rows
from snapshot.tenancy import Tenant
from tests.support.inprocess import all_rows

A = Tenant("7e1a0000-0000-4000-8000-0000000000c1", home=False)
B = Tenant("7e1a0000-0000-4000-8000-0000000000c2", home=False)


def job(job_id: str) -> JobRecord:
    return JobRecord.model_validate(
        {"id": job_id, "display_name": f"job {job_id}", "status": "running", "created": datetime.now(UTC)}
    )


def drift(monitor_id: str, drift_id: str) -> DriftRecord:
    return DriftRecord.model_validate(
        {"id": drift_id, "monitor_id": monitor_id, "resource_type": "microsoft.entra.user", "status": "active"}
    )


async def test_each_tenant_reads_its_own_rows_only(app_env: dict[str, str]) -> None:
    home = clients.store()
    with tenancy.scoped(A):
        a = clients.store()
    b = home.for_tenant(B)
    for store, name in ((home, "home-job"), (a, "a-job"), (b, "b-job")):
        await store.jobs.insert(job(name))
        await store.ledger.record("2026-12", name, 10)
    assert [r.id for r in await home.jobs.all()] == ["home-job"]
    assert [r.id for r in await a.jobs.all()] == ["a-job"]
    assert await b.jobs.get("a-job") is None and await b.jobs.get("home-job") is None
    page, _ = await a.jobs.page(None, 10, None)
    assert [r.id for r in page] == ["a-job"]
    assert (await home.ledger.used("2026-12"), await a.ledger.used("2026-12")) == (10, 10)

    rows = await all_rows(home, home.settings.tables.jobs)
    partitions = {row["PartitionKey"] for row in rows}
    # the home tenant keeps the key it always had; the others name their tenant in it
    assert partitions == {JOBS_PARTITION, f"~{A.id}|{JOBS_PARTITION}", f"~{B.id}|{JOBS_PARTITION}"}


async def test_cross_monitor_drift_queries_stay_in_the_tenant(app_env: dict[str, str]) -> None:
    home = clients.store()
    a, b = home.for_tenant(A), home.for_tenant(B)
    await home.drifts.write([drift("m-home", "d1")])
    await a.drifts.write([drift("m-a", "d2")])
    await b.drifts.write([drift("m-b", "d3")])
    assert [d.id for d in await a.drifts.active()] == ["d2"]
    assert [d.id for d in await home.drifts.active()] == ["d1"]
    page, _ = await b.drifts.page("active", None, None, 10, None)
    assert [d.id for d in page] == ["d3"]
    assert [d.id for d in (await b.drifts.page(None, "m-a", None, 10, None))[0]] == []


async def test_a_purge_deletes_one_tenants_rows_and_can_run_again(app_env: dict[str, str]) -> None:
    home = clients.store()
    a, b = home.for_tenant(A), home.for_tenant(B)
    for store in (home, a, b):
        await store.jobs.insert(job("same-id"))
        await store.drifts.write([drift("m", "d")])
    names = [home.settings.tables.jobs, home.settings.tables.drifts]
    assert await purge_rows(home.tables, names, A) == 3  # record + listing row + drift
    assert await purge_rows(home.tables, names, A) == 0
    assert await a.jobs.get("same-id") is None
    assert await b.jobs.get("same-id") is not None and await home.jobs.get("same-id") is not None
    assert [d.id for d in await b.drifts.active()] == ["d"]


def test_a_store_made_for_a_tenant_keeps_that_tenant(app_env: dict[str, str]) -> None:
    store = Store(clients.store().settings, A, clients.store().tables)
    assert store.tenant == A and store.resources.partition_of("job") == f"~{A.id}|job"


def test_a_home_key_that_names_another_tenants_partition_is_refused() -> None:
    """GET /api/monitors/~<tenant>|<id>/runs must not read that tenant's runs through the home tenant's keys."""
    import pytest

    from snapshot import errors

    home = Tenant("home", home=True)
    assert home.partition("m1") == "m1"
    with pytest.raises(errors.NotFound):
        home.partition(A.partition("m1"))
    assert A.partition("m1") == f"~{A.id}|m1"
