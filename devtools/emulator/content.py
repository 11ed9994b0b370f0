"""Deterministic, realistic UTCM snapshot content for the tenant the Graph emulator pretends to have.

The shape follows what real snapshots look like:
- `resourceType` lowercase, `displayName` as `<DSCResourceName>-<instance name>` (singletons bare);
- PascalCase DSC property names, `"Ensure": "Present"`, `@odata.type` annotations inside `properties`;
- empty strings and arrays for unset values, nested objects, `"System.Collections.Hashtable"` placeholders,
  scalar-vs-list variation;
- instance names that are hostile to Table keys and OData literals (', #, /, \\, ?, %, é, ü, 日本).

Every instance is generated from a `random.Random` seeded with its resource type and index, so the same
tenant gives the same content in every run and process.
"""

from __future__ import annotations

import functools
import random
import string
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

CATALOGUE_FILE = Path(__file__).resolve().parents[2] / "snapshot" / "data" / "utcm-resource-types.txt"

Resource = dict[str, Any]
Properties = dict[str, Any]

DSC_PREFIX = {
    "entra": "AAD",
    "exchange": "EXO",
    "intune": "Intune",
    "securityandcompliance": "SC",
    "teams": "Teams",
}

# Types whose DSC resource is a per-tenant singleton: the first instance is named bare (`AADGroupLifecyclePolicy`).
SINGLETON_TYPES = frozenset(
    {
        "microsoft.entra.authenticationmethodpolicy",
        "microsoft.entra.authorizationpolicy",
        "microsoft.entra.grouplifecyclepolicy",
        "microsoft.entra.securitydefaults",
        "microsoft.entra.tenantdetails",
        "microsoft.entra.crosstenantaccesspolicy",
        "microsoft.entra.crosstenantaccesspolicyconfigurationdefault",
        "microsoft.exchange.organizationconfig",
    }
)

# Decorations cycled over instance indexes: 0 plain, 1 Table-key and OData hostile, 2 non-ASCII, 3 a hyphen.
HOSTILE_SUFFIXES = ("", " O'Neil #1/2 \\ ?50%", " für Café 日本", " - copy")

GENERIC_NAMES = (
    "Default", "Contoso Baseline", "Finance", "Marketing Europe", "Legacy Settings", "Pilot Group",
    "Head Office", "Remote Workers",
)  # fmt: skip


@functools.cache
def catalogue() -> dict[str, str]:
    """Documented type names by their lowercase form (`microsoft.entra.user` -> `microsoft.entra.user`)."""
    lines = CATALOGUE_FILE.read_text(encoding="utf-8").splitlines()
    names = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return {name.lower(): name for name in names}


def dsc_resource_name(resource_type: str) -> str:
    """The M365DSC resource name for a UTCM type: `microsoft.exchange.transportRule` -> `EXOTransportRule`."""
    documented = catalogue().get(resource_type.lower(), resource_type)
    parts = documented.split(".")
    workload = parts[1].lower() if len(parts) >= 3 else ""
    name = parts[-1]
    return DSC_PREFIX.get(workload, "") + name[:1].upper() + name[1:]


