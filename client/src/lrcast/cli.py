"""The ``lrcast`` command: apply schedules and runs, read them, ask for values, evaluate.

    lrcast apply -f schedules.yaml          # publish schedules, bind or edit runs (idempotent)
    lrcast get schedules|runs [NAME]        # tables; --json for scripts
    lrcast lr RUN STEP                      # a run's values at a step (commits its block)
    lrcast history SCHEDULE                 # a schedule's versions
    lrcast evaluate -f FILE --steps 0:1000:10   # local: no server needed

An apply file (YAML or JSON, several YAML documents allowed) holds ``schedules`` (name →
schedule document) and ``runs`` (id → binding: ``schedule``, ``version``, ``scale``, ``offset``,
``groups``, ``block``, ``total_steps``, ``steps_per_epoch``). Applying it twice changes nothing;
a run whose binding differs is edited (``PATCH``) to match from its next block on.
The server comes from ``--url`` or ``LRCAST_URL``, the token from ``--token`` or ``LRCAST_TOKEN``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from lrcast._client import Client
from lrcast._errors import LrcastError
from lrcast._evaluate import compile_document
from lrcast._exceptions import ApiError, NotFoundError
from lrcast._schemas import RunCreate

RUN_FIELDS = (
    "schedule",
    "version",
    "scale",
    "offset",
    "groups",
    "total_steps",
    "steps_per_epoch",
    "plateau",
)


class UsageError(LrcastError):
    """A bad command line or input file."""


# -- input files ------------------------------------------------------------------------------


def _read_documents(path: str) -> list[Any]:
    """Every document in a YAML or JSON file (``-``: standard input)."""
    text = sys.stdin.read() if path == "-" else _read_text(path)
    if path.endswith(".json"):
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: not valid JSON: {exc}") from None
    try:
        import yaml
    except ImportError:
        try:
            return [json.loads(text)]
        except json.JSONDecodeError:
            raise UsageError(
                f"{path}: reading YAML needs PyYAML: pip install 'lrcast[yaml]'"
            ) from None
    try:
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from None


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _resources(paths: Sequence[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The schedules and runs the files declare, in order."""
    schedules: dict[str, Any] = {}
    runs: dict[str, dict[str, Any]] = {}
    for path in paths:
        for doc in _read_documents(path):
            if not isinstance(doc, dict) or not set(doc) <= {"schedules", "runs"} or not doc:
                raise UsageError(
                    f"{path}: expected a mapping with 'schedules' (name → document) and/or "
                    "'runs' (id → binding)"
                )
            for kind, target in (("schedules", schedules), ("runs", runs)):
                items = doc.get(kind) or {}
                if not isinstance(items, dict):
                    raise UsageError(f"{path}: '{kind}' must map names to {kind[:-1]}s")
                target.update(items)
    return schedules, runs


# -- output -----------------------------------------------------------------------------------


def _table(rows: Iterable[Sequence[Any]], headers: Sequence[str], out: TextIO) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d %H:%M:%S"))
    return str(value)


def _dump(data: Any, out: TextIO) -> None:
    out.write(json.dumps(data, indent=2, default=str) + "\n")


# -- commands ---------------------------------------------------------------------------------


def _apply(client: Client, args: argparse.Namespace, out: TextIO) -> None:
    schedules, runs = _resources(args.file)
    for run_id, binding in runs.items():  # a bad binding stops the file before any change
        _wanted(run_id, binding)
    report: list[dict[str, Any]] = []
    for name, document in schedules.items():
        result = client.publish(name, document)
        action = "published" if result.published else "unchanged"
        report.append(
            {"kind": "schedule", "name": name, "action": action, "version": result.version}
        )
    for run_id, binding in runs.items():
        report.append(_apply_run(client, run_id, binding))
    if args.json:
        _dump(report, out)
        return
    for item in report:
        line = f"{item['kind']}/{item['name']} {item['action']}"
        if "version" in item:
            line += f" (version {item['version']})"
        if "effective_step" in item:
            line += f" (from step {item['effective_step']})"
        out.write(line + "\n")


