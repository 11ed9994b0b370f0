"""Offline checks of infra/: every Bicep file parses, and the hardening, Flex Consumption and role properties hold."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep import (
    APP_REGISTRATION,
    BICEP_FILES,
    FUNCTION_APP,
    IDENTITY,
    INFRA,
    MAIN,
    MONITORING,
    RBAC,
    ROOT,
    STORAGE,
    body,
    branches,
    condition,
    modules_calling,
    only_resource,
    parse,
    property_access,
    resources_of_type,
    variable,
)

STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
STORAGE_QUEUE_DATA_READER = "19e7f393-937e-4f77-808e-94535e297925"
STORAGE_QUEUE_DATA_MESSAGE_PROCESSOR = "8a0f0c08-91a1-4084-bc3d-661d67233fed"
STORAGE_QUEUE_DATA_MESSAGE_SENDER = "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"

# Site properties Flex Consumption does not support (ftpsState: FTPS is not supported; the rest moved to
# functionAppConfig or are not valid), from "Flex Consumption plan deprecations":
# https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
FLEX_UNSUPPORTED_SITE_PROPERTIES = {
    "ftpsState",
    "use32BitWorkerProcess",
    "isReserved",
    "isXenon",
    "windowsFxVersion",
    "alwaysOn",
    "preWarmedInstanceCount",
    "functionAppScaleLimit",
    "containerSize",
    "javaVersion",
    "powerShellVersion",
    "netFrameworkVersion",
    "linuxFxVersion",
}


def function_app() -> dict[str, Any]:
    return only_resource(FUNCTION_APP, "Microsoft.Web/sites")


def keys_of(value: Any) -> set[str]:
    """Every object key anywhere in a (parsed) value, lower-cased."""
    if isinstance(value, dict):
        return {str(k).lower() for k in value} | {k for item in value.values() for k in keys_of(item)}
    if isinstance(value, list):
        return {k for item in value for k in keys_of(item)}
    return set()


# --- files, parsing, descriptions ----------------------------------------------------------------


def test_the_expected_files_exist() -> None:
    expected = [MAIN, STORAGE, MONITORING, FUNCTION_APP, IDENTITY, RBAC, APP_REGISTRATION]
    expected += [
        INFRA / name for name in ("graph-permissions.bicep", "logicapp-sample.bicep", "logicapp-workflow.json")
    ]
    expected += [INFRA / "main.bicepparam", INFRA / "bicepconfig.json", INFRA / "README.md"]
    expected += [ROOT / "azure.yaml", ROOT / ".github" / "workflows" / "ci.yml"]
    assert [str(p.relative_to(ROOT)) for p in expected if not p.is_file()] == []


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_bicep_file_parses(path: Path) -> None:
    template = parse(path)
    assert template.get("resources") or template.get("modules")


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_parameter_has_a_description(path: Path) -> None:
    undescribed = [
        name
        for name, param in parse(path).get("parameters", {}).items()
        if not any(d["type"] == "description" and str(d["argument"]).strip() for d in param["decorators"])
    ]
    assert undescribed == []


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_modules_are_local_files_that_exist(path: Path) -> None:
    for name, module in parse(path).get("modules", {}).items():
        assert module["type"] == "local", f"{name}: registry modules need a restore; write the resources"
        assert (path.parent / module["detail"]["path"]).is_file(), f"{name}: {module['detail']['path']} missing"


def test_main_has_one_module_per_concern() -> None:
    paths = {module["detail"]["path"] for module in parse(MAIN)["modules"].values()}
    concerns = ("storage", "monitoring", "identity", "functionapp", "rbac", "app-registration")
    assert paths == {f"modules/{name}.bicep" for name in concerns}
    assert parse(MAIN)["globals"]["scope"]["value"] == "resourceGroup"


def test_main_outputs_name_url_and_principal_id() -> None:
    assert {"functionAppName", "functionAppUrl", "functionAppPrincipalId"} <= set(parse(MAIN)["outputs"])


# --- function app hardening ----------------------------------------------------------------------


def test_function_app_is_https_only() -> None:
    assert function_app()["properties"]["httpsOnly"] is True


def test_function_app_min_tls_1_2() -> None:
    assert function_app()["properties"]["siteConfig"]["minTlsVersion"] == "1.2"


def test_function_app_sets_no_site_property_flex_consumption_does_not_support() -> None:
    """Point 4: Flex Consumption lists ftpsState, alwaysOn, ... as unsupported; setting them breaks or is ignored."""
    for path in (FUNCTION_APP, MAIN):
        for declaration in resources_of_type(parse(path), "Microsoft.Web/sites").values():
            used = keys_of(body(declaration)) & {p.lower() for p in FLEX_UNSUPPORTED_SITE_PROPERTIES}
            assert used == set(), f"{path.name}: remove {sorted(used)}"


@pytest.mark.parametrize("kind", ["ftp", "scm"])
def test_basic_publishing_credentials_disabled(kind: str) -> None:
    policies = resources_of_type(parse(FUNCTION_APP), "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    matching = [body(policy) for policy in policies.values() if body(policy)["name"] == kind]
    assert len(matching) == 1
    assert matching[0]["properties"]["allow"] is False
    assert matching[0]["parent"] in resources_of_type(parse(FUNCTION_APP), "Microsoft.Web/sites")


def test_plan_is_flex_consumption_fc1() -> None:
    plan = only_resource(FUNCTION_APP, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True  # Linux


def test_function_app_is_linux_python_3_11() -> None:
    app = function_app()
    assert app["kind"] == "functionapp,linux"
    assert app["properties"]["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}


def test_deployment_package_is_read_with_the_managed_identity() -> None:
    storage = function_app()["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    auth_types = {auth["type"] for auth in branches(storage["authentication"])}
    assert auth_types == {"SystemAssignedIdentity", "UserAssignedIdentity"}


def test_deployment_container_is_created_private() -> None:
    container = only_resource(STORAGE, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container["properties"]["publicAccess"] == "None"


# --- identity: user-assigned by default, roles before the site ----------------------------------


def test_identity_is_user_assigned_by_default_system_assigned_as_an_option() -> None:
    types = {identity["type"] for identity in branches(function_app()["identity"])}
    assert types == {"SystemAssigned", "UserAssigned"}
    identity_type = parse(MAIN)["parameters"]["identityType"]
    assert identity_type["default"] == "UserAssigned"
    assert parse(FUNCTION_APP)["parameters"]["identityType"]["default"] == "UserAssigned"
    assert body(parse(MAIN)["modules"]["functionApp"])["params"]["identityType"] == "identityType"


def test_user_assigned_identity_and_its_roles_exist_before_the_site() -> None:
    """Point 4: the identity module and its role assignments deploy before the function app module."""
    main = parse(MAIN)
    (identity_name,) = modules_calling(MAIN, "modules/identity.bicep")
    rbac_calls = modules_calling(MAIN, "modules/rbac.bicep")
    before = [name for name, call in rbac_calls.items() if identity_name in str(body(call)["params"]["principalId"])]
    assert len(before) == 1, "one rbac call must grant the user-assigned identity"
    assert condition(main["modules"][identity_name]) == condition(rbac_calls[before[0]]) == "useUserAssigned"
    assert variable(main, "useUserAssigned") == {
        "operator": {"type": "equals", "operands": {"operand_1": "identityType", "operand_2": "UserAssigned"}}
    }
    app_call = body(main["modules"]["functionApp"])
    assert before[0] in app_call.get("dependsOn", []), "the site must wait for the identity's roles"
    for name in ("userAssignedIdentityId", "userAssignedClientId"):
        assert identity_name in str(app_call["params"][name])


def test_system_assigned_identity_gets_its_roles_after_the_site() -> None:
    rbac_calls = modules_calling(MAIN, "modules/rbac.bicep")
    after = [name for name, call in rbac_calls.items() if "functionApp" in str(body(call)["params"]["principalId"])]
    assert len(after) == 1
    assert condition(rbac_calls[after[0]]) == {
        "operator": {"type": "not", "operands": {"bool_value": "useUserAssigned"}}
    }
    outputs = property_access("outputs", "systemAssignedPrincipalId")
    assert body(rbac_calls[after[0]])["params"]["principalId"] == property_access("functionApp", outputs)


def test_deployer_roles_come_from_azd_principal_id() -> None:
    """Point 4: the deployer's data-plane roles use AZURE_PRINCIPAL_ID (azd) when it is set."""
    text = (INFRA / "main.bicepparam").read_text()
    assert re.search(r"^param deployerPrincipalId = readEnvironmentVariable\('AZURE_PRINCIPAL_ID', ''\)", text, re.M)
    for call in modules_calling(MAIN, "modules/rbac.bicep").values():
        assert body(call)["params"]["deployerPrincipalId"] == "deployerPrincipalId"


