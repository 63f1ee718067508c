"""The dashboard is served by lrcast itself, outside the API schema, and references nothing else."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lrcast_server import Settings, create_app
from lrcast_server.dashboard import CONTENT_SECURITY_POLICY, STATIC

SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # a name, never fetched
EXTERNAL = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        yield client


def test_root_serves_the_dashboard_page_with_a_same_origin_policy(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert EXTERNAL.findall(response.text) == []


def test_every_asset_the_page_names_is_served(client: TestClient) -> None:
    html = client.get("/").text
    assets = re.findall(r'(?:src|href)="(/[^"]*)"', html)
    assert {"/ui/app.js", "/ui/plot.js", "/ui/style.css"} <= set(assets)
    for asset in assets:
        if asset in ("/docs",):
            continue
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert response.content, asset


def test_scripts_and_styles_reach_no_other_host() -> None:
    for path in [*STATIC.glob("*.js"), *STATIC.glob("*.css")]:
        text = path.read_text().replace(SVG_NAMESPACE, "")
        assert EXTERNAL.findall(text) == [], path.name


def test_the_dashboard_is_not_an_api_operation(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not any(p.startswith("/ui") for p in paths)