def _wanted(run_id: str, binding: Any) -> RunCreate:
    if not isinstance(binding, dict):
        raise UsageError(f"runs.{run_id}: expected a mapping (schedule, scale, ...)")
    try:
        return RunCreate.model_validate(binding)
    except ValueError as exc:
        raise UsageError(f"runs.{run_id}: {exc}") from None


def _apply_run(client: Client, run_id: str, binding: Any) -> dict[str, Any]:
    wanted = _wanted(run_id, binding)
    item: dict[str, Any] = {"kind": "run", "name": run_id}
    try:
        current = client.get_run(run_id)
    except NotFoundError:
        client.bind_run(run_id, **wanted.model_dump())
        return {**item, "action": "created"}
    if "block" in wanted.model_fields_set and current.block != wanted.block:
        raise UsageError(
            f"run {run_id!r} has block {current.block}; block is fixed for a run's life"
        )
    changes = {
        field: getattr(wanted, field)
        for field in RUN_FIELDS
        if getattr(wanted, field) != getattr(current, field)
    }
    if changes.get("plateau") is not None:
        changes["plateau"] = wanted.plateau.model_dump()  # type: ignore[union-attr]
    if not changes:
        return {**item, "action": "unchanged"}
    edit = client.edit_run(run_id, **changes)
    return {**item, "action": "configured", "effective_step": edit.effective_step}


def _get(client: Client, args: argparse.Namespace, out: TextIO) -> None:
    if args.kind in ("schedules", "schedule"):
        if args.name:
            read = client.get_schedule(args.name)
            if args.json:
                _dump(read.model_dump(mode="json"), out)
                return
            out.write(
                f"schedule {read.name}  version {read.version}  created {_cell(read.created)}\n"
            )
            doc = read.document.model_dump(mode="json", exclude_none=True)
            out.write(json.dumps(doc, indent=2) + "\n")
            return
        items = list(client.iter_schedules())
        if args.json:
            _dump([i.model_dump(mode="json") for i in items], out)
            return
        _table(
            [(i.name, i.latest_version, i.description, i.updated) for i in items],
            ("NAME", "VERSION", "DESCRIPTION", "UPDATED"),
            out,
        )
        return
    if args.name:
        run = client.get_run(args.name)
        if args.json:
            _dump(run.model_dump(mode="json"), out)
            return
        _table(
            [
                (
                    run.id,
                    run.schedule,
                    run.version,
                    run.scale,
                    run.block,
                    run.horizon,
                    run.last_step_seen,
                )
            ],
            ("ID", "SCHEDULE", "VERSION", "SCALE", "BLOCK", "HORIZON", "LAST STEP"),
            out,
        )
        out.write("\ntimeline:\n")
        _table(
            [
                (s.from_step, s.schedule, s.version, s.scale, s.offset, s.clock, s.groups)
                for s in run.timeline
            ],
            ("FROM STEP", "SCHEDULE", "VERSION", "SCALE", "OFFSET", "CLOCK", "GROUPS"),
            out,
        )
        return
    runs = list(client.iter_runs(archived=args.archived))
    if args.json:
        _dump([r.model_dump(mode="json") for r in runs], out)
        return
    _table(
        [(r.id, r.schedule, r.version, r.horizon, r.last_step_seen, r.archived) for r in runs],
        ("ID", "SCHEDULE", "VERSION", "HORIZON", "LAST STEP", "ARCHIVED"),
        out,
    )


def _lr(client: Client, args: argparse.Namespace, out: TextIO) -> None:
    answer = client.lr(args.run, args.step)
    if args.json:
        _dump(answer.model_dump(mode="json"), out)
        return
    out.write(
        f"run {answer.run}  step {answer.step}  schedule {answer.schedule} v{answer.version}\n"
    )
    _table(
        [
            *((k, v) for k, v in answer.values.items()),
            *((f"group {k}", v) for k, v in answer.groups.items()),
        ],
        ("CURVE", "VALUE"),
        out,
    )


def _history(client: Client, args: argparse.Namespace, out: TextIO) -> None:
    versions = list(client.iter_versions(args.schedule))
    if args.json:
        _dump([v.model_dump(mode="json") for v in versions], out)
        return
    _table(
        [(v.version, v.created, v.created_by, v.description) for v in versions],
        ("VERSION", "CREATED", "BY", "DESCRIPTION"),
        out,
    )


