"""Answer records: the per-step answer read from one packed object, byte for byte the answer
rendered from the block's arrays."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import orjson
import pytest

import lrcast
from lrcast._schemas import RunCreate
from lrcast_server import Settings, answers, runs, schedules, storage
from lrcast_server.auth import Principal, Role
from lrcast_server.core import Core
from lrcast_server.db import Database, migrate

EDITOR = Principal("editor", Role.write)


def rendered(
    values: dict[str, np.ndarray],
    i: int,
    run: str,
    step: int,
    groups: tuple[tuple[str, float], ...],
    schedule: str,
    version: int,
) -> bytes:
    """The answer as the server rendered it before records: one orjson document."""
    at = {name: column.item(i) for name, column in values.items()}
    lr = at["lr"]
    return orjson.dumps(
        {
            "run": run,
            "step": step,
            "lr": lr,
            "values": at,
            "groups": {name: lr * m for name, m in groups},
            "schedule": schedule,
            "version": version,
        }
    )


@pytest.mark.parametrize("mask", list(itertools.product([False, True], repeat=3)))
@pytest.mark.parametrize("groups", [(), (("backbone", 0.1),), (("a", 2.0), ("b", -0.0))])
def test_a_record_renders_every_step_of_its_block_as_the_arrays_would(
    mask: tuple[bool, ...], groups: tuple[tuple[str, float], ...]
) -> None:
    rng = np.random.default_rng(3)
    size = 16
    values = {
        name: np.full(size, rng.normal()) if constant else rng.normal(size=size)
        for name, constant in zip(["lr", "momentum", "weight_decay"], mask, strict=True)
    }
    if mask[1]:  # a constant curve as the block cache holds it: one float, a zero-stride view
        values["momentum"] = np.broadcast_to(values["momentum"][:1].copy(), (size,))
    k = 3
    record = answers.pack(values, k, groups, 's\u00e9"q', 12)
    for i in range(size):
        step = k * size + i
        want = rendered(values, i, "run-\u00e9", step, groups, 's\u00e9"q', 12)
        assert answers.render(record, "run-\u00e9", step) == want
    assert answers.render(record, "r", k * size - 1) is None
    assert answers.render(record, "r", (k + 1) * size) is None
    # A constant curve is stored once: the record weighs its varying floats.
    varying = size * mask.count(False) * 8
    assert varying <= len(record) < varying + 150


def test_floats_keep_their_bits() -> None:
    lr = np.array([-0.0, 5e-324, 1.7976931348623157e308, 0.1 + 0.2])
    record = answers.pack({"lr": lr}, 0, (("g", 3.0),), "s", 1)
    for i, value in enumerate(lr.tolist()):
        body = answers.render(record, "r", i)
        assert body is not None
        assert orjson.loads(body)["lr"].hex() == value.hex()


def test_the_step_seen_only_rises_and_asks_once_to_be_queued() -> None:
    record = answers.pack({"lr": np.zeros(4)}, 0, (), "s", 1, seen=5)
    assert answers.seen(record) == (5, False)
    assert not answers.see(record, 5)
    assert answers.see(record, 7)  # higher: queue it
    answers.set_noted(record, True)
    assert not answers.see(record, 9)  # already queued
    assert not answers.see(record, 8)
    assert answers.seen(record) == (9, True)


STORES = [
    pytest.param(True, id="native"),
    pytest.param(False, id="python"),
]


@pytest.fixture(autouse=True)
def _native_built() -> None:
    # The suite runs where the C extension is built (scripts/test installs a compiler): its
    # absence here would silently test the Python store twice.
    assert answers._answertable is not None, "lrcast_server._answertable is not built"


def make_core(directory: Path, **settings: object) -> Core:
    config = Settings(data_dir=directory, **settings)  # type: ignore[arg-type]
    database = Database.from_url(config.resolved_database_url)
    migrate(database)
    return Core(config, database)


@pytest.mark.parametrize("native", STORES)
def test_records_dropped_for_memory_keep_their_steps_seen_until_the_flush(
    tmp_path: Path, native: bool
) -> None:
    core = make_core(tmp_path, answer_cache_mb=1, native_answers=native)
    assert isinstance(core.answers, answers.NativeAnswers if native else answers.PyAnswers)
    document = lrcast.parse_document(
        {"curves": {"lr": {"type": "linear", "start": 1.0, "end": 0.0, "steps": 10**6}}}
    )
    schedules.publish(core, "s", document, principal=EDITOR, if_match=None)
    names = [f"r{i}" for i in range(40)]
    for name in names:  # 40 records of 64 KB: more than 1 MB
        runs.bind(core, name, RunCreate(schedule="s", block=8192), if_match=None)
        runs.answer(core, name, 0)
    core.flush_seen()
    for i, name in enumerate(names):
        assert runs.answer_from_memory(core, name, 100 + i) is not None
    assert len(core.answers) < len(names)
    assert core.answers.weight <= 2**20
    core.flush_seen()
    with core.database.read() as conn:
        stored = {name: storage.get_run(conn, name).last_step_seen for name in names}  # type: ignore[union-attr]
    assert stored == {name: 100 + i for i, name in enumerate(names)}
    core.close()


@pytest.mark.parametrize("native", STORES)
def test_a_record_follows_the_block_its_trainer_asks_about(tmp_path: Path, native: bool) -> None:
    core = make_core(tmp_path, native_answers=native)
    document = lrcast.parse_document(
        {"curves": {"lr": {"type": "linear", "start": 1.0, "end": 0.0, "steps": 1000}}}
    )
    schedules.publish(core, "s", document, principal=EDITOR, if_match=None)
    runs.bind(core, "r", RunCreate(schedule="s", block=100), if_match=None)
    first = runs.answer(core, "r", 450)  # commits block 4
    runs.answer(core, "r", 120)  # block 1: a trainer resumed from an earlier checkpoint
    assert core.answers.block("r") == 1
    assert runs.answer_from_memory(core, "r", 450) == first  # back again, same bytes
    assert core.answers.block("r") == 4
    assert core.answers.seen("r") == (450, False)  # a new block waits for no flush
    core.close()


class Recorder:
    def __init__(self) -> None:
        self.queued: list[str] = []
        self.evicted: list[tuple[str, int, bool]] = []

    def queue(self, run: str) -> None:
        self.queued.append(run)

    def evict(self, run: str, seen: int, noted: bool) -> None:
        self.evicted.append((run, seen, noted))


def test_both_stores_give_the_same_answers_seen_steps_and_evictions() -> None:
    """The native table against the Python records, through the same random operations:
    puts of blocks of several layouts (long run names, many groups, constant curves), answers
    in and out of the block, pops, unnotes and evictions by count and by weight."""
    rng = np.random.default_rng(11)
    size = 32
    native_log, python_log = Recorder(), Recorder()
    bound = 14 * size * 8 * 2
    native = answers.NativeAnswers(12, bound, native_log.queue, native_log.evict)
    python = answers.PyAnswers(12, bound, python_log.queue, python_log.evict)
    names = [f"r{i}" for i in range(10)] + ["w" * 200, "x" * 160, "y" * 161, "run-\u00e9"]
    for _ in range(3000):
        run = names[rng.integers(len(names))]
        op = rng.integers(10)
        if op == 0:
            k = int(rng.integers(5))
            groups = tuple((f"g{j}", float(rng.normal())) for j in range(int(rng.integers(7))))
            values = {"lr": rng.normal(size=size)}
            if rng.integers(2):
                values["momentum"] = np.full(size, rng.normal())
            if rng.integers(2):
                values["beta2"] = rng.normal(size=size)
            seen = int(rng.integers(-1, 200))
            for store in (native, python):
                store.put(run, values, k, groups, "s", 3, seen)
        elif op == 1:
            assert native.pop(run) == python.pop(run)
        elif op == 2:
            assert native.unnote(run) == python.unnote(run)
        else:
            step = int(rng.integers(6 * size))
            assert native.answer(run, step) == python.answer(run, step)
        assert native.seen(run) == python.seen(run)
        assert native.block(run) == python.block(run)
        assert len(native) == len(python)
    assert native_log.queued == python_log.queued
    assert native_log.evicted == python_log.evicted
    assert native_log.evicted  # the bounds were reached


def test_the_native_table_refuses_what_it_cannot_hold() -> None:
    assert answers._answertable is not None
    table = answers._answertable.Table(2)
    with pytest.raises(ValueError, match="not a block"):
        table.put("r", 0, 0, 4, b"", b"\0" * 24, -1)  # 3 floats in rows of a 4-step block
    with pytest.raises(TypeError):
        table.answer(b"r", 0)  # type: ignore[arg-type]
    table.put("a", 0, 0, 1, b"", b"\0" * 8, -1)
    table.put("b", 0, 0, 1, b"", b"\0" * 8, -1)
    with pytest.raises(OverflowError, match="full"):
        table.put("c", 0, 0, 1, b"", b"\0" * 8, -1)
    assert table.pop("a") == (-1, False)
    table.put("c", 0, 0, 1, b"", b"\0" * 8, -1)
    assert len(table) == 2
    with pytest.raises(RuntimeError, match="not initialised"):
        answers._answertable.Table.__new__(answers._answertable.Table).block("r")


def test_without_the_compiled_table_the_python_records_answer_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(answers, "_answertable", None)
    log = Recorder()
    store = answers.make_answers(4, 2**20, log.queue, log.evict)
    assert isinstance(store, answers.PyAnswers)
    assert "not built" in caplog.text
    store.put("r", {"lr": np.arange(4.0)}, 1, (), "s", 1, -1)
    assert store.answer("r", 6) == rendered({"lr": np.arange(4.0)}, 2, "r", 6, (), "s", 1)
    assert log.queued == ["r"]
