"""UTCM prerequisites: the service principals, the Graph and Exchange grants per workload, and the directory roles."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from snapshot.catalogue import workload
from tests.infra.bicep import (
    APP_REGISTRATION,
    BICEP_FILES,
    GRAPH,
    INFRA,
    body,
    condition,
    decorator,
    parse,
    resolved_strings,
    resources_of_type,
    variable,
)

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
UTCM_APP_ID = "03b07b79-c5bc-4b5e-9bfa-13acf4a99998"
M365_ADMIN_SERVICES_APP_ID = "6b91db1b-f05b-405a-a0b2-e3f60b28d645"

# Entra role template ids (https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference).
TEAMS_READER = "1076ac91-f3d9-41a7-a339-dcdf5f480acc"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
SECURITY_READER = "5d6b6bb7-de71-4623-b4af-96380a352509"

WORKLOADS = {"Entra", "Intune", "Teams", "Exchange", "SecurityAndCompliance"}


def graph_grants() -> dict[str, dict[str, Any]]:
    return resources_of_type(parse(GRAPH), "Microsoft.Graph/appRoleAssignedTo")


def service_principal_app_id(name: str) -> str:
    template = parse(GRAPH)
    app_id = body(template["resources"][name])["appId"]
    return str(variable(template, app_id)) if app_id in template["variables"] else str(app_id)


def created_service_principals() -> set[str]:
    return {
        service_principal_app_id(name) for name in resources_of_type(parse(GRAPH), "Microsoft.Graph/servicePrincipals")
    }


def test_graph_extension_is_configured() -> None:
    assert "microsoftGraphV1" in parse(GRAPH)["extensions"]
    config = json.loads((INFRA / "bicepconfig.json").read_text())
    reference = config["extensions"]["microsoftGraphV1"]
    assert re.fullmatch(
        r"br:mcr\.microsoft\.com/bicep/extensions/microsoftgraph/v1\.0:\d+\.\d+\.\d+(-preview)?", reference
    )
    # The multi-tenant app registration (tenancy=multi) uses the same extension, by the same name.
    assert "microsoftGraphV1" in parse(APP_REGISTRATION)["extensions"]
    for path in BICEP_FILES:
        if path not in (GRAPH, APP_REGISTRATION):
            assert not parse(path).get("extensions"), f"{path.name}: only the Graph files use the Graph extension"


def test_app_identity_gets_configuration_monitoring_read_write() -> None:
    grant = body(graph_grants()["appConfigurationMonitoring"])
    assert grant["principalId"] == "functionAppPrincipalId"
    assert grant["resourceId"]["operator"]["operands"] == {"operand_1": "graphSp", "operand_2": "id"}
    assert "ConfigurationMonitoring.ReadWrite.All" in resolved_strings(parse(GRAPH), grant["appRoleId"])
    assert service_principal_app_id("graphSp") == GRAPH_APP_ID
    assert parse(GRAPH)["resources"]["graphSp"]["existing"] is True


def test_app_identity_grant_is_skipped_only_without_a_principal() -> None:
    """In a customer tenant (tenancy=multi) admin consent grants the app its permission: the UTCM steps run alone."""
    parameter = parse(GRAPH)["parameters"]["functionAppPrincipalId"]
    assert parameter["default"] == ""
    assert condition(parse(GRAPH)["resources"]["appConfigurationMonitoring"]) == {
        "operator": {
            "type": "not",
            "operands": {
                "bool_value": {"function": {"type": "empty", "parameters": {"item_to_test": "functionAppPrincipalId"}}}
            },
        }
    }
    # The home tenant's command (infra/README.md, step 3) still passes the identity.
    readme = (INFRA / "README.md").read_text()
    assert "-f infra/graph-permissions.bicep \\\n  -p functionAppPrincipalId=<functionAppPrincipalId>" in readme


def test_utcm_and_m365_admin_services_service_principals_are_provisioned() -> None:
    """Point 2: UTCM's setup page says both service principals must exist in the tenant."""
    assert created_service_principals() == {UTCM_APP_ID, M365_ADMIN_SERVICES_APP_ID}