# --- storage and monitoring hardening ------------------------------------------------------------


def storage_account() -> dict[str, Any]:
    return only_resource(STORAGE, "Microsoft.Storage/storageAccounts")["properties"]


def test_storage_shared_key_access_disabled() -> None:
    assert storage_account()["allowSharedKeyAccess"] is False


def test_storage_blob_public_access_disabled() -> None:
    assert storage_account()["allowBlobPublicAccess"] is False


def test_storage_min_tls_1_2() -> None:
    assert storage_account()["minimumTlsVersion"] == "TLS1_2"


def test_storage_https_only() -> None:
    assert storage_account()["supportsHttpsTrafficOnly"] is True


def test_app_insights_local_auth_disabled() -> None:
    properties = only_resource(MONITORING, "Microsoft.Insights/components")["properties"]
    assert properties["DisableLocalAuth"] is True
    assert properties["WorkspaceResourceId"] == property_access("logAnalytics", "id")


# --- role assignments ----------------------------------------------------------------------------


def role_assignments() -> dict[str, dict[str, Any]]:
    return resources_of_type(parse(RBAC), "Microsoft.Authorization/roleAssignments")


def test_role_assignments_are_only_in_the_rbac_module() -> None:
    for path in BICEP_FILES:
        if path != RBAC:
            assert resources_of_type(parse(path), "Microsoft.Authorization/roleAssignments") == {}, path.name


