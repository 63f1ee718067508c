"""The ``lrcast`` command: apply schedules and runs, read them, ask for values, evaluate.

    lrcast apply -f schedules.yaml          # publish schedules, bind or edit runs (idempotent)
    lrcast get schedules|runs [NAME]        # tables; --json for scripts
    lrcast lr RUN STEP                      # a run's values at a step (commits its block)
    lrcast history SCHEDULE                 # a schedule's versions
    lrcast evaluate -f FILE --steps 0:1000:10   # local: no server needed

An apply file (YAML or JSON, several YAML documents allowed) holds ``schedules`` (name →
schedule document) and ``runs`` (id → binding: ``schedule``, ``version``, ``scale``, ``offset``,
``groups``, ``block``, ``total_steps``, ``steps_per_epoch``). Every entry is checked before the
first change (nothing changes if one is refused), then each change is printed as it is made.
Applying it twice changes nothing; a run whose binding differs is edited (``PATCH``) to match
from its next block on; an archived run is reported and left alone.
The server comes from ``--url`` or ``LRCAST_URL``, the token from ``--token`` or ``LRCAST_TOKEN``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pydantic

from lrcast._client import Client
from lrcast._errors import EvaluationError, LrcastError, ScheduleValidationError
from lrcast._evaluate import compile_document, parse_document
from lrcast._exceptions import NotFoundError
from lrcast._models import ScheduleDocument
from lrcast._schemas import (
    RUN_ID_PATTERN,
    SCHEDULE_NAME_PATTERN,
    RunCreate,
    ScheduleVersionRead,
)
from lrcast._validation import DuplicateKeyError, loads_strict, validation_errors

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


MAX_POINTS = 10_000
"""The most steps ``evaluate`` gives, as the server's default ``max_points`` for its ranges."""


class UsageError(LrcastError):
    """A bad command line or input file."""


# -- input files ------------------------------------------------------------------------------


