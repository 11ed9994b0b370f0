"""Tenants as the app keeps them: the registration request, the record, the statuses, the consent URL and the
steps a customer's admin owes (docs/tenants.md, infra/README.md "Onboarding a customer tenant").

A status is decided from what was observed, never guessed: `pendingConsent` when Entra refused the token with
its documented consent error (AADSTS700016), `missingPermissions` when a token came but Graph answered the
probe with 403, `ready` when the probe succeeded, `unreachable` for anything else (with Entra's or Graph's text
in `detail`), `failing` when a queue message for the tenant kept failing (poison queue), `removed` once deleted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator

from snapshot.settings import GUID, Settings

UTCM_APP_ID = "03b07b79-c5bc-4b5e-9bfa-13acf4a99998"
# Entra's documented answer for an app with no service principal in the tenant (no admin consent yet):
# AADSTS700016, "This can happen if the application has not been installed by the administrator of the tenant
# or consented to by any user in the tenant" (docs/tenants.md cites the error-codes reference).
CONSENT_PENDING_CODES = frozenset({700016})


class TenantStatus(StrEnum):
    PENDING_CONSENT = "pendingConsent"
    MISSING_PERMISSIONS = "missingPermissions"
    READY = "ready"
    UNREACHABLE = "unreachable"
    FAILING = "failing"
    REMOVED = "removed"


# Work (polls, drift polls) is enqueued only for these; the others are probed again instead.
WORKING = frozenset({TenantStatus.READY, TenantStatus.FAILING})

# How long a claim of the fan-out (a message sent, not yet run) holds before a tick sends another: longer than a
# message can live in the host's hands. Each of maxDequeueCount tries can run functionTimeout, then the message
# is hidden for visibilityTimeout (a try that failed) or for the host's own 10-minute lease (a host that died
# under it: azure-webjobs-sdk issue 1040), whichever is longer: 3 x (10 min + 10 min) = 60 min with host.json's values
# (tests/unit/test_host_json.py keeps it so). A claim is cleared by its own message's run.
MESSAGE_LEASE = timedelta(minutes=65)
HOST_MESSAGE_LEASE = timedelta(minutes=10)


def claim_holds(claimed: datetime | None, now: datetime) -> bool:
    return claimed is not None and now - claimed < MESSAGE_LEASE


class RegisterTenantRequest(BaseModel):
    """POST /api/tenants."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    tenantId: str = Field(description="the customer tenant's id (a GUID)")
    displayName: str = Field(min_length=1, max_length=256)

    @field_validator("tenantId")
    @classmethod
    def _tenant_id(cls, value: str) -> str:
        if not GUID.fullmatch(value):
            raise ValueError("must be a tenant id (a GUID such as 00000000-0000-0000-0000-000000000000)")
        return value.lower()


class TenantRecord(BaseModel):
    """One row of the tenants table."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    display_name: str
    home: bool = False
    status: TenantStatus = TenantStatus.PENDING_CONSENT
    detail: str | None = None  # Entra's or Graph's own text behind the status
    error_codes: list[int] = Field(default_factory=list)
    registered: datetime | None = None
    checked: datetime | None = None
    last_error: str | None = None  # the last queue message's failure, kept for `failing`
    poll_queued: datetime | None = None  # a poll message is waiting (cleared by the poll)
    drifts_queued: datetime | None = None
    etag: str | None = None


def consent_url(settings: Settings, tenant_id: str) -> str | None:
    """The admin-consent URL of the app registration in that tenant (None in single-tenant mode)."""
    if not settings.app_client_id:
        return None
    return f"{settings.authority_host}/{quote(tenant_id, safe='')}/adminconsent?client_id={settings.app_client_id}"


def owed_steps(record: TenantRecord, settings: Settings) -> list[str]:
    """What the tenant's admin still has to do, from its status."""
    if record.home or record.status in (TenantStatus.READY, TenantStatus.REMOVED):
        return []
    consent = (
        f"A Privileged Role Administrator or Global Administrator of the tenant opens {consent_url(settings, record.tenant_id)} "
        "and consents (this creates the app's service principal with ConfigurationMonitoring.ReadWrite.All)."
    )
    utcm = (
        f"In the tenant, add the UTCM service principal (appId {UTCM_APP_ID}) and grant it the workloads' read "
        "permissions and directory roles listed in infra/README.md (Graph permissions and roles)."
    )
    check = f"Then GET /api/tenants/{record.tenant_id}?refresh=true shows ready."
    if record.status == TenantStatus.PENDING_CONSENT:
        return [consent, utcm, check]
    if record.status == TenantStatus.MISSING_PERMISSIONS:
        return [utcm, check]
    return [check]


def tenant_view(record: TenantRecord, settings: Settings) -> dict[str, object]:
    return {
        "tenantId": record.tenant_id,
        "displayName": record.display_name,
        "home": record.home,
        "status": record.status.value,
        "detail": record.detail,
        "errorCodes": record.error_codes,
        "registeredDateTime": record.registered.isoformat() if record.registered else None,
        "checkedDateTime": record.checked.isoformat() if record.checked else None,
        "lastError": record.last_error,
        "consentUrl": None if record.home else consent_url(settings, record.tenant_id),
        "stepsOwed": owed_steps(record, settings),
    }
