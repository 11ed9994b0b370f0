"""Many tenants: the tenancy parameter, the multi-tenant app registration and its federated credential, the
fan-out queues and their least-privilege roles, the tenancy app settings, and the README steps the app names."""

from __future__ import annotations

import re
from typing import Any

import pytest

from snapshot.onboarding import UTCM_APP_ID, TenantStatus
from snapshot.queues import DRIFTS_QUEUE, POISON_SUFFIX, POLL_QUEUE
from snapshot.settings import Settings
from tests.infra.bicep import (
    APP_REGISTRATION,
    BICEP_FILES,
    FUNCTION_APP,
    INFRA,
    MAIN,
    PARAMS,
    RBAC,
    ROOT,
    STORAGE,
    body,
    condition,
    decorator,
    modules_calling,
    object_keys,
    only_resource,
    parse,
    property_access,
    resolved_strings,
    resources_of_type,
    variable,
)
from tests.infra.test_settings_parity import app_settings

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
STORAGE_QUEUE_DATA_READER = "19e7f393-937e-4f77-808e-94535e297925"
STORAGE_QUEUE_DATA_MESSAGE_PROCESSOR = "8a0f0c08-91a1-4084-bc3d-661d67233fed"
STORAGE_QUEUE_DATA_MESSAGE_SENDER = "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"
# Creates, deletes and changes queues too: nothing here needs it (storage.bicep creates every queue).
STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"

README = INFRA / "README.md"
ONBOARDING_HEADING = "Onboarding a customer tenant"
MULTI_HEADING = "Deploying with tenancy=multi"


def equals(left: Any, right: Any) -> dict[str, Any]:
    return {"operator": {"type": "equals", "operands": {"operand_1": left, "operand_2": right}}}


def both(left: Any, right: Any) -> dict[str, Any]:
    return {"operator": {"type": "and", "operands": {"operand_1": left, "operand_2": right}}}


def output_of(module: str, name: str) -> dict[str, Any]:
    """The tree of `module!.outputs.name` (pycep drops the `!`)."""
    return property_access(module, property_access("outputs", name))


def app_registration_call() -> tuple[str, dict[str, Any]]:
    calls = modules_calling(MAIN, "modules/app-registration.bicep")
    assert len(calls) == 1, f"one call of app-registration.bicep, found {sorted(calls)}"
    return next(iter(calls.items()))


def application() -> dict[str, Any]:
    return only_resource(APP_REGISTRATION, "Microsoft.Graph/applications")


def federated_credentials() -> list[dict[str, Any]]:
    """The app's federated identity credentials (pycep keeps the nested resource's api version in its type)."""
    return [
        body(declaration)
        for declaration in parse(APP_REGISTRATION)["resources"].values()
        if declaration["type"].split("@")[0].lower() == "microsoft.graph/applications/federatedidentitycredentials"
    ]


# --- the tenancy parameter -----------------------------------------------------------------------


def test_tenancy_is_single_or_multi_and_single_by_default() -> None:
    parameter = parse(MAIN)["parameters"]["tenancy"]
    assert parameter["type"] == "string"
    assert parameter["default"] == "single"
    assert decorator(parameter, "allowed") == ["single", "multi"]
    assert "UserAssigned" in decorator(parameter, "description"), "say that multi needs the user-assigned identity"


def test_bicepparam_reads_tenancy_from_snapshot_tenancy_single_by_default() -> None:
    assert re.search(
        r"^param tenancy = readEnvironmentVariable\('SNAPSHOT_TENANCY', 'single'\)$", PARAMS.read_text(), re.MULTILINE
    )


def test_multi_with_a_system_assigned_identity_stops_the_deployment() -> None:
    """The app is told the tenancy through appTenancy, which fails for multi without the user-assigned identity."""
    main = parse(MAIN)
    assert variable(main, "multiTenant") == equals("tenancy", "multi")
    operands = variable(main, "appTenancy")["operator"]["operands"]
    assert operands["condition"] == both(
        "multiTenant", {"operator": {"type": "not", "operands": {"bool_value": "useUserAssigned"}}}
    )
    assert operands["true_value"]["function"]["type"] == "fail"
    assert "UserAssigned" in operands["true_value"]["function"]["parameters"]["arg_1"]
    assert operands["false_value"] == "tenancy"
    assert body(main["modules"]["functionApp"])["params"]["tenancy"] == "appTenancy"


