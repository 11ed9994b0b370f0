"""Settings parity: the app settings Bicep gives the function app are the ones snapshot/settings.py reads."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic_core import PydanticUndefined

from snapshot.settings import SETTING_NAMES, Settings
from tests.infra.bicep import (
    FUNCTION_APP,
    MAIN,
    ROOT,
    STORAGE,
    body,
    branches,
    object_keys,
    only_resource,
    parse,
    resources_of_type,
    variable,
)

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


def test_snapshot_tables_are_the_tables_of_settings_py() -> None:
    prefix = "Prefix"
    settings = Settings.model_validate({"SNAPSHOT_TABLE_PREFIX": prefix})
    suffixes = {name.removeprefix(prefix) for name in settings.tables}
    assert set(variable(parse(MAIN), "snapshotTableSuffixes")) == suffixes
    names = variable(parse(MAIN), "snapshotTableNames")
    assert names["loop_type"]["detail"]["array_name"] == "snapshotTableSuffixes"
    assert names["config"] == "${appSnapshotSettings.SNAPSHOT_TABLE_PREFIX}${suffix}"
    assert body(parse(MAIN)["modules"]["storage"])["params"]["tableNames"] == "snapshotTableNames"
    tables = resources_of_type(parse(STORAGE), "Microsoft.Storage/storageAccounts/tableServices/tables")
    assert [t["config"]["loop_type"]["detail"]["array_name"] for t in tables.values()] == ["tableNames"]


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
