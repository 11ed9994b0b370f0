"""What one poller tick did: counts the tick logs as one JSON line and tests read."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TickReport:
    seen: int = 0  # jobs Graph listed
    changed: int = 0  # tracked jobs whose status or details changed
    adopted: int = 0  # jobs Graph showed that the table did not know when this tick read it
    expired: int = 0  # tracked jobs Graph no longer has, content never stored
    downloaded: int = 0  # contents downloaded and stored
    handed_off: int = 0  # contents sent to be downloaded by their own queue message (usecases/downloads.py)
    resources_stored: int = 0
    failures: int = 0  # jobs whose reconcile or ingestion failed this tick (retried next tick)
    failed_jobs: list[str] = field(default_factory=list)  # "<job id>: <reason>", one per failure
    graph_calls: int = 0
    callbacks: int = 0  # completion callbacks attempted
    pruned: int = 0  # stored jobs deleted from Graph after its 7-day retention
    throttled: bool = False
    duration_ms: int = 0

    def fail(self, job_id: str, reason: str) -> None:
        self.failures += 1
        self.failed_jobs.append(f"{job_id}: {reason}")
