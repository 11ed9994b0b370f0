"""Timer trigger, wiring only: one reconcile tick on SNAPSHOT_POLL_SCHEDULE (the logic is snapshot.usecases.poll)."""

from __future__ import annotations

import azure.functions as func

from snapshot.usecases import poll

bp = func.Blueprint()


@bp.function_name("poll_snapshots")
@bp.timer_trigger(arg_name="timer", schedule="%SNAPSHOT_POLL_SCHEDULE%", run_on_startup=False, use_monitor=True)
async def poll_snapshots(timer: func.TimerRequest) -> None:
    await poll.poll()
