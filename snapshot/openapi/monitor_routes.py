"""The monitor and drift routes of the HTTP API, in the same table format as routes.py."""

from __future__ import annotations

from snapshot.openapi.contract import (
    CONTINUATION_TOKEN,
    LOCATION,
    MONITORS,
    TOP,
    Answer,
    Parameter,
    Route,
    problem,
    problems,
)

OVER_BUDGET = problem(422, "Over the daily budget, or refused by Microsoft Graph (its text in `detail`).")

MONITOR_ROUTES = (
    Route(
        "POST",
        "/snapshots/{id}/monitor",
        "create_monitor",
        MONITORS,
        "Create a Graph monitor whose baseline is built from a stored snapshot",
        description=(
            "One baseline entry per selected stored resource: the type's key property and `Ensure` always, the "
            "other properties all or as listed; ids, nulls, OData annotations and placeholders dropped. Graph's "
            "monitor list and baselines are read first: 409 at 30 monitors, 422 when the baselines would pass "
            "800 monitored resources a day (instances x 4 runs); `limits` gives the numbers."
        ),
        body="MonitorRequest",
        answers=(
            Answer(201, "Created.", "MonitorView", headers=(LOCATION,)),
            *problems(400, 404, 409, 413, 415, 502, 503),
            OVER_BUDGET,
        ),
    ),
    Route(
        "GET",
        "/monitors",
        "list_monitors",
        MONITORS,
        "List Graph's monitors (also those created elsewhere) and the daily budget they use",
        answers=(Answer(200, "Monitors and budget.", "MonitorList"), *problems(502, 503)),
    ),
    Route(
        "GET",
        "/monitors/{id}",
        "get_monitor",
        MONITORS,
        "Get a monitor, its baseline summary and its last run",
        answers=(Answer(200, "The monitor.", "MonitorView"), *problems(404, 502, 503)),
    ),
    Route(
        "DELETE",
        "/monitors/{id}",
        "delete_monitor",
        MONITORS,
        "Delete a monitor in Graph (its drift history stays here)",
        answers=(Answer(204, "Deleted."), *problems(404, 502, 503)),
    ),
    Route(
        "POST",
        "/monitors/{id}/baseline",
        "rebaseline_monitor",
        MONITORS,
        "Replace a monitor's baseline with one from a newer stored snapshot",
        description="Graph deletes a monitor's drifts and results when its baseline changes: they are recorded first.",
        body="RebaselineRequest",
        answers=(
            Answer(200, "The monitor with its new baseline.", "MonitorView"),
            *problems(400, 404, 409, 413, 415, 502, 503),
            OVER_BUDGET,
        ),
    ),
    Route(
        "GET",
        "/monitors/{id}/runs",
        "list_monitor_runs",
        MONITORS,
        "List a monitor's runs kept here, newest first (`driftsCount` null: the run failed, count unknown)",
        parameters=(TOP, CONTINUATION_TOKEN),
        answers=(Answer(200, "One page of runs.", "RunPage"), *problems(400, 503)),
    ),
    Route(
        "GET",
        "/drifts",
        "list_drifts",
        MONITORS,
        "List the drifts kept here (Graph forgets fixed ones after 30 days; this app does not)",
        parameters=(
            Parameter(
                "status",
                "query",
                {"type": "string", "enum": ["active", "fixed", "all"], "default": "all"},
                "Active drifts, fixed ones (reported fixed, or vanished from Graph), or all.",
            ),
            Parameter("monitorId", "query", {"type": "string"}, "Only this monitor's drifts."),
            Parameter("resourceType", "query", {"type": "string"}, "Only drifts of this type."),
            TOP,
            CONTINUATION_TOKEN,
        ),
        answers=(Answer(200, "One page of drifts.", "DriftPage"), *problems(400, 503)),
    ),
)
