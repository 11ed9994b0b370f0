"""devtools.host.routes: route templates and the route table, and the in-process server's prefix and body limit."""

from __future__ import annotations

import azure.functions as func
import pytest
from aiohttp.test_utils import TestClient, TestServer

from devtools.host.errors import HostError
from devtools.host.routes import RouteTemplate
from devtools.host.server import Host


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("items", "items", {}),
        ("items", "ITEMS/", {}),
        ("items", "items/1", None),
        ("items/{id}", "items/42", {"id": "42"}),
        ("items/{id}", "items", None),
        ("items/{id}", "items/", None),
        ("items/{id}", "items/a%2Fb", {"id": "a/b"}),
        ("items/{id}", "items/Mixed%20Case", {"id": "Mixed Case"}),
        ("items/{id}/parts", "items/1/parts", {"id": "1"}),
        ("items/{id}/parts", "items/1/PARTS", {"id": "1"}),
        ("items/{id}/parts", "items/1/other", None),
        ("items/{id}/parts/{part}", "items/1/parts/2", {"id": "1", "part": "2"}),
        ("items/{id}/parts/{part}", "items/1//2", None),
        ("openapi.json", "openapi.json", {}),
        ("", "", {}),
        ("", "x", None),
    ],
)
def test_route_template_match(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert RouteTemplate(template).match(path) == expected


@pytest.mark.parametrize(
    "template",
    [
        "x/{id}/{id}", "x/{id}/{ID}", "x/{bad-name}", "x/{open", "x/close}", "x//y",
        # ASP.NET template features the app does not use: refused at startup rather than matched wrongly
        "x/{id:int}", "x/{id?}", "x/{id=1}", "c/{*rest}", "f/{name}.{ext}", "x/{{literal}}",
    ],
)  # fmt: skip
def test_route_template_errors(template: str) -> None:
    with pytest.raises(HostError, match="route"):
        RouteTemplate(template)


def _sample_functions_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.function_name("get_one")
    @app.route(route="snapshots/{id}", methods=["GET"])
    async def get_one(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("one " + req.route_params["id"])

    @app.function_name("delete_one")
    @app.route(route="snapshots/{id}", methods=["DELETE"])
    async def delete_one(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(status_code=204)

    @app.function_name("latest")
    @app.route(route="snapshots/latest", methods=["GET"])
    async def latest(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("latest")

    @app.function_name("upload")
    @app.route(route="upload", methods=["POST"])
    async def upload(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(str(len(req.get_body())))

    return app


def test_route_precedence_and_methods() -> None:
    host = Host(_sample_functions_app(), {})

    def found(path: str, method: str) -> str | None:
        match = host.routes.find(path, method)
        return None if match is None else match[0].name

    assert found("/api/snapshots/latest", "GET") == "latest"  # a literal beats a parameter
    assert found("/api/snapshots/abc", "GET") == "get_one"
    assert found("/API/snapshots/abc?x=1", "get") == "get_one"
    assert found("/api/snapshots/latest", "DELETE") == "delete_one"  # same template, another method
    assert found("/api/snapshots/abc", "POST") is None
    assert found("/snapshots/abc", "GET") is None


async def test_in_process_host_body_limit_and_empty_prefix() -> None:
    host = Host(_sample_functions_app(), {}, route_prefix="", max_request_bytes=1000)
    async with TestClient(TestServer(host.web_app)) as http:
        ok = await http.post("/upload", data=b"x" * 1000)
        assert ok.status == 200
        assert await ok.text() == "1000"
        too_big = await http.post("/upload", data=b"x" * 1001)
        assert too_big.status == 413
        assert await (await http.get("/snapshots/latest")).text() == "latest"
        assert (await http.post("/admin/functions/nope")).status == 404  # the admin API is not under the prefix
