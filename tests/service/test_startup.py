"""Start-up: the schema is upgraded once per start, before any worker serves, and a database
already at the newest migration is recognised without importing alembic."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from uvicorn.importer import import_from_string

from lrcast_server import Settings, cli, db, get_settings, observability
from lrcast_server.auth import list_tokens
from lrcast_server.db import HEAD_REVISION, Database, migrate, schema_revisions
from tests.service.helpers import free_port

MIGRATIONS = str(resources.files("lrcast_server").joinpath("migrations"))
ADMIN = "startup-test-admin-token"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = (
        request.getfixturevalue("postgres_url")
        if request.param == "postgresql"
        else f"sqlite:///{tmp_path / 'lrcast.db'}"
    )
    database = Database.from_url(url)
    yield database
    database.dispose()


@pytest.fixture
def upgrades(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URL of the database each time alembic is asked to upgrade one."""
    done: list[str] = []
    upgrade = db._upgrade

    def counted(conn: sa.Connection) -> None:
        done.append(str(conn.engine.url))
        upgrade(conn)

    monkeypatch.setattr(db, "_upgrade", counted)
    return done


def revisions(database: Database) -> list[str]:
    with database.read() as conn:
        return schema_revisions(conn)


def upgrade_to(database: Database, revision: str) -> None:
    with database.write() as conn:
        config = Config()
        config.set_main_option("script_location", MIGRATIONS)
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def test_head_revision_is_the_newest_migration() -> None:
    assert ScriptDirectory(MIGRATIONS).get_heads() == [HEAD_REVISION]


def test_a_new_database_has_no_revision_until_migrated(database: Database) -> None:
    assert revisions(database) == []
    migrate(database)
    assert revisions(database) == [HEAD_REVISION]


def test_a_database_at_an_older_revision_is_upgraded(database: Database) -> None:
    upgrade_to(database, "0001")
    assert revisions(database) == ["0001"]
    migrate(database)
    assert revisions(database) == [HEAD_REVISION]


def test_a_database_at_the_head_is_left_alone(database: Database, upgrades: list[str]) -> None:
    migrate(database)
    migrate(database)
    assert len(upgrades) == 1


def test_a_database_at_a_revision_this_server_does_not_know_is_refused(
    database: Database,
) -> None:
    migrate(database)
    with database.write() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(CommandError, match="9999"):
        migrate(database)


def test_processes_starting_together_on_a_new_database_upgrade_it_once(
    database: Database, upgrades: list[str]
) -> None:
    others = [Database.from_url(str(database.engine.url)) for _ in range(3)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(migrate, [database, *others]))
    for other in others:
        other.dispose()
    assert len(upgrades) == 1
    assert revisions(database) == [HEAD_REVISION]


LOADED = (
    "import sys; from lrcast_server import create_app; create_app(); "
    "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} & {'alembic', 'mako'})))"
)


@pytest.mark.parametrize("at_head", [True, False], ids=["at-head", "new"])
def test_the_app_imports_alembic_only_to_upgrade(settings: Settings, at_head: bool) -> None:
    if at_head:
        database = Database.from_url(settings.resolved_database_url)
        migrate(database)
        database.dispose()
    env = {
        **os.environ,
        "LRCAST_DATA_DIR": str(settings.data_dir),
        "LRCAST_DATABASE_URL": settings.resolved_database_url,
    }
    loaded = subprocess.run(
        [sys.executable, "-c", LOADED], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == ([] if at_head else ["alembic", "mako"])


@pytest.fixture
def serve_args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """``serve`` options on a new SQLite database. The CLI writes its options to the
    environment: setting them here first has them undone after the test."""
    monkeypatch.delenv("LRCAST_DATABASE_URL", raising=False)
    monkeypatch.setenv("LRCAST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LRCAST_PORT", "8000")
    monkeypatch.setenv("LRCAST_WORKERS", "1")
    monkeypatch.setenv("LRCAST_ADMIN_TOKEN", ADMIN)
    monkeypatch.setenv(observability.MULTIPROC_ENV, str(tmp_path))
    yield ["serve", "--data-dir", str(tmp_path), "--port", "8000"]
    get_settings.cache_clear()


def start_workers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """Stand in for uvicorn: note the database as each start finds it, then build the app
    of every worker the way uvicorn does (the factory named by its import string)."""
    starts: list[dict[str, Any]] = []

    def run(app: str, *, factory: bool, workers: int, **options: Any) -> None:
        assert factory
        database = Database.from_url(f"sqlite:///{tmp_path / 'lrcast.db'}")
        before = revisions(database)
        tokens = [token.name for token in list_tokens(database)] if before else []
        database.dispose()
        create_app = import_from_string(app)
        for _ in range(workers):
            create_app().state.core.close()
        starts.append({"revisions": before, "tokens": tokens})

    monkeypatch.setattr("uvicorn.run", run)
    return starts


@pytest.mark.parametrize("workers", [1, 3])
def test_serve_upgrades_the_database_once_before_the_workers_start(
    serve_args: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    upgrades: list[str],
    workers: int,
) -> None:
    starts = start_workers(monkeypatch, tmp_path)
    assert cli.main([*serve_args, "--workers", str(workers)]) == 0
    assert starts == [{"revisions": [HEAD_REVISION], "tokens": ["env-admin"]}]
    assert len(upgrades) == 1


def test_serve_and_migrate_on_a_database_that_cannot_be_reached_say_so_in_one_line(
    serve_args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql+psycopg://lrcast:s3cret@127.0.0.1:{free_port()}/lrcast"
    monkeypatch.setenv("LRCAST_DATABASE_URL", url)  # undone after the test
    for args in (["serve", "--port", "8000"], ["migrate"]):
        assert cli.main(args) == 1
        said = capsys.readouterr().err.strip()
        assert said.startswith("lrcast-server: the database postgresql+psycopg://lrcast:***@")
        assert "cannot be reached: connection failed" in said
        assert "s3cret" not in said
        assert len(said.splitlines()) == 1


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("notaurl", "Could not parse"),
        ("mysql://lrcast@127.0.0.1/lrcast", "No module named"),
        ("nosuchdialect://lrcast@127.0.0.1/lrcast", "Can't load plugin"),
    ],
)
def test_a_database_url_this_server_cannot_use_is_a_bad_setting(
    url: str, reason: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LRCAST_DATABASE_URL", url)
    assert cli.main(["migrate"]) == 2
    said = capsys.readouterr().err
    assert said.startswith("lrcast-server: bad settings:\n  LRCAST_DATABASE_URL: ")
    assert reason in said
    assert len(said.splitlines()) == 2


def test_a_password_in_the_database_urls_query_is_never_printed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql+psycopg://lrcast@127.0.0.1:{free_port()}/lrcast?password=s3cret"
    monkeypatch.setenv("LRCAST_DATABASE_URL", url)
    assert cli.main(["migrate"]) == 1
    said = capsys.readouterr().err
    assert "password=masked" in said
    assert "s3cret" not in said
