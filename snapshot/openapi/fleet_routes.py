"""The fleet routes of the HTTP API (snapshot/http_fleet.py), in the same table format as routes.py."""

from __future__ import annotations

from typing import get_args

from snapshot.fleet import OrderBy
from snapshot.models import IDEMPOTENCY_KEY_MAX
from snapshot.openapi.contract import (
    CONTINUATION_TOKEN,
    FLEET,
    LOCATION,
    RETRY_AFTER,
    Answer,
    Parameter,
    Route,
    problems,
)
from snapshot.openapi.fleet_schemas import FLEET_TOP_SCHEMA

ORDER_BY = Parameter(
    "orderBy",
    "query",
    {"type": "string", "enum": list(get_args(OrderBy)), "default": get_args(OrderBy)[0]},
    "deviations: most first; age: the oldest last snapshot first; name.",
)
FLEET_TOP = Parameter("top", "query", FLEET_TOP_SCHEMA, "Tenants per page.")
FLEET_HEADERS = tuple(
    Parameter(f"X-Fleet-{name}", "header", {"type": "integer", "minimum": 0}, f"Tenants in the {name.lower()} group.",
              required=True)
    for name in ("Attention", "Changed", "Quiet")
)  # fmt: skip
ROUND_POLL = (LOCATION, RETRY_AFTER)
ROUND_KEY = Parameter(
    "Idempotency-Key",
    "header",
    {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
    "Any caller-chosen key, e.g. the workflow run id; the same key returns the same round (the first body's).",
)

FLEET_ROUTES = (
    Route(
        "PUT",
        "/fleet/standard",
        "put_fleet_standard",
        FLEET,
        "Name the standard every tenant is compared with",
        description=(
            "A golden tenant's stored snapshot (`latest`: its newest, followed as new ones are stored) and the "
            "resource types compared. Every working tenant's summary is then computed again by a queue message."
        ),
        body="StandardRequest",
        answers=(Answer(200, "Set.", "FleetStandardSet"), *problems(400, 404, 409, 413, 415, 503)),
    ),
    Route(
        "GET",
        "/fleet/standard",
        "get_fleet_standard",
        FLEET,
        "The standard",
        answers=(Answer(200, "The standard.", "FleetStandard"), *problems(404, 503)),
    ),
    Route(
        "GET",
        "/fleet",
        "get_fleet",
        FLEET,
        "Every tenant at a glance: status, last snapshot, changes, deviations from the standard",
        description=(
            "Read from each tenant's stored summary (refreshed when a snapshot is stored), never from Microsoft "
            "Graph: a page costs the same few Table reads whatever the number of tenants."
        ),
        parameters=(ORDER_BY, FLEET_TOP, CONTINUATION_TOKEN),
        answers=(Answer(200, "A page of tenants.", "FleetPage"), *problems(400, 503)),
    ),
    Route(
        "GET",
        "/fleet/report",
        "get_fleet_report",
        FLEET,
        "The fleet as one self-contained HTML page",
        answers=(
            Answer(200, "The page; its group counts also in headers.", "FleetReport", "text/html", FLEET_HEADERS),
            *problems(503),
        ),
    ),
    Route(
        "POST",
        "/fleet/rounds",
        "start_fleet_round",
        FLEET,
        "Start a snapshot in every working tenant (a round)",
        description=(
            "One queue message per tenant starts its snapshot (once, whatever the deliveries). Answers 202 with "
            "`Location` (get_fleet_round) and `Retry-After`: the asynchronous pattern of a snapshot."
        ),
        parameters=(ROUND_KEY,),
        body="RoundRequest",
        answers=(
            Answer(202, "Started.", "FleetRound", headers=ROUND_POLL),
            Answer(200, "No working tenant: nothing to wait for.", "FleetRound"),
            *problems(400, 413, 415, 503),
        ),
    ),
    Route(
        "GET",
        "/fleet/rounds/{id}",
        "get_fleet_round",
        FLEET,
        "A round: 202 until every tenant's snapshot is stored, failed or timed out, then 200",
        answers=(
            Answer(202, "Tenants still open.", "FleetRound", headers=ROUND_POLL),
            Answer(200, "Every tenant's outcome.", "FleetRound"),
            *problems(404, 503),
        ),
    ),
)
