"""The consistency guarantee without HTTP: several ``Core`` objects on one database (a SQLite
file, or PostgreSQL) behave as several server processes would."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lrcast
from lrcast._schemas import RunCreate, RunPatch
from lrcast_server import Settings, runs, schedules, storage
from lrcast_server.auth import Principal, Role
from lrcast_server.core import Core
from lrcast_server.db import Database, migrate
from tests.service.helpers import CONSTANT, COSINE

EDITOR = Principal("editor", Role.write)


def make_cores(directory: Path, count: int, database_url: str | None = None) -> list[Core]:
    config = Settings(data_dir=directory, database_url=database_url)
    first = Database.from_url(config.resolved_database_url)
    migrate(first)
    return [Core(config, first)] + [
        Core(config, Database.from_url(config.resolved_database_url)) for _ in range(count - 1)
    ]


@pytest.fixture(params=["sqlite", "postgresql"])
def cores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Core]]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    made = make_cores(tmp_path, 2, url)
    yield made
    for core in made:
        core.close()


def document(value: float) -> lrcast.ScheduleDocument:
    return lrcast.parse_document(
        {"curves": {"lr": {"type": "linear", "start": value, "end": 0.0, "steps": 5000}}}
    )


def answer(core: Core, run: str, step: int) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(runs.answer(core, run, step))
    return body


def final_value(core: Core, run: str, step: int) -> float:
    """``step`` evaluated on the run's final timeline with the language alone."""
    read, _ = runs.get(core, run)
    segment = lrcast.segment_for(read.timeline, step // read.block * read.block)
    version, _ = schedules.version(core, segment.schedule, segment.version)
    compiled = lrcast.compile_document(
        version.document,
        total_steps=segment.total_steps,
        steps_per_epoch=segment.steps_per_epoch,
    )
    k = step // read.block
    return float(
        lrcast.segment_block(compiled, segment, k, read.block)["lr"][step - k * read.block]
    )


def test_effective_step_is_past_a_horizon_raised_by_another_process(cores: list[Core]) -> None:
    a, b = cores
    schedules.publish(a, "s", document(1.0), principal=EDITOR, if_match=None)
    runs.bind(a, "r", RunCreate(schedule="s", block=100), if_match=None)
    first = answer(a, "r", 5)
    answer(b, "r", 250)
    edit, _ = runs.patch(a, "r", RunPatch(scale=2.0), if_match=None)
    assert edit.effective_step == 300
    assert answer(a, "r", 5) == first
    assert answer(a, "r", 299)["lr"] == answer(b, "r", 299)["lr"]
    assert answer(b, "r", 300)["lr"] == 2.0 * lrcast.evaluate(document(1.0), [300])["lr"][0]


def test_a_stale_process_reloads_the_timeline_when_its_raise_loses(cores: list[Core]) -> None:
    a, b = cores
    schedules.publish(a, "s", document(1.0), principal=EDITOR, if_match=None)
    runs.bind(a, "r", RunCreate(schedule="s", block=100), if_match=None)
    answer(a, "r", 5)
    answer(b, "r", 150)
    result, _, _ = schedules.publish(b, "s", document(3.0), principal=EDITOR, if_match=None)
    assert [(s.run, s.effective_step) for s in result.runs] == [("r", 200)]
    assert a.cached("r") is not None
    assert answer(a, "r", 150) == answer(b, "r", 150)
    assert answer(a, "r", 250)["version"] == 2
    assert answer(b, "r", 250) == answer(a, "r", 250)


def test_last_steps_seen_from_two_processes_keep_the_highest(cores: list[Core]) -> None:
    a, b = cores
    schedules.publish(a, "s", document(1.0), principal=EDITOR, if_match=None)
    for run in ("r", "q", "idle"):
        runs.bind(a, run, RunCreate(schedule="s", block=100), if_match=None)
    answer(a, "r", 10)
    answer(a, "q", 10)
    for step in (40, 35, 90):  # answered from memory: only noted, written at the next flush
        assert runs.answer_from_memory(a, "r", step) is not None
    answer(b, "r", 60)
    answer(b, "q", 70)
    assert runs.get(a, "r")[0].last_step_seen == 90  # what this process saw, before a flush
    a.flush_seen()
    b.flush_seen()  # r: 60 < 90 already stored, and never lowers it
    stored = {run: runs.get(b, run)[0].last_step_seen for run in ("r", "q", "idle")}
    assert stored == {"r": 90, "q": 70, "idle": None}


def test_an_edit_does_not_hide_the_last_step_seen_before_it_is_written(cores: list[Core]) -> None:
    a, _ = cores
    schedules.publish(a, "s", document(1.0), principal=EDITOR, if_match=None)
    runs.bind(a, "r", RunCreate(schedule="s", block=100), if_match=None)
    answer(a, "r", 10)
    a.flush_seen()
    assert runs.answer_from_memory(a, "r", 77) is not None  # noted, not yet written
    runs.patch(a, "r", RunPatch(scale=2.0), if_match=None)  # drops the cached state
    assert runs.get(a, "r")[0].last_step_seen == 77
    answer(a, "r", 20)  # read again: the step seen carries over
    assert runs.get(a, "r")[0].last_step_seen == 77
    a.flush_seen()
    assert storage_seen(a, "r") == 77


def storage_seen(core: Core, run: str) -> int | None:
    with core.database.read() as conn:
        record = storage.get_run(conn, run)
    assert record is not None
    return record.last_step_seen


def test_a_slow_flush_of_steps_seen_postpones_the_next(
    cores: list[Core], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = cores
    clock = iter([100.0, 103.0, 103.0, 200.0, 253.5, 400.0])
    monkeypatch.setattr("lrcast_server.core.time.monotonic", lambda: next(clock))
    a.flush_seen()  # took 3 s: no flush due for 50 times that
    assert not a.seen_due()  # at 103 s
    assert not a.seen_due()  # at 200 s
    assert a.seen_due()  # at 253.5 s
    assert not a.seen_due()  # due, but the flush asked for has not run yet


def test_horizon_is_written_once_per_block(
    cores: list[Core], monkeypatch: pytest.MonkeyPatch
) -> None:
    core = cores[0]
    schedules.publish(core, "s", document(1.0), principal=EDITOR, if_match=None)
    runs.bind(core, "r", RunCreate(schedule="s", block=64), if_match=None)
    calls: list[int] = []
    original = storage.raise_horizon

    def counting(*args: Any, **kwargs: Any) -> bool:
        calls.append(kwargs["horizon"])
        return original(*args, **kwargs)

    monkeypatch.setattr(storage, "raise_horizon", counting)
    for step in range(200):
        answer(core, "r", step)
    assert calls == [63, 127, 191, 255]
    assert runs.answer_from_memory(core, "r", 150) is not None
    assert runs.answer_from_memory(core, "r", 256) is None


def test_a_step_that_cannot_be_evaluated_does_not_move_the_horizon(cores: list[Core]) -> None:
    core = cores[0]
    bad = lrcast.parse_document({"curves": {"lr": {"type": "expression", "expr": "0.1 - t / 100"}}})
    schedules.publish(core, "s", bad, principal=EDITOR, if_match=None)
    runs.bind(core, "r", RunCreate(schedule="s", block=10), if_match=None)
    assert answer(core, "r", 3)["lr"] == pytest.approx(0.07)
    with pytest.raises(lrcast.EvaluationError):
        runs.answer(core, "r", 15)
    assert runs.get(core, "r")[0].horizon == 9


Operation = tuple[str, int, int]

operations = st.lists(
    st.tuples(
        st.sampled_from(["answer", "answer", "answer", "lease", "patch", "publish", "restart"]),
        st.integers(0, 2),
        st.integers(0, 1200),
    ),
    min_size=5,
    max_size=40,
)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_every_answer_from_every_process_matches_the_final_timeline(
    request: pytest.FixtureRequest, backend: str, script: list[Operation]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = None
        if backend == "postgresql":
            url = request.getfixturevalue("postgres_server").create_database()
        made = make_cores(Path(directory), 3, url)
        try:
            check_script(made, script)
        finally:
            for core in made:
                core.close()
            if url is not None:
                request.getfixturevalue("postgres_server").drop_database(url)


def check_script(made: list[Core], script: list[Operation]) -> None:
    schedules.publish(made[0], "s", lrcast.parse_document(COSINE), principal=EDITOR, if_match=None)
    runs.bind(made[0], "r", RunCreate(schedule="s", block=50), if_match=None)
    seen: dict[int, float] = {}
    version = 1
    for kind, who, number in script:
        core = made[who]
        if kind == "answer":
            value = answer(core, "r", number)["lr"]
            assert seen.setdefault(number, value) == value
        elif kind == "lease":
            lease = runs.lease(core, "r", number, 2)
            for offset, value in enumerate(lease.values["lr"]):
                assert value is not None
                assert seen.setdefault(lease.from_step + offset, value) == value
        elif kind == "patch":
            runs.patch(core, "r", RunPatch(scale=1 + number / 1000, at_step=number), if_match=None)
        elif kind == "restart":
            runs.patch(core, "r", RunPatch(clock="restart"), if_match=None)
        else:
            version += 1
            body = COSINE if version % 2 else CONSTANT
            changed = {**body, "description": f"v{version}"}
            schedules.publish(
                core, "s", lrcast.parse_document(changed), principal=EDITOR, if_match=None
            )
    for step, value in seen.items():
        assert final_value(made[0], "r", step) == value
