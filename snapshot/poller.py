"""Timer triggers, wiring only: the snapshot tick (snapshot.usecases.poll) and the drift poll (snapshot.usecases.drifts)."""

from __future__ import annotations

import azure.functions as func

from snapshot.usecases import drifts, poll

bp = func.Blueprint()


@bp.function_name("poll_snapshots")
@bp.timer_trigger(arg_name="timer", schedule="%SNAPSHOT_POLL_SCHEDULE%", run_on_startup=False, use_monitor=True)
async def poll_snapshots(timer: func.TimerRequest) -> None:
    await poll.poll()


@bp.function_name("poll_drifts")
@bp.timer_trigger(arg_name="timer", schedule="%SNAPSHOT_DRIFT_POLL_SCHEDULE%", run_on_startup=False, use_monitor=True)
async def poll_drifts(timer: func.TimerRequest) -> None:
    await drifts.poll_drifts()
