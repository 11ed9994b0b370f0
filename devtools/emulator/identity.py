"""Entra, as far as the app meets it: the App Service managed-identity endpoint, the per-tenant token endpoint
that azure-identity's ClientAssertionCredential calls, and the bearer-token check Graph makes on every call.

Tokens are JWT-shaped (header.claims.signature, HMAC-signed with a key made at start-up) so the emulator reads
its own claims back: `aud`, `tid` (the tenant the token is for), `iss`, `sub`, `appid`, `exp`. They are never
printed or logged.

The managed identity lives in the home tenant. Its token for `api://AzureADTokenExchange` is what the app
presents, as a client assertion, to `POST /{tenant}/oauth2/v2.0/token` of the multi-tenant app registration;
the endpoint checks it against the registration's federated identity credential (issuer, subject, audience),
then whether the tenant consented (a service principal of the app exists there), as Entra does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from devtools.emulator.responses import GraphError
from devtools.emulator.state import DEFAULT_TENANT_ID
from devtools.emulator.tenants import TENANT_KEY

GRAPH_RESOURCE = "https://graph.microsoft.com"
EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
DEFAULT_IDENTITY_HEADER = "local-identity-header"
MANAGED_IDENTITY_PRINCIPAL_ID = "0d6c4b8e-51c3-4f6a-9a0e-3b7e2f1c9d45"  # the user-assigned identity's object id
APP_CLIENT_ID = "5e3a9c71-8b2f-4d06-a1e4-7c9b0f2d6a38"  # the multi-tenant app registration
ENTRA_ISSUER = "https://login.microsoftonline.com"
TOKEN_SECONDS = 24 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class AppRegistration:
    """The multi-tenant app registration and its one federated identity credential (control: /_emulator/app)."""

    client_id: str = APP_CLIENT_ID
    issuer: str = f"{ENTRA_ISSUER}/{DEFAULT_TENANT_ID}/v2.0"
    subject: str = MANAGED_IDENTITY_PRINCIPAL_ID
    audiences: list[str] = field(default_factory=lambda: [EXCHANGE_AUDIENCE])

    def to_json(self) -> dict[str, Any]:
        return {"clientId": self.client_id, "federatedCredential": {
            "issuer": self.issuer, "subject": self.subject, "audiences": self.audiences}}  # fmt: skip


class Identity:
    """Issues and reads back the tokens; the signing key outlives a control reset because clients cache tokens."""

    def __init__(self, header: str = DEFAULT_IDENTITY_HEADER) -> None:
        self.header = header
        self._key = secrets.token_bytes(32)
        self.app = AppRegistration()

    def issue(self, claims: dict[str, Any]) -> str:
        now = int(time.time())
        body = {**claims, "iat": now, "exp": now + TOKEN_SECONDS, "jti": secrets.token_hex(8)}
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + _b64(json.dumps(body).encode())
        return head + "." + _b64(hmac.new(self._key, head.encode(), hashlib.sha256).digest())

    def claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this emulator issued and that has not expired; None for any other string."""
        head, _, signature = token.rpartition(".")
        try:
            valid = hmac.compare_digest(_unb64(signature), hmac.new(self._key, head.encode(), hashlib.sha256).digest())
            claims = json.loads(_unb64(head.split(".")[1])) if valid else None
        except (ValueError, IndexError):
            return None
        return claims if isinstance(claims, dict) and claims.get("exp", 0) > time.time() else None

    def graph_claims(self, authorization: str | None) -> dict[str, Any] | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        claims = self.claims(authorization[len("Bearer ") :].strip())
        return claims if claims is not None and claims.get("aud") == GRAPH_RESOURCE else None

    def graph_token_valid(self, authorization: str | None) -> bool:
        return self.graph_claims(authorization) is not None


IDENTITY_KEY = web.AppKey("identity", Identity)


async def token_endpoint(request: web.Request) -> web.Response:
    """Issue a managed-identity token the way App Service's IDENTITY_ENDPOINT does, if X-IDENTITY-HEADER is right."""
    identity = request.app[IDENTITY_KEY]
    if request.headers.get("X-IDENTITY-HEADER") != identity.header:
        return web.json_response(
            {"statusCode": 401, "message": "Unauthorized: the X-IDENTITY-HEADER header is missing or wrong"},
            status=401,
        )
    resource = request.query.get("resource", "")
    if not request.query.get("api-version") or not resource:
        return web.json_response({"statusCode": 400, "message": "api-version and resource are required"}, status=400)
    claims = {"aud": resource, "tid": DEFAULT_TENANT_ID, "iss": f"{ENTRA_ISSUER}/{DEFAULT_TENANT_ID}/v2.0",
              "sub": MANAGED_IDENTITY_PRINCIPAL_ID, "oid": MANAGED_IDENTITY_PRINCIPAL_ID}  # fmt: skip
    body = {
        "access_token": identity.issue(claims),
        "expires_on": str(int(time.time()) + TOKEN_SECONDS),
        "resource": resource,
        "token_type": "Bearer",
    }
    if "client_id" in request.query:
        body["client_id"] = request.query["client_id"]
    return web.json_response(body)


def require_graph_token(request: web.Request) -> None:
    """Refuse, as Graph does, a request without a bearer token issued for Graph (in a tenant that still exists)."""
    if TENANT_KEY in request:  # entra.resolve_tenant found a valid Graph token of a tenant that exists
        return
    message = (
        "Access token is empty."
        if "Authorization" not in request.headers
        else "Access token validation failure. Invalid audience."
    )
    raise GraphError(401, message, "InvalidAuthenticationToken")
