"""Parity with ``torch.optim.lr_scheduler``: every "same as torch" row of SPEC.md, against torch.

Each test builds a real torch scheduler on a real optimizer, steps it the standard way
(``opt.step(); sched.step()``) and compares the lr (and momentum) each update used with
``lrcast.evaluate`` over the whole run at once: step 0, every boundary, the end, and well past
it (about three times the schedule's length). The tolerance is SPEC.md's: a relative 1e-12,
absolute 0. torch computes most schedulers recursively (each step multiplies the previous lr), so
the two agree to about 1e-14, not bit for bit (schedule-libraries.md §4.1).

Where torch is known to be wrong, lrcast gives the intended value and a test below (section
"Differences by design") shows both and says why:

- ``OneCycleLR`` past its end: torch still computes ``t == total_steps`` from the last phase
  (overshooting, negative with ``linear``) and raises after; lrcast holds ``end``.
- ``CosineAnnealingLR`` is periodic: it rises again after ``T_max``. ``cosine`` does too with
  ``periodic: true``; by default it holds ``end`` after ``steps``.
- ``CosineAnnealingWarmRestarts.step(epoch)`` finds the cycle with a float ``log`` and misplaces
  some restarts; lrcast restarts exactly there, as torch's own plain ``step()`` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from torch.optim import Optimizer
from torch.optim import lr_scheduler as sched

import lrcast
from tests.language._torch_reference import (
    OptimizerKind,
    assert_matches_torch,
    make_optimizer,
    torch_lrs,
    torch_trace,
)

Curve = dict[str, Any]


def ours(curve: Curve, n: int) -> np.ndarray:
    """lrcast's values at steps ``0..n-1``, evaluated in one call."""
    values = lrcast.evaluate(curve, np.arange(n))
    assert values.dtype == np.float64
    return values


def cosine(start: float, end: float, steps: int, *, periodic: bool = True) -> Curve:
    return {"type": "cosine", "start": start, "end": end, "steps": steps, "periodic": periodic}


def exponential(start: float, factor: float) -> Curve:
    return {"type": "exponential", "start": start, "factor": factor}


# -- one scheduler, one curve ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("every", "factor", "b"),
    [(1, 0.1, 0.1), (3, 0.5, 1.0), (7, 0.9, 3e-4), (30, 0.1, 0.1), (13, 0.75, 1.0), (5, 0.0, 0.1)],
)
def test_step_matches_torch_steplr(every: int, factor: float, b: float) -> None:
    n = 10 * every + 1
    theirs = torch_lrs(lambda opt: sched.StepLR(opt, step_size=every, gamma=factor), n, b)
    assert_matches_torch(
        ours({"type": "step", "start": b, "every": every, "factor": factor}, n), theirs
    )


@pytest.mark.parametrize(
    ("milestones", "factor", "b"),
    [
        ([2, 4, 4], 0.1, 1.0),  # a repeated milestone decays twice
        ([1], 0.5, 0.1),
        ([3, 7, 7, 7, 20], 0.3, 3e-4),
        ([30, 60, 80], 0.1, 0.1),
        ([5, 6, 7, 8], 0.9, 1.0),
        ([10, 10], 0.2, 0.1),
    ],
)
def test_multistep_matches_torch_multisteplr(
    milestones: list[int], factor: float, b: float
) -> None:
    n = 3 * milestones[-1] + 1
    theirs = torch_lrs(
        lambda opt: sched.MultiStepLR(opt, milestones=milestones, gamma=factor), n, b
    )
    curve = {"type": "multistep", "start": b, "milestones": milestones, "factor": factor}
    assert_matches_torch(ours(curve, n), theirs)


@pytest.mark.parametrize(
    ("factor", "b", "n"),
    [
        (0.9, 1.0, 1000),
        (0.999, 0.1, 3000),
        (0.97, 1.0, 2000),
        # 0.5 ** 300 * 3e-4 is still a normal float: in the subnormal range (below 2.2e-308)
        # neither side keeps 12 significant digits, so the comparison stops before it.
        (0.5, 3e-4, 300),
        (1.0, 0.1, 50),
        (0.0, 1.0, 10),
    ],
)
def test_exponential_matches_torch_exponentiallr(factor: float, b: float, n: int) -> None:
    theirs = torch_lrs(lambda opt: sched.ExponentialLR(opt, gamma=factor), n, b)
    assert_matches_torch(ours(exponential(b, factor), n), theirs)


@pytest.mark.parametrize(
    ("steps", "power", "b"),
    [(5, 1.0, 1.0), (7, 2.0, 0.1), (100, 0.5, 3e-4), (1, 1.0, 1.0), (13, 3.0, 0.1), (10, 1.5, 0.1)],
)
def test_polynomial_matches_torch_polynomiallr(steps: int, power: float, b: float) -> None:
    n = 3 * steps + 1
    theirs = torch_lrs(lambda opt: sched.PolynomialLR(opt, total_iters=steps, power=power), n, b)
    curve = {"type": "polynomial", "start": b, "end": 0.0, "steps": steps, "power": power}
    assert_matches_torch(ours(curve, n), theirs)


