"""Parity with Hugging Face transformers' ``get_*_schedule*``: lrcast gives what HF gives.

The reference is the HF scheduler itself (a torch ``LambdaLR``) on a real SGD optimizer, run the
standard way: ``opt.step(); sched.step()`` per update, the value at step ``t`` being
``param_groups[0]["lr"]`` when update ``t`` runs (the constructor performs step 0). Windows far
past the end are reached the way training resumes: the group's ``initial_lr`` set and the
scheduler built with ``last_epoch = first - 1``, so its constructor steps into ``first``.
HF computes in float64: SPEC.md promises a relative 1e-12, checked at every step with no
absolute slack.

Where lrcast cannot follow HF (cycles of a fraction of a step, and two float quirks of HF's
hard restarts), the tests at the end show the difference and say why.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
import transformers
from torch.optim.lr_scheduler import LRScheduler

import lrcast

Array = npt.NDArray[np.float64]
Factory = Callable[..., LRScheduler]
"""An HF ``get_*`` function with its arguments bound, but for the optimizer and ``last_epoch``."""

RTOL = 1e-12
"""SPEC.md's parity promise for HF (float64): a relative 1e-12, with no absolute slack."""
BASE_LR = 0.7
"""The optimizer's lr: HF schedules are multipliers of it."""


def hf_lrs(factory: Factory, windows: list[tuple[int, int]], base_lr: float = BASE_LR) -> Array:
    """The lr of updates ``first .. first + count - 1`` for each ``(first, count)`` window, each
    window on a fresh SGD optimizer, resumed at ``first`` when ``first > 0``."""
    values: list[float] = []
    for first, count in windows:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
        if first:
            opt.param_groups[0]["initial_lr"] = base_lr
            scheduler = factory(opt, last_epoch=first - 1)
        else:
            scheduler = factory(opt)
        for _ in range(count):
            values.append(opt.param_groups[0]["lr"])
            opt.step()
            scheduler.step()
    return np.asarray(values, dtype=np.float64)


def window_steps(windows: list[tuple[int, int]]) -> list[int]:
    return [step for first, count in windows for step in range(first, first + count)]


def lrcast_lrs(curve: dict[str, Any], windows: list[tuple[int, int]]) -> Array:
    values: Array = lrcast.evaluate(curve, window_steps(windows))
    return values


def assert_matches_hf(ours: Array, theirs: Array) -> None:
    """``ours == theirs`` to a relative 1e-12 at every step (absolute tolerance 0)."""
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=0)


def relative_difference(ours: Array, theirs: Array) -> Array:
    """``|ours - theirs| / |theirs|``, with equal values (zeros included) counted as 0."""
    diff = np.abs(ours - theirs)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(diff == 0, 0.0, diff / np.abs(theirs))


FAR = [(10**6, 3), (2**40, 3)]
"""Windows far past every end here, reached by resuming."""