def _steps(text: str) -> range:
    parts = text.split(":")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (2, 3) or numbers[0] < 0 or (len(numbers) == 3 and numbers[2] < 1):
        raise argparse.ArgumentTypeError(f"{text!r} is not START:STOP[:EVERY] (e.g. 0:1000:10)")
    return range(*numbers)


def _evaluate(args: argparse.Namespace, out: TextIO) -> None:
    documents = _read_documents(args.file)
    if len(documents) != 1:
        raise UsageError(f"{args.file}: expected one schedule document")
    document = documents[0]
    if isinstance(document, dict) and "schedules" in document:
        schedules = document["schedules"] or {}
        if args.schedule is None and len(schedules) != 1:
            raise UsageError(f"{args.file}: several schedules; pick one with --schedule")
        name = args.schedule or next(iter(schedules))
        if name not in schedules:
            raise UsageError(f"{args.file}: no schedule {name!r}")
        document = schedules[name]
    compiled = compile_document(
        document, total_steps=args.total_steps, steps_per_epoch=args.steps_per_epoch
    )
    steps = np.arange(args.steps.start, args.steps.stop, args.steps.step, dtype=np.int64)
    values = compiled.evaluate(steps)
    if args.json:
        _dump({"steps": steps.tolist(), "values": {k: v.tolist() for k, v in values.items()}}, out)
        return
    names = list(values)
    _table(
        [(int(s), *(float(values[n][i]) for n in names)) for i, s in enumerate(steps)],
        ("STEP", *names),
        out,
    )


# -- entry point ------------------------------------------------------------------------------


def _common(default: Any) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name (the commands' copies
    default to SUPPRESS so that they do not reset what was given before the command)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", default=default, help="the server (default $LRCAST_URL or http://127.0.0.1:8000)"
    )
    common.add_argument("--token", default=default, help="a bearer token (default $LRCAST_TOKEN)")
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if default is argparse.SUPPRESS else False,
        help="print JSON, for scripts",
    )
    return common


def _parser() -> argparse.ArgumentParser:
    common = _common(argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="lrcast",
        description="Learning-rate schedules as a service: the command line client.",
        parents=[_common(None)],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    apply = commands.add_parser(
        "apply", parents=[common], help="publish schedules and bind or edit runs from files"
    )
    apply.add_argument(
        "-f",
        "--file",
        action="append",
        required=True,
        help="YAML or JSON file (repeatable; - is stdin)",
    )
    get = commands.add_parser("get", parents=[common], help="list or show schedules or runs")
    get.add_argument("kind", choices=["schedules", "schedule", "runs", "run"])
    get.add_argument("name", nargs="?")
    get.add_argument("--archived", action="store_true", help="include archived runs")
    lr = commands.add_parser("lr", parents=[common], help="a run's values at a step")
    lr.add_argument("run")
    lr.add_argument("step", type=int)
    history = commands.add_parser("history", parents=[common], help="a schedule's versions")
    history.add_argument("schedule")
    evaluate = commands.add_parser(
        "evaluate", parents=[common], help="evaluate a schedule document locally (no server)"
    )
    evaluate.add_argument("-f", "--file", required=True, help="a schedule document (YAML or JSON)")
    evaluate.add_argument(
        "--steps", type=_steps, default=range(0, 1000, 100), help="START:STOP[:EVERY]"
    )
    evaluate.add_argument("--schedule", help="which schedule of an apply file")
    evaluate.add_argument("--total-steps", type=int, help='what "5%%" durations refer to')
    evaluate.add_argument("--steps-per-epoch", type=int, help='what "12ep" durations refer to')
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the ``lrcast`` command; returns its exit status."""
    args = _parser().parse_args(argv)
    out = out or sys.stdout
    try:
        if args.command == "evaluate":
            _evaluate(args, out)
            return 0
        with Client(url=args.url, token=args.token) as client:
            {"apply": _apply, "get": _get, "lr": _lr, "history": _history}[args.command](
                client, args, out
            )
    except ApiError as exc:
        print(f"lrcast: error: {exc}", file=sys.stderr)
        return 1
    except LrcastError as exc:
        print(f"lrcast: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
