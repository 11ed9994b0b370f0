"""Typed app settings, read once from the environment (app settings in Azure, env vars locally).

The names, defaults and meaning are listed in docs/ARCHITECTURE.md ("Settings"). A malformed value raises
`SettingsError` naming the setting, so a misconfigured app says what to fix instead of failing later.
Also here: how a storage `connection` setting resolves, and the callback host patterns' syntax.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import socket
from collections.abc import Iterator, Mapping
from dataclasses import astuple, dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_STORAGE_CONNECTION = "AzureWebJobsStorage"
# The one rule across settings (tenancy=multi needs the ids) is reported under this setting's name.
CROSS_SETTING_RULE_NAME = "SNAPSHOT_TENANCY"
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
NCRONTAB_FIELDS = 6


class SettingsError(ValueError):
    """Settings are missing or malformed; the message names each one and its rule, never its value."""

    def __init__(self, message: str, names: list[str] | None = None) -> None:
        super().__init__(message)
        self.names = names if names is not None else re.findall(r"app setting (\S+) is", message)


# One DNS label: letters, digits, hyphens, not starting or ending with a hyphen (ASCII only: IDNs must
# be given in their xn-- form, so what is checked is exactly what is resolved).
DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# A last label that makes a browser (WHATWG URL) read the host as IPv4: decimal digits or 0x-hex.
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")
CALLBACK_HOSTS_SETTING = "SNAPSHOT_CALLBACK_ALLOWED_HOSTS"
DEFAULT_CALLBACK_HOSTS = "*.logic.azure.com"


def is_ip_literal(host: str) -> bool:
    """True for anything that some resolver or URL parser would read as an IP address."""
    bare = host.strip("[]").rstrip(".").lower()
    if not bare:
        return False
    try:
        ipaddress.ip_address(bare)
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(bare)  # accepts 2130706433, 0x7f.1, 0177.0.0.1, 127.1 ...
        return True
    except (OSError, ValueError):
        pass
    # WHATWG: a host whose last label is numeric is parsed as IPv4 (or refused), never looked up.
    return bool(_NUMERIC_LABEL.fullmatch(bare.split(".")[-1]))


def parse_allowed_hosts(setting: str) -> list[str]:
    """Split SNAPSHOT_CALLBACK_ALLOWED_HOSTS: comma-separated host names or `*.suffix` patterns.

    Patterns are lower-cased. An empty pattern, a scheme, a path, a port, userinfo, an IP address or a
    `*` anywhere but a leading `*.` raises ValueError naming the setting.
    """
    patterns: list[str] = []
    for index, raw in enumerate(setting.split(",")):
        pattern = raw.strip().lower()
        where = f"app setting {CALLBACK_HOSTS_SETTING} is invalid: pattern {index + 1}"
        if not pattern:
            raise ValueError(f"{where} is empty (give comma-separated host names such as {DEFAULT_CALLBACK_HOSTS})")
        if "://" in pattern or any(c in pattern for c in "/?#@:"):
            raise ValueError(f"{where} ({pattern!r}) must be a bare host name: no scheme, userinfo, port or path")
        name = pattern[2:] if pattern.startswith("*.") else pattern
        if "*" in name:
            raise ValueError(f"{where} ({pattern!r}) may use '*' only as a leading '*.' (as in *.logic.azure.com)")
        if is_ip_literal(name):
            raise ValueError(f"{where} ({pattern!r}) is an IP address; callbacks go to host names only")
        if not all(DNS_LABEL.fullmatch(label) for label in name.split(".")):
            raise ValueError(f"{where} ({pattern!r}) is not a valid host name")
        patterns.append(pattern)
    return patterns


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# Fixed network limits (not settings): every Table Storage and identity call gives up in bounded time, so
# no request waits forever on a dependency that accepts connections but never answers. azure-core options.
TABLE_CLIENT_OPTIONS: dict[str, Any] = {"connection_timeout": 5, "read_timeout": 15, "retry_total": 2}
IDENTITY_CLIENT_OPTIONS: dict[str, Any] = {"connection_timeout": 5, "read_timeout": 10, "retry_total": 2}


@dataclass(frozen=True)
class TableNames:
    """The tables the app keeps, all named `{SNAPSHOT_TABLE_PREFIX}<Kind>`."""

    jobs: str
    resources: str
    idempotency: str
    quota: str
    monitors: str
    drifts: str
    runs: str
    tenants: str
    fleet: str

    def __iter__(self) -> Iterator[str]:
        return iter(astuple(self))


class Settings(BaseModel):
    """Every setting the code reads, by its app-setting name (the alias)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    graph_base_url: str = Field("https://graph.microsoft.com/v1.0", alias="GRAPH_BASE_URL")
    graph_scope: str = Field("https://graph.microsoft.com/.default", alias="GRAPH_SCOPE")
    azure_client_id: str | None = Field(None, alias="AZURE_CLIENT_ID")
    storage_connection: str = Field(DEFAULT_STORAGE_CONNECTION, alias="SNAPSHOT_STORAGE", min_length=1)
    table_prefix: str = Field("Snapshot", alias="SNAPSHOT_TABLE_PREFIX", pattern=r"^[A-Za-z][A-Za-z0-9]{0,39}$")
    poll_schedule: str = Field("0 */1 * * * *", alias="SNAPSHOT_POLL_SCHEDULE")
    retry_after_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(20, alias="SNAPSHOT_RETRY_AFTER_SECONDS")
    max_content_bytes: Annotated[int, Field(ge=1024)] = Field(512 * 1024 * 1024, alias="SNAPSHOT_MAX_CONTENT_BYTES")
    prune_stored_jobs: bool = Field(True, alias="SNAPSHOT_PRUNE_STORED_JOBS")
    # own: only jobs this app created are ever deleted from Graph; stored: also adopted jobs whose content is stored.
    prune_scope: Literal["own", "stored"] = Field("own", alias="SNAPSHOT_PRUNE_SCOPE")
    monthly_resource_quota: Annotated[int, Field(ge=0)] = Field(20000, alias="SNAPSHOT_MONTHLY_RESOURCE_QUOTA")
    callback_allowed_hosts: str = Field(DEFAULT_CALLBACK_HOSTS, alias=CALLBACK_HOSTS_SETTING)
    # A few minutes after each of Graph's fixed monitor slots (00:00, 06:00, 12:00, 18:00 GMT).
    drift_poll_schedule: str = Field("0 15 0,6,12,18 * * *", alias="SNAPSHOT_DRIFT_POLL_SCHEDULE")
    # Many tenants (docs/tenants.md). single: the managed identity calls Graph in its own tenant only; multi: it is
    # also the federated credential of the multi-tenant app registration SNAPSHOT_APP_CLIENT_ID in other tenants.
    tenancy: Literal["single", "multi"] = Field("single", alias="SNAPSHOT_TENANCY")
    home_tenant_id: str | None = Field(None, alias="SNAPSHOT_HOME_TENANT_ID")
    app_client_id: str | None = Field(None, alias="SNAPSHOT_APP_CLIENT_ID")
    authority_host: str = Field("https://login.microsoftonline.com", alias="SNAPSHOT_AUTHORITY_HOST")
    token_exchange_audience: str = Field("api://AzureADTokenExchange", alias="SNAPSHOT_TOKEN_EXCHANGE_AUDIENCE")
    # Local runs only: the emulator's certificate, trusted for the authority's TLS (never set in Azure).
    authority_ca_file: str | None = Field(None, alias="SNAPSHOT_AUTHORITY_CA_FILE")

    @field_validator("graph_base_url")
    @classmethod
    def _graph_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an absolute https URL such as https://graph.microsoft.com/v1.0")
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise ValueError("http is allowed only for a loopback emulator; use https")
        return value.rstrip("/")

    @field_validator("graph_scope")
    @classmethod
    def _graph_scope(cls, value: str) -> str:
        if not value.endswith("/.default"):
            raise ValueError("must be an app-only scope ending in /.default")
        return value

    @field_validator("azure_client_id")
    @classmethod
    def _client_id(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("home_tenant_id", "app_client_id")
    @classmethod
    def _guid(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not GUID.fullmatch(value):
            raise ValueError("must be a GUID such as 00000000-0000-0000-0000-000000000000")
        return value.lower()

    @field_validator("authority_ca_file")
    @classmethod
    def _optional(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("authority_host")
    @classmethod
    def _authority_host(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname or parts.path.strip("/"):
            raise ValueError("must be an https URL with no path, such as https://login.microsoftonline.com")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _multi_tenant_needs_ids(self) -> Settings:
        if self.tenancy == "multi" and not (self.app_client_id and self.home_tenant_id):
            raise ValueError("SNAPSHOT_TENANCY=multi needs SNAPSHOT_APP_CLIENT_ID and SNAPSHOT_HOME_TENANT_ID")
        return self

    @field_validator("poll_schedule", "drift_poll_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if len(value.split()) != NCRONTAB_FIELDS:
            raise ValueError("must be a 6-field NCRONTAB expression such as '0 */1 * * * *'")
        return value

    @field_validator("callback_allowed_hosts")
    @classmethod
    def _callback_hosts(cls, value: str) -> str:
        parse_allowed_hosts(value)
        return value

    @property
    def callback_hosts(self) -> list[str]:
        return parse_allowed_hosts(self.callback_allowed_hosts)

    @property
    def graph_host(self) -> str:
        """host[:port] of GRAPH_BASE_URL: the only host that ever receives a Graph token."""
        return urlsplit(self.graph_base_url).netloc.lower()

    @property
    def tables(self) -> TableNames:
        prefix = self.table_prefix
        return TableNames(
            f"{prefix}Jobs", f"{prefix}Resources", f"{prefix}Idempotency", f"{prefix}Quota",
            f"{prefix}Monitors", f"{prefix}Drifts", f"{prefix}Runs", f"{prefix}Tenants", f"{prefix}Fleet",
        )  # fmt: skip


SETTING_NAMES: tuple[str, ...] = tuple(
    field.alias for field in Settings.model_fields.values() if field.alias is not None
)


@dataclass(frozen=True)
class TableConnection:
    """How to reach Table Storage: a connection string, or an endpoint with a managed identity."""

    setting: str
    connection_string: str | None = None
    endpoint: str | None = None
    client_id: str | None = None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values = {name: env[name] for name in SETTING_NAMES if env.get(name, "") != ""}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = {
            str(error["loc"][0]) if error["loc"] else CROSS_SETTING_RULE_NAME: error["msg"].removeprefix(
                "Value error, "
            )
            for error in exc.errors(include_input=False, include_url=False)
        }
        names = [name for name in SETTING_NAMES if name in problems]
        message = "; ".join(f"app setting {name} is invalid: {problems[name]}" for name in names)
        raise SettingsError(message, names) from None


def table_connection(settings: Settings, environ: Mapping[str, str] | None = None) -> TableConnection:
    """Resolve the storage connection with the Functions conventions for `connection` settings."""
    env = os.environ if environ is None else environ
    name = settings.storage_connection
    if env.get(name):
        return TableConnection(setting=name, connection_string=env[name])
    endpoint = env.get(f"{name}__tableServiceUri")
    account = env.get(f"{name}__accountName")
    if not endpoint and account:
        if not re.fullmatch(r"[a-z0-9]{3,24}", account):
            raise SettingsError(f"app setting {name}__accountName is invalid: not a storage account name")
        endpoint = f"https://{account}.table.core.windows.net"
    if not endpoint:
        raise SettingsError(
            f"app setting {name} is missing: set {name} (a connection string), "
            f"{name}__tableServiceUri or {name}__accountName"
        )
    if urlsplit(endpoint).scheme != "https":
        raise SettingsError(f"app setting {name}__tableServiceUri is invalid: a managed identity needs https")
    credential = env.get(f"{name}__credential", "managedidentity")
    if credential.lower() != "managedidentity":
        raise SettingsError(f"app setting {name}__credential is invalid: only 'managedidentity' is supported")
    return TableConnection(setting=name, endpoint=endpoint.rstrip("/"), client_id=env.get(f"{name}__clientId"))


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return load_settings()
