"""snapshot.content.document: resources rebuilt from entities, and the document streamed out again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from snapshot.content.document import assemble_resources, content_chunks, resource_from_entities
from snapshot.content.rowkeys import is_part_key
from tests.unit.content_samples import METADATA, as_json, big_resource, entities_of, realistic_resources, reassemble


async def test_assemble_resources_fetches_parts_by_key() -> None:
    resources = [realistic_resources()[2], big_resource(2 * 1024 * 1024)]
    entities = sorted(entities_of(resources), key=lambda e: e["RowKey"])
    by_key = {e["RowKey"]: e for e in entities}
    fetched: list[str] = []

    async def query() -> AsyncIterator[dict[str, Any]]:
        for entity in entities:
            yield entity

    async def fetch(key: str) -> dict[str, Any]:
        fetched.append(key)
        return by_key[key]

    rebuilt = [r async for r in assemble_resources(query(), fetch)]

    def canonical(items: list[dict[str, Any]]) -> list[str]:
        return sorted(json.dumps(item, sort_keys=True) for item in items)

    assert canonical(rebuilt) == canonical(resources)
    assert fetched and all(is_part_key(k) for k in fetched)


def test_binary_columns_may_come_back_base64() -> None:
    import base64

    [head] = entities_of([realistic_resources()[0]])
    encoded = {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in head.items()}
    assert resource_from_entities(encoded) == realistic_resources()[0]


async def collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


async def test_content_chunks_rebuild_the_document() -> None:
    resources = [*realistic_resources(), big_resource(300 * 1024)]
    entities = entities_of(resources)

    async def stored() -> AsyncIterator[dict[str, Any]]:
        for resource in reassemble(entities):
            yield resource

    chunks = await collect(content_chunks(METADATA, stored()))
    assert len(chunks) > 1
    assert all(isinstance(chunk, bytes) for chunk in chunks)
    rebuilt = json.loads(b"".join(chunks))
    assert rebuilt == as_json({**METADATA, "resources": resources})


async def test_content_chunks_with_no_metadata_or_resources() -> None:
    async def nothing() -> AsyncIterator[dict[str, Any]]:
        empty: list[dict[str, Any]] = []
        for item in empty:
            yield item

    assert json.loads(b"".join(await collect(content_chunks({}, nothing())))) == {"resources": []}
    ignored = {"resources": [1], "id": "x"}
    assert json.loads(b"".join(await collect(content_chunks(ignored, nothing())))) == {"id": "x", "resources": []}
