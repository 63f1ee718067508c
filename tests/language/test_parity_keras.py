"""Parity with Keras 3's ``keras.optimizers.schedules``: lrcast gives what the schedule gives.

The reference is the Keras schedule itself, called on the steps the way an optimizer calls it
(``schedule(optimizer.iterations)``, step 0 first), once on an array of steps where it accepts
one. Keras computes in float32: ``initial_learning_rate`` sets the dtype (float32 for a Python
float) and the step is cast to it, which is exact below 2**24, so every step here is below 2**24.
SPEC.md promises a relative 1e-6 against float32 libraries, checked at every step with no
absolute slack.

float32 itself cannot always hold 1e-6, so the matching tests choose parameters and steps where it
can. The tests at the end show where it cannot, and why: near a zero end (``1 - p`` and
``1 + cos`` cancel in float32), when the float32 rounding of a decay rate compounds over many
periods, and where Keras' float32 ``log`` puts a restart on the wrong step. Each of these runs the
same Keras schedule with float64 parameters too (Keras then computes in float64), which agrees
with lrcast: the differences are float32 arithmetic, not a different rule. The very last test
shows the one Keras rule lrcast has no counterpart for.
"""

from __future__ import annotations

import os

# Before keras imports TensorFlow: quiet its C++ logging.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from typing import Any

import keras
import numpy as np
import numpy.typing as npt
import pytest

import lrcast

Array = npt.NDArray[np.float64]
Schedule = keras.optimizers.schedules.LearningRateSchedule
schedules = keras.optimizers.schedules

RTOL = 1e-6
"""SPEC.md's parity promise for Keras, which computes in float32."""
RTOL_FLOAT64 = 1e-12
"""What lrcast matches when Keras is made to compute in float64 (the difference tests)."""
FLOAT32_EXACT_STEPS = 2**24
"""Keras casts the step to float32, which holds every integer below this exactly."""


def keras_lrs(schedule: Schedule, steps: list[int], *, one_at_a_time: bool = False) -> Array:
    """What ``schedule`` gives at ``steps``, as float64.

    One call on an int64 array of steps, or one call per step for schedules that branch with
    ``ops.cond`` (it needs a scalar condition).
    """
    assert max(steps) < FLOAT32_EXACT_STEPS
    if one_at_a_time:
        values = [keras.ops.convert_to_numpy(schedule(step)) for step in steps]
        return np.asarray(values, dtype=np.float64)
    return keras.ops.convert_to_numpy(schedule(np.asarray(steps, dtype=np.int64))).astype(
        np.float64
    )


def in_float64(schedule_class: type[Schedule], **kwargs: Any) -> Schedule:
    """``schedule_class(**kwargs)`` computing in float64: every float parameter as a numpy
    float64 (Keras takes its dtype from ``initial_learning_rate`` and casts Python floats
    through float32)."""
    return schedule_class(
        **{k: np.float64(v) if isinstance(v, float) else v for k, v in kwargs.items()}
    )


def lrcast_lrs(curve: dict[str, Any], steps: list[int]) -> Array:
    values: Array = lrcast.evaluate(curve, steps)
    return values


def assert_matches_keras(ours: Array, theirs: Array) -> None:
    """``ours == theirs`` to a relative 1e-6 at every step (absolute tolerance 0)."""
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=0)


def relative_difference(ours: Array, theirs: Array) -> Array:
    """``|ours - theirs| / |theirs|``, with equal values (zeros included) counted as 0."""
    diff = np.abs(ours - theirs)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(diff == 0, 0.0, diff / np.abs(theirs))


def around(*points: int) -> list[int]:
    """Each point and its two neighbours, sorted, within ``[0, 2**24)``."""
    near = {p + d for p in points for d in (-1, 0, 1)}
    return sorted(s for s in near if 0 <= s < FLOAT32_EXACT_STEPS)


FAR = FLOAT32_EXACT_STEPS - 1
"""The last step Keras sees exactly: far past every end here."""


