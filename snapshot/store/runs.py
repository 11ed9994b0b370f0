"""The runs table: one row per monitoring result, PartitionKey = monitor id, RowKey = `<inverted start ticks>_<id>`
so a monitor's runs read newest first; the same result always gets the same row."""

from __future__ import annotations

from datetime import UTC, datetime

from snapshot.monitoring import RunRecord
from snapshot.store.records import RecordTable, record_entity, record_of, upsert_all
from snapshot.store.tables import newest_first_key, read_page


def run_key(record: RunRecord) -> str:
    return newest_first_key(record.initiated or datetime(1970, 1, 1, tzinfo=UTC), record.id)


class RunTable(RecordTable):
    async def write(self, records: list[RunRecord]) -> None:
        table = await self._tables.get(self._name)
        partition = self._tenant.partition
        entities = [record_entity(partition(r.monitor_id), run_key(r), r, RunStatus=r.run_status) for r in records]
        await upsert_all(table, entities)

    async def page(self, monitor_id: str, top: int, continuation: str | None) -> tuple[list[RunRecord], str | None]:
        table = await self._tables.get(self._name)
        page = await read_page(
            table, "PartitionKey eq @m", {"m": self._tenant.partition(monitor_id)}, top, continuation
        )
        return [record_of(RunRecord, item) for item in page.items], page.continuation

    async def latest(self, monitor_id: str) -> RunRecord | None:
        runs, _ = await self.page(monitor_id, 1, None)
        return runs[0] if runs else None