@pytest.mark.parametrize(
    ("start_factor", "end_factor", "steps", "b"),
    [
        (1 / 3, 1.0, 5, 0.1),  # torch's defaults
        (0.5, 0.1, 7, 1.0),
        (0.01, 1.0, 100, 3e-4),
        (1.0, 0.0, 4, 1.0),
        (0.25, 0.75, 1, 0.1),
        (0.1, 0.9, 13, 0.1),
    ],
)
def test_linear_matches_torch_linearlr(
    start_factor: float, end_factor: float, steps: int, b: float
) -> None:
    n = 3 * steps + 1
    theirs = torch_lrs(
        lambda opt: sched.LinearLR(opt, start_factor, end_factor, total_iters=steps), n, b
    )
    curve = {"type": "linear", "start": b * start_factor, "end": b * end_factor, "steps": steps}
    assert_matches_torch(ours(curve, n), theirs)


@pytest.mark.parametrize(
    ("factor", "steps", "b"),
    [
        (1 / 3, 5, 0.1),
        (0.1, 2, 1.0),
        (0.5, 1, 3e-4),
        (0.7, 13, 0.1),
        (1.0, 3, 0.1),
        (0.25, 100, 1.0),
    ],
)
def test_constant_parts_match_torch_constantlr(factor: float, steps: int, b: float) -> None:
    """``ConstantLR(factor, total_iters)`` is ``b * factor`` before ``total_iters``, ``b`` from it:
    a ``sequence`` of two constants, or a ``piecewise`` with one boundary."""
    n = 3 * steps + 1
    theirs = torch_lrs(lambda opt: sched.ConstantLR(opt, factor=factor, total_iters=steps), n, b)
    low, high = {"type": "constant", "value": b * factor}, {"type": "constant", "value": b}
    as_sequence = {"type": "sequence", "curves": [low, high], "boundaries": [steps]}
    as_piecewise = {"type": "piecewise", "boundaries": [steps], "values": [b * factor, b]}
    assert_matches_torch(ours(as_sequence, n), theirs)
    assert_matches_torch(ours(as_piecewise, n), theirs)


COSINE_CASES = [(7, 1.0, 0.0), (100, 0.1, 0.0), (13, 3e-4, 1e-5), (1, 1.0, 0.0), (2, 0.1, 0.0)]
COSINE_CASES += [(50, 0.1, 0.01), (1000, 0.1, 0.0)]


@pytest.mark.parametrize(("steps", "b", "end"), COSINE_CASES)
def test_periodic_cosine_matches_torch_cosineannealinglr(steps: int, b: float, end: float) -> None:
    """torch's cosine is not clamped: past ``T_max`` it rises again, back to ``b`` at
    ``2*T_max`` (period ``2*T_max``). lrcast's ``cosine`` does the same with ``periodic``."""
    n = 3 * steps + 1
    theirs = torch_lrs(lambda opt: sched.CosineAnnealingLR(opt, T_max=steps, eta_min=end), n, b)
    values = ours(cosine(b, end, steps), n)
    assert_matches_torch(values, theirs)
    assert values[steps + 1] > values[steps]  # it rises again after T_max, as torch's does
    assert values[2 * steps] == pytest.approx(b, rel=1e-12)


CAWR_CASES = [
    # (T_0, T_mult, b, eta_min, steps compared)
    (1, 3, 1.0, 0.0, 400),  # through the restart at 121, which torch's step(epoch) misplaces
    (1, 10, 1.0, 0.0, 1200),  # through 111, another
    (2, 2, 0.1, 0.0, 100),
    (3, 1, 0.1, 1e-3, 40),
    (5, 3, 1.0, 0.0, 250),
    (10, 2, 3e-4, 1e-6, 200),
    (7, 1, 0.1, 0.0, 30),
]


@pytest.mark.parametrize(("period", "period_factor", "b", "end", "n"), CAWR_CASES)
def test_cosine_restarts_matches_torch_cosineannealingwarmrestarts(
    period: int, period_factor: int, b: float, end: float, n: int
) -> None:
    """Stepped with plain ``step()``, torch counts ``T_cur`` in integers and restarts exactly;
    ``cosine_restarts(period=T_0, period_factor=T_mult, end=eta_min)`` matches it."""
    theirs = torch_lrs(
        lambda opt: sched.CosineAnnealingWarmRestarts(opt, period, period_factor, end), n, b
    )
    curve = {
        "type": "cosine_restarts",
        "start": b,
        "end": end,
        "period": period,
        "period_factor": period_factor,
    }
    assert_matches_torch(ours(curve, n), theirs)


# -- cyclic and one-cycle: lr and momentum -----------------------------------------------------

CYCLIC_CASES = [
    # (base_lr, max_lr, step_size_up, step_size_down, mode, gamma)
    (0.1, 1.0, 2, 3, "triangular", 1.0),
    (0.1, 1.0, 2, 3, "triangular2", 1.0),  # schedule-libraries.md §5's vector
    (0.001, 0.1, 5, None, "exp_range", 0.99),
    (1e-4, 3e-4, 7, 3, "triangular", 1.0),
    (0.01, 0.1, 4, 9, "exp_range", 0.9),
    (0.001, 0.006, 200, None, "triangular2", 1.0),
    (0.05, 0.5, 1, 1, "triangular", 1.0),
    (0.0, 1.0, 3, 2, "triangular2", 1.0),
]