# -- exponential and step ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "decay_steps", "rate", "steps"),
    [
        # Rates float32 holds exactly: only the exponent is rounded, so far steps hold while the
        # value stays inside float32's normal range (0.1 * 0.5**(t/1000) leaves it at 123,000).
        pytest.param(0.1, 1000, 0.5, [*around(0, 1000, 2000, 10_000), 25_000], id="halving"),
        pytest.param(1.0, 2_000_000, 0.75, [*around(0, 2_000_000), 10**7, FAR], id="slow-far"),
        pytest.param(0.01, 7, 0.875, [*around(0, 7, 14, 70), 300], id="every-7"),
        # Rates float32 rounds (0.96 is 0.9599999785): fine while the exponent is small (see
        # test_float32_keras_compounds_the_rounding_of_its_decay_rate).
        pytest.param(0.1, 1000, 0.96, [*around(0, 1000, 2000, 10_000), 20_000], id="rate-0.96"),
        pytest.param(0.3, 1, 0.9, [*range(21)], id="every-step"),
    ],
)
def test_exponential_decay_matches_keras(
    start: float, decay_steps: int, rate: float, steps: list[int]
) -> None:
    """``ExponentialDecay(start, decay_steps, rate)`` is ``exponential`` with ``factor=rate``,
    ``every=decay_steps``."""
    theirs = keras_lrs(schedules.ExponentialDecay(start, decay_steps, rate), steps)
    curve = {"type": "exponential", "start": start, "factor": rate, "every": decay_steps}
    assert_matches_keras(lrcast_lrs(curve, steps), theirs)


def test_a_growing_exponential_decay_matches_keras_below_its_limit() -> None:
    """``ExponentialDecay`` with ``rate > 1`` grows without end; lrcast needs a ``limit`` for
    that, and matches wherever the limit is not reached."""
    steps = [*around(0, 10, 20, 100), 150]
    theirs = keras_lrs(schedules.ExponentialDecay(1e-4, 10, 1.5), steps)
    curve = {"type": "exponential", "start": 1e-4, "factor": 1.5, "every": 10, "limit": 1.0}
    assert_matches_keras(lrcast_lrs(curve, steps), theirs)


@pytest.mark.parametrize("curve_type", ["exponential", "step"])
@pytest.mark.parametrize(
    ("start", "decay_steps", "rate", "steps"),
    [
        pytest.param(0.1, 1000, 0.5, [*around(0, 1000, 2000, 50_000), 100_000], id="halving"),
        pytest.param(0.1, 30, 0.1, [*around(0, 30, 60, 90, 300)], id="tenfold"),
        pytest.param(1.0, 3, 0.9, [*around(0, 3, 6, 30, 60)], id="every-3"),
        pytest.param(0.05, 10**6, 0.5, [*around(0, 10**6, 10**7), FAR], id="far"),
    ],
)
def test_exponential_decay_with_staircase_matches_keras(
    curve_type: str, start: float, decay_steps: int, rate: float, steps: list[int]
) -> None:
    """``ExponentialDecay(start, decay_steps, rate, staircase=True)`` is ``exponential`` with
    ``staircase: true``, and ``step`` with ``every=decay_steps``, ``factor=rate``: the new value
    starts at each multiple of ``decay_steps``."""
    theirs = keras_lrs(schedules.ExponentialDecay(start, decay_steps, rate, staircase=True), steps)
    if curve_type == "step":
        curve = {"type": "step", "start": start, "every": decay_steps, "factor": rate}
    else:
        curve = {
            "type": "exponential",
            "start": start,
            "factor": rate,
            "every": decay_steps,
            "staircase": True,
        }
    assert_matches_keras(lrcast_lrs(curve, steps), theirs)


# -- inverse time -----------------------------------------------------------------------------


