"""Helpers shared by the tests: the stack's environment, table clean-up, stored rows, function bindings."""

from __future__ import annotations

import functools
import json
from typing import Any

import httpx
import pytest

from devtools import services
from snapshot.content.document import resource_from_entities
from snapshot.content.rowkeys import is_part_key, part_keys
from snapshot.settings import get_settings, load_settings
from snapshot.store import Store

LOG_DIR = services.ROOT / ".local" / "test-logs"
E2E_TABLE_PREFIX = "Endtoend"


def stack_environment(
    azurite_port: int, emulator: services.Service, table_prefix: str, queue_port: int
) -> dict[str, str]:
    """The app's settings pointed at this Azurite (tables and queues) and this emulator, with
    tables named by `table_prefix`."""
    return {
        **services.emulator_env(emulator.port, emulator.https_port),
        "AzureWebJobsStorage": services.azurite_connection_string(azurite_port, queue_port),
        "SNAPSHOT_TABLE_PREFIX": table_prefix,
        "SNAPSHOT_RETRY_AFTER_SECONDS": "1",
    }


# A schedule that never fires in a test run: tests run the timers through the host's admin endpoint.
NEVER = "0 0 0 1 1 *"


def host_environment(
    azurite_port: int, emulator: services.Service, table_prefix: str, queue_port: int
) -> dict[str, str]:
    """stack_environment for a host subprocess: every timer's schedule set (the host resolves %NAME% from
    the settings, as Azure does) to one that never fires, and the variables that would leak in blanked."""
    env = stack_environment(azurite_port, emulator, table_prefix, queue_port)
    env["SNAPSHOT_POLL_SCHEDULE"] = NEVER
    env["SNAPSHOT_DRIFT_POLL_SCHEDULE"] = NEVER
    for name in services.LEAKY_ENV:
        env[name] = ""
    return env


def clear_tables(azurite_port: int, prefix: str) -> None:
    """Empty every table the app keeps under `prefix` (the list comes from the settings, so none is missed)."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import TableServiceClient

    client = TableServiceClient.from_connection_string(services.azurite_connection_string(azurite_port))
    for name in load_settings({"SNAPSHOT_TABLE_PREFIX": prefix}).tables:
        table = client.get_table_client(name)
        try:
            keys = [(e["PartitionKey"], e["RowKey"]) for e in table.list_entities(select=["PartitionKey", "RowKey"])]
        except ResourceNotFoundError:
            continue
        for partition, row in keys:
            table.delete_entity(partition, row)


def use_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """Set one app setting for this test and make the app read its settings again."""
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()


# A timer that fans out, and the queue its messages go to: running the timer in a test also runs what it queued.
FANNED_OUT = {"poll_snapshots": "snapshot-poll", "poll_drifts": "snapshot-drifts"}


def run_function(api: httpx.Client, name: str) -> None:
    """Run a timer function now through the host's admin endpoint and wait for it; for a timer that fans out,
    then run its queue's messages to the end (the host's drain endpoint), so the test sees the tick's work."""
    response = api.post(f"/admin/functions/{name}", params={"wait": "true"}, json={"input": ""})
    assert response.status_code == 200, response.text
    if name in FANNED_OUT:
        drained = api.post(f"/admin/queues/{FANNED_OUT[name]}/drain")
        assert drained.status_code == 200, drained.text
        assert drained.json()["failed"] == 0, f"a fanned-out message failed: {drained.text}"


def take_snapshot(api: httpx.Client, name: str, resources: list[str]) -> str:
    """Start a snapshot over HTTP and run the poller once (the emulator finishes jobs at once): its id, stored."""
    response = api.post("/api/snapshots", json={"displayName": name, "resources": resources})
    assert response.status_code == 202, response.text
    run_function(api, "poll_snapshots")
    assert api.get(f"/api/snapshots/{response.json()['id']}").status_code == 200
    return str(response.json()["id"])


async def stored_resources(store: Store, job_id: str) -> list[dict[str, Any]]:
    """The raw resources rebuilt from the job's entities (heads and continuation parts), in document order."""
    heads: list[dict[str, Any]] = []
    parts: dict[str, dict[str, Any]] = {}
    async for entity in store.resources.scan(job_id):
        if is_part_key(entity["RowKey"]):
            parts[entity["RowKey"]] = dict(entity)
        else:
            heads.append(dict(entity))
    heads.sort(key=lambda head: head["Ordinal"])
    return [resource_from_entities(h, [parts[k] for k in part_keys(h)]) for h in heads]


@functools.cache  # get_functions() may be called once per app: a second call re-validates and fails
def bindings() -> dict[str, dict[str, Any]]:
    """Each function of function_app.app by name: its trigger binding as the Functions host reads it."""
    import function_app

    result = {}
    for fn in function_app.app.get_functions():
        trigger = json.loads(fn.get_function_json())["bindings"][0]
        result[str(fn.get_function_name())] = trigger
    return result
