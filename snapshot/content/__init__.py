"""Snapshot content (Graph's configurationBaseline document) <-> Table Storage entities, as pure functions.

The content document is `{"@odata.context", "id", "displayName", "description", "parameters": [...],
"resources": [{"displayName", "resourceType", "properties": {...}}, ...]}`. It can hold 20,000 resources and
tens of MB, so `stream` reads it with ijson: the top-level keys without building `resources`, then one
resource at a time.

Each resource becomes one entity (PartitionKey = job id, RowKey = `rowkeys.row_key(type, name, occurrence)`)
whose properties are compact, key-sorted UTF-8 JSON split into binary columns `Properties0..` of at most
64,000 bytes (`entities`). A resource needing more than `entities.CHUNKS_PER_ENTITY` chunks continues in part
entities with RowKey `~part~<head row key>~<n:04d>`; heads all sort before `~`, so `RowKey lt '~'` selects
the heads only. The same input always gives the same entities, so re-running an ingestion rewrites the same
rows. `document` turns entities back into resources and streams the document out again.

Modules: `stream` (reading the document), `normalised` (one resource split for storage), `rowkeys` (RowKeys),
`entities` (resources -> entities), `document` (entities -> resources -> document).
"""
