"""The tenant routes (onboarding and the registry) and the tenant-scoped copy of every tenant route.

Every route of a tenant's data (snapshots, diffs, reports, resources, content, quota, monitors, drifts, runs)
also exists under `/tenants/{tenantId}`, as its own operation (`tenant_<function>`), so a Logic App connector
can pick the tenant; the unscoped routes keep serving the home tenant.
"""

from __future__ import annotations

from dataclasses import replace

from snapshot.openapi.contract import (
    PROBLEM_MEDIA_TYPE,
    RETRY_LATER,
    TENANTS,
    Answer,
    Parameter,
    Route,
    problem,
    problems,
)

SCOPE_PREFIX = "/tenants/{tenantId}"
SCOPED_FUNCTION_PREFIX = "tenant_"
UNSCOPED = frozenset({"health", "openapi", "swagger", "list_resource_types"})  # not any tenant's data
NO_SUCH_TENANT = problem(404, "No such tenant registered (or it was removed).")
TENANT_REFUSED = problem(
    409, "Entra does not issue the app a token in this tenant (consent pending, see GET /tenants/{tenantId})."
)
PURGE = Parameter(
    "purge", "query", {"type": "string", "enum": ["true", "false"]}, "Also delete the tenant's stored history."
)
REFRESH = Parameter(
    "refresh", "query", {"type": "string", "enum": ["true", "false"]}, "Probe the tenant again before answering."
)

TENANT_ROUTES = (
    Route(
        "POST",
        "/tenants",
        "register_tenant",
        TENANTS,
        "Register a customer tenant (multi-tenant mode) and probe it",
        description=(
            "Answers with the tenant's status, decided from what the probe observed (a token from Entra, then one "
            "Graph list call), its admin consent URL and the steps its admin still owes."
        ),
        body="RegisterTenantRequest",
        answers=(
            Answer(201, "Registered.", "Tenant"),
            Answer(200, "Already registered (display name updated, probed again).", "Tenant"),
            *problems(400, 409, 413, 415, 503),
        ),
    ),
    Route(
        "GET",
        "/tenants",
        "list_tenants",
        TENANTS,
        "List the tenants, the home tenant first",
        answers=(Answer(200, "The tenants.", "TenantList"), *problems(503)),
    ),
    Route(
        "GET",
        "/tenants/{tenantId}",
        "get_tenant",
        TENANTS,
        "A tenant's status and what its admin still owes",
        parameters=(REFRESH,),
        answers=(Answer(200, "The tenant.", "Tenant"), *problems(400, 404, 503)),
    ),
    Route(
        "DELETE",
        "/tenants/{tenantId}",
        "delete_tenant",
        TENANTS,
        "Stop all work for a tenant (its history is kept unless purge=true)",
        description=(
            "The tenant is marked removed at once, so no new work starts. With purge=true its rows are deleted "
            "too, unless a queue message claimed before the removal has not run yet: then 409 with Retry-After "
            "(the tenant stays removed; purge again). A purge of a tenant already purged deletes what is left."
        ),
        parameters=(PURGE,),
        answers=(
            Answer(204, "Removed (and, with purge=true, its rows deleted)."),
            Answer(
                409,
                "Purge waits: work claimed before the removal has not run yet (the tenant stays removed).",
                "Problem",
                PROBLEM_MEDIA_TYPE,
                (RETRY_LATER,),
            ),
            *problems(400, 404, 503),
        ),
    ),
)


def scoped(route: Route) -> Route:
    """The same operation in one tenant: the tenant's 404 and token refusal added to its answers."""
    statuses = {answer.status for answer in route.answers}
    extra = tuple(answer for answer in (NO_SUCH_TENANT, TENANT_REFUSED) if answer.status not in statuses)
    return replace(
        route,
        path=SCOPE_PREFIX + route.path,
        function=SCOPED_FUNCTION_PREFIX + route.function,
        answers=(*route.answers, *extra),
    )


def scoped_routes(routes: tuple[Route, ...]) -> tuple[Route, ...]:
    return tuple(scoped(route) for route in routes if route.function not in UNSCOPED)
