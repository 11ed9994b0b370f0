"""Table Storage plumbing shared by the tables: one client per table, created once; errors; paging tokens.

Every Table call goes through `storage_errors()`, which turns transport failures and 5xx into a retryable
StorageUnavailable and leaves Table Storage's typed answers (exists, not found, modified) to the caller.

Proxy and netrc settings: azure-core's aiohttp transport trusts the environment by default
(`use_env_settings=True`, aiohttp's `trust_env`), which makes every request look for proxy variables and a
netrc file in a thread pool. The clients honour those settings only when the process has some
(`uses_network_settings()`); otherwise `use_env_settings` is off and requests skip the look-up.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableTransactionError
from azure.data.tables.aio import TableClient, TableServiceClient

from snapshot import errors
from snapshot.settings import IDENTITY_CLIENT_OPTIONS, TABLE_CLIENT_OPTIONS, Settings, table_connection

if TYPE_CHECKING:  # imported where used: a connection string (local, tests) never loads azure-identity
    from azure.identity.aio import ManagedIdentityCredential

STORAGE_RETRY_AFTER_SECONDS = 5
FORBIDDEN_KEY_CHARACTERS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


MAX_TICKS = 10**17


def newest_first_key(moment: datetime, row_id: str) -> str:
    """`<inverted microseconds since the epoch, 17 digits>_<id>`: RowKeys that sort newest first."""
    return f"{MAX_TICKS - int(moment.timestamp() * 1_000_000):017d}_{row_id}"


class ConcurrencyConflict(Exception):
    """Someone else changed the row since it was read (ETag mismatch) or created it first."""


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Map transport failures and 5xx to StorageUnavailable; leave the typed Table errors alone."""
    try:
        yield
    except (ResourceExistsError, ResourceNotFoundError, ResourceModifiedError, TableTransactionError):
        raise
    except HttpResponseError as exc:
        if exc.status_code is not None and exc.status_code < 500 and exc.status_code != 408:
            raise
        raise _unavailable(exc) from None
    except (AzureError, OSError) as exc:
        raise _unavailable(exc) from None


def _unavailable(exc: Exception) -> errors.StorageUnavailable:
    return errors.StorageUnavailable(
        f"Table Storage did not answer ({type(exc).__name__})", retry_after=STORAGE_RETRY_AFTER_SECONDS
    )


def is_table_key(value: str) -> bool:
    """Table keys forbid / \\ # ? and control characters and hold at most 1 KiB: no job id has them."""
    return 0 < len(value) <= 512 and not FORBIDDEN_KEY_CHARACTERS.search(value)


def encode_token(token: Any) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str | None) -> Any:
    """The Table continuation behind an opaque token; ValueError if it is not one of ours."""
    if not token:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("is not a continuation token this API issued") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("is not a continuation token this API issued")
    return value


@dataclass
class Page:
    items: list[dict[str, Any]]
    continuation: str | None


async def read_page(
    table: TableClient, query: str, parameters: Mapping[str, Any], top: int, continuation: str | None
) -> Page:
    """One page of a filtered query (values bound through `parameters`) and the opaque token of the next."""
    token = decode_token(continuation)
    with storage_errors():
        pages = table.query_entities(query, parameters=dict(parameters), results_per_page=top).by_page(
            continuation_token=token
        )
        try:
            items = [entity async for entity in await pages.__anext__()]
        except StopAsyncIteration:
            items = []
    return Page([dict(item) for item in items], encode_token(getattr(pages, "continuation_token", None)))


def uses_network_settings(environ: Mapping[str, str] | None = None, home: Path | None = None) -> bool:
    """Whether the process has proxy variables (`*_proxy`, any case) or a netrc file for aiohttp to honour."""
    environ = os.environ if environ is None else environ
    if environ.get("NETRC") or any(name.lower().endswith("_proxy") and value for name, value in environ.items()):
        return True
    try:
        home = Path.home() if home is None else home
    except RuntimeError:  # no home directory: no ~/.netrc either
        return False
    return any((home / name).is_file() for name in (".netrc", "_netrc"))


class Tables:
    """The storage account's table service and one TableClient per table, each table created on first use.

    `client_options` go to the azure-core pipeline (the bench passes a `raw_request_hook` to count requests);
    `use_env_settings` defaults to `uses_network_settings()`.
    """

    def __init__(self, settings: Settings, **client_options: Any) -> None:
        client_options = {**TABLE_CLIENT_OPTIONS, **client_options}
        client_options.setdefault("use_env_settings", uses_network_settings())
        connection = table_connection(settings)
        self._credential: ManagedIdentityCredential | None = None
        if connection.connection_string:
            self.service = TableServiceClient.from_connection_string(connection.connection_string, **client_options)
        else:
            assert connection.endpoint is not None
            from azure.identity.aio import ManagedIdentityCredential

            self._credential = ManagedIdentityCredential(
                client_id=connection.client_id or settings.azure_client_id, **IDENTITY_CLIENT_OPTIONS
            )
            self.service = TableServiceClient(
                endpoint=connection.endpoint, credential=self._credential, **client_options
            )
        self._clients: dict[str, TableClient] = {}
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self.service.close()
        if self._credential is not None:
            await self._credential.close()

    async def get(self, name: str) -> TableClient:
        client = self._clients.get(name)
        if client is not None:
            return client
        async with self._lock:
            if name not in self._clients:
                with storage_errors(), contextlib.suppress(ResourceExistsError):
                    await self.service.create_table(name)
                self._clients[name] = self.service.get_table_client(name)
        return self._clients[name]

    async def ping(self) -> None:
        """One cheap request, no retries, short timeout: is Table Storage reachable?"""
        try:
            pages = self.service.list_tables(
                results_per_page=1, retry_total=0, connection_timeout=3, read_timeout=3
            ).by_page()
            async for _ in await pages.__anext__():
                break
        except StopAsyncIteration:
            return
        except Exception as exc:
            raise errors.StorageUnavailable(f"Table Storage is not reachable ({type(exc).__name__})") from None