@pytest.mark.parametrize(("base", "peak", "up", "down", "mode", "gamma"), CYCLIC_CASES)
@pytest.mark.parametrize(("base_momentum", "max_momentum"), [(0.8, 0.9), (0.85, 0.95)])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_cyclic_lr_and_momentum_match_torch_cycliclr(
    base: float,
    peak: float,
    up: int,
    down: int | None,
    mode: str,
    gamma: float,
    base_momentum: float,
    max_momentum: float,
    optimizer: OptimizerKind,
) -> None:
    """The lr cycles ``base_lr → max_lr``; the momentum (SGD ``momentum``, Adam ``betas[0]``)
    the other way, so its curve is ``cyclic`` with ``base=max_momentum, peak=base_momentum``."""
    n = 3 * (up + (up if down is None else down)) + 1

    def factory(opt: Optimizer) -> sched.LRScheduler:
        return sched.CyclicLR(
            opt,
            base_lr=base,
            max_lr=peak,
            step_size_up=up,
            step_size_down=down,
            mode=mode,
            gamma=gamma,
            base_momentum=base_momentum,
            max_momentum=max_momentum,
        )

    theirs = torch_trace(factory, n, 0.5, optimizer)  # CyclicLR replaces the optimizer's lr
    shape = {"type": "cyclic", "up": up, "mode": mode, "gamma": gamma}
    if down is not None:
        shape["down"] = down
    document = {
        "curves": {
            "lr": {**shape, "base": base, "peak": peak},
            "momentum": {**shape, "base": max_momentum, "peak": base_momentum},
        }
    }
    values = lrcast.evaluate(document, np.arange(n))
    assert_matches_torch(values["lr"], theirs["lr"])
    assert_matches_torch(values["momentum"], theirs["momentum"])


ONE_CYCLE_CASES = [
    # (total_steps, pct_start, div_factor, final_div_factor, anneal_strategy, three_phase, max_lr)
    (10, 0.3, 25.0, 1e4, "cos", False, 1.0),  # schedule-libraries.md §5's vectors
    (10, 0.3, 25.0, 1e4, "linear", False, 1.0),
    (10, 0.3, 25.0, 1e4, "cos", True, 1.0),
    (100, 0.25, 10.0, 100.0, "linear", True, 0.1),
    (37, 0.33, 4.0, 1e3, "cos", False, 3e-4),
    (1000, 0.3, 25.0, 1e4, "cos", False, 0.1),
    (7, 0.5, 25.0, 1e4, "linear", False, 1.0),
    (53, 0.1, 100.0, 1.0, "cos", True, 0.01),
    (101, 0.45, 5.0, 50.0, "linear", True, 0.3),
]


def one_cycle_factory(
    total: int,
    pct: float,
    div: float,
    final_div: float,
    shape: str,
    three: bool,
    max_lr: float,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
) -> Callable[[Optimizer], sched.LRScheduler]:
    def factory(opt: Optimizer) -> sched.LRScheduler:
        return sched.OneCycleLR(
            opt,
            max_lr=max_lr,
            total_steps=total,
            pct_start=pct,
            anneal_strategy=shape,
            div_factor=div,
            final_div_factor=final_div,
            three_phase=three,
            base_momentum=base_momentum,
            max_momentum=max_momentum,
        )

    return factory


def one_cycle(
    total: int, pct: float, shape: str, three: bool, peak: float, start: float, end: float
) -> Curve:
    return {
        "type": "one_cycle",
        "peak": peak,
        "steps": total,
        "warm_fraction": pct,
        "start": start,
        "end": end,
        "shape": shape,
        "three_phase": three,
    }


@pytest.mark.parametrize(
    ("total", "pct", "div", "final_div", "shape", "three", "max_lr"), ONE_CYCLE_CASES
)
@pytest.mark.parametrize(("base_momentum", "max_momentum"), [(0.85, 0.95), (0.5, 0.99)])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_one_cycle_lr_and_momentum_match_torch_onecyclelr(
    total: int,
    pct: float,
    div: float,
    final_div: float,
    shape: str,
    three: bool,
    max_lr: float,
    base_momentum: float,
    max_momentum: float,
    optimizer: OptimizerKind,
) -> None:
    """Over torch's whole run, ``t = 0 .. total_steps - 1``: ``start = max_lr / div_factor``,
    ``end = start / final_div_factor`` (torch's own arithmetic); the momentum (SGD
    ``momentum``, Adam ``betas[0]``) is ``one_cycle`` with ``start = end = max_momentum`` and
    ``peak = base_momentum``."""
    factory = one_cycle_factory(
        total, pct, div, final_div, shape, three, max_lr, base_momentum, max_momentum
    )
    theirs = torch_trace(factory, total, 0.5, optimizer)  # OneCycleLR replaces the lr
    start = max_lr / div
    document = {
        "curves": {
            "lr": one_cycle(total, pct, shape, three, max_lr, start, start / final_div),
            "momentum": one_cycle(
                total, pct, shape, three, base_momentum, max_momentum, max_momentum
            ),
        }
    }
    values = lrcast.evaluate(document, np.arange(total))
    assert_matches_torch(values["lr"], theirs["lr"])
    assert_matches_torch(values["momentum"], theirs["momentum"])


