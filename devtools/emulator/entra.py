"""The per-tenant token endpoint of the multi-tenant app registration, and the middleware that tells each Graph
request's tenant from its token.

`POST /{tenant}/oauth2/v2.0/token` (client credentials with a client assertion, the form azure-identity's
ClientAssertionCredential posts) checks, in Entra's order: the tenant exists (AADSTS90002), the app is known
there, i.e. consented (AADSTS700016), the assertion is a token this emulator issued (AADSTS50027) whose issuer,
subject and audience match the federated identity credential (AADSTS70021), the scope is Graph's
(AADSTS70011). Refusals carry Entra's error body: `error`, `error_description`, `error_codes`, ids and time.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from devtools.emulator.identity import GRAPH_RESOURCE, IDENTITY_KEY, TOKEN_SECONDS
from devtools.emulator.state import format_datetime, utc_now
from devtools.emulator.tenants import TENANT_KEY, TENANTS_KEY, EmulatedTenant

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRAPH_DEFAULT_SCOPE = GRAPH_RESOURCE + "/.default"


class EntraError(Exception):
    def __init__(self, code: int, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code, self.error, self.description, self.status = code, error, description, status

    def response(self) -> web.Response:
        trace, correlation, now = str(uuid.uuid4()), str(uuid.uuid4()), format_datetime(utc_now())
        return web.json_response(
            {
                "error": self.error,
                "error_description": f"AADSTS{self.code}: {self.description} Trace ID: {trace} "
                f"Correlation ID: {correlation} Timestamp: {now}",
                "error_codes": [self.code],
                "timestamp": now,
                "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
            },
            status=self.status,
        )


def _tenant(request: web.Request) -> EmulatedTenant:
    name = request.match_info["tenant"]
    tenant = request.app[TENANTS_KEY].get(name)
    if tenant is None:
        raise EntraError(90002, "invalid_request", f"Tenant '{name}' not found. Check to make sure you have the "
                         "correct tenant ID and are signing into the correct cloud.")  # fmt: skip
    return tenant


def _check_assertion(request: web.Request, form: Any) -> None:
    identity = request.app[IDENTITY_KEY]
    if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
        raise EntraError(7000216, "invalid_client", "'client_assertion', 'client_secret' or 'request' is required "
                         "for the 'client_credentials' grant type.", status=401)  # fmt: skip
    claims = identity.claims(str(form["client_assertion"]))
    if claims is None:
        raise EntraError(50027, "invalid_request", "JWT token is invalid or malformed.")
    app = identity.app
    if claims.get("iss") != app.issuer or claims.get("sub") != app.subject or claims.get("aud") not in app.audiences:
        raise EntraError(70021, "invalid_client", "No matching federated identity record found for presented "
                         f"assertion. Assertion Issuer: '{claims.get('iss')}'. Assertion Subject: "
                         f"'{claims.get('sub')}'. Assertion Audience: '{claims.get('aud')}'.", status=401)  # fmt: skip


async def tenant_token(request: web.Request) -> web.Response:
    """Client credentials with a client assertion, in one tenant."""
    form = await request.post()
    try:
        tenant = _tenant(request)
        if form.get("grant_type") != "client_credentials":
            raise EntraError(70003, "unsupported_grant_type", "The app requested an unsupported grant type.")
        client_id = str(form.get("client_id") or "")
        app = request.app[IDENTITY_KEY].app
        if client_id != app.client_id or not tenant.consented:
            raise EntraError(700016, "unauthorized_client", f"Application with identifier '{client_id}' was not "
                             f"found in the directory '{tenant.display_name}'. This can happen if the application "
                             "has not been installed by the administrator of the tenant or consented to by any "
                             "user in the tenant. You may have sent your authentication request to the wrong "
                             "tenant.")  # fmt: skip
        _check_assertion(request, form)
        scope = str(form.get("scope") or "")
        if scope.split() != [GRAPH_DEFAULT_SCOPE]:
            raise EntraError(70011, "invalid_scope", f"The provided value for scope {scope} is not "
                             "valid. Client credential flows must have a scope value with /.default suffixed to "
                             "the resource identifier (application ID URI).")  # fmt: skip
    except EntraError as exc:
        return exc.response()
    claims = {"aud": GRAPH_RESOURCE, "tid": tenant.id, "iss": f"https://sts.windows.net/{tenant.id}/",
              "appid": app.client_id, "roles": ["ConfigurationMonitoring.ReadWrite.All"]}  # fmt: skip
    token = request.app[IDENTITY_KEY].issue(claims)
    return web.json_response(
        {"token_type": "Bearer", "expires_in": TOKEN_SECONDS, "ext_expires_in": TOKEN_SECONDS, "access_token": token}
    )


@web.middleware
async def resolve_tenant(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer a Graph request from its token's tenant. A token of a tenant gone (or no longer consented) names
    no tenant: Graph then refuses it as it refuses any invalid token."""
    claims = request.app[IDENTITY_KEY].graph_claims(request.headers.get("Authorization"))
    if claims is not None:
        tenant = request.app[TENANTS_KEY].get(str(claims.get("tid")))
        if tenant is not None and (tenant.consented or "appid" not in claims):
            request[TENANT_KEY] = tenant
    return await handler(request)