def test_app_registration_only_for_multi_with_the_user_assigned_identity() -> None:
    main = parse(MAIN)
    name, call = app_registration_call()
    assert condition(call) == "deployAppRegistration"
    assert variable(main, "deployAppRegistration") == both("multiTenant", "useUserAssigned")
    params = body(call)["params"]
    (identity_name,) = modules_calling(MAIN, "modules/identity.bicep")
    assert params["managedIdentityPrincipalId"] == output_of(identity_name, "principalId")
    assert params["uniqueName"] == property_access("names", "appRegistration")
    # Its client id reaches the app (empty for single) and the deployer (the consent URL's client_id).
    client_id = {
        "operator": {
            "type": "conditional",
            "operands": {
                "condition": "deployAppRegistration",
                "true_value": output_of(name, "appClientId"),
                "false_value": "",
            },
        }
    }
    assert body(main["modules"]["functionApp"])["params"]["appClientId"] == client_id
    assert main["outputs"]["appClientId"]["value"] == client_id


# --- the app registration ------------------------------------------------------------------------


def test_app_registration_is_multi_tenant() -> None:
    app = application()
    assert app["signInAudience"] == "AzureADMultipleOrgs"
    assert app["uniqueName"] == "uniqueName"
    assert app["displayName"] == "displayName"


def test_app_asks_for_configuration_monitoring_read_write_as_an_application_permission() -> None:
    template = parse(APP_REGISTRATION)
    (access,) = application()["requiredResourceAccess"]
    assert resolved_strings(template, access["resourceAppId"]) == {GRAPH_APP_ID}
    (permission,) = access["resourceAccess"]
    assert permission["type"] == "Role", "an application permission (Role), not a delegated scope"
    # The id is looked up by name on the Graph service principal, as graph-permissions.bicep does.
    looked_up = resolved_strings(template, permission["id"])
    assert {"graphSp", "appRoles", "ConfigurationMonitoring.ReadWrite.All"} <= looked_up
    graph_sp = template["resources"]["graphSp"]
    assert graph_sp["existing"] is True
    assert resolved_strings(template, body(graph_sp)["appId"]) == {GRAPH_APP_ID}


def test_app_has_no_secret_and_no_certificate() -> None:
    assert {"passwordCredentials", "keyCredentials"} & set(application()) == set()
    for path in BICEP_FILES:
        text = path.read_text()
        for name in ("passwordCredentials", "keyCredentials", "addPassword"):
            assert name not in text, f"{path.name}: {name}"


def test_the_managed_identity_is_the_app_only_credential() -> None:
    """Learn, "Configure an application to trust a managed identity": issuer {login}/{tenant}/v2.0, subject the
    identity's object id, audience api://AzureADTokenExchange (the audience the app asks its identity for)."""
    (credential,) = federated_credentials()
    assert credential["name"] == "${app.uniqueName}/snapshot-managed-identity"
    assert credential["issuer"] == "${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0"
    assert credential["subject"] == "managedIdentityPrincipalId"
    assert credential["audiences"] == ["api://AzureADTokenExchange"]
    defaults = Settings.model_validate({})
    assert credential["audiences"] == [defaults.token_exchange_audience]
    # In the public cloud (the only one the Graph extension deploys to) the issuer is the app's authority.
    issuer = credential["issuer"].replace(
        "${environment().authentication.loginEndpoint}", "https://login.microsoftonline.com/"
    )
    assert issuer == f"{defaults.authority_host}/" + "${tenant().tenantId}/v2.0"
    subject = parse(APP_REGISTRATION)["parameters"]["managedIdentityPrincipalId"]
    assert "user-assigned" in decorator(subject, "description")


def test_the_home_tenant_has_the_app_service_principal_and_the_client_id_is_an_output() -> None:
    (principal,) = resources_of_type(parse(APP_REGISTRATION), "Microsoft.Graph/servicePrincipals").values()
    assert body(principal)["appId"] == property_access("app", "appId")
    assert parse(APP_REGISTRATION)["outputs"]["appClientId"]["value"] == property_access("app", "appId")


