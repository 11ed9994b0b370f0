"""App settings and host configuration: local.settings.json, the environment, %NAME% references, host.json."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devtools.host.errors import HostError

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_FILE_NAME = "local.settings.json"
DEFAULT_ROUTE_PREFIX = "api"
_SETTING_REFERENCE = re.compile(r"%([^%]+)%")


def find_settings_file(explicit: Path | None = None, cwd: Path | None = None, root: Path = ROOT) -> Path | None:
    """`explicit` (must exist), else `local.settings.json` in the current directory, else in the repo root."""
    if explicit is not None:
        if not explicit.is_file():
            raise HostError(f"settings file {explicit} does not exist")
        return explicit
    for folder in (cwd or Path.cwd(), root):
        candidate = folder / SETTINGS_FILE_NAME
        if candidate.is_file():
            return candidate
    return None


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise HostError(f"{path} cannot be read as JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise HostError(f"{path} must hold a JSON object")
    return data


def _as_setting(path: Path, name: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise HostError(f"{path}: the value of {name!r} must be a string")


def read_local_settings(path: Path) -> dict[str, str]:
    """The `Values` of a local.settings.json as strings (null values dropped); its other sections are ignored."""
    values = _read_json_object(path).get("Values") or {}
    if not isinstance(values, dict):
        raise HostError(f"{path}: 'Values' must be an object")
    return {name: _as_setting(path, name, value) for name, value in values.items() if value is not None}


def merge_settings(file_values: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """The file's values overridden by the environment (the environment wins, even with an empty value)."""
    return {**file_values, **environ}


def resolve_setting_references(text: str, settings: Mapping[str, str], where: str) -> str:
    """Replace each `%NAME%` with the app setting NAME; HostError naming the setting if it is missing."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in settings:
            raise HostError(f"{where}: app setting {name!r} is not set (referenced as %{name}%)")
        return settings[name]

    return _SETTING_REFERENCE.sub(repl, text)


def strip_comments(text: str) -> str:
    """host.json with its `//` and `/* */` comments removed (the Functions host reads it leniently); a `//`
    inside a string, such as a URL, is kept."""
    return re.sub(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/', lambda m: m.group(1) or "", text, flags=re.DOTALL)


def read_host_json(host_json: Path) -> dict[str, Any]:
    """host.json as an object ({} when there is none)."""
    if not host_json.is_file():
        return {}
    try:
        data = json.loads(strip_comments(host_json.read_text(encoding="utf-8-sig")))
    except (OSError, ValueError) as exc:
        raise HostError(f"{host_json} cannot be read as JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise HostError(f"{host_json} must hold a JSON object")
    return data


def read_route_prefix(host_json: Path) -> str:
    """`extensions.http.routePrefix` from host.json (default `api`), without slashes."""
    http = (read_host_json(host_json).get("extensions") or {}).get("http") or {}
    prefix = http.get("routePrefix", DEFAULT_ROUTE_PREFIX) if isinstance(http, dict) else DEFAULT_ROUTE_PREFIX
    if not isinstance(prefix, str):
        raise HostError(f"{host_json}: extensions.http.routePrefix must be a string")
    return prefix.strip("/")
