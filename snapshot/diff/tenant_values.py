"""Values that differ between two tenants only because they name the tenant: learned from each side's own
snapshot, and replaced by the same placeholder on both sides before a cross-tenant comparison (docs/fleet.md).

Rules, each decided from what the snapshot itself holds (nothing is guessed from the shape of a value):
- `tenantId`: the side's tenant id, wherever it appears in a string value, becomes `{tenantId}`.
- `initialDomain` / `initialMailDomain` / `domain`: the domain names the side's `microsoft.exchange.acceptedDomain`
  resources list (their key property `Identity`, or `DomainName`). `<x>.onmicrosoft.com` becomes `{initialDomain}`,
  `<x>.mail.onmicrosoft.com` (Exchange's mail routing domain, named after the initial domain, so learned with it)
  becomes `{initialMailDomain}`, and any other accepted domain becomes `{domain}`. They are
  matched whole, case-insensitively, inside strings (`user@contoso.com` becomes `user@{domain}`). A snapshot with no
  accepted domains teaches no domain, and the report says so.
- `objectId`: a GUID that is the object id (`Id`, `ObjectId` or `Guid`) of a resource in the same snapshot becomes
  `{object:<resource type>/<display name>}`, so a reference compares by what it names. A GUID the snapshot does not
  hold (a Microsoft app id, a role template id: the same in every tenant) is compared as it is.

Resources are matched by (type, display name) (diff/merge.py), never by an id, so no rule changes how resources
pair up; only property values are rewritten, and only for comparing: reported values are the normalised ones, and
the report lists each rule with what it replaced.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

ACCEPTED_DOMAIN_TYPE = "microsoft.exchange.accepteddomain"
DOMAIN_NAME_PROPERTIES = ("Identity", "DomainName")
OBJECT_ID_PROPERTIES = ("Id", "ObjectId", "Guid")
GUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
DOMAIN_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")
RULES = ("tenantId", "initialDomain", "initialMailDomain", "domain", "objectId")


def domain_placeholder(domain: str) -> str:
    if domain.endswith(".mail.onmicrosoft.com"):
        return "{initialMailDomain}"
    if domain.endswith(".onmicrosoft.com"):
        return "{initialDomain}"
    return "{domain}"


def _rule_of(placeholder: str) -> str:
    return "objectId" if placeholder.startswith("{object:") else placeholder.strip("{}")


@dataclass
class TenantValues:
    """What one side's snapshot says is its own: the tenant id, its accepted domains, its objects' ids."""

    tenant_id: str
    domains: set[str] = field(default_factory=set)
    objects: dict[str, str] = field(default_factory=dict)  # lower-case GUID -> "{object:<type>/<name>}"
    replaced: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))
    _domain_pattern: re.Pattern[str] | None = None

    def learn(self, resource: Mapping[str, Any]) -> None:
        resource_type = str(resource.get("resourceType", ""))
        properties = resource.get("properties")
        if not isinstance(properties, Mapping):
            return
        if resource_type.lower() == ACCEPTED_DOMAIN_TYPE:
            for name in DOMAIN_NAME_PROPERTIES:
                value = properties.get(name)
                if isinstance(value, str) and DOMAIN_NAME.fullmatch(value):
                    self._add_domain(value.lower())
        for name in OBJECT_ID_PROPERTIES:
            value = properties.get(name)
            if isinstance(value, str) and GUID_PATTERN.fullmatch(value) and value.lower() != self.tenant_id:
                label = f"{resource_type}/{resource.get('displayName', '')}"
                self.objects.setdefault(value.lower(), "{object:" + label + "}")

    def _add_domain(self, domain: str) -> None:
        self.domains.add(domain)
        if domain_placeholder(domain) == "{initialDomain}":  # its mail routing domain is named after it
            self.domains.add(domain.removesuffix(".onmicrosoft.com") + ".mail.onmicrosoft.com")
        self._domain_pattern = None

    def _domains(self) -> re.Pattern[str] | None:
        if self._domain_pattern is None and self.domains:
            names = "|".join(re.escape(d) for d in sorted(self.domains, key=len, reverse=True))
            self._domain_pattern = re.compile(rf"(?<![A-Za-z0-9.-])(?:{names})(?![A-Za-z0-9-]|\.[A-Za-z0-9])", re.I)
        return self._domain_pattern

    def _guid(self, match: re.Match[str]) -> str:
        value = match.group(0).lower()
        placeholder = "{tenantId}" if value == self.tenant_id else self.objects.get(value)
        if placeholder is None:
            return match.group(0)
        self.replaced[_rule_of(placeholder)] += 1
        return placeholder

    def _domain(self, match: re.Match[str]) -> str:
        placeholder = domain_placeholder(match.group(0).lower())
        self.replaced[_rule_of(placeholder)] += 1
        return placeholder

    def rewrite(self, value: Any) -> Any:
        """The value with this tenant's own values replaced by their placeholders (keys are kept)."""
        if isinstance(value, str):
            if "-" in value:
                value = GUID_PATTERN.sub(self._guid, value)
            pattern = self._domains()
            return pattern.sub(self._domain, value) if pattern is not None and "." in value else value
        if isinstance(value, Mapping):
            return {key: self.rewrite(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.rewrite(item) for item in value]
        return value

    def rewritten(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        return {**resource, "properties": self.rewrite(resource.get("properties"))}


async def learn_from(values: TenantValues, resources: AsyncIterable[Mapping[str, Any]]) -> TenantValues:
    async for resource in resources:
        values.learn(resource)
    return values


async def normalised(
    values: TenantValues, resources: AsyncIterable[Mapping[str, Any]]
) -> AsyncIterator[dict[str, Any]]:
    async for resource in resources:
        yield values.rewritten(resource)


def rules_applied(old: TenantValues, new: TenantValues) -> list[dict[str, Any]]:
    """What the report and the JSON diff say about the normalisation: each rule, what it knew on each side, and
    how many values it replaced there."""
    known = {
        "tenantId": lambda v: [v.tenant_id],
        "initialDomain": lambda v: sorted(d for d in v.domains if domain_placeholder(d) == "{initialDomain}"),
        "initialMailDomain": lambda v: sorted(d for d in v.domains if domain_placeholder(d) == "{initialMailDomain}"),
        "domain": lambda v: sorted(d for d in v.domains if domain_placeholder(d) == "{domain}"),
        "objectId": lambda v: [f"{len(v.objects)} object ids"],
    }
    return [
        {
            "rule": rule,
            "against": {"knows": known[rule](old), "replaced": old.replaced[rule]},
            "snapshot": {"knows": known[rule](new), "replaced": new.replaced[rule]},
        }
        for rule in RULES
    ]
