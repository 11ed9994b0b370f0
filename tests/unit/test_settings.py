"""Settings: the defaults docs/ARCHITECTURE.md lists, clear errors naming the setting, storage conventions."""

from __future__ import annotations

import pytest

from snapshot.settings import SETTING_NAMES, SettingsError, load_settings, table_connection


def test_defaults_match_the_architecture() -> None:
    settings = load_settings({})
    assert settings.graph_base_url == "https://graph.microsoft.com/v1.0"
    assert settings.graph_scope == "https://graph.microsoft.com/.default"
    assert settings.azure_client_id is None
    assert settings.storage_connection == "AzureWebJobsStorage"
    assert settings.table_prefix == "Snapshot"
    assert settings.tables.jobs == "SnapshotJobs"
    assert settings.tables.resources == "SnapshotResources"
    assert settings.poll_schedule == "0 */1 * * * *"
    assert settings.retry_after_seconds == 20


def test_every_documented_setting_is_read() -> None:
    for name in ("GRAPH_BASE_URL", "GRAPH_SCOPE", "AZURE_CLIENT_ID", "SNAPSHOT_STORAGE", "SNAPSHOT_TABLE_PREFIX",
                 "SNAPSHOT_POLL_SCHEDULE", "SNAPSHOT_RETRY_AFTER_SECONDS"):  # fmt: skip
        assert name in SETTING_NAMES


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GRAPH_BASE_URL", "ftp://graph"),
        ("GRAPH_BASE_URL", "http://graph.microsoft.com/v1.0"),  # http only for a loopback emulator
        ("GRAPH_SCOPE", "https://graph.microsoft.com/User.Read"),
        ("SNAPSHOT_TABLE_PREFIX", "bad-prefix"),
        ("SNAPSHOT_POLL_SCHEDULE", "*/5 * * * *"),  # 5 fields: not NCRONTAB
        ("SNAPSHOT_RETRY_AFTER_SECONDS", "soon"),
        ("SNAPSHOT_RETRY_AFTER_SECONDS", "0"),
        ("SNAPSHOT_MAX_CONTENT_BYTES", "-1"),
    ],
)
def test_a_malformed_setting_is_named_in_the_error(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


def test_loopback_http_is_allowed_for_the_emulator() -> None:
    settings = load_settings({"GRAPH_BASE_URL": "http://127.0.0.1:7072/v1.0/"})
    assert settings.graph_base_url == "http://127.0.0.1:7072/v1.0"
    assert settings.graph_host == "127.0.0.1:7072"


def test_storage_connection_string_falls_back_to_azure_web_jobs_storage() -> None:
    settings = load_settings({})
    connection = table_connection(settings, {"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert connection.connection_string == "UseDevelopmentStorage=true"
    assert connection.setting == "AzureWebJobsStorage"


def test_snapshot_storage_names_another_connection() -> None:
    env = {"SNAPSHOT_STORAGE": "Data", "Data": "conn", "AzureWebJobsStorage": "other"}
    assert table_connection(load_settings(env), env).connection_string == "conn"


def test_identity_based_storage_by_service_uri_and_client_id() -> None:
    env = {
        "AzureWebJobsStorage__tableServiceUri": "https://acct.table.core.windows.net/",
        "AzureWebJobsStorage__credential": "managedidentity",
        "AzureWebJobsStorage__clientId": "11111111-2222-3333-4444-555555555555",
    }
    connection = table_connection(load_settings(env), env)
    assert connection.connection_string is None
    assert connection.endpoint == "https://acct.table.core.windows.net"
    assert connection.client_id == "11111111-2222-3333-4444-555555555555"


def test_identity_based_storage_by_account_name() -> None:
    env = {"AzureWebJobsStorage__accountName": "mystorage"}
    assert table_connection(load_settings(env), env).endpoint == "https://mystorage.table.core.windows.net"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "AzureWebJobsStorage"),
        ({"AzureWebJobsStorage__accountName": "Bad_Name"}, "AzureWebJobsStorage__accountName"),
        ({"AzureWebJobsStorage__tableServiceUri": "http://acct.example"}, "AzureWebJobsStorage__tableServiceUri"),
        (
            {"AzureWebJobsStorage__accountName": "acct", "AzureWebJobsStorage__credential": "key"},
            "AzureWebJobsStorage__credential",
        ),
    ],
)
def test_storage_errors_name_the_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        table_connection(load_settings(env), env)


def test_every_invalid_setting_is_named_without_its_value() -> None:
    env = {
        "SNAPSHOT_RETRY_AFTER_SECONDS": "secret-soon",
        "SNAPSHOT_TABLE_PREFIX": "secret-prefix",
        "GRAPH_SCOPE": "https://secret.example/User.Read",
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert caught.value.names == ["GRAPH_SCOPE", "SNAPSHOT_TABLE_PREFIX", "SNAPSHOT_RETRY_AFTER_SECONDS"]
    for name in env:
        assert name in str(caught.value)
    assert "secret" not in str(caught.value)
