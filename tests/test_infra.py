"""Offline checks of infra/: every Bicep file parses (pycep-parser), and the properties that matter hold.

No Bicep CLI runs here (CI runs `az bicep build`), so these tests read the parsed templates: hardening,
settings parity with snapshot/settings.py, the exact role set, the Graph grants and the Logic App definition.
pycep gives every expression as a small tree: a plain value, a name (parameter, variable, resource), or
{"function": {"type", "parameters"}} / {"operator": {"type", "operands"}}. The helpers below walk it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from pycep import BicepParser
from pydantic_core import PydanticUndefined

from snapshot.settings import SETTING_NAMES, Settings

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

MAIN = INFRA / "main.bicep"
STORAGE = INFRA / "modules" / "storage.bicep"
MONITORING = INFRA / "modules" / "monitoring.bicep"
FUNCTION_APP = INFRA / "modules" / "functionapp.bicep"
RBAC = INFRA / "modules" / "rbac.bicep"
GRAPH = INFRA / "graph-permissions.bicep"
LOGIC_APP = INFRA / "logicapp-sample.bicep"
WORKFLOW = INFRA / "logicapp-workflow.json"

STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
UTCM_APP_ID = "03b07b79-c5bc-4b5e-9bfa-13acf4a99998"

# App settings the host or the platform reads (not snapshot/settings.py). Keep this list small.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}

# Settings a Flex Consumption app must not have (the runtime is in functionAppConfig; no content share).
FLEX_FORBIDDEN_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTOVERVNET",
    "WEBSITE_NODE_DEFAULT_VERSION",
    "WEBSITE_TIME_ZONE",
    "WEBSITE_USE_PLACEHOLDER_DOTNETISOLATED",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
    "TZ",
    "AzureWebJobsStorage",  # a connection string (with a key): identity-based __ settings instead
}


# --- helpers -------------------------------------------------------------------------------------


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    return cast(dict[str, Any], BicepParser().parse(file_path=path))


def body(declaration: dict[str, Any]) -> dict[str, Any]:
    """The properties of a resource or module, without the loop or `if (...)` wrapper around them."""
    config: dict[str, Any] = declaration["config"]
    while "loop_type" in config or ("condition" in config and "config" in config):
        config = config["config"]
    return config


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: res
        for name, res in template.get("resources", {}).items()
        if res["type"].lower() == resource_type.lower() and not res["existing"]
    }


def only_resource(path: Path, resource_type: str) -> dict[str, Any]:
    found = resources_of_type(parse(path), resource_type)
    assert len(found) == 1, f"{path.name}: expected one {resource_type}, found {sorted(found)}"
    return body(next(iter(found.values())))


def branches(value: Any) -> list[Any]:
    """Both outcomes of a `cond ? a : b` expression (recursively); any other value as is."""
    if isinstance(value, dict) and value.get("operator", {}).get("type") == "conditional":
        operands = value["operator"]["operands"]
        return branches(operands["true_value"]) + branches(operands["false_value"])
    return [value]


def variable(template: dict[str, Any], name: str) -> Any:
    return template["variables"][name]["value"]


def unquote(key: str) -> str:
    return key[1:-1] if key.startswith("'") and key.endswith("'") else key


def object_keys(template: dict[str, Any], value: Any, bindings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Keys (and values) an object expression can have: literal objects, union(), `?:`, variables,
    parameter defaults, and `bindings` (values a module's caller passes to parameters)."""
    bindings = bindings or {}
    if isinstance(value, dict) and "function" in value:
        assert value["function"]["type"] == "union", f"cannot read the keys of {value}"
        merged: dict[str, Any] = {}
        for argument in value["function"]["parameters"].values():
            merged.update(object_keys(template, argument, bindings))
        return merged
    if isinstance(value, dict) and "operator" in value:
        merged = {}
        for branch in branches(value):
            merged.update(object_keys(template, branch, bindings))
        return merged
    if isinstance(value, dict):
        return {unquote(key): item for key, item in value.items()}
    if isinstance(value, str) and value in bindings:
        caller, expression = bindings[value]
        return object_keys(caller, expression)
    if isinstance(value, str) and value in template.get("variables", {}):
        return object_keys(template, variable(template, value), bindings)
    if isinstance(value, str) and value in template.get("parameters", {}):
        return object_keys(template, template["parameters"][value]["default"] or {}, bindings)
    raise AssertionError(f"cannot read the keys of {value!r}")