def _read_documents(path: str) -> list[Any]:
    """Every document in a YAML or JSON file (``-``: standard input)."""
    text = sys.stdin.read() if path == "-" else _read_text(path)
    if path.endswith(".json"):
        return [_json(path, text)]
    try:
        import yaml

        from lrcast import _yaml
    except ImportError:
        try:
            return [_json(path, text)]
        except UsageError:
            raise UsageError(
                f"{path}: reading YAML needs PyYAML: pip install 'lrcast[yaml]'"
            ) from None
    try:
        return _yaml.load_all(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from None


def _json(path: str, text: str) -> Any:
    try:
        return loads_strict(text)
    except DuplicateKeyError as exc:
        raise UsageError(f"{path}: not valid JSON: duplicate key {exc.args[0]!r}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON: {exc}") from None


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _name(path: str, kind: str, key: Any) -> str:
    """A name as the file writes it: a string, or an integer key (``2024:``), which the YAML
    loader only accepts written as its decimal digits."""
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    raise UsageError(
        f"{path}: the {kind} name {key!r} is read as a {type(key).__name__}, not a name; "
        "quote it in the file"
    )


def _declared(
    path: str, documents: Iterable[Any], schedules: dict[str, Any], runs: dict[str, Any]
) -> None:
    """Add the schedules and runs that ``documents`` declare; a name declared twice is refused
    (which of the two would be applied?)."""
    for doc in documents:
        if not isinstance(doc, dict) or not set(doc) <= {"schedules", "runs"} or not doc:
            raise UsageError(
                f"{path}: expected a mapping with 'schedules' (name → document) and/or "
                "'runs' (id → binding)"
            )
        for kind, target in (("schedules", schedules), ("runs", runs)):
            items = doc.get(kind) or {}
            if not isinstance(items, dict):
                raise UsageError(f"{path}: '{kind}' must map names to {kind[:-1]}s")
            for key, value in items.items():
                name = _name(path, kind[:-1], key)
                if name in target:
                    raise UsageError(f"{path}: {kind[:-1]} {name!r} is declared twice")
                target[name] = value


def _resources(paths: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schedules and runs the files declare, in order."""
    schedules: dict[str, Any] = {}
    runs: dict[str, Any] = {}
    for path in paths:
        _declared(path, _read_documents(path), schedules, runs)
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
    """Check every entry (locally, then against the server, reading only), then apply the
    changes one at a time, printing each as it is made."""
    schedules, runs = _resources(args.file)
    documents, bindings = _checked(schedules, runs)
    changes = _Plan(client, documents, bindings).changes()
    report: list[dict[str, Any]] = []
    try:
        for change in changes:
            try:
                item = change.apply(client)
            except LrcastError as exc:
                raise UsageError(
                    f"{change.kind} {change.name!r}: {exc}\n"
                    + (
                        "the changes printed above were applied; this one and the rest were not"
                        if not args.json
                        else "the changes listed were applied; this one and the rest were not"
                    )
                ) from exc
            report.append(item)
            if not args.json:
                out.write(_line(item) + "\n")
                out.flush()
    finally:
        if args.json:
            _dump(report, out)


def _line(item: dict[str, Any]) -> str:
    line = f"{item['kind']}/{item['name']} {item['action']}"
    if "version" in item:
        line += f" (version {item['version']})"
    if "effective_step" in item:
        line += f" (from step {item['effective_step']})"
    return line


def _checked(
    schedules: dict[str, Any], runs: dict[str, Any]
) -> tuple[dict[str, ScheduleDocument], dict[str, RunCreate]]:
    """Every entry validated as the server would, or every problem at once (nothing is
    changed then)."""
    problems: list[str] = []
    documents: dict[str, ScheduleDocument] = {}
    bindings: dict[str, RunCreate] = {}
    for name, document in schedules.items():
        entry = f"schedule {name!r}"
        if not re.fullmatch(SCHEDULE_NAME_PATTERN, name):
            problems.append(f"{entry}: not a schedule name ({_NAMES}, 128 at most)")
            continue
        try:
            documents[name] = parse_document(document)
        except ScheduleValidationError as exc:
            problems.extend(f"{entry}: {detail}" for detail in exc.errors)
    for run_id, binding in runs.items():
        entry = f"run {run_id!r}"
        if not re.fullmatch(RUN_ID_PATTERN, run_id):
            problems.append(f"{entry}: not a run id ({_NAMES}, 200 at most)")
            continue
        if not isinstance(binding, dict):
            problems.append(f"{entry}: expected a mapping (schedule, scale, ...)")
            continue
        try:
            bindings[run_id] = RunCreate.model_validate(binding)
        except pydantic.ValidationError as exc:
            problems.extend(f"{entry}: {detail}" for detail in validation_errors(exc))
    if problems:
        raise UsageError("\n".join([*problems, "nothing was changed"]))
    return documents, bindings


_NAMES = "lowercase letters, digits, '.', '_', '-'"


@dataclass(frozen=True)
class _Change:
    """One entry of an apply file and what applying it takes (nothing, for a no-op)."""

    kind: str
    name: str
    send: Callable[[Client], dict[str, Any]] | None = None
    action: str = "unchanged"

    def apply(self, client: Client) -> dict[str, Any]:
        if self.send is not None:
            return {"kind": self.kind, "name": self.name, **self.send(client)}
        return {"kind": self.kind, "name": self.name, "action": self.action}


class _Plan:
    """What applying the file changes, found by reading the server, with every refusal that
    can be known before the first change (a run's block, a schedule or version that will not
    exist, a document a run could not evaluate)."""

    def __init__(
        self,
        client: Client,
        documents: dict[str, ScheduleDocument],
        bindings: dict[str, RunCreate],
    ) -> None:
        self.client = client
        self.documents = documents
        self.bindings = bindings
        self.problems: list[str] = []
        self._stored: dict[str, ScheduleVersionRead | None] = {}

    def stored(self, name: str) -> ScheduleVersionRead | None:
        """The latest version of ``name`` on the server (None: no such live schedule)."""
        if name not in self._stored:
            try:
                self._stored[name] = self.client.get_schedule(name)
            except NotFoundError:
                self._stored[name] = None
        return self._stored[name]

    def changes(self) -> list[_Change]:
        changes = [self._schedule(name, doc) for name, doc in self.documents.items()]
        changes += [self._run(run_id, wanted) for run_id, wanted in self.bindings.items()]
        if self.problems:
            raise UsageError("\n".join([*self.problems, "nothing was changed"]))
        return changes

    def _schedule(self, name: str, document: ScheduleDocument) -> _Change:
        # Published even when unchanged: the server says so (and which version is latest).
        stored = self.stored(name)
        if stored is not None and not _same(stored.document, document):
            self._check_followers(name, document)
        return _Change("schedule", name, _publish(name, document))

    def _check_followers(self, name: str, document: ScheduleDocument) -> None:
        """The server refuses a new version that a run following ``latest`` of ``name`` could
        not evaluate from its next block on (a ``"50%"`` duration, a run without
        ``total_steps``). The runs are as they are now: the file's runs are edited after."""
        for summary in self.client.iter_runs(schedule=name):
            if summary.schedule != name or summary.version != "latest":
                continue
            run = self.client.get_run(summary.id)
            at = -(-(run.horizon + 1) // run.block) * run.block
            governing = [s for s in run.timeline if s.from_step <= at][-1:]
            ahead = [*governing, *(s for s in run.timeline if s.from_step > at)]
            for segment in ahead:
                if segment.schedule == name:
                    problem = _evaluable(document, segment.total_steps, segment.steps_per_epoch)
                    if problem:
                        self.problems.append(
                            f"schedule {name!r}: run {run.id!r} follows it and could not "
                            f"evaluate this document: {problem}"
                        )
                        return

    def _run(self, run_id: str, wanted: RunCreate) -> _Change:
        entry = f"run {run_id!r}"
        try:
            current = self.client.get_run(run_id)
        except NotFoundError:
            self._check_binding(entry, wanted)
            return _Change("run", run_id, _bind(run_id, wanted))
        if current.archived:
            return _Change("run", run_id, action="archived")
        if "block" in wanted.model_fields_set and current.block != wanted.block:
            self.problems.append(
                f"{entry}: has block {current.block} on the server, the file gives "
                f"{wanted.block}; a run's block is fixed for its life"
            )
        changes = {
            field: getattr(wanted, field)
            for field in RUN_FIELDS
            if getattr(wanted, field) != getattr(current, field)
        }
        if not changes:
            return _Change("run", run_id)
        if "schedule" in changes:
            # Without a version the server makes a run moved to another schedule follow
            # ``latest``: send the one the file gives.
            changes["version"] = wanted.version
        if changes.get("plateau") is not None:
            changes["plateau"] = wanted.plateau.model_dump()  # type: ignore[union-attr]
        if set(changes) - {"plateau"}:
            self._check_binding(entry, wanted)
        return _Change("run", run_id, _edit(run_id, changes))

    def _check_binding(self, entry: str, wanted: RunCreate) -> None:
        """Refuse a binding whose schedule or version will not exist once the file's schedules
        are published, or which cannot evaluate it."""
        name = wanted.schedule
        stored = self.stored(name)
        latest = stored.version if stored is not None else 0
        document = self.documents.get(name)
        if document is not None:
            latest += 0 if stored is not None and _same(stored.document, document) else 1
        elif stored is None:
            self.problems.append(
                f"{entry}: no schedule {name!r}, neither on the server nor in the file"
            )
            return
        else:
            document = stored.document
        number = latest if wanted.version == "latest" else wanted.version
        if number > latest:
            self.problems.append(f"{entry}: schedule {name!r} has no version {number}")
            return
        if number != latest:
            document = self.client.get_version(name, number).document
        problem = _evaluable(document, wanted.total_steps, wanted.steps_per_epoch)
        if problem:
            self.problems.append(f"{entry}: schedule {name!r} version {number}: {problem}")


def _same(stored: ScheduleDocument, document: ScheduleDocument) -> bool:
    """Whether publishing ``document`` over ``stored`` is a no-op (as the server compares)."""
    return stored.model_dump(mode="json") == document.model_dump(mode="json")


def _evaluable(
    document: ScheduleDocument, total_steps: int | None, steps_per_epoch: int | None
) -> str | None:
    try:
        compile_document(document, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    except EvaluationError as exc:
        return str(exc)
    return None


def _publish(name: str, document: ScheduleDocument) -> Callable[[Client], dict[str, Any]]:
    def send(client: Client) -> dict[str, Any]:
        result = client.publish(name, document.model_dump(mode="json", exclude_unset=True))
        action = "published" if result.published else "unchanged"
        return {"action": action, "version": result.version}

    return send


def _bind(run_id: str, wanted: RunCreate) -> Callable[[Client], dict[str, Any]]:
    def send(client: Client) -> dict[str, Any]:
        client.bind_run(run_id, **wanted.model_dump())
        return {"action": "created"}

    return send


def _edit(run_id: str, changes: dict[str, Any]) -> Callable[[Client], dict[str, Any]]:
    def send(client: Client) -> dict[str, Any]:
        edit = client.edit_run(run_id, **changes)
        return {"action": "configured", "effective_step": edit.effective_step}

    return send


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
                (
                    s.from_step,
                    s.schedule,
                    s.version,
                    s.scale,
                    s.offset,
                    s.clock,
                    s.groups,
                    s.reduction,  # reduce-on-plateau's multiplier (1: none)
                )
                for s in run.timeline
            ],
            (
                "FROM STEP",
                "SCHEDULE",
                "VERSION",
                "SCALE",
                "OFFSET",
                "CLOCK",
                "GROUPS",
                "REDUCTION",
            ),
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


def _document(path: str, schedule: str | None) -> Any:
    """The schedule document a file holds, or the one named ``schedule`` of an apply file
    (several YAML documents allowed, as ``apply`` reads them)."""
    documents = _read_documents(path)
    if len(documents) == 1 and not (
        isinstance(documents[0], dict) and {"schedules", "runs"} & set(documents[0])
    ):
        if schedule is not None:
            raise UsageError(f"{path}: a schedule document, not an apply file; drop --schedule")
        return documents[0]
    schedules: dict[str, Any] = {}
    _declared(path, documents, schedules, {})
    if schedule is None:
        if len(schedules) != 1:
            raise UsageError(
                f"{path}: {len(schedules) or 'no'} schedules; pick one with --schedule"
            )
        schedule = next(iter(schedules))
    if schedule not in schedules:
        raise UsageError(f"{path}: no schedule {schedule!r}")
    return schedules[schedule]


def _evaluate(args: argparse.Namespace, out: TextIO) -> None:
    count = max(-(-(args.steps.stop - args.steps.start) // args.steps.step), 0)
    if count > MAX_POINTS:
        raise UsageError(
            f"--steps gives {count} steps; at most {MAX_POINTS} (the server's max_points)"
        )
    document = _document(args.file, args.schedule)
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
    except LrcastError as exc:
        for line in str(exc).splitlines():
            print(f"lrcast: error: {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
