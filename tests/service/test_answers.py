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


def make_core(directory: Path, **settings: int) -> Core:
    config = Settings(data_dir=directory, **settings)  # type: ignore[arg-type]
    database = Database.from_url(config.resolved_database_url)
    migrate(database)
    return Core(config, database)


def test_records_dropped_for_memory_keep_their_steps_seen_until_the_flush(
    tmp_path: Path,
) -> None:
    core = make_core(tmp_path, answer_cache_mb=1)
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


def test_a_record_follows_the_block_its_trainer_asks_about(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    document = lrcast.parse_document(
        {"curves": {"lr": {"type": "linear", "start": 1.0, "end": 0.0, "steps": 1000}}}
    )
    schedules.publish(core, "s", document, principal=EDITOR, if_match=None)
    runs.bind(core, "r", RunCreate(schedule="s", block=100), if_match=None)
    first = runs.answer(core, "r", 450)  # commits block 4
    runs.answer(core, "r", 120)  # block 1: a trainer resumed from an earlier checkpoint
    record = core.answers.get("r")
    assert record is not None
    assert answers.block_of(record) == 1
    assert runs.answer_from_memory(core, "r", 450) == first  # back again, same bytes
    record = core.answers.get("r")
    assert record is not None
    assert answers.block_of(record) == 4
    assert answers.seen(record)[0] == 450
    core.close()