# --- queues and their roles ----------------------------------------------------------------------


def test_queues_are_the_app_queues_and_their_poison_queues() -> None:
    names = variable(parse(MAIN), "snapshotQueueNames")
    assert names == ["snapshot-poll", "snapshot-drifts", "snapshot-poll-poison", "snapshot-drifts-poison"]
    assert names == [POLL_QUEUE, DRIFTS_QUEUE, POLL_QUEUE + POISON_SUFFIX, DRIFTS_QUEUE + POISON_SUFFIX]
    assert body(parse(MAIN)["modules"]["storage"])["params"]["queueNames"] == "snapshotQueueNames"
    storage = parse(STORAGE)
    (service_name, service), *_ = resources_of_type(storage, "Microsoft.Storage/storageAccounts/queueServices").items()
    assert body(service) == {"parent": "storage", "name": "default"}
    (queues,) = resources_of_type(storage, "Microsoft.Storage/storageAccounts/queueServices/queues").values()
    assert queues["config"]["loop_type"]["detail"] == {"item_name": "queueName", "array_name": "queueNames"}
    assert body(queues) == {"parent": service_name, "name": "queueName"}


def test_queue_names_are_valid() -> None:
    """Queue names: 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit."""
    for name in variable(parse(MAIN), "snapshotQueueNames"):
        assert re.fullmatch(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", name), name


def test_the_identity_gets_the_least_privilege_queue_roles() -> None:
    """Trigger: Reader + Message Processor; the timers' enqueue and the poison queues: Message Sender."""
    rbac = parse(RBAC)
    role_ids = variable(rbac, "roleIds")
    queue_roles = {
        "storageQueueDataReader": STORAGE_QUEUE_DATA_READER,
        "storageQueueDataMessageProcessor": STORAGE_QUEUE_DATA_MESSAGE_PROCESSOR,
        "storageQueueDataMessageSender": STORAGE_QUEUE_DATA_MESSAGE_SENDER,
    }
    assert {name: role_ids.get(name) for name in queue_roles} == queue_roles
    granted = {ref["operator"]["operands"]["operand_2"] for ref in variable(rbac, "storageRoleIds")}
    assert set(queue_roles) <= granted
    # storageRoleIds are the app identity's roles on the storage account.
    (app_roles,) = [
        declaration
        for declaration in resources_of_type(rbac, "Microsoft.Authorization/roleAssignments").values()
        if declaration["config"].get("loop_type", {}).get("detail", {}).get("array_name") == "storageRoleIds"
    ]
    assert body(app_roles)["properties"]["principalId"] == "principalId"
    assert body(app_roles)["scope"] == "storage"


def test_no_queue_data_contributor_anywhere() -> None:
    for path in BICEP_FILES:
        assert STORAGE_QUEUE_DATA_CONTRIBUTOR not in path.read_text(), path.name


def test_queues_are_reached_with_the_identity() -> None:
    """The queue triggers and snapshot/queues.py share AzureWebJobsStorage: its queue endpoint, by identity."""
    settings = app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__queueServiceUri"] == "queueEndpoint"
    assert body(parse(MAIN)["modules"]["functionApp"])["params"]["queueEndpoint"] == output_of(
        "storage", "queueEndpoint"
    )


# --- app settings --------------------------------------------------------------------------------


def test_the_tenancy_settings_come_from_the_deployment() -> None:
    settings = app_settings()
    assert settings["SNAPSHOT_TENANCY"] == "tenancy"
    assert settings["SNAPSHOT_HOME_TENANT_ID"] == property_access({"function": {"type": "tenant"}}, "tenantId")
    assert settings["SNAPSHOT_APP_CLIENT_ID"] == "appClientId"
    parameters = parse(FUNCTION_APP)["parameters"]
    assert decorator(parameters["tenancy"], "allowed") == ["single", "multi"]
    assert parameters["appClientId"]["default"] == ""
    # Merged last: snapshotSettings cannot contradict what was deployed.
    merged = body(parse(FUNCTION_APP)["resources"]["appSettings"])["properties"]["function"]["parameters"]
    assert list(merged.values())[-1] == "tenancySettings"
    assert set(object_keys(parse(FUNCTION_APP), "tenancySettings")) == {
        "SNAPSHOT_TENANCY",
        "SNAPSHOT_HOME_TENANT_ID",
        "SNAPSHOT_APP_CLIENT_ID",
    }


def test_the_authority_ca_file_is_never_set_in_azure() -> None:
    """SNAPSHOT_AUTHORITY_CA_FILE trusts the emulator's certificate: local runs only."""
    assert "SNAPSHOT_AUTHORITY_CA_FILE" not in app_settings()
    main = parse(MAIN)
    operands = variable(main, "appSnapshotSettings")["operator"]["operands"]
    assert operands["condition"] == {
        "function": {
            "type": "contains",
            "parameters": {"container": "snapshotSettings", "item_to_find": "SNAPSHOT_AUTHORITY_CA_FILE"},
        }
    }
    assert operands["true_value"]["function"]["type"] == "fail"
    assert operands["false_value"] == {
        "function": {"type": "union", "parameters": {"arg_1": "snapshotSettingDefaults", "arg_2": "snapshotSettings"}}
    }


# --- infra/README.md -----------------------------------------------------------------------------


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings() -> list[str]:
    return re.findall(r"^#{1,6} (.+?)\s*$", README.read_text(), re.MULTILINE)


def section(title: str) -> str:
    text = README.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"infra/README.md has no section '## {title}'"
    return " ".join(match.group(1).split())  # line breaks as spaces: wrapping does not matter


def test_every_readme_heading_the_code_names_exists() -> None:
    """The app's texts point admins to infra/README.md "<heading>": each heading must exist, word for word."""
    sources = [ROOT / "function_app.py", *sorted((ROOT / "snapshot").rglob("*.py"))]
    named = {title for path in sources for title in re.findall(r'infra/README\.md "([^"]+)"', path.read_text())}
    assert ONBOARDING_HEADING in named
    assert named - set(headings()) == set()


def test_every_link_to_a_heading_of_the_readme_resolves() -> None:
    anchors = {github_anchor(heading) for heading in headings()}
    links = re.findall(r"\]\(#([^)]+)\)", README.read_text())
    assert links, "the onboarding steps link to the home tenant's steps"
    assert [link for link in links if link not in anchors] == []


def test_onboarding_lists_the_admin_steps_in_order() -> None:
    text = section(ONBOARDING_HEADING)
    steps = [
        "POST /api/tenants",
        "https://login.microsoftonline.com/<tenantId>/adminconsent?client_id=<appClientId>",
        UTCM_APP_ID,
        "GET /api/tenants/<tenantId>?refresh=true",
    ]
    positions = [text.find(step) for step in steps]
    assert -1 not in positions, [step for step, at in zip(steps, positions, strict=True) if at < 0]
    assert positions == sorted(positions)
    for words in ("consentUrl", "stepsOwed", "Privileged Role Administrator", "Global Administrator"):
        assert words in text
    assert "ConfigurationMonitoring.ReadWrite.All" in text
    # Step (c) is the home tenant's steps 3 and 4, linked by their headings.
    assert "](#3-microsoft-graph-permissions-and-the-utcm-service-principals-an-entra-admin)" in text
    assert "](#4-directory-roles-of-the-utcm-service-principal-privileged-role-administrator)" in text


@pytest.mark.parametrize(
    "status", [s.value for s in TenantStatus if s is not TenantStatus.REMOVED], ids=lambda status: status
)
def test_onboarding_explains_each_status(status: str) -> None:
    assert f"`{status}`" in section(ONBOARDING_HEADING)


def test_deploying_multi_names_the_identity_the_credential_limit_and_the_deployer_rights() -> None:
    text = section(MULTI_HEADING)
    for words in (
        "identityType=UserAssigned",
        "at most 20",
        "Application.ReadWrite.All",
        "Application Developer",
        "Cloud Application Administrator",
        "no secret, no certificate",
        "SNAPSHOT_TENANCY",
    ):
        assert words in text, words