def test_roles_are_exactly_the_intended_ones() -> None:
    intended = {STORAGE_BLOB_DATA_OWNER, STORAGE_TABLE_DATA_CONTRIBUTOR, MONITORING_METRICS_PUBLISHER}
    intended |= {STORAGE_QUEUE_DATA_READER, STORAGE_QUEUE_DATA_MESSAGE_PROCESSOR, STORAGE_QUEUE_DATA_MESSAGE_SENDER}
    guids = set(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", RBAC.read_text(), re.I))
    assert guids == intended
    assert set(variable(parse(RBAC), "roleIds").values()) == intended


def test_the_app_gets_each_role_on_its_scope() -> None:
    rbac = parse(RBAC)
    role_names = {value: name for name, value in variable(rbac, "roleIds").items()}
    granted: set[tuple[str, str]] = set()
    for declaration in role_assignments().values():
        assignment = body(declaration)
        if assignment["properties"]["principalId"] != "principalId":
            continue
        loop = declaration["config"].get("loop_type")
        role_expr = assignment["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        role_refs = variable(rbac, loop["detail"]["array_name"]) if loop else [role_expr]
        for ref in role_refs:
            role_name = ref["operator"]["operands"]["operand_2"]
            granted.add((role_name, assignment["scope"]))
    assert granted == {
        ("storageBlobDataOwner", "storage"),
        ("storageTableDataContributor", "storage"),
        ("storageQueueDataReader", "storage"),
        ("storageQueueDataMessageProcessor", "storage"),
        ("storageQueueDataMessageSender", "storage"),
        ("monitoringMetricsPublisher", "applicationInsights"),
    }
    assert set(role_names.values()) == {name for name, _ in granted}


@pytest.mark.parametrize("name", sorted(role_assignments()))
def test_role_assignment_is_well_formed(name: str) -> None:
    assignment = body(role_assignments()[name])
    definition = assignment["properties"]["roleDefinitionId"]["function"]
    assert definition["type"] == "subscription_resource_id"
    assert definition["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
    guid = assignment["name"]["function"]
    assert guid["type"] == "guid"
    assert list(guid["parameters"].values()) == [
        property_access(assignment["scope"], "id"),
        assignment["properties"]["principalId"],
        definition["parameters"]["resource_name_1"],
    ]
    principal_type = assignment["properties"]["principalType"]
    if assignment["properties"]["principalId"] == "principalId":
        assert principal_type == "ServicePrincipal"
    else:
        assert assignment["properties"]["principalId"] == "deployerPrincipalId"
        assert principal_type == "deployerPrincipalType"


def test_deployer_roles_are_off_without_a_principal() -> None:
    rbac = parse(RBAC)
    assert rbac["parameters"]["deployerPrincipalId"]["default"] == ""
    assert rbac["parameters"]["deployerPrincipalType"]["default"] == "User"
    assert parse(MAIN)["parameters"]["deployerPrincipalId"]["default"] == ""
    deployer_roles = variable(rbac, "deployerStorageRoleIds")["operator"]["operands"]
    assert deployer_roles["condition"] == {
        "function": {"type": "empty", "parameters": {"item_to_test": "deployerPrincipalId"}}
    }
    assert deployer_roles["true_value"] == []
