"""The ``lrcast-server`` command: serve, migrate, and manage tokens."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from lrcast_server import __version__, observability
from lrcast_server.auth import Role, create_token, list_tokens, revoke_token, seed_admin_token
from lrcast_server.db import Database, migrate
from lrcast_server.errors import LrcastServerError, database_down
from lrcast_server.settings import Settings, get_settings, is_loopback

INSECURE_HELP = (
    "serve reads (GET, POST /v1/evaluate) without a token even when bound beyond loopback "
    "(LRCAST_INSECURE=1). Anyone who can reach the port can then read every schedule and run. "
    "Writes always need a token."
)


def _parser() -> argparse.ArgumentParser:
    # Accepted before or after the command: `lrcast-server serve --data-dir D` works too.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        help="directory of the default SQLite database (default ./data; LRCAST_DATA_DIR)",
    )
    common.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        help="SQLAlchemy database URL (default: SQLite in the data directory)",
    )
    parser = argparse.ArgumentParser(
        prog="lrcast-server",
        parents=[common],
        description="The lrcast server: named learning-rate schedules over HTTP. Settings come "
        "from LRCAST_* environment variables; the flags below override them.",
    )
    parser.add_argument("--version", action="version", version=f"lrcast-server {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[common], help="run the HTTP server (uvicorn)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, help="TCP port (default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--insecure", action="store_true", help=INSECURE_HELP)
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )

    commands.add_parser(
        "migrate", parents=[common], help="create or upgrade the database schema, then exit"
    )

    token = commands.add_parser("token", parents=[common], help="manage bearer tokens")
    actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create", parents=[common], help="make a token and print it (shown only once)"
    )
    create.add_argument("--name", required=True, help="a unique name for the token")
    create.add_argument(
        "--role",
        required=True,
        choices=[role.name for role in Role],
        help="read: GET requests and POST /v1/evaluate; write: also publish, bind, edit and "
        "report metrics; admin: also archive schedules and read the audit trail",
    )
    actions.add_parser("list", parents=[common], help="list tokens (never their values)")
    revoke = actions.add_parser("revoke", parents=[common], help="revoke a token by name")
    revoke.add_argument("name")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    """The settings, with the flags given written to the environment (so uvicorn's worker
    processes, which read it, see them too)."""
    overrides = {
        "LRCAST_DATA_DIR": getattr(args, "data_dir", None),
        "LRCAST_DATABASE_URL": getattr(args, "database_url", None),
        "LRCAST_HOST": getattr(args, "host", None),
        "LRCAST_PORT": getattr(args, "port", None),
        "LRCAST_WORKERS": getattr(args, "workers", None),
        "LRCAST_INSECURE": "1" if getattr(args, "insecure", False) else None,
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[name] = str(value)
    get_settings.cache_clear()
    return get_settings()


def _bad_settings(exc: ValidationError) -> str:
    """Each refused setting by its environment variable, with the reason."""
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        reason = error["msg"].removeprefix("Value error, ")
        lines.append(f"  LRCAST_{field.upper()}: {reason}")
    return "\n".join(lines)


def _shown(url: str) -> str:
    """A database URL fit to print: its password, if any, masked (in the query too)."""
    parsed = make_url(url)
    if "password" in parsed.query:
        parsed = parsed.update_query_dict({"password": "masked"})
    return parsed.render_as_string(hide_password=True)


def _database_problem(url: str) -> str | None:
    """Why ``url`` cannot name a database this server can use (unparsable, an unknown
    dialect, a driver not installed), or None."""
    try:
        make_url(url).get_dialect().import_dbapi()
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def _prepare(settings: Settings) -> None:
    """Migrate the database and seed the admin token (what create_app does in each worker)."""
    database = Database.from_url(settings.resolved_database_url)
    try:
        migrate(database)
        if settings.admin_token is not None:
            seed_admin_token(database, settings.admin_token.get_secret_value())
    finally:
        database.dispose()


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    # Once, before any worker starts: a database that cannot be reached is said in one line,
    # and each worker's create_app then finds the schema at the head and the token seeded.
    _prepare(settings)
    reads = "need a token" if settings.reads_need_token else "open (no token needed)"
    if settings.insecure and not is_loopback(settings.host):
        print("lrcast-server: --insecure: reads are open to anyone who can reach the port")
    print(
        f"lrcast-server {__version__}: http://{settings.host}:{settings.port}  "
        f"database {_shown(settings.resolved_database_url)}  reads {reads}; writes need a token",
        flush=True,
    )
    # Several workers count into one fresh directory that /metrics sums (a given one is kept).
    metrics_dir = None
    if settings.workers > 1 and not os.environ.get(observability.MULTIPROC_ENV):
        metrics_dir = tempfile.mkdtemp(prefix="lrcast-metrics-")
        os.environ[observability.MULTIPROC_ENV] = metrics_dir
    try:
        uvicorn.run(
            "lrcast_server.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=args.log_level,
            log_config=observability.log_config(args.log_level),
            access_log=args.access_log,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValidationError as exc:
        print(f"lrcast-server: bad settings:\n{_bad_settings(exc)}", file=sys.stderr)
        return 2
    problem = _database_problem(settings.resolved_database_url)
    if problem is not None:
        print(f"lrcast-server: bad settings:\n  LRCAST_DATABASE_URL: {problem}", file=sys.stderr)
        return 2
    try:
        if args.command == "serve":
            _serve(settings, args)
            return 0
        return _manage(settings, args)
    except Exception as exc:
        if not database_down(exc):
            raise
        reason = str(exc.orig if isinstance(exc, DBAPIError) else exc).strip().splitlines()[0]
        where = _shown(settings.resolved_database_url)
        print(f"lrcast-server: the database {where} cannot be reached: {reason}", file=sys.stderr)
        return 1


def _manage(settings: Settings, args: argparse.Namespace) -> int:
    """``migrate`` and ``token``."""
    database = Database.from_url(settings.resolved_database_url)
    try:
        migrate(database)
        if args.command == "migrate":
            print(f"lrcast-server: {_shown(settings.resolved_database_url)} is up to date")
        elif args.action == "create":
            token = create_token(database, args.name, Role[args.role])
            print(token)
            # On stderr, so that TOKEN=$(lrcast-server token create ...) takes the token alone.
            print(
                f"lrcast-server: token {args.name!r} ({args.role}) stored in "
                f"{_shown(settings.resolved_database_url)}: a server on another database will "
                "not know it",
                file=sys.stderr,
            )
        elif args.action == "list":
            for record in list_tokens(database):
                state = f"revoked {record.revoked:%Y-%m-%d %H:%M}" if record.revoked else "active"
                print(f"{record.name}\t{record.role}\t{record.created:%Y-%m-%d %H:%M}\t{state}")
        else:
            revoke_token(database, args.name)
            print(f"lrcast-server: token {args.name!r} revoked")
    except LrcastServerError as exc:
        print(f"lrcast-server: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
