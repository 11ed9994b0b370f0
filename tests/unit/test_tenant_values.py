"""The normalisation rules of a comparison across tenants (snapshot/diff/tenant_values.py, docs/fleet.md)."""

from __future__ import annotations

from snapshot.diff.tenant_values import TenantValues

TENANT = "7e1a0000-0000-4000-8000-0000000000aa"
GROUP = "0c0a0000-0000-4000-8000-0000000000a1"
GRAPH_APP = "00000003-0000-0000-c000-000000000000"


def learned() -> TenantValues:
    values = TenantValues(TENANT)
    values.learn({"resourceType": "microsoft.exchange.acceptedDomain", "displayName": "d",
                  "properties": {"Identity": "Contoso.onmicrosoft.com"}})  # fmt: skip
    values.learn({"resourceType": "microsoft.exchange.accepteddomain", "displayName": "e",
                  "properties": {"DomainName": "contoso.com"}})  # fmt: skip
    values.learn({"resourceType": "microsoft.entra.group", "displayName": "AADGroup-Ops", "properties": {"Id": GROUP}})
    return values


def test_each_rule_replaces_only_what_the_snapshot_says_is_its_own() -> None:
    values = learned()
    properties = {
        "Mail": "ops@CONTOSO.com",
        "Routing": "contoso.mail.onmicrosoft.com",
        "Owner": f"tenant {TENANT.upper()}",
        "Members": [GROUP, GRAPH_APP],
        "Others": ["notcontoso.com", "contoso.com.evil.example", "x@sub.contoso.com"],
        f"{GROUP}": "a key is never rewritten",
        "Count": 3,
    }
    assert values.rewrite(properties) == {
        "Mail": "ops@{domain}",
        "Routing": "{initialMailDomain}",
        "Owner": "tenant {tenantId}",
        "Members": ["{object:microsoft.entra.group/AADGroup-Ops}", GRAPH_APP],
        "Others": ["notcontoso.com", "contoso.com.evil.example", "x@sub.contoso.com"],
        f"{GROUP}": "a key is never rewritten",
        "Count": 3,
    }
    assert {rule: n for rule, n in values.replaced.items() if n} == {
        "domain": 1, "initialMailDomain": 1, "tenantId": 1, "objectId": 1,
    }  # fmt: skip


def test_a_snapshot_without_accepted_domains_teaches_no_domain() -> None:
    values = TenantValues(TENANT)
    values.learn({"resourceType": "microsoft.entra.user", "displayName": "u", "properties": {"Id": TENANT}})
    assert values.domains == set() and values.objects == {}  # the tenant id is its own rule, not an object
    assert values.rewrite("admin@contoso.onmicrosoft.com") == "admin@contoso.onmicrosoft.com"