def test_one_cycle_defaults_are_torch_onecyclelr_defaults() -> None:
    """``start`` defaults to ``peak / 25`` and ``end`` to ``start / 1e4``: torch's
    ``div_factor=25``, ``final_div_factor=1e4``, ``pct_start=0.3``, ``anneal_strategy='cos'``."""
    theirs = torch_lrs(lambda opt: sched.OneCycleLR(opt, max_lr=0.1, total_steps=250), 250, 0.5)
    assert_matches_torch(ours({"type": "one_cycle", "peak": 0.1, "steps": 250}, 250), theirs)


# -- compositions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start_factor", "warm", "steps", "end", "b"),
    [
        (0.1, 5, 20, 0.0, 0.1),
        (1e-3, 10, 37, 1e-5, 1.0),
        (0.5, 1, 7, 0.0, 3e-4),
        (0.2, 50, 450, 0.0, 0.4),
    ],
)
def test_sequence_matches_torch_sequentiallr_of_linear_warmup_then_cosine(
    start_factor: float, warm: int, steps: int, end: float, b: float
) -> None:
    """SequentialLR restarts each scheduler at its own step 0 at its milestone, from ``b``:
    ``sequence`` of the two curves with the milestone as boundary."""

    def factory(opt: Optimizer) -> sched.LRScheduler:
        warmup = sched.LinearLR(opt, start_factor, 1.0, total_iters=warm)
        return sched.SequentialLR(
            opt, [warmup, sched.CosineAnnealingLR(opt, T_max=steps, eta_min=end)], [warm]
        )

    n = 3 * (warm + steps)
    theirs = torch_lrs(factory, n, b)
    linear = {"type": "linear", "start": b * start_factor, "end": b, "steps": warm}
    curve = {"type": "sequence", "curves": [linear, cosine(b, end, steps)], "boundaries": [warm]}
    assert_matches_torch(ours(curve, n), theirs)


@pytest.mark.parametrize(
    ("factor", "milestone", "gamma", "b"),
    [(0.1, 2, 0.9, 1.0), (1 / 3, 5, 0.99, 0.1), (0.5, 1, 0.5, 3e-4), (0.01, 20, 0.95, 0.1)],
)
def test_sequence_matches_torch_sequentiallr_of_constant_then_exponential(
    factor: float, milestone: int, gamma: float, b: float
) -> None:
    """The class docstring's example shape: ``b * factor`` until the milestone, where the
    exponential restarts from ``b`` (schedule-libraries.md §3.13: .1, .1, 1, .9, .81)."""

    def factory(opt: Optimizer) -> sched.LRScheduler:
        constant = sched.ConstantLR(opt, factor=factor, total_iters=milestone)
        return sched.SequentialLR(opt, [constant, sched.ExponentialLR(opt, gamma)], [milestone])

    n = 3 * milestone + 100
    theirs = torch_lrs(factory, n, b)
    curve = {
        "type": "sequence",
        "curves": [{"type": "constant", "value": b * factor}, exponential(b, gamma)],
        "boundaries": [milestone],
    }
    assert_matches_torch(ours(curve, n), theirs)


@pytest.mark.parametrize(
    ("warm", "milestones", "b"),
    [
        (4, [4, 13], 0.1),
        (10, [6, 30], 1.0),  # the warmup is cut off before its end
        (4, [8, 9], 3e-4),  # the warmup holds b for 4 steps; the step part lasts one step
        (1, [1, 2], 0.1),
    ],
)
def test_sequence_matches_torch_sequentiallr_of_three_schedulers(
    warm: int, milestones: list[int], b: float
) -> None:
    """LinearLR, then StepLR, then CosineAnnealingLR, with two milestones."""

    def factory(opt: Optimizer) -> sched.LRScheduler:
        parts = [
            sched.LinearLR(opt, 0.2, 1.0, total_iters=warm),
            sched.StepLR(opt, step_size=3, gamma=0.5),
            sched.CosineAnnealingLR(opt, T_max=10, eta_min=0.001 * b),
        ]
        return sched.SequentialLR(opt, parts, milestones)

    n = 3 * (milestones[-1] + 10)
    theirs = torch_lrs(factory, n, b)
    curve = {
        "type": "sequence",
        "curves": [
            {"type": "linear", "start": b * 0.2, "end": b, "steps": warm},
            {"type": "step", "start": b, "every": 3, "factor": 0.5},
            cosine(b, 0.001 * b, 10),
        ],
        "boundaries": milestones,
    }
    assert_matches_torch(ours(curve, n), theirs)


def _cosine_then(opt: Optimizer) -> sched.LRScheduler:
    return sched.CosineAnnealingLR(opt, T_max=30, eta_min=0.0)


def _exponential_then(opt: Optimizer) -> sched.LRScheduler:
    return sched.ExponentialLR(opt, gamma=0.97)


def _step_then(opt: Optimizer) -> sched.LRScheduler:
    return sched.StepLR(opt, step_size=7, gamma=0.5)