def schedule_windows(end: int) -> list[tuple[int, int]]:
    """Every step from 0 to past ``end`` (by half again, at least 10 steps), then far windows."""
    return [(0, end + max(end // 2, 10)), *FAR]


def warmup(steps: int, then: dict[str, Any]) -> dict[str, Any]:
    """HF's warmup: linear from 0 to ``then``'s first value over ``steps``."""
    return {"type": "warmup", "steps": steps, "start": 0.0, "then": then}


# -- linear -----------------------------------------------------------------------------------

WARMUP_AND_TOTAL = [
    pytest.param(0, 100, id="no-warmup"),
    pytest.param(10, 110, id="short"),
    pytest.param(100, 1000, id="10%"),
    pytest.param(1, 2, id="one-and-one"),
    pytest.param(0, 1, id="one-step"),
    pytest.param(50, 51, id="one-decay-step"),
]


@pytest.mark.parametrize(("warmup_steps", "total"), WARMUP_AND_TOTAL)
def test_linear_schedule_with_warmup_matches_hf(warmup_steps: int, total: int) -> None:
    """``get_linear_schedule_with_warmup(W, T)`` is a ``warmup`` of ``W`` steps from 0 into a
    ``linear`` from the optimizer's lr to 0 over ``T - W`` steps, then 0."""
    factory = partial(
        transformers.get_linear_schedule_with_warmup,
        num_warmup_steps=warmup_steps,
        num_training_steps=total,
    )
    windows = schedule_windows(total)
    linear = {"type": "linear", "start": BASE_LR, "end": 0.0, "steps": total - warmup_steps}
    assert_matches_hf(lrcast_lrs(warmup(warmup_steps, linear), windows), hf_lrs(factory, windows))


def test_a_long_linear_schedule_matches_hf_to_its_last_step() -> None:
    """A run of a million steps: in the last steps before 0, ``1 - s / (T - W)`` would keep
    only the last digits of the small fraction left, so lrcast computes HF's
    ``(T - t) / (T - W)``. Windows at the start, the end and after, reached by resuming."""
    w, total = 10_000, 1_000_000
    factory = partial(
        transformers.get_linear_schedule_with_warmup, num_warmup_steps=w, num_training_steps=total
    )
    windows = [(0, 20), (w - 10, 20), (total // 2, 10), (total - 300, 310), *FAR]
    linear = {"type": "linear", "start": BASE_LR, "end": 0.0, "steps": total - w}
    assert_matches_hf(lrcast_lrs(warmup(w, linear), windows), hf_lrs(factory, windows))


# -- cosine -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("warmup_steps", "total", "num_cycles"),
    [
        pytest.param(0, 100, 0.5, id="no-warmup"),
        pytest.param(2, 6, 0.5, id="reference-vector"),
        pytest.param(10, 110, 0.5, id="short"),
        pytest.param(100, 1100, 0.5, id="10%"),
        pytest.param(10, 11, 0.5, id="one-decay-step"),
        pytest.param(5, 105, 0.25, id="quarter-cycle"),
        pytest.param(0, 300, 1.0, id="full-cycle"),
        pytest.param(20, 220, 1.5, id="one-and-a-half"),
        pytest.param(3, 50, 2.0, id="two-cycles"),
        pytest.param(7, 1007, 0.3, id="0.3-cycles"),
    ],
)
def test_cosine_schedule_with_warmup_matches_hf(
    warmup_steps: int, total: int, num_cycles: float
) -> None:
    """``get_cosine_schedule_with_warmup(W, T, num_cycles)`` is a ``warmup`` of ``W`` steps into
    a ``cosine`` from the optimizer's lr to 0 over ``T - W`` steps with ``cycles=num_cycles``
    and ``periodic: true``: HF does not clamp, so past ``T`` the cosine goes on."""
    factory = partial(
        transformers.get_cosine_schedule_with_warmup,
        num_warmup_steps=warmup_steps,
        num_training_steps=total,
        num_cycles=num_cycles,
    )
    windows = [(0, 3 * total), *FAR]
    cosine = {
        "type": "cosine",
        "start": BASE_LR,
        "steps": total - warmup_steps,
        "cycles": num_cycles,
        "periodic": True,
    }
    assert_matches_hf(lrcast_lrs(warmup(warmup_steps, cosine), windows), hf_lrs(factory, windows))


def test_a_long_cosine_schedule_matches_hf_to_its_last_step() -> None:
    """A run of a million steps: near the end ``1 + cos`` keeps only the last digits of the
    angle, so lrcast computes it in HF's order, ``(2π·cycles)·(s / steps)``. Windows at the
    start, the middle, the end and after, reached by resuming."""
    w, total = 10_000, 1_000_000
    factory = partial(
        transformers.get_cosine_schedule_with_warmup, num_warmup_steps=w, num_training_steps=total
    )
    windows = [(0, 20), (w - 10, 20), (total // 2, 10), (total - 300, 600), *FAR]
    cosine = {"type": "cosine", "start": BASE_LR, "steps": total - w, "periodic": True}
    assert_matches_hf(lrcast_lrs(warmup(w, cosine), windows), hf_lrs(factory, windows))


# -- cosine with hard restarts ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("warmup_steps", "total", "num_cycles"),
    [
        pytest.param(0, 100, 1, id="one-cycle"),
        pytest.param(10, 110, 2, id="two-cycles"),
        pytest.param(5, 305, 3, id="three-cycles"),
        pytest.param(0, 400, 4, id="four-cycles"),
        pytest.param(7, 1007, 5, id="five-cycles"),
        pytest.param(0, 700, 7, id="seven-cycles"),
        pytest.param(20, 1020, 10, id="ten-cycles"),
        pytest.param(3, 9, 6, id="one-step-cycles"),
        pytest.param(0, 1, 1, id="one-step"),
    ],
)
def test_cosine_with_hard_restarts_schedule_with_warmup_matches_hf(
    warmup_steps: int, total: int, num_cycles: int
) -> None:
    """``get_cosine_with_hard_restarts_schedule_with_warmup(W, T, n)`` is a ``warmup`` of ``W``
    steps into ``cosine_restarts`` from the optimizer's lr to 0 with ``period = (T - W) / n``
    and ``cycles = n``, then 0.

    HF's cycles are ``(T - W) / n`` steps long, a fraction when ``n`` does not divide ``T - W``;
    lrcast's ``period`` is a whole number of steps, so the mapping needs ``n`` to divide
    ``T - W`` (the last tests show the other case).
    """
    decay = total - warmup_steps
    assert decay % num_cycles == 0
    factory = partial(
        transformers.get_cosine_with_hard_restarts_schedule_with_warmup,
        num_warmup_steps=warmup_steps,
        num_training_steps=total,
        num_cycles=num_cycles,
    )
    windows = schedule_windows(total)
    restarts = {
        "type": "cosine_restarts",
        "start": BASE_LR,
        "period": decay // num_cycles,
        "cycles": num_cycles,
    }
    assert_matches_hf(lrcast_lrs(warmup(warmup_steps, restarts), windows), hf_lrs(factory, windows))


# -- polynomial -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("warmup_steps", "total", "lr_end", "power"),
    [
        pytest.param(10, 110, 1e-7, 1.0, id="defaults"),
        pytest.param(0, 100, 0.0, 2.0, id="squared-to-zero"),
        pytest.param(5, 1005, 1e-3, 0.5, id="square-root"),
        pytest.param(3, 50, 0.01, 3.0, id="cubed"),
        pytest.param(0, 1, 0.0, 1.0, id="one-step"),
        pytest.param(100, 1100, 0.1, 1.5, id="high-end"),
        pytest.param(9, 10, 1e-7, 2.0, id="one-decay-step"),
    ],
)
def test_polynomial_decay_schedule_with_warmup_matches_hf(
    warmup_steps: int, total: int, lr_end: float, power: float
) -> None:
    """``get_polynomial_decay_schedule_with_warmup(W, T, lr_end, power)`` is a ``warmup`` of
    ``W`` steps into a ``polynomial`` from the optimizer's lr to ``lr_end`` (absolute) over
    ``T - W`` steps, then ``lr_end``. (HF divides by ``T - W``: ``W == T`` raises there, and
    lrcast refuses ``steps: 0``.)"""
    factory = partial(
        transformers.get_polynomial_decay_schedule_with_warmup,
        num_warmup_steps=warmup_steps,
        num_training_steps=total,
        lr_end=lr_end,
        power=power,
    )
    windows = schedule_windows(total)
    polynomial = {
        "type": "polynomial",
        "start": BASE_LR,
        "end": lr_end,
        "steps": total - warmup_steps,
        "power": power,
    }
    assert_matches_hf(
        lrcast_lrs(warmup(warmup_steps, polynomial), windows), hf_lrs(factory, windows)
    )


# -- constant ---------------------------------------------------------------------------------


@pytest.mark.parametrize("warmup_steps", [0, 1, 7, 100, 4000])
def test_constant_schedule_with_warmup_matches_hf(warmup_steps: int) -> None:
    """``get_constant_schedule_with_warmup(W)`` is a ``warmup`` of ``W`` steps into a
    ``constant`` at the optimizer's lr."""
    factory = partial(transformers.get_constant_schedule_with_warmup, num_warmup_steps=warmup_steps)
    windows = schedule_windows(warmup_steps)
    constant = {"type": "constant", "value": BASE_LR}
    assert_matches_hf(lrcast_lrs(warmup(warmup_steps, constant), windows), hf_lrs(factory, windows))


# -- inverse square root ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("warmup_steps", "timescale"),
    [
        pytest.param(0, None, id="no-warmup"),
        pytest.param(10, None, id="timescale-is-warmup"),
        pytest.param(4000, None, id="transformer"),
        pytest.param(100, 1000, id="longer-timescale"),
        pytest.param(10, 3, id="shorter-timescale"),
        pytest.param(0, 50, id="no-warmup-timescale"),
        pytest.param(1, None, id="one-warmup-step"),
    ],
)
def test_inverse_sqrt_schedule_matches_hf(warmup_steps: int, timescale: int | None) -> None:
    """``get_inverse_sqrt_schedule(W, timescale)`` is ``inverse_sqrt`` with ``peak`` the
    optimizer's lr, ``warmup=W`` and ``timescale`` (both default to ``W or 10000``)."""
    factory = partial(
        transformers.get_inverse_sqrt_schedule, num_warmup_steps=warmup_steps, timescale=timescale
    )
    windows = [(0, 3 * warmup_steps + 200), *FAR]
    curve: dict[str, Any] = {"type": "inverse_sqrt", "peak": BASE_LR, "warmup": warmup_steps}
    if timescale is not None:
        curve["timescale"] = timescale
    assert_matches_hf(lrcast_lrs(curve, windows), hf_lrs(factory, windows))


# -- warmup-stable-decay ----------------------------------------------------------------------

HF_SHAPES = ["linear", "cosine", "1-sqrt"]


def lrcast_shape(hf_shape: str) -> str:
    """HF's ``1-sqrt`` is lrcast's ``sqrt``."""
    return "sqrt" if hf_shape == "1-sqrt" else hf_shape


@pytest.mark.parametrize("decay_type", HF_SHAPES)
@pytest.mark.parametrize("warmup_type", HF_SHAPES)
@pytest.mark.parametrize(
    ("warmup_steps", "stable", "decay", "min_lr_ratio"),
    [
        pytest.param(10, 20, 30, 0.0, id="to-zero"),
        pytest.param(2, 2, 4, 0.1, id="reference-vector"),
        pytest.param(100, 1000, 400, 0.01, id="long"),
        pytest.param(0, 5, 10, 0.1, id="no-warmup"),
        pytest.param(7, 0, 13, 0.05, id="no-stable"),
        pytest.param(5, 5, 0, 0.2, id="no-decay"),
        pytest.param(1, 1, 1, 0.5, id="one-step-each"),
    ],
)
def test_wsd_schedule_matches_hf(
    warmup_type: str,
    decay_type: str,
    warmup_steps: int,
    stable: int,
    decay: int,
    min_lr_ratio: float,
) -> None:
    """``get_wsd_schedule(W, D, num_training_steps=W+S+D, warmup_type, decay_type, min_lr_ratio)``
    is ``wsd`` with ``peak`` the optimizer's lr, ``warmup=W``, ``stable=S``, ``decay=D`` and
    ``start = end = min_lr_ratio * peak`` (HF warms up from the floor, not from 0); HF's
    ``1-sqrt`` shape is lrcast's ``sqrt``."""
    total = warmup_steps + stable + decay
    factory = partial(
        transformers.get_wsd_schedule,
        num_warmup_steps=warmup_steps,
        num_decay_steps=decay,
        num_training_steps=total,
        warmup_type=warmup_type,
        decay_type=decay_type,
        min_lr_ratio=min_lr_ratio,
    )
    windows = schedule_windows(total)
    floor = min_lr_ratio * BASE_LR
    curve = {
        "type": "wsd",
        "peak": BASE_LR,
        "warmup": warmup_steps,
        "stable": stable,
        "decay": decay,
        "start": floor,
        "end": floor,
        "warmup_shape": lrcast_shape(warmup_type),
        "decay_shape": lrcast_shape(decay_type),
    }
    assert_matches_hf(lrcast_lrs(curve, windows), hf_lrs(factory, windows))


def test_wsd_schedule_with_num_stable_steps_matches_hf() -> None:
    """``num_stable_steps`` instead of ``num_training_steps`` gives the same mapping."""
    factory = partial(
        transformers.get_wsd_schedule,
        num_warmup_steps=50,
        num_decay_steps=200,
        num_stable_steps=750,
        min_lr_ratio=0.1,
    )
    windows = schedule_windows(1000)
    curve = {
        "type": "wsd",
        "peak": BASE_LR,
        "warmup": 50,
        "stable": 750,
        "decay": 200,
        "start": 0.1 * BASE_LR,
        "end": 0.1 * BASE_LR,
    }
    assert_matches_hf(lrcast_lrs(curve, windows), hf_lrs(factory, windows))


# -- HF's guards: no warmup, no decay steps ---------------------------------------------------


@pytest.mark.parametrize(
    ("get_schedule", "after_warmup"),
    [
        pytest.param(
            partial(transformers.get_cosine_schedule_with_warmup, num_cycles=0.5),
            {"type": "cosine", "start": BASE_LR, "steps": 1, "periodic": True},
            id="cosine",
        ),
        pytest.param(
            partial(transformers.get_cosine_schedule_with_warmup, num_cycles=0.25),
            {"type": "cosine", "start": BASE_LR, "steps": 1, "cycles": 0.25, "periodic": True},
            id="cosine-quarter",
        ),
        pytest.param(
            partial(transformers.get_cosine_with_hard_restarts_schedule_with_warmup, num_cycles=3),
            {"type": "cosine_restarts", "start": BASE_LR, "period": 1, "cycles": 1},
            id="hard-restarts",
        ),
    ],
)
@pytest.mark.parametrize("warmup_steps", [1, 10])
def test_no_decay_steps_after_warmup_match_hf_as_one_step(
    get_schedule: Factory, after_warmup: dict[str, Any], warmup_steps: int
) -> None:
    """With ``T == W`` HF divides by ``max(1, T - W)``: the decay is one step long. lrcast, which
    refuses ``steps: 0``, maps it as one step: the periodic cosine alternates from ``W`` on,
    the hard restarts give the peak at ``W`` and 0 after."""
    factory = partial(get_schedule, num_warmup_steps=warmup_steps, num_training_steps=warmup_steps)
    windows = schedule_windows(warmup_steps)
    curve = warmup(warmup_steps, after_warmup)
    assert_matches_hf(lrcast_lrs(curve, windows), hf_lrs(factory, windows))


def test_a_linear_schedule_with_no_decay_steps_matches_hf_as_a_sequence() -> None:
    """With ``T == W`` HF's linear schedule drops from ``(W - 1) / W`` of the lr to 0 at ``W``.
    A ``warmup`` always ends at its curve's first value, so this is a ``sequence``: the warmup
    (into the lr) until ``W``, then 0."""
    w = 10
    factory = partial(
        transformers.get_linear_schedule_with_warmup, num_warmup_steps=w, num_training_steps=w
    )
    windows = schedule_windows(w)
    curve = {
        "type": "sequence",
        "curves": [
            warmup(w, {"type": "constant", "value": BASE_LR}),
            {"type": "constant", "value": 0.0},
        ],
        "boundaries": [w],
    }
    assert_matches_hf(lrcast_lrs(curve, windows), hf_lrs(factory, windows))


def test_a_polynomial_schedule_with_no_decay_steps_is_refused_by_both() -> None:
    """HF's polynomial schedule divides by ``T - W`` unguarded: ``W == T`` raises when the
    schedule reaches ``W``. lrcast refuses ``steps: 0`` up front."""
    factory = partial(
        transformers.get_polynomial_decay_schedule_with_warmup,
        num_warmup_steps=5,
        num_training_steps=5,
    )
    with pytest.raises(ZeroDivisionError):
        hf_lrs(factory, [(0, 10)])
    with pytest.raises(lrcast.ScheduleValidationError, match="steps: must be > 0"):
        lrcast_lrs(warmup(5, {"type": "polynomial", "start": BASE_LR, "steps": 0}), [(0, 10)])


# -- where lrcast cannot follow HF ------------------------------------------------------------


def test_hard_restarts_of_a_fraction_of_a_step_have_no_lrcast_counterpart() -> None:
    """With ``num_cycles=3`` over 100 decay steps HF's cycles are 33⅓ steps long: HF restarts
    at the first step past each third (34 and 67), so its cycles are 34, 33 and 33 steps with
    phases that never start at 0 again. lrcast's ``period`` is whole steps: neither 33 nor 34
    reproduces it."""
    factory = partial(
        transformers.get_cosine_with_hard_restarts_schedule_with_warmup,
        num_warmup_steps=0,
        num_training_steps=100,
        num_cycles=3,
    )
    windows = [(0, 110)]
    theirs = hf_lrs(factory, windows)
    for period in (33, 34):
        curve = {"type": "cosine_restarts", "start": BASE_LR, "period": period, "cycles": 3}
        assert relative_difference(lrcast_lrs(curve, windows), theirs).max() > 1e-3
    assert theirs[33] < theirs[34] > theirs[35]  # HF's restart, on step 34
    assert theirs[66] < theirs[67] > theirs[68]


def test_hf_hard_restarts_lose_a_restart_to_float_rounding() -> None:
    """With ``num_cycles=22`` HF computes the phase of restart 15 as
    ``(22 * (15/22)) % 1.0 = 0.9999999999999998``: that step gets 0 instead of the peak. lrcast
    finds the cycle with integers and restarts on the step; the other steps agree."""
    period, cycles = 10, 22
    factory = partial(
        transformers.get_cosine_with_hard_restarts_schedule_with_warmup,
        num_warmup_steps=0,
        num_training_steps=period * cycles,
        num_cycles=cycles,
    )
    windows = [(0, period * cycles + 5)]
    theirs = hf_lrs(factory, windows)
    curve = {"type": "cosine_restarts", "start": BASE_LR, "period": period, "cycles": cycles}
    values = lrcast_lrs(curve, windows)

    restart = 15 * period
    assert theirs[restart] == 0.0
    assert values[restart] == BASE_LR
    others = np.arange(len(values)) != restart
    assert_matches_hf(values[others], theirs[others])


def test_hard_restarts_round_differently_from_hf_at_the_end_of_long_cycles() -> None:
    """HF's angle is ``π * ((num_cycles * progress) % 1.0)``, lrcast's ``π * (s - begin) / period``
    with the cycle found in whole steps (torch ``CosineAnnealingWarmRestarts``' order,
    ``π * T_cur / T_i``). The two round differently in the last digit, and near the end of a
    cycle ``1 + cos`` is small: ``δ`` short of ``π`` it turns the angle's last digit into a
    relative ``2·ulp(π)/δ``. A relative 1e-12 there needs both to round alike, which they cannot:
    in cycles of 2000 steps the last steps differ by a few 1e-12, yet by less than a float64
    ulp of the peak (rounding, not a different rule). In shorter cycles they agree to 1e-12
    (the matching test)."""
    w, period, cycles = 20, 2000, 5
    total = w + period * cycles
    factory = partial(
        transformers.get_cosine_with_hard_restarts_schedule_with_warmup,
        num_warmup_steps=w,
        num_training_steps=total,
        num_cycles=cycles,
    )
    windows = [(w, 50), (w + 2 * period - 20, 40), (total - 20, 30)]
    theirs = hf_lrs(factory, windows)
    restarts = {"type": "cosine_restarts", "start": BASE_LR, "period": period, "cycles": cycles}
    values = lrcast_lrs(warmup(w, restarts), windows)

    assert relative_difference(values, theirs).max() > RTOL
    assert np.abs(values - theirs).max() < np.finfo(np.float64).eps * BASE_LR
