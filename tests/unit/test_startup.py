"""Start-up cost: what `import function_app` loads, when the Table clients honour proxy/netrc settings, and
that the first process-wide client freezes the start-up heap out of the garbage collector's scans."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snapshot.clients import ProcessWide
from snapshot.settings import Settings, get_settings
from snapshot.store.tables import Tables, uses_network_settings

ROOT = Path(__file__).resolve().parents[2]
LAZY = ("azure.identity", "msal", "httpx", "msgraph", "kiota_abstractions")


def test_importing_the_app_loads_no_identity_httpx_or_graph_sdk() -> None:
    code = (
        "import json, sys, function_app; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {LAZY!r} "
        f"or any(m.startswith(n + '.') or m == n for n in {LAZY!r}))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_no_proxy_variable_and_no_netrc_means_no_environment_settings(tmp_path: Path) -> None:
    assert uses_network_settings({"PATH": "/usr/bin", "HOME": str(tmp_path)}, tmp_path) is False


@pytest.mark.parametrize(
    "environ",
    [
        {"HTTPS_PROXY": "http://proxy:3128"},
        {"http_proxy": "http://proxy:3128"},
        {"NO_PROXY": "localhost"},
        {"NETRC": "/etc/netrc"},
    ],
)
def test_a_proxy_variable_or_netrc_setting_is_honoured(environ: dict[str, str], tmp_path: Path) -> None:
    assert uses_network_settings(environ, tmp_path) is True


def test_an_empty_proxy_variable_is_no_setting(tmp_path: Path) -> None:
    assert uses_network_settings({"HTTPS_PROXY": ""}, tmp_path) is False


def test_a_netrc_file_in_home_is_honoured(tmp_path: Path) -> None:
    (tmp_path / ".netrc").write_text("machine example.org login a password b\n")
    assert uses_network_settings({}, tmp_path) is True


def _transport_trusts_env(tables: Tables) -> bool:
    from azure.core.pipeline.transport import AioHttpTransport

    transport = tables.service._client._client._pipeline._transport
    assert isinstance(transport, AioHttpTransport)
    return bool(transport._use_env_settings)  # where azure-core's aiohttp transport keeps the option


async def test_the_table_clients_follow_the_decision(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    get_settings.cache_clear()
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in [name for name in os.environ if name.lower().endswith("_proxy") or name == "NETRC"]:
        monkeypatch.delenv(name)
    quiet = Tables(get_settings())
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    proxied = Tables(get_settings())
    try:
        assert _transport_trusts_env(quiet) is False
        assert _transport_trusts_env(proxied) is True
    finally:
        await quiet.close()
        await proxied.close()
        get_settings.cache_clear()


class _Client:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def close(self) -> None:
        return None


def test_the_first_process_wide_client_of_a_kind_freezes_what_the_process_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    get_settings.cache_clear()
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        kind = ProcessWide(_Client)
        kind.get(get_settings())
        frozen = gc.get_freeze_count()
        assert frozen > 0  # moved out of the collector's scans
        monkeypatch.setenv("SNAPSHOT_TABLE_PREFIX", "Other")
        get_settings.cache_clear()
        kind.get(get_settings())  # a rebuilt client (new settings) does not freeze again
        assert gc.get_freeze_count() <= frozen  # (frozen objects freed since are no longer counted)
    finally:
        gc.unfreeze()
        get_settings.cache_clear()


async def test_an_http_request_searches_for_no_module() -> None:
    """httpcore (msgraph-sdk's transport, under httpx) imports sniffio whenever it sets up a lock for a request. With
    sniffio missing (anyio>=4.11 no longer brings it) every one of those imports fails and searches sys.path
    again; requirements.txt carries sniffio so that the import is a sys.modules lookup."""
    from httpcore._synchronization import current_async_library

    current_async_library()  # the first import, if any, is not the point
    searched: list[str] = []

    class Spy:
        def find_spec(self, name: str, path: object = None, target: object = None) -> None:
            searched.append(name)

    spy = Spy()
    sys.meta_path.insert(0, spy)
    try:
        assert current_async_library() == "asyncio"
    finally:
        sys.meta_path.remove(spy)
    assert searched == []