def _polynomial_then(opt: Optimizer) -> sched.LRScheduler:
    return sched.PolynomialLR(opt, total_iters=25, power=2.0)


THEN = {
    "cosine": (_cosine_then, lambda b: cosine(b, 0.0, 30)),
    "exponential": (_exponential_then, lambda b: exponential(b, 0.97)),
    "step": (_step_then, lambda b: {"type": "step", "start": b, "every": 7, "factor": 0.5}),
    "polynomial": (
        _polynomial_then,
        lambda b: {"type": "polynomial", "start": b, "steps": 25, "power": 2.0},
    ),
}


@pytest.mark.parametrize("then", sorted(THEN))
@pytest.mark.parametrize(
    ("start_factor", "warm", "b"), [(0.1, 5, 0.1), (1 / 3, 5, 1.0), (1e-3, 12, 3e-4), (0.5, 1, 0.1)]
)
def test_linear_warmup_matches_torch_sequentiallr_of_linearlr_then_a_scheduler(
    then: str, start_factor: float, warm: int, b: float
) -> None:
    """The exact correspondence: ``warmup(steps=N, start=b·f, shape=linear, then=X)`` is
    ``SequentialLR([LinearLR(start_factor=f, end_factor=1.0, total_iters=N), X],
    milestones=[N])``.

    torch's LinearLR gives ``b·(f + (1-f)·t/N)`` and would reach ``b·end_factor`` at ``t = N``;
    lrcast's warmup gives ``b·f + (X(0) - b·f)·t/N`` and reaches ``X(0)`` at ``t = N``. At
    the milestone torch restarts X at its step 0 from ``b``, so ``X(0) = b`` (for X with a
    closed form, as here). The two coincide when ``end_factor = 1`` (LinearLR ends where X
    starts) and ``milestone = total_iters = steps`` (no hold, no cut); then every step agrees.
    """
    torch_then, lrcast_then = THEN[then]

    def factory(opt: Optimizer) -> sched.LRScheduler:
        warmup = sched.LinearLR(opt, start_factor, 1.0, total_iters=warm)
        return sched.SequentialLR(opt, [warmup, torch_then(opt)], [warm])

    n = 3 * (warm + 30)
    theirs = torch_lrs(factory, n, b)
    curve = {"type": "warmup", "steps": warm, "start": b * start_factor, "then": lrcast_then(b)}
    assert_matches_torch(ours(curve, n), theirs)


def _chain_exponential_step(opt: Optimizer) -> list[sched.LRScheduler]:
    return [sched.ExponentialLR(opt, gamma=0.9), sched.StepLR(opt, step_size=3, gamma=0.5)]


def _chain_step_exponential(opt: Optimizer) -> list[sched.LRScheduler]:
    return [sched.StepLR(opt, step_size=10, gamma=0.1), sched.ExponentialLR(opt, gamma=0.99)]


def _chain_constant_exponential(opt: Optimizer) -> list[sched.LRScheduler]:
    return [sched.ConstantLR(opt, factor=0.1, total_iters=2), sched.ExponentialLR(opt, gamma=0.9)]


def _chain_linear_exponential(opt: Optimizer) -> list[sched.LRScheduler]:
    return [sched.LinearLR(opt, 0.1, 1.0, total_iters=10), sched.ExponentialLR(opt, gamma=0.95)]


def _chain_multistep_polynomial(opt: Optimizer) -> list[sched.LRScheduler]:
    return [
        sched.MultiStepLR(opt, milestones=[4, 9, 9], gamma=0.5),
        sched.PolynomialLR(opt, total_iters=20, power=1.5),
    ]


CHAINS = {
    "exponential x step": (
        _chain_exponential_step,
        [exponential(1.0, 0.9), {"type": "step", "start": 1.0, "every": 3, "factor": 0.5}],
    ),
    "step x exponential": (
        _chain_step_exponential,
        [{"type": "step", "start": 1.0, "every": 10, "factor": 0.1}, exponential(1.0, 0.99)],
    ),
    "constant x exponential": (
        _chain_constant_exponential,
        [{"type": "piecewise", "boundaries": [2], "values": [0.1, 1.0]}, exponential(1.0, 0.9)],
    ),
    "linear x exponential": (
        _chain_linear_exponential,
        [{"type": "linear", "start": 0.1, "end": 1.0, "steps": 10}, exponential(1.0, 0.95)],
    ),
    "multistep x polynomial": (
        _chain_multistep_polynomial,
        [
            {"type": "multistep", "start": 1.0, "milestones": [4, 9, 9], "factor": 0.5},
            {"type": "polynomial", "start": 1.0, "steps": 20, "power": 1.5},
        ],
    ),
}


@pytest.mark.parametrize("chain", sorted(CHAINS))
@pytest.mark.parametrize("b", [0.1, 1.0, 3e-4])
def test_product_matches_torch_chainedscheduler_of_multiplicative_schedulers(
    chain: str, b: float
) -> None:
    """ChainedScheduler steps every child in turn, and each child multiplies the current lr by
    its own step-to-step ratio (its recursive ``get_lr``; checked against torch: Const(.1, 2)
    with Exp(.9) gives .1, .09, .81, .729). So the lr is ``b`` times the product of the
    children's factor curves: lrcast ``product`` of factor curves, ``b`` folded into one."""
    children, factors = CHAINS[chain]
    n = 60
    theirs = torch_lrs(lambda opt: sched.ChainedScheduler(children(opt), opt), n, b)
    curve = {"type": "product", "curves": [_scaled(factors[0], b), *factors[1:]]}
    assert_matches_torch(ours(curve, n), theirs)