def instance_name(resource_type: str, index: int, pool: tuple[str, ...] = GENERIC_NAMES) -> str:
    """A unique instance name for index `index`; some carry hostile characters."""
    name = pool[index % len(pool)] + HOSTILE_SUFFIXES[index % len(HOSTILE_SUFFIXES)]
    if index >= len(pool):
        name += f" {index}"
    return name


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _filler(rng: random.Random, size: int) -> str:
    """About `size` ASCII characters (= bytes), cheap to build even for hundreds of KiB."""
    chunk = "".join(rng.choices(string.ascii_letters + string.digits + " ", k=256))
    return (chunk * (size // len(chunk) + 1))[:size]


def _some(rng: random.Random, values: tuple[str, ...], most: int = 3) -> list[str]:
    return rng.sample(values, rng.randint(0, min(most, len(values))))


# --- per-type templates: (name pool, property builder) -------------------------------------------------


def _conditional_access(rng: random.Random, name: str, index: int) -> Properties:
    return {
        "DisplayName": name,
        "Id": _guid(rng),
        "State": rng.choice(["enabled", "disabled", "enabledForReportingButNotEnforced"]),
        "IncludeUsers": ["All"] if index % 2 == 0 else [f"user{index}@contoso.onmicrosoft.com"],
        "ExcludeUsers": [],
        "IncludeGroups": [],
        "ExcludeGroups": _some(rng, ("Break Glass", "Service Accounts", "Executives")),
        "IncludeApplications": ["All"],
        "ExcludeApplications": [],
        "ClientAppTypes": ["browser", "mobileAppsAndDesktopClients"],
        "IncludePlatforms": [],
        "DeviceFilterRule": "",
        "DeviceFilterMode": "",
        "BuiltInControls": ["mfa"] if index % 3 else ["mfa", "compliantDevice"],
        "GrantControlOperator": rng.choice(["OR", "AND"]),
        "SignInRiskLevels": [],
        "SessionControls": {"SignInFrequency": {"IsEnabled": bool(index % 2), "Value": 4, "Type": "hours"}},
        "Ensure": "Present",
    }


def _transport_rule(rng: random.Random, name: str, index: int) -> Properties:
    return {
        "Name": name,
        "Identity": name,
        "Priority@odata.type": "#Int32",
        "Priority": index,
        "Mode": rng.choice(["Enforce", "Audit", "AuditAndNotify"]),
        "Comments": "",
        "FromMemberOf": ["FinanceTeam@contoso.com"] if index % 2 == 0 else [],
        "SentToScope": rng.choice(["NotInOrganization", "InOrganization", ""]),
        "ExceptIfFrom": [],
        "RejectMessageReasonText": "Delivery not authorized, message refused" if index % 2 == 0 else "",
        "SetAuditSeverity": rng.choice(["Low", "Medium", "High"]),
        "StopRuleProcessing": bool(index % 2),
        "Enabled": True,
        "Ensure": "Present",
    }


def _group_lifecycle(rng: random.Random, name: str, index: int) -> Properties:
    return {
        "IsSingleInstance": "Yes",
        "GroupLifetimeInDays@odata.type": "#Int64",
        "GroupLifetimeInDays": rng.choice([99, 180, 365]),
        "ManagedGroupTypes": rng.choice(["Selected", "All", "None"]),
        "AlternateNotificationEmails": ["Admin@M365x73318397.onmicrosoft.com"],
        "Ensure": "Present",
    }


def _authentication_method_policy(rng: random.Random, name: str, index: int) -> Properties:
    return {
        "IsSingleInstance": "Yes",
        "DisplayName": "Authentication Methods Policy",
        "Description": "The tenant-wide policy that controls which authentication methods are allowed",
        "Id": "authenticationMethodsPolicy",
        "PolicyMigrationState": rng.choice(["migrationComplete", "preMigration"]),
        "PolicyVersion": "1.5",
        "ReconfirmationInDays@odata.type": "#Int32",
        "ReconfirmationInDays": 0,
        "RegistrationEnforcement": "System.Collections.Hashtable",
        "SystemCredentialPreferences": "System.Collections.Hashtable",
        "ReportSuspiciousActivitySettings": {"State": "default", "VoiceReportingCode": 0},
        "Ensure": "Present",
    }


def _named_location(rng: random.Random, name: str, index: int) -> Properties:
    first = f"20.{index % 250}.{rng.randint(0, 255)}.128/32"
    ranges: str | list[str] = first if index % 2 else [first, f"10.{index % 250}.0.0/16"]
    return {
        "DisplayName": name,
        "Id": _guid(rng),
        "OdataType": "#microsoft.graph.ipNamedLocation",
        "IpRanges": ranges,  # a scalar for one range, a list for several
        "IsTrusted": bool(index % 2),
        "CountriesAndRegions": [],
        "IncludeUnknownCountriesAndRegions": False,
        "Ensure": "Present",
    }


def _meeting_policy(rng: random.Random, name: str, index: int) -> Properties:
    return {
        "Identity": name,
        "Description": "",
        "AllowCloudRecording": bool(index % 2 == 0),
        "AllowTranscription": rng.choice([True, False]),
        "MediaBitRateKb@odata.type": "#Int64",
        "MediaBitRateKb": 50000,
        "AutoAdmittedUsers": rng.choice(["EveryoneInCompany", "Everyone", "OrganizerOnly"]),
        "AllowedStreamingMediaInput": "",
        "ScreenSharingMode": "EntireScreen",
        "Ensure": "Present",
    }


def _user(rng: random.Random, name: str, index: int) -> Properties:
    return {
        "UserPrincipalName": name,
        "DisplayName": name.split("@")[0].replace(".", " ").title(),
        "Id": _guid(rng),
        "UsageLocation": rng.choice(["US", "FR", "DE", "JP", ""]),
        "Department": rng.choice(["Finance", "R&D", "Sales", ""]),
        "LicenseAssignment": _some(rng, ("ENTERPRISEPACK", "EMS", "POWER_BI_PRO")),
        "Roles": [],
        "MemberOf": _some(rng, ("All Staff", "Finance", "Remote Workers")),
        "PasswordNeverExpires": False,
        "AccountEnabled": index % 7 != 6,
        "Ensure": "Present",
    }


def _user_names(index: int) -> str:
    first = ("adele.vance", "o'brien.sean", "jürgen.müller", "chloé.dupont", "tanaka.日本")[index % 5]
    return f"{first}{index}@contoso.onmicrosoft.com"


def _shared_mailbox(rng: random.Random, name: str, index: int) -> Properties:
    alias = "".join(ch for ch in name if ch.isascii() and ch.isalnum()).lower() or f"mailbox{index}"
    return {
        "DisplayName": name,
        "Identity": name,
        "Alias": alias,
        "PrimarySMTPAddress": f"{alias}@contoso.com",
        "EmailAddresses": [] if index % 2 else [f"smtp:{alias}@contoso.onmicrosoft.com"],
        "AuditEnabled": True,
        "Ensure": "Present",
    }


def _generic(rng: random.Random, name: str, index: int) -> Properties:
    return {
        "DisplayName": name,
        "Identity": name,
        "Id": _guid(rng),
        "Description": "" if index % 2 else f"Managed by the emulator ({name})",
        "Enabled": bool(index % 3),
        "Priority@odata.type": "#Int64",
        "Priority": index,
        "Tags": [] if index % 2 else ["baseline", "emulated"],
        "Settings": {"Mode": rng.choice(["Audit", "Enforce"]), "Level": rng.randint(1, 5), "Values": []},
        "Ensure": "Present",
    }


Builder = Callable[[random.Random, str, int], Properties]

TEMPLATES: dict[str, tuple[tuple[str, ...] | Callable[[int], str], Builder]] = {
    "microsoft.entra.conditionalaccesspolicy": (
        (
            "Require MFA",
            "Block legacy authentication",
            "Require compliant device",
            "Admins MFA everywhere",
            "Guests Terms of Use",
            "Risky sign-ins",
            "Block Tor",
            "Session lifetime",
        ),
        _conditional_access,
    ),
    "microsoft.exchange.transportrule": (
        (
            "Deny Sending Outbound by Default",
            "Disclaimer",
            "Block Executable Attachments",
            "Encrypt Finance",
            "External Sender Warning",
            "Journal Legal",
        ),
        _transport_rule,
    ),
    "microsoft.entra.grouplifecyclepolicy": (GENERIC_NAMES, _group_lifecycle),
    "microsoft.entra.authenticationmethodpolicy": (GENERIC_NAMES, _authentication_method_policy),
    "microsoft.entra.namedlocationpolicy": (
        ("Head Office", "Paris", "Datacenter", "VPN Egress", "Branch Offices", "Trusted Partners"),
        _named_location,
    ),
    "microsoft.teams.meetingpolicy": (
        ("Global", "Tag:AllOn", "Tag:RestrictedAnonymousAccess", "Tag:Education_Teacher", "Executives"),
        _meeting_policy,
    ),
    "microsoft.entra.user": (_user_names, _user),
    "microsoft.exchange.sharedmailbox": (
        ("Support", "Accounts Payable", "Reception", "Helpdesk", "Press Office"),
        _shared_mailbox,
    ),
}


def _instance_name(resource_type: str, index: int) -> str:
    pool = TEMPLATES.get(resource_type, (GENERIC_NAMES, _generic))[0]
    if callable(pool):
        return pool(index)
    return instance_name(resource_type, index, pool)


def generate_resource(resource_type: str, index: int, property_bytes: int = 0) -> Resource:
    """Instance `index` of `resource_type` in the tenant: same arguments, same resource."""
    type_lower = resource_type.lower()
    rng = random.Random(f"{type_lower}#{index}")
    builder = TEMPLATES.get(type_lower, (GENERIC_NAMES, _generic))[1]
    name = _instance_name(type_lower, index)
    dsc = dsc_resource_name(type_lower)
    display_name = dsc if (type_lower in SINGLETON_TYPES and index == 0) else f"{dsc}-{name}"
    properties = builder(rng, name, index)
    if property_bytes > 0:
        properties["LargeValue"] = _filler(rng, property_bytes)
    return {"displayName": display_name, "resourceType": type_lower, "properties": properties}


def generate_resources(resource_type: str, count: int, property_bytes: int = 0) -> list[Resource]:
    return [generate_resource(resource_type, index, property_bytes) for index in range(count)]
