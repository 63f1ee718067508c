"""Properties of every valid document, the ground the consistency guarantee stands on."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lrcast
from tests.language.strategies import curves, documents

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
