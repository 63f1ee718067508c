"""The math of every curve family: pure numpy, float64, a whole array of steps at once.

Each function takes ``t``, a 1-D ``int64`` array of steps (``t >= 0``), and keyword parameters
already validated and resolved to steps (see ``_models`` and ``_evaluate``), and returns a
``float64`` array of the same length. Nothing here validates, logs or falls back: bad parameters
never reach it. Where a formula has an exact counterpart in a library, the operations follow that
library's order so that the floats agree to the last bit wherever the library is exact.

Compound curves (``warmup``, ``sequence``, ``product``) take other curves as callables.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from collections.abc import Sequence as Seq

import numpy as np
import numpy.typing as npt

Steps = npt.NDArray[np.int64]
Values = npt.NDArray[np.float64]
CurveFn = Callable[[Steps], Values]

_PI = np.pi


def _full(t: Steps, value: float) -> Values:
    return np.full(t.shape, value, dtype=np.float64)


def constant(t: Steps, *, value: float) -> Values:
    """``value`` everywhere.

    Same as torch ``ConstantLR`` after its ``total_iters``, optax ``constant_schedule``.
    """
    return _full(t, value)


def step(t: Steps, *, start: float, every: int, factor: float) -> Values:
    """Step decay: ``start * factor ** (t // every)``.

    Same as torch ``StepLR(step_size=every, gamma=factor)`` (closed form) and Keras
    ``ExponentialDecay(start, every, factor, staircase=True)``.
    """
    return start * np.power(factor, (t // every).astype(np.float64))


def multistep(t: Steps, *, start: float, milestones: Seq[int], factor: float) -> Values:
    """Decay at milestones: ``start * factor ** #{m in milestones : m <= t}``.

    A milestone listed twice decays twice. Same as torch ``MultiStepLR`` (``bisect_right``).
    """
    passed = np.searchsorted(np.asarray(milestones, dtype=np.int64), t, side="right")
    return start * np.power(factor, passed.astype(np.float64))


def piecewise(t: Steps, *, boundaries: Seq[int], values: Seq[float]) -> Values:
    """Piecewise constant: ``values[#{b in boundaries : b <= t}]``.

    The new value starts *at* its boundary, as in optax ``piecewise_constant_schedule`` and torch;
    Keras ``PiecewiseConstantDecay`` switches one step later (its boundaries are ours minus one).
    """
    index = np.searchsorted(np.asarray(boundaries, dtype=np.int64), t, side="right")
    return np.asarray(values, dtype=np.float64)[index]


def exponential(
    t: Steps,
    *,
    start: float,
    factor: float,
    every: int,
    staircase: bool,
    begin: int,
    limit: float | None,
) -> Values:
    """Exponential decay (or growth): ``start * factor ** ((t - begin) / every)``.

    ``start`` for ``t <= begin``; the exponent is floored when ``staircase``; the value is clipped
    at ``limit``, a floor when ``factor < 1`` and a ceiling when ``factor > 1``.

    Same as torch ``ExponentialLR(gamma=factor)`` (``every=1``), Keras ``ExponentialDecay``, optax
    ``exponential_decay(transition_begin=begin, end_value=limit)``.
    """
    elapsed = t - begin
    p = elapsed.astype(np.float64) / every
    if staircase:
        p = np.floor(p)
    # start * inf is NaN when start is 0: a curve that starts at 0 stays there.
    scaled = start * np.power(factor, p) if start else np.zeros_like(p)
    if limit is not None:  # past begin only: up to it the curve is start, whatever the limit
        scaled = np.maximum(scaled, limit) if factor < 1 else np.minimum(scaled, limit)
    out: Values = np.where(elapsed <= 0, start, scaled)
    return out


def inverse_time(t: Steps, *, start: float, rate: float, every: int, staircase: bool) -> Values:
    """Inverse time decay: ``start / (1 + rate * p)``, ``p = t / every`` (floored if staircase).

    Same as Keras ``InverseTimeDecay(start, every, rate, staircase)``.
    """
    p = t.astype(np.float64) / every
    if staircase:
        p = np.floor(p)
    return start / (1 + rate * p)


def polynomial(
    t: Steps,
    *,
    start: float,
    end: float,
    steps: int,
    power: float,
    cycle: bool,
    begin: int,
) -> Values:
    """Polynomial decay: ``(start - end) * (1 - s / steps) ** power + end``.

    ``s = clip(t - begin, 0, steps)``. With ``cycle``, Keras' rule: the decay restarts every
    ``steps`` (``end`` exactly at each multiple of ``steps``, higher just after).

    Same as torch ``PolynomialLR`` (``end=0``), Keras ``PolynomialDecay``, optax
    ``polynomial_schedule(transition_begin=begin)``.
    """
    s = np.maximum(t - begin, 0).astype(np.float64)
    if cycle:
        span = steps * np.where(s == 0, 1.0, np.ceil(s / steps))
    else:
        s = np.minimum(s, steps)
        span = np.float64(steps)
    out: Values = (start - end) * np.power(1 - s / span, power) + end
    return out


def linear(t: Steps, *, start: float, end: float, steps: int, begin: int) -> Values:
    """A straight line from ``start`` to ``end`` over ``steps``, from ``begin``; held after.

    ``polynomial`` with ``power=1``, with the fraction left computed as ``(steps - s) / steps``
    (exact numerator), HF's ``(T - t) / (T - W)``: ``1 - s / steps`` would keep only the last
    digits of a small fraction near a zero end. Same as torch ``LinearLR``
    (``start = b*start_factor``), optax ``linear_schedule``, HF
    ``get_linear_schedule_with_warmup`` (after its warmup).
    """
    s = np.clip(t - begin, 0, steps)
    return (start - end) * ((steps - s) / steps) + end


def cosine(
    t: Steps,
    *,
    start: float,
    end: float,
    steps: int,
    exponent: float,
    cycles: float,
    periodic: bool,
) -> Values:
    """Cosine annealing: ``end + (start - end) * (0.5 * (1 + cos(2π·cycles·p))) ** exponent``.

    ``p = min(t, steps) / steps``, held at its end value after ``steps`` unless ``periodic``.

    Same as torch ``CosineAnnealingLR(T_max=steps, eta_min=end)`` with ``periodic`` (torch's
    curve rises again after ``T_max``), Keras ``CosineDecay`` (``end = alpha * start``), optax
    ``cosine_decay_schedule(exponent)``, HF ``num_cycles``.
    """
    # In place, one array for the whole computation: this is the bulk path's hot loop.
    x = t.astype(np.float64)
    if not periodic:
        np.minimum(x, steps, out=x)
    # HF's order, (2π·cycles)·(t/T), which is Keras' π·(t/T) for half a cycle: near a zero end,
    # and far past it when periodic, 1 + cos keeps only the last digits of the angle.
    x /= steps
    x *= 2 * cycles * _PI
    np.cos(x, out=x)
    x += 1
    x /= 2
    if exponent != 1:
        np.power(x, exponent, out=x)
    x *= start - end
    x += end
    return x


def _cycle_starts(period: int, period_factor: int, last: int) -> npt.NDArray[np.int64]:
    """The first step of each restart cycle up to ``last``, in exact integer arithmetic."""
    starts = [0]
    length = period
    while starts[-1] <= last:
        starts.append(starts[-1] + length)
        length *= period_factor
    return np.asarray(starts[:-1], dtype=np.int64)


def cosine_restarts(
    t: Steps,
    *,
    start: float,
    end: float,
    period: int,
    period_factor: int,
    peak_factor: float,
    cycles: int | None,
) -> Values:
    """Cosine with warm restarts (SGDR).

    Cycle ``i`` lasts ``period * period_factor ** i`` steps and, at ``tc`` steps into it, gives
    ``end + (start * peak_factor ** i - end) * 0.5 * (1 + cos(π * tc / length))``. After
    ``cycles`` cycles (if set) the value is ``end``. The cycle is found by integer arithmetic, so
    every restart lands exactly on its step (torch and timm compute it with a float ``log``, which
    misplaces some restarts: at ``t = 121`` with ``period=1, period_factor=3`` torch gives 0).

    Same as torch ``CosineAnnealingWarmRestarts(T_0=period, T_mult=period_factor, eta_min=end)``,
    Keras ``CosineDecayRestarts`` (when ``alpha=0`` or ``m_mul=1``), timm cycles.
    """
    if period_factor == 1:
        i = t // period
        begin = i * period
        length = np.full(t.shape, float(period))
    else:
        starts = _cycle_starts(period, period_factor, int(t.max(initial=0)))
        i = np.searchsorted(starts, t, side="right") - 1
        begin = starts[i]
        # As a float: a cycle longer than 2**63 steps is possible, and exact up to 2**53.
        length = period * np.power(float(period_factor), i.astype(np.float64))
    peak = start * np.power(peak_factor, i.astype(np.float64))
    angle = _PI * (t - begin).astype(np.float64) / length
    out: Values = end + (peak - end) * (1 + np.cos(angle)) / 2
    if cycles is not None:
        out = np.where(i >= cycles, end, out)
    return out


def cyclic(
    t: Steps,
    *,
    base: float,
    peak: float,
    up: int,
    down: int,
    mode: str,
    gamma: float,
) -> Values:
    """Cyclical learning rate: triangles between ``base`` and ``peak``.

    torch's ``CyclicLR`` rule, operation for operation: ``cycle = floor(1 + t / (up + down))``,
    ``x = 1 + t / (up + down) - cycle``, ``scale = x / r`` on the way up (``r = up / (up + down)``)
    and ``(x - 1) / (r - 1)`` on the way down, times ``1`` (``triangular``),
    ``1 / 2 ** (cycle - 1)`` (``triangular2``) or ``gamma ** t`` (``exp_range``).

    For momentum, torch cycles the other way: ``base = max_momentum``, ``peak = base_momentum``.
    """
    tf = t.astype(np.float64)
    total = float(up) + float(down)
    ratio = up / total
    cycle = np.floor(1 + tf / total)
    x = 1.0 + tf / total - cycle
    scale = np.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
    if mode == "triangular":
        amplitude = np.ones_like(tf)
    elif mode == "triangular2":
        amplitude = 1 / np.power(2.0, cycle - 1)
    else:
        amplitude = np.power(gamma, tf)
    return base + (peak - base) * scale * amplitude


def one_cycle(
    t: Steps,
    *,
    peak: float,
    steps: int,
    warm_fraction: float,
    start: float,
    end: float,
    shape: str,
    three_phase: bool,
) -> Values:
    """The 1cycle policy: ``start`` up to ``peak``, then down to ``end``, held there after.

    torch's ``OneCycleLR`` phases exactly: the peak at step ``warm_fraction * steps - 1`` (a
    float, not rounded), ``end`` at ``steps - 1``; with ``three_phase``, back to ``start`` at
    ``2 * warm_fraction * steps - 2`` before the last phase. ``shape`` anneals each phase by
    ``cos`` or ``linear``. torch's lr goes on past ``steps - 1`` (negative with ``linear``);
    lrcast holds ``end`` instead.

    Same as torch ``OneCycleLR(max_lr=peak, total_steps=steps, pct_start=warm_fraction,
    div_factor=peak/start, final_div_factor=start/end)``. For momentum,
    ``start = end = max_momentum`` and ``peak = base_momentum``.
    """
    warm = float(warm_fraction * steps) - 1
    if three_phase:
        phases = [(warm, start, peak), (float(2 * warm_fraction * steps) - 2, peak, start)]
    else:
        phases = [(warm, start, peak)]
    phases.append((steps - 1, phases[-1][2], end))

    tf = t.astype(np.float64)
    out = np.full(t.shape, end, dtype=np.float64)  # past the last phase
    lower = 0.0
    done = np.zeros(t.shape, dtype=bool)
    for upper, a, b in phases:
        inside = ~done & (tf <= upper)
        pct = (tf[inside] - lower) / (upper - lower)
        if shape == "cos":
            out[inside] = b + (a - b) / 2.0 * (np.cos(_PI * pct) + 1)
        else:
            out[inside] = (b - a) * pct + a
        done |= inside
        lower = upper
    return out


def inverse_sqrt(t: Steps, *, peak: float, warmup: int, timescale: int, start: float) -> Values:
    """Inverse square root: ``peak / sqrt((t - warmup + timescale) / timescale)`` after warmup.

    A linear warmup from ``start`` to ``peak`` for ``t < warmup``. Same as HF
    ``get_inverse_sqrt_schedule(num_warmup_steps=warmup, timescale=timescale)`` (``start=0``).
    """
    tf = t.astype(np.float64)
    shift = timescale - warmup
    decayed = peak * (1.0 / np.sqrt((tf + shift) / timescale))
    if warmup == 0:
        return decayed
    ramp = start + (peak - start) * (tf / warmup)
    return np.where(t < warmup, ramp, decayed)


def _rise(shape: str, p: Values) -> Values:
    """The share of the way done at fraction ``p`` of a warmup."""
    if shape == "linear":
        return p
    if shape == "cosine":
        return 0.5 * (1.0 - np.cos(_PI * p))
    return 1.0 - np.sqrt(1.0 - p)  # HF's "1-sqrt" warmup


def _fall(shape: str, p: Values) -> Values:
    """The share of the way still to go at fraction ``p`` of a decay."""
    if shape == "linear":
        return 1.0 - p
    if shape == "cosine":
        return 0.5 * (1.0 + np.cos(_PI * p))
    return 1.0 - np.sqrt(p)  # HF's "1-sqrt" decay


def wsd(
    t: Steps,
    *,
    peak: float,
    warmup: int,
    stable: int,
    decay: int,
    end: float,
    start: float,
    warmup_shape: str,
    decay_shape: str,
) -> Values:
    """Warmup-stable-decay: ``start → peak`` over ``warmup``, ``peak`` for ``stable``,
    ``peak → end`` over ``decay``, then ``end``.

    Shapes as HF ``get_wsd_schedule`` (``sqrt`` is HF's ``1-sqrt``): with ``start = end =
    min_lr_ratio * peak`` it is HF's curve; timm ``WSDLRScheduler`` likewise.
    """
    tf = t.astype(np.float64)
    out = np.full(t.shape, end, dtype=np.float64)
    rising = t < warmup
    if warmup:
        p = tf[rising] / warmup
        out[rising] = start + (peak - start) * _rise(warmup_shape, p)
    out[(t >= warmup) & (t < warmup + stable)] = peak
    falling = (t >= warmup + stable) & (t < warmup + stable + decay)
    if decay:
        p = (tf[falling] - (warmup + stable)) / decay
        out[falling] = end + (peak - end) * _fall(decay_shape, p)
    return out


def interpolate(t: Steps, *, points: Seq[tuple[int, float]], shape: str) -> Values:
    """Interpolation between points ``[step, value]``: ``linear``, ``cosine``, ``exponential``
    (geometric) or ``step`` (hold until the next point). The first value before the first point,
    the last after the last.

    Same as optax ``piecewise_interpolate_schedule`` (its boundaries and cumulative values as
    points), and so ``linear_onecycle_schedule``, ``cosine_onecycle_schedule``.
    """
    xs = np.asarray([p[0] for p in points], dtype=np.int64)
    ys = np.asarray([p[1] for p in points], dtype=np.float64)
    index = np.searchsorted(xs, t, side="right") - 1
    before, after = index < 0, index >= len(xs) - 1
    i = np.clip(index, 0, max(len(xs) - 2, 0))
    out: Values = np.where(before, ys[0], ys[-1])
    inside = ~before & ~after
    if not inside.any():
        return out
    i = i[inside]
    a, b = ys[i], ys[i + 1]
    pct = (t[inside] - xs[i]).astype(np.float64) / (xs[i + 1] - xs[i])
    if shape == "linear":
        out[inside] = (b - a) * pct + a
    elif shape == "cosine":
        out[inside] = b + (a - b) / 2 * (np.cos(_PI * pct) + 1)
    elif shape == "exponential":
        out[inside] = a * np.power(b / a, pct)
    else:
        out[inside] = a
    return out


def _pieces(t: Steps, boundaries: Seq[int]) -> list[slice | npt.NDArray[np.bool_]]:
    """For each interval between ``boundaries``, which elements of ``t`` fall in it.

    Sorted steps (every block, every range) get slices, which cost nothing; others get masks.
    """
    edges = np.asarray(boundaries, dtype=np.int64)
    if t.size < 2 or not (t[1:] < t[:-1]).any():
        cuts = [0, *np.searchsorted(t, edges, side="left").tolist(), t.size]
        return [slice(a, b) for a, b in itertools.pairwise(cuts)]
    part = np.searchsorted(edges, t, side="right")
    return [part == i for i in range(len(edges) + 1)]


def warmup(t: Steps, *, steps: int, start: float, shape: str, then: CurveFn) -> Values:
    """Warm up from ``start`` to ``then(0)`` over ``steps``, then follow ``then(t - steps)``.

    ``linear``: ``start + (then(0) - start) * t / steps``; ``cosine``: half a cosine;
    ``exponential``: ``start * (then(0) / start) ** (t / steps)``.

    Same as HF ``*_with_warmup``, Keras ``CosineDecay(warmup_target, warmup_steps)``, optax
    ``warmup_*_schedule``, timm ``warmup_prefix=True``.
    """
    out = np.empty(t.shape, dtype=np.float64)
    rising, after = _pieces(t, [steps])
    late, early = t[after], t[rising]
    if late.size:
        out[after] = then(late - steps)
    if early.size:
        target = float(then(np.zeros(1, dtype=np.int64))[0])
        p = early.astype(np.float64) / steps
        if shape == "linear":
            out[rising] = start + (target - start) * p
        elif shape == "cosine":
            out[rising] = start + (target - start) * _rise("cosine", p)
        else:
            out[rising] = start * np.power(target / start, p)
    return out


def sequence(t: Steps, *, curves: Seq[CurveFn], boundaries: Seq[int]) -> Values:
    """One curve after another: ``curves[i](t - boundaries[i-1])`` on
    ``[boundaries[i-1], boundaries[i])``; each part restarts at its own step 0.

    Only the steps a part governs are evaluated by it. Same as torch ``SequentialLR``, optax
    ``join_schedules``.
    """
    out = np.empty(t.shape, dtype=np.float64)
    origins = [0, *boundaries]
    for curve, origin, mine in zip(curves, origins, _pieces(t, boundaries), strict=True):
        part = t[mine]
        if part.size:
            out[mine] = curve(part - origin)
    return out


def product(t: Steps, *, curves: Seq[CurveFn]) -> Values:
    """The elementwise product of ``curves``: torch ``ChainedScheduler`` of multiplicative
    schedulers, optax ``chain`` of ``scale_by_schedule``.
    """
    out = curves[0](t)
    for curve in curves[1:]:
        out = out * curve(t)
    return out