@pytest.mark.parametrize("staircase", [False, True], ids=["smooth", "staircase"])
@pytest.mark.parametrize(
    ("start", "decay_steps", "rate"),
    [
        pytest.param(0.1, 1000, 0.5, id="tf-docs"),
        pytest.param(1.0, 1, 0.1, id="every-step"),
        pytest.param(0.01, 7, 3.0, id="fast"),
        pytest.param(0.5, 100_000, 2.0, id="slow"),
        pytest.param(0.2, 10, 1e-3, id="gentle"),
    ],
)
def test_inverse_time_decay_matches_keras(
    start: float, decay_steps: int, rate: float, staircase: bool
) -> None:
    """``InverseTimeDecay(start, decay_steps, rate, staircase)`` is ``inverse_time`` with
    ``every=decay_steps``."""
    steps = around(0, decay_steps, 2 * decay_steps, 10 * decay_steps, 10**6, FAR)
    schedule = schedules.InverseTimeDecay(start, decay_steps, rate, staircase=staircase)
    curve = {
        "type": "inverse_time",
        "start": start,
        "rate": rate,
        "every": decay_steps,
        "staircase": staircase,
    }
    assert_matches_keras(lrcast_lrs(curve, steps), keras_lrs(schedule, steps))


# -- polynomial -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "decay_steps", "end", "power", "steps"),
    [
        # With a small end the last 5% of a linear decay are float32's (difference tests).
        pytest.param(0.1, 1000, 1e-4, 1.0, [*range(0, 951), 1000, 1001, FAR], id="linear"),
        pytest.param(0.1, 1000, 0.01, 2.0, [*range(0, 1003), FAR], id="squared"),
        pytest.param(0.1, 1000, 1e-4, 3.0, [*range(0, 1003), FAR], id="cubed"),
        pytest.param(1.0, 100, 0.01, 0.5, [*range(0, 103), FAR], id="square-root"),
        pytest.param(0.5, 10, 0.0, 1.0, [*range(0, 13), FAR], id="to-zero"),
        # To zero over a long decay: the last steps are float32's (see the difference tests).
        pytest.param(
            0.1, 10_000, 0.0, 2.0, [*around(0, 2500, 5000, 7500), 10_000, 10_001, FAR], id="long"
        ),
    ],
)
def test_polynomial_decay_matches_keras(
    start: float, decay_steps: int, end: float, power: float, steps: list[int]
) -> None:
    """``PolynomialDecay(start, decay_steps, end, power)`` is ``polynomial`` with
    ``steps=decay_steps``; both hold ``end`` after the decay."""
    schedule = schedules.PolynomialDecay(start, decay_steps, end, power=power)
    curve = {"type": "polynomial", "start": start, "end": end, "steps": decay_steps, "power": power}
    assert_matches_keras(lrcast_lrs(curve, steps), keras_lrs(schedule, steps))


def test_polynomial_decay_default_end_is_written_out_in_lrcast() -> None:
    """Keras' ``end_learning_rate`` defaults to 1e-4, lrcast's ``end`` to 0: a Keras default
    maps to ``end: 1e-4``."""
    steps = [*range(0, 96), 100, 101, FAR]  # not the last 5%: float32 cancels there
    theirs = keras_lrs(schedules.PolynomialDecay(0.1, 100), steps)
    curve = {"type": "polynomial", "start": 0.1, "end": 1e-4, "steps": 100}
    assert_matches_keras(lrcast_lrs(curve, steps), theirs)