def test_utcm_graph_roles_per_workload() -> None:
    assert variable(parse(GRAPH), "utcmGraphRolesByWorkload") == {
        "Entra": [
            "Policy.Read.All",
            "Application.Read.All",
            "Group.Read.All",
            "User.Read.All",
            "RoleManagement.Read.Directory",
            "Agreement.Read.All",
        ],
        "Intune": [
            "DeviceManagementConfiguration.Read.All",
            "DeviceManagementManagedDevices.Read.All",
            "DeviceManagementApps.Read.All",
            "DeviceManagementRBAC.Read.All",
            "DeviceManagementServiceConfig.Read.All",
        ],
        "Teams": ["Organization.Read.All"],
        "Exchange": [],
        "SecurityAndCompliance": [],
    }


def test_utcm_directory_roles_per_workload() -> None:
    """Point 2: Teams Reader (not Global Reader) for Teams; Security Reader for Security & Compliance."""
    roles = variable(parse(GRAPH), "utcmDirectoryRolesByWorkload")
    template_ids = {name: [role["roleTemplateId"] for role in entries] for name, entries in roles.items()}
    assert template_ids == {
        "Entra": [],
        "Intune": [],
        "Teams": [TEAMS_READER],
        "Exchange": [GLOBAL_READER],
        "SecurityAndCompliance": [SECURITY_READER],
    }
    assert {role["displayName"] for entries in roles.values() for role in entries} == {
        "Teams Reader",
        "Global Reader",
        "Security Reader",
    }


def test_directory_roles_of_the_chosen_workloads_are_an_output() -> None:
    template = parse(GRAPH)
    chosen = resolved_strings(template, variable(template, "utcmDirectoryRoles"))
    assert {"workloads", "utcmDirectoryRolesByWorkload"} <= chosen
    assert template["outputs"]["utcmDirectoryRoles"]["value"] == "utcmDirectoryRoles"
    assert template["outputs"]["utcmServicePrincipalId"]["value"]["operator"]["operands"]["operand_1"] == "utcmSp"


def test_every_workload_of_the_catalogue_is_selectable() -> None:
    """Point 2: the catalogue accepts securityAndCompliance types, so the workload can be chosen too."""
    workloads = parse(GRAPH)["parameters"]["workloads"]
    assert workloads["default"] == ["Entra"]
    allowed = set(decorator(workloads, "allowed"))
    assert allowed == WORKLOADS
    catalogue = {
        workload(f"microsoft.{name}.x").lower()
        for name in ("entra", "exchange", "intune", "securityAndCompliance", "teams")
    }
    assert {name.lower() for name in allowed} == catalogue
    for name in ("utcmGraphRolesByWorkload", "utcmDirectoryRolesByWorkload"):
        assert set(variable(parse(GRAPH), name)) == WORKLOADS, name


def test_utcm_grants_only_the_chosen_workloads_entra_by_default() -> None:
    chosen = resolved_strings(parse(GRAPH), variable(parse(GRAPH), "utcmGraphRoles"))
    assert {"workloads", "utcmGraphRolesByWorkload"} <= chosen
    declaration = graph_grants()["utcmGraphGrants"]
    assert declaration["config"]["loop_type"]["detail"] == {"item_name": "roleName", "array_name": "utcmGraphRoles"}
    grant = body(declaration)
    assert grant["principalId"]["operator"]["operands"] == {"operand_1": "utcmSp", "operand_2": "id"}
    assert grant["resourceId"]["operator"]["operands"] == {"operand_1": "graphSp", "operand_2": "id"}
    assert "roleName" in resolved_strings(parse(GRAPH), grant["appRoleId"])


@pytest.mark.parametrize("chosen", ["Exchange", "SecurityAndCompliance"])
def test_utcm_gets_exchange_manage_as_app_for_exchange_and_security_and_compliance(chosen: str) -> None:
    declaration = graph_grants()["utcmExchangeGrant"]
    assert declaration["config"]["condition"] == "grantExchange"
    grant_condition = json.dumps(variable(parse(GRAPH), "grantExchange"))
    assert f'"item_to_find": "{chosen}"' in grant_condition
    grant = body(declaration)
    assert grant["principalId"]["operator"]["operands"] == {"operand_1": "utcmSp", "operand_2": "id"}
    assert "Exchange.ManageAsApp" in resolved_strings(parse(GRAPH), grant["appRoleId"])
    assert service_principal_app_id("exchangeSp") == EXCHANGE_ONLINE_APP_ID


def test_every_graph_grant_is_accounted_for() -> None:
    assert set(graph_grants()) == {"appConfigurationMonitoring", "utcmGraphGrants", "utcmExchangeGrant"}