def strings(value: Any) -> Iterator[str]:
    """Every string in an expression tree (names and literals alike)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def resolved_strings(template: dict[str, Any], value: Any) -> set[str]:
    """Strings of an expression, with variable names replaced by their string values."""
    variables = template.get("variables", {})
    return {
        variables[s]["value"] if s in variables and isinstance(variables[s]["value"], str) else s
        for s in strings(value)
    }


def function_app() -> dict[str, Any]:
    return only_resource(FUNCTION_APP, "Microsoft.Web/sites")


def app_settings() -> dict[str, Any]:
    """Every app setting the function app can get (all identity options), with its Bicep value."""
    settings = only_resource(FUNCTION_APP, "Microsoft.Web/sites/config")
    assert settings["name"] == "appsettings"
    call = parse(MAIN)["modules"]["functionApp"]
    assert call["detail"]["path"] == "modules/functionapp.bicep"
    bindings = {name: (parse(MAIN), value) for name, value in body(call)["params"].items()}
    return object_keys(parse(FUNCTION_APP), settings["properties"], bindings)


def setting_has_default(name: str) -> bool:
    field = next(f for f in Settings.model_fields.values() if f.alias == name)
    return field.default is not PydanticUndefined or field.default_factory is not None


def role_assignments() -> dict[str, dict[str, Any]]:
    return resources_of_type(parse(RBAC), "Microsoft.Authorization/roleAssignments")


# --- files, parsing, descriptions ----------------------------------------------------------------


def test_the_expected_files_exist() -> None:
    expected = [MAIN, STORAGE, MONITORING, FUNCTION_APP, RBAC, GRAPH, LOGIC_APP, WORKFLOW]
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
    assert paths == {f"modules/{name}.bicep" for name in ("storage", "monitoring", "functionapp", "rbac")}
    assert parse(MAIN)["globals"]["scope"]["value"] == "resourceGroup"


def test_main_outputs_name_url_and_principal_id() -> None:
    assert {"functionAppName", "functionAppUrl", "functionAppPrincipalId"} <= set(parse(MAIN)["outputs"])


def test_bicepparam_uses_main_and_sets_only_its_parameters() -> None:
    # pycep-parser cannot parse .bicepparam (`using`), so read it as text.
    text = (INFRA / "main.bicepparam").read_text()
    assert re.search(r"^using\s+'\./main\.bicep'\s*$", text, re.MULTILINE)
    assigned = set(re.findall(r"^param\s+(\w+)\s*=", text, re.MULTILINE))
    parameters = parse(MAIN)["parameters"]
    assert assigned <= set(parameters), f"unknown parameters: {assigned - set(parameters)}"
    required = {name for name, param in parameters.items() if param["default"] is None}
    assert required <= assigned, f"parameters without a value: {required - assigned}"


# --- function app hardening ----------------------------------------------------------------------


def test_function_app_is_https_only() -> None:
    assert function_app()["properties"]["httpsOnly"] is True


def test_function_app_min_tls_1_2() -> None:
    assert function_app()["properties"]["siteConfig"]["minTlsVersion"] == "1.2"


def test_function_app_ftps_disabled() -> None:
    assert function_app()["properties"]["siteConfig"]["ftpsState"] == "Disabled"


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


def test_identity_is_system_assigned_by_default_user_assigned_as_an_option() -> None:
    types = {identity["type"] for identity in branches(function_app()["identity"])}
    assert types == {"SystemAssigned", "UserAssigned"}
    identity_type = parse(MAIN)["parameters"]["identityType"]
    assert identity_type["default"] == "SystemAssigned"
    assert parse(FUNCTION_APP)["parameters"]["identityType"]["default"] == "SystemAssigned"
    assert body(parse(MAIN)["modules"]["functionApp"])["params"]["identityType"] == "identityType"


def test_deployment_package_is_read_with_the_managed_identity() -> None:
    storage = function_app()["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    auth_types = {auth["type"] for auth in branches(storage["authentication"])}
    assert auth_types <= {"SystemAssignedIdentity", "UserAssignedIdentity"}
    assert "SystemAssignedIdentity" in auth_types


def test_deployment_container_is_created_private() -> None:
    container = only_resource(STORAGE, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container["properties"]["publicAccess"] == "None"


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
    assert properties["WorkspaceResourceId"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "logAnalytics", "operand_2": "id"}}
    }


def test_snapshot_tables_are_the_tables_of_settings_py() -> None:
    prefix = "Prefix"
    settings = Settings.model_validate({"SNAPSHOT_TABLE_PREFIX": prefix})
    table_properties = [name for name in dir(Settings) if name.endswith("_table")]
    suffixes = {getattr(settings, name).removeprefix(prefix) for name in table_properties}
    assert set(variable(parse(MAIN), "snapshotTableSuffixes")) == suffixes
    names = variable(parse(MAIN), "snapshotTableNames")
    assert names["loop_type"]["detail"]["array_name"] == "snapshotTableSuffixes"
    assert names["config"] == "${appSnapshotSettings.SNAPSHOT_TABLE_PREFIX}${suffix}"
    assert body(parse(MAIN)["modules"]["storage"])["params"]["tableNames"] == "snapshotTableNames"
    tables = resources_of_type(parse(STORAGE), "Microsoft.Storage/storageAccounts/tableServices/tables")
    assert [t["config"]["loop_type"]["detail"]["array_name"] for t in tables.values()] == ["tableNames"]


# --- app settings parity with snapshot/settings.py -----------------------------------------------


@pytest.mark.parametrize("name", SETTING_NAMES)
def test_setting_is_set_by_bicep_or_defaulted_in_settings(name: str) -> None:
    assert name in app_settings() or setting_has_default(name), f"{name}: add it to snapshotSettingDefaults"


def test_every_app_setting_is_read_by_something() -> None:
    unread = set(app_settings()) - set(SETTING_NAMES) - PLATFORM_SETTINGS
    assert unread == set()


def test_bicep_defaults_are_those_of_settings_py() -> None:
    defaults = object_keys(parse(MAIN), variable(parse(MAIN), "snapshotSettingDefaults"))
    assert set(defaults) <= set(SETTING_NAMES)
    for name, value in defaults.items():
        field = next(f for f in Settings.model_fields.values() if f.alias == name)
        expected = str(field.default).lower() if isinstance(field.default, bool) else str(field.default)
        assert value == expected, name


def test_binding_expressions_are_app_settings() -> None:
    """`%NAME%` in a trigger binding is resolved by the host from app settings, never from Settings."""
    sources = [ROOT / "function_app.py", *sorted((ROOT / "snapshot").rglob("*.py"))]
    referenced = {name for path in sources for name in re.findall(r"%([A-Za-z_][A-Za-z0-9_]*)%", path.read_text())}
    assert "SNAPSHOT_POLL_SCHEDULE" in referenced
    assert referenced - set(app_settings()) == set()


def test_no_flex_consumption_forbidden_setting() -> None:
    assert set(app_settings()) & FLEX_FORBIDDEN_SETTINGS == set()
    for path in (MAIN, FUNCTION_APP):
        text = path.read_text()
        assert "AccountKey" not in text
        assert "listKeys" not in text


def test_host_storage_is_identity_based() -> None:
    settings = app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    for service in ("blob", "queue", "table"):
        assert f"AzureWebJobsStorage__{service}ServiceUri" in settings


def test_app_insights_is_reached_with_entra_auth() -> None:
    settings = app_settings()
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in settings
    values = branches(settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"])
    assert values and all("Authorization=AAD" in value for value in values)


def test_client_id_settings_only_for_a_user_assigned_identity() -> None:
    client_id_settings = variable(parse(FUNCTION_APP), "userAssignedSettings")
    condition = client_id_settings["operator"]["operands"]["condition"]
    assert variable(parse(FUNCTION_APP), condition) == {
        "operator": {"type": "equals", "operands": {"operand_1": "identityType", "operand_2": "UserAssigned"}}
    }
    user_assigned, system_assigned = branches(client_id_settings)
    assert set(user_assigned) == {"AZURE_CLIENT_ID", "AzureWebJobsStorage__clientId"}
    assert system_assigned == {}


# --- role assignments ----------------------------------------------------------------------------


def test_role_assignments_are_only_in_the_rbac_module() -> None:
    for path in BICEP_FILES:
        if path != RBAC:
            assert resources_of_type(parse(path), "Microsoft.Authorization/roleAssignments") == {}, path.name


def test_roles_are_exactly_the_intended_ones() -> None:
    intended = {STORAGE_BLOB_DATA_OWNER, STORAGE_TABLE_DATA_CONTRIBUTOR, MONITORING_METRICS_PUBLISHER}
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
    scope_id = {
        "operator": {"type": "property_accessor", "operands": {"operand_1": assignment["scope"], "operand_2": "id"}}
    }
    assert list(guid["parameters"].values()) == [
        scope_id,
        assignment["properties"]["principalId"],
        definition["parameters"]["resource_name_1"],
    ]
    principal_type = assignment["properties"]["principalType"]
    if assignment["properties"]["principalId"] == "principalId":
        assert principal_type == "ServicePrincipal"
    else:
        assert assignment["properties"]["principalId"] == "deployerPrincipalId"
        assert principal_type == "deployerPrincipalType"


def test_deployer_roles_are_off_by_default() -> None:
    rbac = parse(RBAC)
    assert rbac["parameters"]["deployerPrincipalId"]["default"] == ""
    assert rbac["parameters"]["deployerPrincipalType"]["default"] == "User"
    assert parse(MAIN)["parameters"]["deployerPrincipalId"]["default"] == ""
    deployer_roles = variable(rbac, "deployerStorageRoleIds")["operator"]["operands"]
    assert deployer_roles["condition"] == {
        "function": {"type": "empty", "parameters": {"item_to_test": "deployerPrincipalId"}}
    }
    assert deployer_roles["true_value"] == []


# --- Microsoft Graph permissions -----------------------------------------------------------------


def graph_grants() -> dict[str, dict[str, Any]]:
    return resources_of_type(parse(GRAPH), "Microsoft.Graph/appRoleAssignedTo")


def service_principal_app_id(name: str) -> str:
    template = parse(GRAPH)
    app_id = body(template["resources"][name])["appId"]
    return str(variable(template, app_id)) if app_id in template["variables"] else str(app_id)


def test_graph_extension_is_configured() -> None:
    assert "microsoftGraphV1" in parse(GRAPH)["extensions"]
    config = json.loads((INFRA / "bicepconfig.json").read_text())
    reference = config["extensions"]["microsoftGraphV1"]
    assert re.fullmatch(
        r"br:mcr\.microsoft\.com/bicep/extensions/microsoftgraph/v1\.0:\d+\.\d+\.\d+(-preview)?", reference
    )
    for path in BICEP_FILES:
        if path != GRAPH:
            assert not parse(path).get("extensions"), f"{path.name}: only graph-permissions.bicep uses Graph"


def test_app_identity_gets_configuration_monitoring_read_write() -> None:
    grant = body(graph_grants()["appConfigurationMonitoring"])
    assert grant["principalId"] == "functionAppPrincipalId"
    assert grant["resourceId"]["operator"]["operands"] == {"operand_1": "graphSp", "operand_2": "id"}
    assert "ConfigurationMonitoring.ReadWrite.All" in resolved_strings(parse(GRAPH), grant["appRoleId"])
    assert service_principal_app_id("graphSp") == GRAPH_APP_ID
    assert parse(GRAPH)["resources"]["graphSp"]["existing"] is True


def test_utcm_service_principal_is_created() -> None:
    assert service_principal_app_id("utcmSp") == UTCM_APP_ID
    assert parse(GRAPH)["resources"]["utcmSp"]["existing"] is False


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
    }


def test_utcm_grants_only_the_chosen_workloads_entra_by_default() -> None:
    workloads = parse(GRAPH)["parameters"]["workloads"]
    assert workloads["default"] == ["Entra"]
    allowed = next(d["argument"] for d in workloads["decorators"] if d["type"] == "allowed")
    assert set(allowed) == {"Entra", "Intune", "Teams", "Exchange"}
    chosen = resolved_strings(parse(GRAPH), variable(parse(GRAPH), "utcmGraphRoles"))
    assert {"workloads", "utcmGraphRolesByWorkload"} <= chosen
    declaration = graph_grants()["utcmGraphGrants"]
    assert declaration["config"]["loop_type"]["detail"] == {"item_name": "roleName", "array_name": "utcmGraphRoles"}
    grant = body(declaration)
    assert grant["principalId"]["operator"]["operands"] == {"operand_1": "utcmSp", "operand_2": "id"}
    assert grant["resourceId"]["operator"]["operands"] == {"operand_1": "graphSp", "operand_2": "id"}
    assert "roleName" in resolved_strings(parse(GRAPH), grant["appRoleId"])


def test_utcm_gets_exchange_manage_as_app_only_for_exchange() -> None:
    declaration = graph_grants()["utcmExchangeGrant"]
    assert declaration["config"]["condition"] == "grantExchange"
    assert variable(parse(GRAPH), "grantExchange") == {
        "function": {"type": "contains", "parameters": {"container": "workloads", "item_to_find": "Exchange"}}
    }
    grant = body(declaration)
    assert grant["principalId"]["operator"]["operands"] == {"operand_1": "utcmSp", "operand_2": "id"}
    assert "Exchange.ManageAsApp" in resolved_strings(parse(GRAPH), grant["appRoleId"])
    assert service_principal_app_id("exchangeSp") == EXCHANGE_ONLINE_APP_ID


def test_every_graph_grant_is_accounted_for() -> None:
    assert set(graph_grants()) == {"appConfigurationMonitoring", "utcmGraphGrants", "utcmExchangeGrant"}


# --- sample Logic App ----------------------------------------------------------------------------


@functools.cache
def workflow() -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(WORKFLOW.read_text())
    return definition


def http_action() -> dict[str, Any]:
    actions = [a for a in workflow()["actions"].values() if a["type"] == "Http"]
    assert len(actions) == 1
    return actions[0]


def test_logic_app_loads_the_workflow_definition() -> None:
    app = only_resource(LOGIC_APP, "Microsoft.Logic/workflows")
    assert app["properties"]["definition"]["function"]["type"] == "load_json_content"
    assert app["properties"]["definition"]["function"]["parameters"]["file_path"] == WORKFLOW.name
    required = {name for name, p in workflow()["parameters"].items() if "defaultValue" not in p}
    assert required <= set(app["properties"]["parameters"])


def test_logic_app_passes_the_function_key_securely() -> None:
    assert workflow()["parameters"]["functionKey"]["type"] == "SecureString"
    app = only_resource(LOGIC_APP, "Microsoft.Logic/workflows")
    key = app["properties"]["parameters"]["functionKey"]["value"]["operator"]["operands"]
    list_keys = key["operand_1"]["function"]
    assert list_keys["parameters"]["func_name"] == "listKeys"
    assert (
        list_keys["parameters"]["resource_identifier"]["function"]["parameters"]["resource_type"]
        == "Microsoft.Web/sites/host"
    )
    assert key["operand_2"]["operator"]["operands"] == {"operand_1": "functionKeys", "operand_2": "default"}
    assert http_action()["inputs"]["queries"] == {"code": "@parameters('functionKey')"}


def test_logic_app_runs_weekly() -> None:
    (trigger,) = workflow()["triggers"].values()
    assert trigger["type"] == "Recurrence"
    assert trigger["recurrence"]["frequency"] == "Week"
    assert trigger["recurrence"]["interval"] == 1


def test_logic_app_posts_to_start_snapshot() -> None:
    inputs = http_action()["inputs"]
    assert inputs["method"] == "POST"
    assert inputs["uri"].startswith("https://")
    assert inputs["uri"].endswith("/api/snapshots")
    assert inputs["headers"]["Idempotency-Key"] == "@{workflow().run.name}"
    assert set(inputs["body"]) == {"displayName", "resources"}


def test_logic_app_display_name_follows_graph_rules() -> None:
    template = http_action()["inputs"]["body"]["displayName"]
    rendered = re.sub(r"@\{formatDateTime\(utcNow\(\), '([^']*)'\)\}", "20260427 0600", template)
    assert "@" not in rendered
    assert re.fullmatch(r"[A-Za-z0-9 ]{8,32}", rendered)


def test_logic_app_keeps_the_async_pattern_and_retries() -> None:
    action = http_action()
    assert "DisableAsyncPattern" not in json.dumps(action)
    retry = action["inputs"]["retryPolicy"]
    assert retry["type"] in {"exponential", "fixed"}
    assert retry["count"] >= 1


def test_logic_app_branches_on_success_and_failure() -> None:
    (name,) = [n for n, a in workflow()["actions"].items() if a["type"] == "Http"]
    after = [a["runAfter"].get(name) for a in workflow()["actions"].values() if name in a.get("runAfter", {})]
    assert ["Succeeded"] in after
    assert any(statuses and {"Failed", "TimedOut"} <= set(statuses) for statuses in after)


# --- azd and CI ----------------------------------------------------------------------------------


def test_azure_yaml_provisions_main_and_deploys_the_function_app() -> None:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert config["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    assert config["services"]["api"] == {"project": ".", "language": "python", "host": "function"}
    call = body(parse(MAIN)["modules"]["functionApp"])
    assert "'azd-service-name'" in json.dumps(call["params"]["tags"])


def test_ci_runs_the_tests_and_builds_every_bicep_file() -> None:
    yaml = pytest.importorskip("yaml")
    jobs = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())["jobs"]
    runs = {name: "\n".join(step.get("run", "") for step in job["steps"]) for name, job in jobs.items()}
    uses = {
        name: [step.get("uses", "") + json.dumps(step.get("with", {})) for step in job["steps"]]
        for name, job in jobs.items()
    }
    assert "make test" in runs["test"]
    assert any("setup-python" in u and '"3.11"' in u for u in uses["test"])
    assert any("setup-node" in u and '"20"' in u for u in uses["test"])
    assert "find infra -name '*.bicep'" in runs["bicep"]
    assert "az bicep build --file" in runs["bicep"]
    assert "az bicep build-params --file infra/main.bicepparam" in runs["bicep"]
