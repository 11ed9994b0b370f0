"""A synchronous client for the Graph emulator's `/_emulator/*` control API (tests, benches and scripts)."""

from __future__ import annotations

from typing import Any

import httpx


class EmulatorControl:
    """Synchronous client for the emulator's control API (tests and scripts)."""

    def __init__(self, base_url: str, timeout: float = 30.0, tenant: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self.tenant = tenant  # the tenant whose state the calls read and change (None: the home tenant)

    def for_tenant(self, tenant_id: str) -> EmulatorControl:
        """The same control API, about another tenant's jobs, config, monitors, faults and requests."""
        return EmulatorControl(self.base_url, self._timeout, tenant_id)

    @property
    def graph_base_url(self) -> str:
        return f"{self.base_url}/v1.0"

    @property
    def token_endpoint(self) -> str:
        return f"{self.base_url}/msi/token"

    def _call(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        query = dict(params or {})
        if self.tenant is not None:
            query["tenant"] = self.tenant
        with httpx.Client(base_url=self.base_url, timeout=self._timeout) as client:
            response = client.request(method, f"/_emulator{path}", json=body, params=query)
        if response.status_code >= 400:
            raise RuntimeError(f"emulator control {method} {path}: {response.status_code} {response.text}")
        return response.json()

    def reset(self) -> None:
        self._call("POST", "/reset")

    def tenants(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/tenants")["tenants"]
        return result

    def add_tenant(self, tenant_id: str, display_name: str = "", consented: bool = True) -> dict[str, Any]:
        body = {"tenantId": tenant_id, "displayName": display_name, "consented": consented}
        result: dict[str, Any] = self._call("POST", "/tenants", body)
        return result

    def set_consent(self, tenant_id: str, consented: bool) -> dict[str, Any]:
        """Grant (or revoke) the multi-tenant app's admin consent in a tenant."""
        result: dict[str, Any] = self._call("PATCH", f"/tenants/{tenant_id}", {"consented": consented})
        return result

    def app(self) -> dict[str, Any]:
        """The multi-tenant app registration and its federated identity credential."""
        result: dict[str, Any] = self._call("GET", "/app")
        return result

    def set_federated_credential(self, **credential: Any) -> dict[str, Any]:
        """Change what the app registration trusts: issuer, subject, audiences."""
        result: dict[str, Any] = self._call("POST", "/app", credential)
        return result

    def configure(self, **config: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/config", config)
        return result

    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/config")
        return result

    def add_fault(self, **fault: Any) -> None:
        """A fault; a tenant's control (`for_tenant`) makes it that tenant's only, unless `tenant` is given."""
        if self.tenant is not None:
            fault.setdefault("tenant", self.tenant)
        self._call("POST", "/faults", fault)

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/requests")["requests"]
        return result

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = self._call("GET", "/requests")["counts"]
        return result

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def create_job(
        self,
        displayName: str,
        resources: list[str],
        description: str | None = None,
        status: str | None = None,
        createdDateTime: str | None = None,
        errorDetails: list[str] | None = None,
        createdBy: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"displayName": displayName, "resources": resources}
        optional = {
            "description": description, "status": status, "createdDateTime": createdDateTime,
            "errorDetails": errorDetails, "createdBy": createdBy,
        }  # fmt: skip
        body.update({k: v for k, v in optional.items() if v is not None})
        result: dict[str, Any] = self._call("POST", "/jobs", body)
        return result

    def update_job(self, job_id: str, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"/jobs/{job_id}", fields)
        return result

    def complete_job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/jobs/{job_id}/complete")
        return result

    def expire_job(self, job_id: str) -> None:
        self._call("POST", f"/jobs/{job_id}/expire")

    def jobs(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/jobs")
        return result

    def snapshot_content(self, snapshot_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/snapshots/{snapshot_id}")
        return result

    def change_tenant(
        self, set: list[dict[str, Any]] | None = None, remove: list[dict[str, Any]] | None = None
    ) -> None:
        self._call("POST", "/tenant", {"set": set or [], "remove": remove or []})

    def tenant_resources(self, resource_type: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/tenant", params={"resourceType": resource_type})["resources"]
        return result

    def monitoring(self) -> dict[str, Any]:
        """Every monitor (with its baseline), drift and monitoring result, and the limits."""
        result: dict[str, Any] = self._call("GET", "/monitors")
        return result

    def add_monitor(self, displayName: str, baseline: dict[str, Any], description: str = "") -> dict[str, Any]:
        """A monitor created by another tool."""
        body = {"displayName": displayName, "description": description, "baseline": baseline}
        result: dict[str, Any] = self._call("POST", "/monitors", body)
        return result

    def monitor_limits(self, **limits: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/monitors/limits", limits)
        return result

    def run_monitors(self, fail: bool = False) -> list[dict[str, Any]]:
        """Run the monitoring slot now against the tenant as it is."""
        result: list[dict[str, Any]] = self._call("POST", "/monitors/run", {"fail": fail})["results"]
        return result

    def age_fixed_drifts(self) -> int:
        """Remove the fixed drifts, as Graph does 30 days after they are fixed."""
        result: int = self._call("POST", "/monitors/age")["removed"]
        return result

    def routes(self) -> list[dict[str, str]]:
        """The control routes: method, path and what each does."""
        result: list[dict[str, str]] = self._call("GET", "/")
        return result
