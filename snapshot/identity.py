"""The Graph credential of each tenant: the managed identity itself in the home tenant; elsewhere the managed
identity as the federated credential of the multi-tenant app registration (docs/tenants.md).

For tenant T, `FederatedCredential` gets the managed identity's token for the token-exchange audience
(`api://AzureADTokenExchange`) and presents it as the client assertion of SNAPSHOT_APP_CLIENT_ID in T, through
azure-identity's `ClientAssertionCredential` (one per tenant, so its token cache holds T's tokens only). Its
`func` is synchronous (azure-identity's aio ClientAssertionCredential calls `self._func()` without awaiting), so
the assertion is fetched, asynchronously, before each token request and handed over from memory.

The process keeps each tenant's newest Graph token (`TokenShelf`, keyed by tenant id) apart from its Graph
client: a client closed to keep memory bounded (clients.GRAPH_CLIENTS_KEPT) does not cost that tenant a new
token request when its next message comes, while the token has more than REFRESH_BEFORE_SECONDS to live.

Entra's refusals become `TokenRefused`, carrying the response's `error_codes` and `error_description` (Entra's
documented error body; never a token), so the app decides a tenant's status from them.
"""

from __future__ import annotations

import json
import time
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import ClientAssertionCredential, ManagedIdentityCredential

from snapshot import errors
from snapshot.onboarding import CONSENT_PENDING_CODES
from snapshot.settings import IDENTITY_CLIENT_OPTIONS, Settings
from snapshot.tenancy import Tenant


class TokenRefused(ClientAuthenticationError):
    """Entra answered a tenant's token request with an error."""

    def __init__(self, tenant_id: str, description: str, error_codes: list[int]) -> None:
        super().__init__(message=f"Entra refused a token in tenant {tenant_id}: {description}")
        self.tenant_id = tenant_id
        self.description = description
        self.error_codes = error_codes


def refusal_of(tenant_id: str, exc: ClientAuthenticationError) -> TokenRefused:
    """Entra's error body (`error_description`, `error_codes`) from the failed response, as far as it has one."""
    body: Any = None
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            body = json.loads(response.text())
        except (ValueError, TypeError, AttributeError):
            body = None
    if not isinstance(body, dict):
        return TokenRefused(tenant_id, "the token request failed without an Entra error body", [])
    codes = [code for code in body.get("error_codes") or [] if isinstance(code, int)]
    description = str(body.get("error_description") or body.get("error") or "no error description")
    return TokenRefused(tenant_id, description.splitlines()[0][:500], codes)


def refused(exc: TokenRefused) -> errors.TenantRefusedToken:
    if CONSENT_PENDING_CODES.intersection(exc.error_codes):
        detail = f"tenant {exc.tenant_id} has not consented to the app yet: its admin opens the consent URL (GET /api/tenants/{exc.tenant_id})"
    else:
        detail = (
            f"Entra refused the app a token in tenant {exc.tenant_id}; see `entra` and GET /api/tenants/{exc.tenant_id}"
        )
    return errors.TenantRefusedToken(detail, exc.description, exc.error_codes)


def tls_options(settings: Settings) -> dict[str, Any]:
    """Local runs trust the emulator's certificate for the authority (SNAPSHOT_AUTHORITY_CA_FILE); Azure never sets it."""
    return {"connection_verify": settings.authority_ca_file} if settings.authority_ca_file else {}


REFRESH_BEFORE_SECONDS = 300  # a kept token this close to its expiry is fetched anew (azure-core refreshes then too)
SHELF_PRUNE_AT = 4096


class TokenShelf:
    """Each tenant's newest token per scope set, for that tenant's credential only (the key starts with its id)."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, tuple[str, ...]], AccessToken] = {}

    def get(self, tenant_id: str, scopes: tuple[str, ...]) -> AccessToken | None:
        token = self._tokens.get((tenant_id, scopes))
        if token is None or token.expires_on - time.time() <= REFRESH_BEFORE_SECONDS:
            return None
        return token

    def put(self, tenant_id: str, scopes: tuple[str, ...], token: AccessToken) -> None:
        if len(self._tokens) >= SHELF_PRUNE_AT:
            now = time.time()
            self._tokens = {key: kept for key, kept in self._tokens.items() if kept.expires_on > now}
        self._tokens[(tenant_id, scopes)] = token


class FederatedCredential:
    """A tenant's credential: the managed identity's exchange token as the app registration's client assertion."""

    def __init__(
        self, settings: Settings, tenant: Tenant, identity: ManagedIdentityCredential, shelf: TokenShelf
    ) -> None:
        assert settings.app_client_id is not None  # Settings refuses tenancy=multi without it
        self.tenant = tenant
        self._identity = identity
        self._shelf = shelf
        self._exchange_scope = settings.token_exchange_audience.rstrip("/") + "/.default"
        self._assertion = ""
        self._credential = ClientAssertionCredential(
            tenant.id,
            settings.app_client_id,
            lambda: self._assertion,
            authority=settings.authority_host,
            **IDENTITY_CLIENT_OPTIONS,
            **tls_options(settings),
        )

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        plain = claims is None and tenant_id in (None, self.tenant.id)  # a claims challenge always asks Entra
        key = (*scopes, f"cae={enable_cae}")
        kept = self._shelf.get(self.tenant.id, key) if plain else None
        if kept is not None:
            return kept
        # The managed identity caches its exchange token, so this is a lookup except near its expiry.
        self._assertion = (await self._identity.get_token(self._exchange_scope)).token
        try:
            token = await self._credential.get_token(
                *scopes, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae, **kwargs
            )
        except TokenRefused:
            raise
        except ClientAuthenticationError as exc:
            raise refusal_of(self.tenant.id, exc) from None
        if plain:
            self._shelf.put(self.tenant.id, key, token)
        return token

    async def close(self) -> None:
        await self._credential.close()

    async def __aenter__(self) -> FederatedCredential:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
