"""``/docs`` and ``/redoc`` work offline, and the OpenAPI document describes every operation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import lrcast
from lrcast_server import Settings

EXTERNAL = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_no_external_url(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    assert EXTERNAL.findall(html) == []
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    for asset in assets:
        assert asset.startswith("/"), asset
        fetched = client.get(asset)
        assert fetched.status_code == 200, asset
        assert fetched.content


def test_swagger_ui_loads_the_schema_from_the_server(client: TestClient) -> None:
    html = client.get("/docs").text
    assert "url: '/openapi.json'" in html or '"url": "/openapi.json"' in html
    assert '"validatorUrl": null' in html


def test_favicon_is_served(client: TestClient) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][name]
    return schema


def has_example(spec: dict[str, Any], content: dict[str, Any]) -> bool:
    for media in content.values():
        if "example" in media or "examples" in media:
            return True
        schema = media.get("schema", {})
        options = schema.get("anyOf") or schema.get("oneOf") or [schema]
        if all("examples" in resolve(spec, option) for option in options):
            return True
    return False


def test_every_operation_has_a_summary_description_and_example(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    found = operations(spec)
    assert len(found) == 21
    for method, path, operation in found:
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        assert operation.get("description"), where
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert success, where
        if success != ["204"]:
            assert has_example(spec, operation["responses"][success[0]]["content"]), where
        body = operation.get("requestBody")
        if body is not None:
            assert has_example(spec, body["content"]), where


def test_every_operation_documents_its_error_statuses(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for method, path, operation in operations(spec):
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        if path.startswith("/v1/"):
            assert {"401", "403", "422"} <= set(responses), where
            assert set(responses["422"]["content"]) == {"application/problem+json"}, where
        if "{" in path and path.startswith("/v1/") and method != "put":
            assert "404" in responses, where
        if operation.get("requestBody"):
            assert {"413", "415"} <= set(responses), where
        if method in ("put", "patch", "delete") and path.startswith("/v1/"):
            assert "412" in responses, where


def test_every_curve_type_has_an_example_in_the_schema(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for model in lrcast.CURVE_TYPES.values():
        schema = schemas.get(model.__name__) or schemas[f"{model.__name__}-Input"]
        assert schema.get("examples"), model.__name__


def test_the_hot_path_is_documented_with_both_answer_shapes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/runs/{run}/lr"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"run", "step", "start", "stop", "every"} <= names
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    refs = {option["$ref"].rsplit("/", 1)[1] for option in schema["anyOf"]}
    assert refs == {"LrAnswer", "RangeAnswer"}


def test_reads_document_the_token_as_optional_and_writes_as_required(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for method, path, operation in operations(spec):
        if not path.startswith("/v1/"):
            continue
        optional = {} in operation["security"]
        read = method == "get" or path == "/v1/evaluate"
        admin = path == "/v1/audit"  # the audit trail needs the admin role, even on loopback
        assert optional == (read and not admin), f"{method} {path}"


def test_the_settings_docs_api_lists_are_exactly_the_servers() -> None:
    text = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    paragraph = section.split("\n\n")[1]
    listed = set(re.findall(r"`([A-Z][A-Z_]+)`", paragraph)) - {"LRCAST_"}
    assert listed == {name.upper() for name in Settings.model_fields}


def test_every_bound_is_stated_in_json_schema_terms(client: TestClient) -> None:
    """Pydantic writes a bound it cannot place in the schema as a bare ``ge``/``gt``/…, which
    JSON Schema (and every generated client) ignores; none may be left."""
    document = client.get("/openapi.json").json()
    raw: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "type" in node:
                raw.extend(f"{where}.{key}" for key in ("ge", "gt", "le", "lt") if key in node)
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(document, "")
    assert raw == []
    schemas = document["components"]["schemas"]
    assert schemas["RunPatch"]["properties"]["scale"]["minimum"] == 0
    assert schemas["Plateau"]["properties"]["factor"]["exclusiveMaximum"] == 1
    assert schemas["RunCreate"]["properties"]["groups"]["additionalProperties"] is False
