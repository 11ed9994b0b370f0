"""HTTP triggers of the fleet, wiring only: the standard, the fleet's summary page (JSON and HTML) and rounds."""

from __future__ import annotations

from datetime import UTC, datetime

import azure.functions as func

from snapshot.fleet import StandardRequest, group_counts, ordered, row_view
from snapshot.http_support import api_base, handled, json_response, next_link, read_json_body, round_url
from snapshot.models import parse_body, parse_idempotency_key
from snapshot.report import fleet_page
from snapshot.rounds import Member, Round, RoundRequest, round_view
from snapshot.settings import get_settings
from snapshot.usecases import fleet, rounds

bp = func.Blueprint()
LEVEL = func.AuthLevel.FUNCTION


@bp.function_name("put_fleet_standard")
@bp.route(route="fleet/standard", methods=["PUT"], auth_level=LEVEL)
@handled
async def put_fleet_standard(req: func.HttpRequest) -> func.HttpResponse:
    standard, queued = await fleet.set_standard(parse_body(StandardRequest, read_json_body(req)))
    return json_response({**standard.view(), "summariesQueued": queued})


@bp.function_name("get_fleet_standard")
@bp.route(route="fleet/standard", methods=["GET"], auth_level=LEVEL)
@handled
async def get_fleet_standard(req: func.HttpRequest) -> func.HttpResponse:
    return json_response((await fleet.get_standard()).view())


@bp.function_name("get_fleet")
@bp.route(route="fleet", methods=["GET"], auth_level=LEVEL)
@handled
async def get_fleet(req: func.HttpRequest) -> func.HttpResponse:
    """One page of tenants, `orderBy` deviations (default), age or name, from stored summaries only."""
    params = req.params
    page = await fleet.page(params.get("orderBy"), params.get("top"), params.get("continuationToken"))
    now, base = datetime.now(UTC), api_base(req)
    return json_response({
        "count": page.count,
        "groups": page.groups,
        "standard": page.standard.view() if page.standard else None,
        "value": [row_view(row, base, now) for row in page.rows],
        "continuationToken": page.continuation,
        "nextLink": next_link(req, page.continuation),
    })  # fmt: skip


@bp.function_name("get_fleet_report")
@bp.route(route="fleet/report", methods=["GET"], auth_level=LEVEL)
@handled
async def get_fleet_report(req: func.HttpRequest) -> func.HttpResponse:
    """Every tenant on one HTML page; the group counts also in headers, so a Logic App can decide to send it."""
    rows, standard = await fleet.fleet_rows()
    now, base = datetime.now(UTC), api_base(req)
    views = [row_view(row, base, now) for row in ordered(rows, "deviations")]
    html = fleet_page.page(views, standard.view() if standard else None, now)
    headers = {f"X-Fleet-{group.capitalize()}": str(count) for group, count in group_counts(rows).items()}
    return func.HttpResponse(html, status_code=200, headers=headers, mimetype="text/html", charset="utf-8")


@bp.function_name("start_fleet_round")
@bp.route(route="fleet/rounds", methods=["POST"], auth_level=LEVEL)
@handled
async def start_fleet_round(req: func.HttpRequest) -> func.HttpResponse:
    """A snapshot in every working tenant (one queue message each); 202 with where to poll, as a snapshot."""
    request = parse_body(RoundRequest, read_json_body(req))
    round_, members = await rounds.start_round(request, parse_idempotency_key(req.headers.get("idempotency-key")))
    return await _round_response(req, round_, members)


@bp.function_name("get_fleet_round")
@bp.route(route="fleet/rounds/{id}", methods=["GET"], auth_level=LEVEL)
@handled
async def get_fleet_round(req: func.HttpRequest) -> func.HttpResponse:
    """202 until every tenant's snapshot is stored, failed or timed out; then 200 with the outcome per tenant."""
    round_, members = await rounds.status(req.route_params["id"])
    return await _round_response(req, round_, members)


async def _round_response(req: func.HttpRequest, round_: Round, members: list[Member]) -> func.HttpResponse:
    url = round_url(req, round_.id)
    pending = await rounds.summaries_pending(round_, members)
    keyless = f"{api_base(req)}/fleet/rounds/{round_.id}"  # no key in a body
    view = round_view(round_, members, keyless, datetime.now(UTC), pending)
    if view["status"] == "completed":
        return json_response(view)
    return json_response(view, 202, {"Location": url, "Retry-After": str(get_settings().retry_after_seconds)})
