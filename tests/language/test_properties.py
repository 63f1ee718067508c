"""Properties of every valid document, the ground the consistency guarantee stands on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lrcast
from tests.language.strategies import curves, documents, duration_fields

PROBES = np.array(
    [0, 1, 2, 3, 99, 100, 101, 999, 1000, 4_999, 5_000, 20_000, 123_457, 10**9, lrcast.MAX_STEP],
    dtype=np.int64,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(documents())
def test_any_valid_document_evaluates_to_finite_non_negative_values(data: dict[str, Any]) -> None:
    values = lrcast.evaluate(data, PROBES)
    assert set(values) == set(data["curves"])
    for curve in values.values():
        assert curve.dtype == np.float64
        assert np.all(np.isfinite(curve))
        assert np.all(curve >= 0)


@SETTINGS
@given(curves(), st.lists(st.integers(0, 50_000), min_size=1, max_size=20))
def test_scalar_and_array_evaluation_agree(curve: dict[str, Any], steps: list[int]) -> None:
    array = lrcast.evaluate(curve, steps)
    scalars = np.array([lrcast.evaluate(curve, s) for s in steps])
    np.testing.assert_allclose(scalars, array, rtol=1e-14, atol=0)


@SETTINGS
@given(
    documents(),
    st.integers(0, 40),
    st.sampled_from([1, 7, 64, 256]),
    st.integers(1, 4),
    st.integers(0, 3),
)
def test_a_block_is_bit_identical_alone_or_inside_a_longer_range(
    data: dict[str, Any], k: int, size: int, before: int, after: int
) -> None:
    compiled = lrcast.compile_document(data)
    alone = compiled.block(k, size)
    first = max(k - before, 0)
    longer = compiled.evaluate(np.arange(first * size, (k + 1 + after) * size))
    start = (k - first) * size
    for name, values in alone.items():
        assert values.tobytes() == longer[name][start : start + size].tobytes()


DURATIONS = duration_fields() - {"boundaries", "milestones", "points"}
"""The fields holding one duration, read off the schema (not the resolver's own list)."""
PERCENT_RUN = 100_000
"""A run of 100,000 steps: 0.001 % is one step."""


def _epochs(steps: int) -> str:
    return f"{steps}ep"  # at one step per epoch


def _percent(steps: int) -> str | int:
    if steps > PERCENT_RUN:
        return steps  # more than the run: stays in steps
    return f"{steps // 1000}.{steps % 1000:03d}%"


def _in_units(node: Any, unit: Callable[[int], str | int]) -> Any:
    """``node`` with every duration (in steps) written in another unit."""
    if isinstance(node, list):
        return [_in_units(item, unit) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DURATIONS and isinstance(value, int):
            out[key] = unit(value)
        elif key in ("boundaries", "milestones"):
            out[key] = [unit(v) for v in value]
        elif key == "points":
            out[key] = [[unit(step), v] for step, v in value]
        else:
            out[key] = _in_units(value, unit)
    return out


@SETTINGS
@given(documents())
def test_durations_in_epochs_or_percent_that_equal_steps_evaluate_bit_identically(
    data: dict[str, Any],
) -> None:
    # Every field that takes a duration, at any depth, written in epochs (one step each) or in
    # percent of a run (0.001 % a step): the same steps, so exactly the same values.
    in_steps = lrcast.evaluate(data, PROBES)
    in_epochs = lrcast.evaluate(_in_units(data, _epochs), PROBES, steps_per_epoch=1)
    in_percent = lrcast.evaluate(_in_units(data, _percent), PROBES, total_steps=PERCENT_RUN)
    for name, values in in_steps.items():
        np.testing.assert_array_equal(in_epochs[name], values)
        np.testing.assert_array_equal(in_percent[name], values)
