"""The App Service managed-identity token endpoint, and the bearer-token check Graph makes on every call.

Tokens are never printed or logged.
"""

from __future__ import annotations

import secrets
import time

from aiohttp import web

from devtools.emulator.responses import GraphError

GRAPH_RESOURCE = "https://graph.microsoft.com"
DEFAULT_IDENTITY_HEADER = "local-identity-header"


class Identity:
    """The tokens issued so far; they outlive a control reset because clients cache them."""

    def __init__(self, header: str = DEFAULT_IDENTITY_HEADER) -> None:
        self.header = header
        self.tokens: dict[str, str] = {}  # token -> resource

    def issue_token(self, resource: str) -> str:
        token = secrets.token_urlsafe(32)
        self.tokens[token] = resource
        return token

    def graph_token_valid(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        return self.tokens.get(authorization[len("Bearer ") :].strip()) == GRAPH_RESOURCE


IDENTITY_KEY = web.AppKey("identity", Identity)


async def token_endpoint(request: web.Request) -> web.Response:
    """Issue a token the way App Service's IDENTITY_ENDPOINT does, if X-IDENTITY-HEADER is right."""
    identity = request.app[IDENTITY_KEY]
    if request.headers.get("X-IDENTITY-HEADER") != identity.header:
        return web.json_response(
            {"statusCode": 401, "message": "Unauthorized: the X-IDENTITY-HEADER header is missing or wrong"},
            status=401,
        )
    resource = request.query.get("resource", "")
    if not request.query.get("api-version") or not resource:
        return web.json_response({"statusCode": 400, "message": "api-version and resource are required"}, status=400)
    body = {
        "access_token": identity.issue_token(resource),
        "expires_on": str(int(time.time()) + 24 * 3600),
        "resource": resource,
        "token_type": "Bearer",
    }
    if "client_id" in request.query:
        body["client_id"] = request.query["client_id"]
    return web.json_response(body)


def require_graph_token(request: web.Request) -> None:
    """Refuse, as Graph does, a request without a bearer token issued for Graph."""
    if request.app[IDENTITY_KEY].graph_token_valid(request.headers.get("Authorization")):
        return
    message = (
        "Access token is empty."
        if "Authorization" not in request.headers
        else "Access token validation failure. Invalid audience."
    )
    raise GraphError(401, message, "InvalidAuthenticationToken")
