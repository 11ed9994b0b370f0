"""devtools.host.settings and the command line: local.settings.json, the environment, %NAME%, host.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools import services
from devtools.host.__main__ import parse_args
from devtools.host.errors import HostError
from devtools.host.settings import (
    find_settings_file,
    merge_settings,
    read_local_settings,
    read_route_prefix,
    resolve_setting_references,
)


def test_setting_references() -> None:
    settings = {"POLL": "*/10 * * * * *", "A": "x"}
    assert resolve_setting_references("%POLL%", settings, "f") == "*/10 * * * * *"
    assert resolve_setting_references("%A%-%A%", settings, "f") == "x-x"
    with pytest.raises(HostError, match="'MISSING'") as raised:
        resolve_setting_references("%MISSING%", settings, "function 'poll' schedule")
    assert "function 'poll' schedule" in str(raised.value)


def test_settings_file_discovery(tmp_path: Path) -> None:
    cwd, root = tmp_path / "cwd", tmp_path / "root"
    cwd.mkdir()
    root.mkdir()
    assert find_settings_file(None, cwd=cwd, root=root) is None
    (root / "local.settings.json").write_text("{}")
    assert find_settings_file(None, cwd=cwd, root=root) == root / "local.settings.json"
    (cwd / "local.settings.json").write_text("{}")
    assert find_settings_file(None, cwd=cwd, root=root) == cwd / "local.settings.json"  # the current folder first
    with pytest.raises(HostError):
        find_settings_file(tmp_path / "missing.json", cwd=cwd, root=root)


def test_read_local_settings_and_merge(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(
        json.dumps(
            {
                "IsEncrypted": True,  # ignored
                "Values": {"A": "1", "B": 2, "C": True, "D": None, "E": "file"},
                "Host": {"LocalHttpPort": 7090},  # ignored
            }
        )
    )
    values = read_local_settings(path)
    assert values == {"A": "1", "B": "2", "C": "true", "E": "file"}
    assert merge_settings(values, {"E": "env", "F": ""}) == {"A": "1", "B": "2", "C": "true", "E": "env", "F": ""}
    path.write_text(json.dumps({"Values": {"A": {"nested": 1}}}))
    with pytest.raises(HostError, match="'A'"):
        read_local_settings(path)
    path.write_text("{not json")
    with pytest.raises(HostError):
        read_local_settings(path)


def test_route_prefix_from_host_json(tmp_path: Path) -> None:
    host_json = tmp_path / "host.json"
    assert read_route_prefix(host_json) == "api"
    host_json.write_text(json.dumps({"version": "2.0"}))
    assert read_route_prefix(host_json) == "api"
    host_json.write_text(json.dumps({"extensions": {"http": {"routePrefix": "/v1/"}}}))
    assert read_route_prefix(host_json) == "v1"
    host_json.write_text(json.dumps({"extensions": {"http": {"routePrefix": ""}}}))
    assert read_route_prefix(host_json) == ""
    assert read_route_prefix(services.ROOT / "host.json") == "api"


def test_command_line_defaults() -> None:
    args = parse_args([])
    assert (args.port, args.host, args.app, args.settings_file) == (7071, "127.0.0.1", "function_app:app", None)
    args = parse_args(["--port", "7099", "--host", "0.0.0.0", "--app", "m:a", "--settings-file", "s.json"])
    assert (args.port, args.host, args.app, args.settings_file) == (7099, "0.0.0.0", "m:a", Path("s.json"))