@pytest.mark.parametrize(
    ("start", "decay_steps", "end", "power"),
    [
        pytest.param(0.1, 100, 0.01, 1.0, id="linear"),
        pytest.param(0.1, 4, 0.1 / 1000, 2.0, id="short-squared"),
        pytest.param(1.0, 10, 0.1, 0.5, id="square-root"),
        pytest.param(0.5, 1000, 0.05, 3.0, id="cubed"),
    ],
)
def test_polynomial_decay_with_cycle_matches_keras(
    start: float, decay_steps: int, end: float, power: float
) -> None:
    """``PolynomialDecay(..., cycle=True)`` is ``polynomial`` with ``cycle: true``: ``end``
    exactly at each multiple of ``decay_steps``, a longer decay from ``start`` just after.

    Every step of four cycles, then only the multiples and the steps just after: at step ``t``
    Keras decays over ``ceil(t / decay_steps) * decay_steps`` steps, and ``1 - t / span`` loses
    float32 digits as the span grows (as at the end of any decay; difference tests).
    """
    d = decay_steps
    steps = [*range(0, 4 * d + 2), 10 * d, 10 * d + 1, 1000 * d, (FAR // d) * d]
    schedule = schedules.PolynomialDecay(start, d, end, power=power, cycle=True)
    curve = {
        "type": "polynomial",
        "start": start,
        "end": end,
        "steps": d,
        "power": power,
        "cycle": True,
    }
    assert_matches_keras(lrcast_lrs(curve, steps), keras_lrs(schedule, steps))


# -- cosine -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "decay_steps", "alpha", "steps"),
    [
        pytest.param(0.1, 1000, 0.1, [*range(0, 1003), FAR], id="alpha-0.1"),
        pytest.param(1.0, 10, 0.5, [*range(0, 13), FAR], id="alpha-0.5"),
        pytest.param(0.4, 44_500, 0.05, [*around(0, 11_125, 22_250, 44_500), FAR], id="resnet"),
        # alpha = 0: steps where float32 keeps 1e-6 (the last ones are in the difference tests).
        pytest.param(0.1, 1000, 0.0, [*around(0, 250, 500, 750), 1000, 1001, FAR], id="alpha-0"),
        pytest.param(2.0, 10, 0.25, [*range(0, 13), FAR], id="short"),
    ],
)
def test_cosine_decay_matches_keras(
    start: float, decay_steps: int, alpha: float, steps: list[int]
) -> None:
    """``CosineDecay(start, decay_steps, alpha)`` is ``cosine`` with ``end = alpha * start``,
    held at ``end`` after ``decay_steps``."""
    schedule = schedules.CosineDecay(start, decay_steps, alpha=alpha)
    curve = {"type": "cosine", "start": start, "end": alpha * start, "steps": decay_steps}
    assert_matches_keras(lrcast_lrs(curve, steps), keras_lrs(schedule, steps))


@pytest.mark.parametrize(
    ("initial", "target", "warmup_steps", "decay_steps", "alpha"),
    [
        pytest.param(0.0, 1.0, 2, 4, 0.1, id="reference-vector"),
        pytest.param(0.0, 0.1, 100, 1000, 0.0, id="from-zero"),
        pytest.param(1e-4, 0.4, 500, 44_500, 0.01, id="resnet"),
        pytest.param(0.05, 0.5, 1, 10, 0.2, id="one-warmup-step"),
        pytest.param(0.3, 0.1, 10, 20, 0.5, id="warm-down"),
        pytest.param(0.7, 0.1, 0, 100, 0.1, id="no-warmup"),
    ],
)
def test_cosine_decay_with_warmup_matches_keras(
    initial: float, target: float, warmup_steps: int, decay_steps: int, alpha: float
) -> None:
    """``CosineDecay(initial, decay_steps, alpha, warmup_target, warmup_steps)`` is a linear
    ``warmup`` of ``warmup_steps`` from ``initial`` into a ``cosine`` from ``warmup_target`` to
    ``alpha * warmup_target`` over ``decay_steps``: Keras' ``decay_steps`` excludes the warmup,
    so the decay ends at ``warmup_steps + decay_steps``. With no warmup steps Keras ignores
    ``initial``, and so does a zero-step ``warmup``."""
    w, d = warmup_steps, decay_steps
    if w + d <= 100:
        steps = [*range(w + d + 3), FAR]
    elif alpha:
        steps = [*around(0, w, w + d // 4, w + d // 2, w + d), FAR]
    else:  # not the end of a decay to zero: float32 cancels there (difference tests)
        steps = [*around(0, w, w + d // 4, w + d // 2), w + d, w + d + 1, FAR]
    schedule = schedules.CosineDecay(initial, d, alpha=alpha, warmup_target=target, warmup_steps=w)
    curve = {
        "type": "warmup",
        "steps": w,
        "start": initial,
        "then": {"type": "cosine", "start": target, "end": alpha * target, "steps": d},
    }
    assert_matches_keras(lrcast_lrs(curve, steps), keras_lrs(schedule, steps, one_at_a_time=True))


def restart_steps(first: int, t_mul: int, cycles: int, *, last_steps: bool = True) -> list[int]:
    """Every restart of the first ``cycles`` cycles, the step after it and the quarter and half
    points of its cycle; with ``last_steps``, also its three-quarter point and its last step."""
    steps, begin, length = set(), 0, first
    for _ in range(cycles):
        steps |= {begin, begin + 1, begin + length // 4, begin + length // 2}
        if last_steps:
            steps |= {begin + 3 * length // 4, begin + length - 1}
        begin += length
        length *= t_mul
    return sorted(steps | {begin, begin + 1})


@pytest.mark.parametrize(
    ("start", "first", "t_mul", "m_mul", "alpha"),
    [
        # alpha = 0 with m_mul != 1
        pytest.param(0.1, 100, 2, 0.5, 0.0, id="t2-m0.5"),
        pytest.param(1.0, 10, 1, 0.9, 0.0, id="t1-m0.9"),
        pytest.param(0.5, 7, 3, 0.8, 0.0, id="t3-m0.8"),
        pytest.param(0.01, 1000, 2, 0.25, 0.0, id="t2-m0.25"),
        pytest.param(0.1, 50, 2, 1.0, 0.0, id="plain-sgdr"),
        # m_mul = 1 with alpha != 0
        pytest.param(0.1, 100, 2, 1.0, 0.1, id="t2-alpha0.1"),
        pytest.param(1.0, 10, 1, 1.0, 0.5, id="t1-alpha0.5"),
        pytest.param(0.3, 5, 3, 1.0, 0.2, id="t3-alpha0.2"),
        pytest.param(0.2, 1, 2, 1.0, 0.05, id="t2-first1"),
        pytest.param(1.0, 2, 4, 1.0, 0.1, id="t4"),
    ],
)
def test_cosine_decay_restarts_matches_keras(
    start: float, first: int, t_mul: int, m_mul: float, alpha: float
) -> None:
    """``CosineDecayRestarts(start, first, t_mul, m_mul, alpha)`` is ``cosine_restarts`` with
    ``period=first``, ``period_factor=t_mul``, ``peak_factor=m_mul``, ``end = alpha * start``,
    when ``alpha = 0`` or ``m_mul = 1`` (both at once have no counterpart: see the last test).

    Six cycles: every restart, the step after it and the quarter points of each cycle. With
    ``alpha = 0`` the last quarter of a cycle is near zero, where float32 cancels (difference
    tests) and its phase, ``step / first - i`` in float32, has lost digits: it is left out.
    """
    steps = restart_steps(first, t_mul, cycles=6, last_steps=alpha != 0)
    schedule = schedules.CosineDecayRestarts(
        start, first, t_mul=float(t_mul), m_mul=m_mul, alpha=alpha
    )
    curve = {
        "type": "cosine_restarts",
        "start": start,
        "end": alpha * start,
        "period": first,
        "period_factor": t_mul,
        "peak_factor": m_mul,
    }
    assert_matches_keras(lrcast_lrs(curve, steps), keras_lrs(schedule, steps))


# -- piecewise constant -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("boundaries", "values"),
    [
        pytest.param([2, 4], [1.0, 0.1, 0.01], id="reference-vector"),
        pytest.param([0], [1.0, 0.5], id="boundary-at-0"),
        pytest.param([100, 200, 1000, 5000], [0.1, 0.05, 0.01, 0.005, 0.001], id="four"),
        pytest.param([1, 2, 3], [0.4, 0.3, 0.2, 0.1], id="consecutive"),
        pytest.param([10**6, FAR - 1], [0.3, 0.2, 0.1], id="far"),
        pytest.param([30, 60], [0.1, 0.3, 0.0], id="up-then-zero"),
    ],
)
def test_piecewise_constant_decay_matches_keras_with_boundaries_plus_one(
    boundaries: list[int], values: list[float]
) -> None:
    """``PiecewiseConstantDecay(boundaries, values)`` is ``piecewise`` with every boundary plus
    one: Keras keeps the old value at the boundary step (``step <= boundary``), lrcast starts the
    new one there."""
    steps = around(0, *boundaries, FAR)
    theirs = keras_lrs(schedules.PiecewiseConstantDecay(boundaries, values), steps)
    curve = {"type": "piecewise", "boundaries": [b + 1 for b in boundaries], "values": values}
    assert_matches_keras(lrcast_lrs(curve, steps), theirs)


def test_piecewise_constant_decay_keeps_the_old_value_at_the_boundary() -> None:
    """The reference's verified vector: boundaries [2, 4] give 1, 1, 1, .1, .1, .01 at 0..5, and
    lrcast's [3, 5] give the same."""
    theirs = keras_lrs(schedules.PiecewiseConstantDecay([2, 4], [1.0, 0.1, 0.01]), [*range(6)])
    np.testing.assert_allclose(theirs, [1, 1, 1, 0.1, 0.1, 0.01], rtol=RTOL)
    curve = {"type": "piecewise", "boundaries": [3, 5], "values": [1.0, 0.1, 0.01]}
    assert_matches_keras(lrcast_lrs(curve, [*range(6)]), theirs)


# -- where float32 cannot hold 1e-6 ----------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule_class", "kwargs", "curve", "steps"),
    [
        pytest.param(
            schedules.PolynomialDecay,
            {"initial_learning_rate": 0.1, "decay_steps": 10_000, "end_learning_rate": 0.0},
            {"type": "polynomial", "start": 0.1, "steps": 10_000},
            [*range(9990, 10_000)],
            id="polynomial-to-zero",
        ),
        pytest.param(
            schedules.PolynomialDecay,
            {
                "initial_learning_rate": 0.1,
                "decay_steps": 1000,
                "end_learning_rate": 0.01,
                "power": 0.5,
            },
            {"type": "polynomial", "start": 0.1, "end": 0.01, "steps": 1000, "power": 0.5},
            [*range(990, 1000)],
            id="polynomial-square-root",
        ),
        pytest.param(
            schedules.CosineDecay,
            {"initial_learning_rate": 0.1, "decay_steps": 1000},
            {"type": "cosine", "start": 0.1, "steps": 1000},
            [*range(900, 1000)],
            id="cosine-to-zero",
        ),
        pytest.param(
            schedules.CosineDecayRestarts,
            {"initial_learning_rate": 0.1, "first_decay_steps": 100, "t_mul": 2.0},
            {"type": "cosine_restarts", "start": 0.1, "period": 100, "period_factor": 2},
            [*range(90, 100), *range(280, 300), *range(660, 700)],
            id="restarts-to-zero",
        ),
    ],
)
def test_float32_keras_loses_relative_precision_near_a_zero_end(
    schedule_class: type[Schedule], kwargs: dict[str, Any], curve: dict[str, Any], steps: list[int]
) -> None:
    """Near the end of a decay to zero Keras computes ``1 - step / decay_steps`` (polynomial) or
    ``1 + cos(pi * p)`` (cosine) in float32: the difference of nearly equal numbers keeps only
    the last float32 digits, so the value is off by about one float32 ulp of the peak, which is
    more than 1e-6 of a value that small. The same schedule in float64 matches lrcast to 1e-12.
    """
    start = kwargs["initial_learning_rate"]
    float32 = keras_lrs(schedule_class(**kwargs), steps)
    float64 = keras_lrs(in_float64(schedule_class, **kwargs), steps)
    values = lrcast_lrs(curve, steps)

    assert relative_difference(values, float32).max() > RTOL
    assert np.abs(values - float32).max() < 4 * np.finfo(np.float32).eps * start
    np.testing.assert_allclose(values, float64, rtol=RTOL_FLOAT64, atol=0)


def test_float32_keras_compounds_the_rounding_of_its_decay_rate() -> None:
    """``ExponentialDecay(1, 1, 0.999)`` decays by float32(0.999) = 0.99900001287 per step: a
    relative 1.3e-8 that compounds to 1.3e-5 after 1000 steps. The same schedule in float64
    matches lrcast to 1e-12 (SPEC.md's promise holds for float32 only over few periods, or for
    rates float32 holds exactly, as in the matching tests)."""
    steps = [*around(100, 1000, 10_000)]
    kwargs = {"initial_learning_rate": 1.0, "decay_steps": 1, "decay_rate": 0.999}
    float32 = keras_lrs(schedules.ExponentialDecay(**kwargs), steps)
    float64 = keras_lrs(in_float64(schedules.ExponentialDecay, **kwargs), steps)
    values = lrcast_lrs({"type": "exponential", "start": 1.0, "factor": 0.999}, steps)

    assert relative_difference(values, float32).max() > 1e-5
    np.testing.assert_allclose(values, float64, rtol=RTOL_FLOAT64, atol=0)


@pytest.mark.parametrize(
    ("first", "restart"),
    [pytest.param(1, 2**15 - 1, id="first-1"), pytest.param(10, 10 * (2**15 - 1), id="first-10")],
)
def test_keras_cosine_decay_restarts_misplaces_a_restart_where_lrcast_does_not(
    first: int, restart: int
) -> None:
    """With ``t_mul=2`` cycle 15 starts at ``first * (2**15 - 1)``. Keras finds the cycle as
    ``floor(log(1 + step / first) / log(2))`` in float32, which gives 14.999999 there: that
    step gets the end of cycle 14 (``alpha * start``) instead of the restart's peak. lrcast
    finds cycles by integer arithmetic and restarts on the step, where Keras in float64 puts it
    too; the steps around agree."""
    kwargs = {"initial_learning_rate": 1.0, "first_decay_steps": first, "t_mul": 2.0}
    steps = [restart - 1, restart, restart + 1]
    float32 = keras_lrs(schedules.CosineDecayRestarts(**kwargs, alpha=0.1), steps)
    float64 = keras_lrs(in_float64(schedules.CosineDecayRestarts, **kwargs, alpha=0.1), steps)
    curve = {"type": "cosine_restarts", "start": 1.0, "end": 0.1, "period": first}
    values = lrcast_lrs({**curve, "period_factor": 2}, steps)

    np.testing.assert_allclose(float32[1], 0.1, rtol=RTOL)  # the end of the previous cycle
    assert values[1] == 1.0  # the restart
    assert_matches_keras(values[::2], float32[::2])
    np.testing.assert_allclose(values, float64, rtol=RTOL_FLOAT64, atol=0)


def test_cosine_decay_restarts_with_both_alpha_and_m_mul_has_no_lrcast_counterpart() -> None:
    """Keras' cycle ``i`` is ``start * ((1 - alpha) * m_mul**i * c + alpha)``: its floor
    ``alpha * start`` is not decayed but its amplitude is ``(1 - alpha) * m_mul**i``. lrcast's
    ``end + (start * peak_factor**i - end) * c`` has amplitude ``start * peak_factor**i - end``;
    the two agree for every cycle only when ``alpha = 0`` or ``m_mul = 1``. With both set they
    agree in cycle 0 and differ from the first restart on."""
    steps = [0, 5, 10, 15]
    schedule = schedules.CosineDecayRestarts(1.0, 10, t_mul=1.0, m_mul=0.5, alpha=0.1)
    theirs = keras_lrs(schedule, steps)
    curve = {"type": "cosine_restarts", "start": 1.0, "end": 0.1, "period": 10, "peak_factor": 0.5}
    values = lrcast_lrs(curve, steps)

    assert_matches_keras(values[:2], theirs[:2])
    np.testing.assert_allclose(theirs[2], 0.1 + 0.9 * 0.5, rtol=RTOL)  # Keras: 0.55
    assert values[2] == 0.5
