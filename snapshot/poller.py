"""Timer and queue triggers, wiring only (docs/tenants.md "Fan-out on Storage Queues").

The timers fan out: each tick enqueues one message per tenant (snapshot.usecases.fanout). The queue triggers
do one tenant's work per message, and the poison-queue triggers mark a tenant whose message kept failing.
"""

from __future__ import annotations

import azure.functions as func

from snapshot.queues import DRIFTS_QUEUE, POISON_SUFFIX, POLL_QUEUE, QUEUE_CONNECTION
from snapshot.usecases import fanout

bp = func.Blueprint()


@bp.function_name("poll_snapshots")
@bp.timer_trigger(arg_name="timer", schedule="%SNAPSHOT_POLL_SCHEDULE%", run_on_startup=False, use_monitor=True)
async def poll_snapshots(timer: func.TimerRequest) -> None:
    await fanout.enqueue("poll")


@bp.function_name("poll_drifts")
@bp.timer_trigger(arg_name="timer", schedule="%SNAPSHOT_DRIFT_POLL_SCHEDULE%", run_on_startup=False, use_monitor=True)
async def poll_drifts(timer: func.TimerRequest) -> None:
    await fanout.enqueue("drifts")


@bp.function_name("poll_tenant")
@bp.queue_trigger(arg_name="msg", queue_name=POLL_QUEUE, connection=QUEUE_CONNECTION)
async def poll_tenant(msg: func.QueueMessage) -> None:
    await fanout.run(msg.get_body().decode("utf-8"))


@bp.function_name("poll_tenant_drifts")
@bp.queue_trigger(arg_name="msg", queue_name=DRIFTS_QUEUE, connection=QUEUE_CONNECTION)
async def poll_tenant_drifts(msg: func.QueueMessage) -> None:
    await fanout.run(msg.get_body().decode("utf-8"))


@bp.function_name("tenant_poll_poisoned")
@bp.queue_trigger(arg_name="msg", queue_name=POLL_QUEUE + POISON_SUFFIX, connection=QUEUE_CONNECTION)
async def tenant_poll_poisoned(msg: func.QueueMessage) -> None:
    await fanout.poisoned(msg.get_body().decode("utf-8"))


@bp.function_name("tenant_drifts_poisoned")
@bp.queue_trigger(arg_name="msg", queue_name=DRIFTS_QUEUE + POISON_SUFFIX, connection=QUEUE_CONNECTION)
async def tenant_drifts_poisoned(msg: func.QueueMessage) -> None:
    await fanout.poisoned(msg.get_body().decode("utf-8"))