def _scaled(factor: Curve, b: float) -> Curve:
    """The factor curve ``factor`` times ``b`` (for the families in ``CHAINS``)."""
    if factor["type"] == "piecewise":
        return {**factor, "values": [b * v for v in factor["values"]]}
    if factor["type"] == "linear":
        return {**factor, "start": b * factor["start"], "end": b * factor["end"]}
    return {**factor, "start": b * factor["start"]}


def test_product_matches_torch_chained_cosine_only_up_to_t_max() -> None:
    """A chained CosineAnnealingLR is multiplicative only while it falls: with ``eta_min = 0``
    its ratio ``(1 + cos(π t/T)) / (1 + cos(π (t-1)/T))`` is a factor up to ``T_max``. One
    step past it the ratio would be 0/0, so torch *adds* ``b (1 - cos(π/T)) / 2`` to the current
    lr instead; from there a chain with cosine in it is no longer a product of factor curves,
    and ``product`` agrees with torch only up to ``T_max`` (shown here)."""
    steps, b = 10, 0.1

    def factory(opt: Optimizer) -> sched.LRScheduler:
        children = [sched.CosineAnnealingLR(opt, T_max=steps), sched.StepLR(opt, 3, gamma=0.5)]
        return sched.ChainedScheduler(children, opt)

    n = 3 * steps
    theirs = torch_lrs(factory, n, b)
    curve = {
        "type": "product",
        "curves": [
            cosine(b, 0.0, steps),
            {"type": "step", "start": 1.0, "every": 3, "factor": 0.5},
        ],
    }
    values = ours(curve, n)
    assert_matches_torch(values[: steps + 1], theirs[: steps + 1])
    assert values[steps + 1] < theirs[steps + 1]  # torch added b·(1 - cos(π/T))/2, unscaled


