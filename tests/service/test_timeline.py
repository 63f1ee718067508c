"""The decisions behind the guarantee, as pure functions."""

from __future__ import annotations

import numpy as np
import pytest

import lrcast
from lrcast._schemas import TimelineSegment
from lrcast_server.timeline import (
    Timeline,
    block_bytes,
    block_key,
    compute_block,
    continued,
    edited,
    effective_step,
    same_segment,
)


@pytest.mark.parametrize(
    ("horizon", "at_step", "block", "expected"),
    [
        (-1, None, 256, 0),
        (255, None, 256, 256),
        (511, 300, 256, 512),
        (255, 700, 256, 768),
        (255, 768, 256, 768),
        (-1, 1, 1, 1),
        (9, None, 10, 10),
    ],
)
def test_effective_step_is_the_first_boundary_past_horizon_and_at_step(
    horizon: int, at_step: int | None, block: int, expected: int
) -> None:
    assert effective_step(horizon, at_step, block) == expected


def segment(from_step: int, **fields: object) -> TimelineSegment:
    return TimelineSegment(from_step=from_step, schedule="s", version=1, **fields)  # type: ignore[arg-type]


def test_timeline_finds_the_segment_governing_a_step() -> None:
    timeline = Timeline("r", 0, 10, (segment(0), segment(20, scale=2.0), segment(50, scale=3.0)))
    assert [timeline.governing(s).from_step for s in (0, 19, 20, 49, 50, 10**9)] == [
        0,
        0,
        20,
        20,
        50,
        50,
    ]
    assert [s.from_step for s in timeline.covering(15, 25)] == [0, 20]
    assert [s.from_step for s in timeline.covering(20, 50)] == [20]


def test_continuing_a_restarted_segment_keeps_its_count() -> None:
    base = segment(100, clock="restart", offset=5)
    later = continued(base, 300)
    assert (later.clock, later.offset, later.from_step) == ("global", -95, 300)
    assert same_segment(base, later)


def test_an_edit_without_clock_or_offset_keeps_counting() -> None:
    base = segment(100, clock="restart")
    new = edited(
        base,
        200,
        schedule="s",
        version=2,
        scale=1.0,
        groups={},
        total_steps=None,
        steps_per_epoch=None,
        clock=None,
        offset=None,
    )
    assert (new.clock, new.offset, new.version) == ("global", -100, 2)
    assert not same_segment(base, new)


def test_an_edit_with_a_clock_sets_the_count_afresh() -> None:
    base = segment(0, offset=7)
    new = edited(
        base,
        200,
        schedule="s",
        version=1,
        scale=1.0,
        groups={},
        total_steps=None,
        steps_per_epoch=None,
        clock="restart",
        offset=3,
    )
    assert (new.clock, new.offset, new.from_step) == ("restart", 3, 200)


STEPPED = lrcast.compile_document(
    {
        "curves": {
            "lr": {"type": "step", "start": 0.1, "factor": 0.5, "every": 600},
            "momentum": {"type": "constant", "value": 0.9},
            "weight_decay": {"type": "cosine", "start": 1e-4, "steps": 1000},
        }
    }
)


def test_a_block_keeps_a_constant_curve_as_one_float_with_the_same_values() -> None:
    for k in range(4):
        computed = compute_block(STEPPED, segment(0), k, 256)
        reference = lrcast.segment_block(STEPPED, segment(0), k, 256)
        for name, column in computed.items():
            assert column.tobytes() == reference[name].tobytes()
            assert column.item(255) == reference[name][255]
        assert computed["momentum"].strides == (0,)
        assert (computed["lr"].strides == (0,)) == (k != 2)  # the drop at 600 is in block 2
        assert computed["weight_decay"].strides == (8,)
    compact = block_bytes(compute_block(STEPPED, segment(0), 0, 256))
    assert compact < block_bytes(lrcast.segment_block(STEPPED, segment(0), 0, 256)) - 2 * 2000


def test_blocks_of_scales_0_and_minus_0_are_not_shared() -> None:
    # -0.0 == 0.0, but an lr of -0.0 is another float: the blocks must not be cached as one.
    assert block_key(segment(0, scale=0.0), 256) != block_key(segment(0, scale=-0.0), 256)
    negative = compute_block(STEPPED, segment(0, scale=-0.0), 0, 256)["lr"]
    assert np.signbit(negative).all()
