"""Helpers shared by tests that read what the app stored."""

from __future__ import annotations

import functools
import json
from typing import Any

from snapshot.content.document import resource_from_entities
from snapshot.content.rowkeys import is_part_key, part_keys
from snapshot.store import TableStore


async def stored_resources(store: TableStore, job_id: str) -> list[dict[str, Any]]:
    """The raw resources rebuilt from the job's entities (heads and continuation parts), in document order."""
    heads: list[dict[str, Any]] = []
    parts: dict[str, dict[str, Any]] = {}
    async for entity in store.iter_resources(job_id):
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
