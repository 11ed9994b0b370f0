"""Tenants configured alike but for their own values (domains, object ids, tenant id), for the fleet's tests."""

from __future__ import annotations

from devtools.emulator_client import EmulatorControl

NORTHWIND = "7e1a0000-0000-4000-8000-00000000f0a1"
FABRIKAM = "7e1a0000-0000-4000-8000-00000000f0a2"
DOMAIN_TYPE = "microsoft.exchange.acceptedDomain"
GROUP_TYPE = "microsoft.entra.group"
POLICY_TYPE = "microsoft.entra.conditionalAccessPolicy"
TYPES = [DOMAIN_TYPE, GROUP_TYPE, POLICY_TYPE]
TAILSPIN = "7e1a0000-0000-4000-8000-00000000f0a3"
OBJECTS = {NORTHWIND: ("0c0a0000-0000-4000-8000-0000000000a1", "0c0a0000-0000-4000-8000-0000000000b1"),
           FABRIKAM: ("0f0a0000-0000-4000-8000-0000000000a2", "0f0a0000-0000-4000-8000-0000000000b2"),
           TAILSPIN: ("0d0a0000-0000-4000-8000-0000000000a3", "0d0a0000-0000-4000-8000-0000000000b3")}  # fmt: skip


def tenant_config(emulator: EmulatorControl, tenant_id: str, name: str, state: str) -> None:
    """One tenant's own values: its accepted domains, a group, and a policy naming them (and its tenant id)."""
    initial, custom = f"{name.lower()}.onmicrosoft.com", f"{name.lower()}.com"
    group_id, policy_id = OBJECTS[tenant_id]
    scoped = emulator.for_tenant(tenant_id)
    scoped.configure(jobStartSeconds=0, jobDurationSeconds=0, defaultResourceCount=2)
    scoped.change_tenant(
        set=[
            {"resourceType": DOMAIN_TYPE, "displayName": "EXOAcceptedDomain-initial",
             "properties": {"Identity": initial, "DomainType": "Authoritative", "Ensure": "Present"}},
            {"resourceType": DOMAIN_TYPE, "displayName": "EXOAcceptedDomain-custom",
             "properties": {"Identity": custom, "DomainType": "Authoritative", "Ensure": "Present"}},
            {"resourceType": GROUP_TYPE, "displayName": "AADGroup-Break glass",
             "properties": {"Id": group_id, "DisplayName": "Break glass", "MailNickname": "breakglass",
                            "Mail": f"breakglass@{custom}", "Ensure": "Present"}},
            {"resourceType": POLICY_TYPE, "displayName": "AADConditionalAccessPolicy-Block legacy",
             "properties": {"Id": policy_id, "State": state, "ExcludeGroups": [group_id],
                            "ExcludeUsers": [f"admin@{initial}", f"ops@{custom}"],
                            "Description": f"Owned by tenant {tenant_id}, mail routed via {name.lower()}.mail.onmicrosoft.com",
                            "IncludeApplications": ["00000003-0000-0000-c000-000000000000"], "Ensure": "Present"}},
        ]
    )  # fmt: skip