LAMBDAS: list[tuple[Callable[[int], float], str]] = [
    (lambda t: 0.95**t, "0.95 ** t"),
    (lambda t: min(1.0, (t + 1) / 10), "min(1, (t + 1) / 10)"),
    (lambda t: 0.5 ** (t // 7), "0.5 ** (t // 7)"),
    (
        lambda t: (
            (t + 1) / 10
            if t < 10
            else (0.5 * (1 + math.cos(math.pi * (t - 10) / 90)) if t < 100 else 0.0)
        ),
        "where(t < 10, (t + 1) / 10, where(t < 100, 0.5 * (1 + cos(pi * (t - 10) / 90)), 0))",
    ),
    (
        lambda t: 1.0 if t < 20 else (0.1 if t < 40 else 0.01),
        "where(t < 20, 1, where(t < 40, 0.1, 0.01))",
    ),
    (lambda t: 1 / math.sqrt(max(t, 1)), "1 / sqrt(max(t, 1))"),
    (lambda t: math.exp(-t / 50), "exp(-t / 50)"),
    (lambda t: t % 5 / 5 + 0.1, "t % 5 / 5 + 0.1"),
    (lambda t: math.tanh(t / 10) + 0.01, "tanh(t / 10) + 0.01"),
    (
        lambda t: abs(math.sin(t / 10)) + math.floor(t / 7) % 3,
        "abs(sin(t / 10)) + floor(t / 7) % 3",
    ),
]


@pytest.mark.parametrize(("fn", "formula"), LAMBDAS, ids=[formula for _, formula in LAMBDAS])
@pytest.mark.parametrize("b", [0.1, 1.0, 3e-4])
def test_expression_matches_torch_lambdalr(
    fn: Callable[[int], float], formula: str, b: float
) -> None:
    """LambdaLR gives ``b * λ(t)`` from step 0; the same formula as an ``expression`` string,
    times ``b``, gives the same values."""
    n = 300
    theirs = torch_lrs(lambda opt: sched.LambdaLR(opt, fn), n, b)
    assert_matches_torch(ours({"type": "expression", "expr": f"{b!r} * ({formula})"}, n), theirs)


# -- differences by design -----------------------------------------------------------------------


# Not the three-phase case with final_div_factor 1: its last phase is flat, torch's extra step too.
OVERSHOOTING = [case for case in ONE_CYCLE_CASES if not (case[5] and case[3] == 1.0)]


@pytest.mark.parametrize(
    ("total", "pct", "div", "final_div", "shape", "three", "max_lr"), OVERSHOOTING
)
def test_one_cycle_holds_end_where_torch_onecyclelr_overshoots_past_its_end(
    total: int, pct: float, div: float, final_div: float, shape: str, three: bool, max_lr: float
) -> None:
    """Difference by design (SPEC.md's parity promise): torch's OneCycleLR ends at
    ``total_steps - 1``, yet accepts one more step, ``t = total_steps``, computed from the last
    phase with ``pct > 1``: ``cos`` rises again (.0495 for the T=10 vector) and ``linear`` goes
    on below ``min_lr``, negative (-0.142853). One step more raises ``ValueError``. No
    optimizer should use either; lrcast's curve is defined at every step and holds ``end``
    from ``steps - 1`` on, at ``total_steps`` and as far past it as anyone asks."""
    factory = one_cycle_factory(total, pct, div, final_div, shape, three, max_lr)
    opt = make_optimizer(0.5)
    scheduler = factory(opt)
    for _ in range(total):
        opt.step()
        scheduler.step()
    torch_at_total = opt.param_groups[0]["lr"]
    opt.step()
    with pytest.raises(ValueError, match="Tried to step"):
        scheduler.step()

    start = max_lr / div
    end = start / final_div
    values = ours(one_cycle(total, pct, shape, three, max_lr, start, end), 3 * total + 1)
    assert values[total - 1] == pytest.approx(end, rel=1e-12)  # torch's last value, ``end``
    assert np.all(values[total:] == end)
    assert torch_at_total != end
    if shape == "linear":
        assert torch_at_total < 0  # an lr no optimizer should take
    else:
        assert torch_at_total > end  # rising into a second cosine


def test_one_cycle_past_its_end_matches_schedule_libraries_reference_vector() -> None:
    """The T=10 vectors of schedule-libraries.md §5, at ``t = 10``: torch .0495194 (cos) and
    -0.142853 (linear); lrcast 4e-6 (``end``) for both."""
    for shape, torch_value in [("cos", 0.0495194), ("linear", -0.142853)]:
        theirs = torch_lrs(one_cycle_factory(10, 0.3, 25.0, 1e4, shape, False, 1.0), 11, 0.5)
        assert theirs[10] == pytest.approx(torch_value, abs=1e-6)
        assert lrcast.evaluate(
            {"type": "one_cycle", "peak": 1.0, "steps": 10, "shape": shape}, 10
        ) == (pytest.approx(4e-6, rel=1e-12))


@pytest.mark.parametrize(("steps", "b", "end"), COSINE_CASES)
def test_cosine_holds_end_where_torch_cosineannealinglr_rises_again(
    steps: int, b: float, end: float
) -> None:
    """Difference by design (SPEC.md ``cosine``): torch's CosineAnnealingLR is not clamped; it
    is a cosine of period ``2·T_max`` and past ``T_max`` climbs back to ``b``. That is torch's
    documented formula, so lrcast reproduces it with ``periodic: true`` (tested above); but a
    schedule called "cosine decay to ``end`` over ``steps``" means to stay at ``end``, as Keras,
    optax and timm do, so that is lrcast's default (``periodic: false``). Up to ``T_max`` the
    two agree with torch; after it lrcast holds ``end`` while torch rises."""
    n = 3 * steps + 1
    theirs = torch_lrs(lambda opt: sched.CosineAnnealingLR(opt, T_max=steps, eta_min=end), n, b)
    values = ours(cosine(b, end, steps, periodic=False), n)
    assert_matches_torch(values[: steps + 1], theirs[: steps + 1])
    assert np.all(values[steps:] == end)
    assert np.all(theirs[steps + 1 : 2 * steps] > end)
    assert theirs[2 * steps] == pytest.approx(b, rel=1e-12)


@pytest.mark.parametrize(
    ("period", "period_factor", "restart"),
    [(1, 3, 121), (1, 10, 111), (2, 3, 242), (3, 10, 333), (1, 3, 29524)],
)
def test_cosine_restarts_restarts_exactly_where_torch_step_epoch_misplaces_the_restart(
    period: int, period_factor: int, restart: int
) -> None:
    """Difference by design (SPEC.md parity promise, schedule-libraries.md §4.7): called as
    ``step(epoch)``, CosineAnnealingWarmRestarts finds the cycle as
    ``int(log(epoch/T_0·(T_mult-1) + 1, T_mult))``, and ``math.log`` rounds ``log(243, 3)`` to
    4.999999999999999 and ``log(1000, 10)`` to 2.9999999999999996. At these exact restart
    steps it stays in the previous cycle with ``T_cur == T_i``, a step its own plain ``step()``
    never evaluates, and gives ``eta_min`` (0) instead of the restart value ``b`` (1.0).
    lrcast finds the cycle in integer arithmetic and gives 1.0, the value torch's plain
    ``step()`` reaches at the same step."""
    b = 1.0
    opt = make_optimizer(b)
    scheduler = sched.CosineAnnealingWarmRestarts(opt, T_0=period, T_mult=period_factor)
    opt.step()
    scheduler.step(restart)
    assert opt.param_groups[0]["lr"] == 0.0
    assert scheduler.T_cur == scheduler.T_i  # the end of the previous cycle: misplaced

    curve = {
        "type": "cosine_restarts",
        "start": b,
        "period": period,
        "period_factor": period_factor,
    }
    assert lrcast.evaluate(curve, restart) == b
    if restart < 2000:  # the intended value is torch's own, stepped one step at a time
        stepped = torch_lrs(
            lambda opt: sched.CosineAnnealingWarmRestarts(opt, period, period_factor),
            restart + 1,
            b,
        )
        assert stepped[restart] == b


@pytest.mark.parametrize(
    ("period", "period_factor", "n", "misplaced"),
    [(1, 3, 400, [121]), (1, 10, 1200, [111]), (2, 3, 300, [242]), (2, 2, 200, []), (5, 1, 50, [])],
)
def test_cosine_restarts_matches_torch_step_epoch_except_at_its_misplaced_restarts(
    period: int, period_factor: int, n: int, misplaced: list[int]
) -> None:
    """The misplacement above is the whole difference: driven with ``step(t)`` at every step,
    torch's closed form agrees with lrcast to 1e-12 at every other step of the run."""
    opt = make_optimizer(1.0)
    scheduler = sched.CosineAnnealingWarmRestarts(opt, T_0=period, T_mult=period_factor)
    theirs = [opt.param_groups[0]["lr"]]
    for t in range(1, n):
        opt.step()
        scheduler.step(t)
        theirs.append(opt.param_groups[0]["lr"])
    curve = {
        "type": "cosine_restarts",
        "start": 1.0,
        "period": period,
        "period_factor": period_factor,
    }
    values = ours(curve, n)
    elsewhere = np.ones(n, dtype=bool)
    elsewhere[misplaced] = False
    assert_matches_torch(values[elsewhere], np.asarray(theirs)[elsewhere])
    np.testing.assert_array_equal(values[misplaced], 1.0)
    np.testing.assert_array_equal(np.asarray(theirs)[misplaced], 0.0)


def test_linear_to_zero_is_exactly_zero_where_torch_linearlr_leaves_a_residue() -> None:
    """Difference by design: torch's LinearLR multiplies the lr by a ratio each step, and at
    ``t = total_iters`` with ``end_factor=0`` that ratio is ``1 + (0 - s)/(T·s - (T-1)·s)``,
    whose rounded denominator is not exactly ``s``: the lr left is about 1e-17, here negative,
    and stays so for the rest of the run. lrcast evaluates the line itself: exactly 0."""
    b, start_factor, total = 1.8624826426413281, 0.8717498859161316, 167
    n = 2 * total
    theirs = torch_lrs(
        lambda opt: sched.LinearLR(opt, start_factor, end_factor=0.0, total_iters=total), n, b
    )
    curve = {"type": "linear", "start": b * start_factor, "end": 0.0, "steps": total}
    values = ours(curve, n)
    assert_matches_torch(values[:total], theirs[:total])
    assert np.all(values[total:] == 0.0)
    assert np.all(theirs[total:] == theirs[total])
    assert -1e-16 < theirs[total] < 0.0  # an lr below zero, by rounding


def test_periodic_cosine_is_the_closed_form_where_torch_cosineannealinglr_drifts() -> None:
    """Difference by design: torch's CosineAnnealingLR steps recursively, scaling
    ``lr - eta_min`` by a ratio of cosines; near ``eta_min`` (each second period) that
    difference cancels, and the error grows as the lr climbs back: 1.1e-12 relative by step 519
    here, past the 1e-12 promise. lrcast evaluates the closed form (torch's documented
    formula): 4e-16 from the exact value (40 digits) at that step."""
    b, total, eta_min = 0.002060103297055457, 260, 0.0012628423134884977
    n = 2 * total
    theirs = torch_lrs(lambda opt: sched.CosineAnnealingLR(opt, total, eta_min), n, b)
    values = ours(cosine(b, eta_min, total, periodic=True), n)
    assert_matches_torch(values[:total], theirs[:total])
    exact = 0.0020600741973706292  # mpmath, 40 digits, rounded to float64
    assert values[n - 1] == pytest.approx(exact, rel=1e-15)
    assert abs(theirs[n - 1] - exact) / exact > 1e-12


def test_a_sequence_starts_each_part_from_its_own_start_where_torch_onecyclelr_changes_it() -> None:
    """Difference by design: torch's OneCycleLR constructor writes ``max_lr / div_factor`` into
    every group's ``initial_lr``, and SequentialLR resets the lr to ``initial_lr`` before its
    first scheduler runs: a LinearLR warmup ahead of a OneCycleLR starts from 0.1/25, not from
    the optimizer's 0.1. lrcast's parts of a ``sequence`` are independent curves."""
    b = 0.1

    def factory(opt: Optimizer) -> sched.LRScheduler:
        warm = sched.LinearLR(opt, 0.1, 1.0, total_iters=5)
        cycle = sched.OneCycleLR(opt, max_lr=0.1, total_steps=20)
        return sched.SequentialLR(opt, [warm, cycle], milestones=[5])

    theirs = torch_lrs(factory, 25, b)
    curve = {
        "type": "sequence",
        "boundaries": [5],
        "curves": [
            {"type": "linear", "start": 0.01, "end": 0.1, "steps": 5},
            {"type": "one_cycle", "peak": 0.1, "steps": 20},
        ],
    }
    values = ours(curve, 25)
    assert_matches_torch(values[5:], theirs[5:])  # the one-cycle part agrees
    assert values[0] == pytest.approx(0.01, rel=1e-12)
    assert theirs[0] == pytest.approx(0.01 / 25, rel=1e-12)
