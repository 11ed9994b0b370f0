"""Graph's JSON responses and its error body (`{"error": {code, message, innerError}}`)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from devtools.emulator.state import utc_now

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

ERROR_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Forbidden",
    404: "ResourceNotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def graph_json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return web.Response(body=body, status=status, headers={"Content-Type": JSON_TYPE, **(headers or {})})


def graph_error(
    status: int,
    code: str | None = None,
    message: str = "",
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {"code": code or ERROR_CODES.get(status, "UnknownError"), "message": message}
    if details is not None:
        error["details"] = details
    error["innerError"] = {"date": utc_now().strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4())}
    return graph_json({"error": error}, status=status, headers=headers)


class GraphError(Exception):
    """Raised by a Graph operation to answer with Graph's error body."""

    def __init__(self, status: int, message: str, code: str | None = None, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.details = status, message, code, details

    def response(self) -> web.Response:
        return graph_error(self.status, self.code, self.message, self.details)


async def json_object_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, or Graph's 400 for a body that is not one."""
    try:
        body = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GraphError(400, "The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise GraphError(400, "The request body must be a JSON object.")
    return body
