"""Hypothesis strategies for valid curves and documents of the schedule language."""

from __future__ import annotations

import json
import typing
from typing import Any

from hypothesis import strategies as st

from lrcast._models import AnyCurve

values = st.floats(min_value=0.0, max_value=10.0, allow_nan=False, allow_infinity=False)
decays = st.floats(min_value=0.0, max_value=1.0)
positives = st.floats(min_value=1e-3, max_value=4.0)
steps = st.integers(min_value=1, max_value=5_000)
offsets = st.integers(min_value=0, max_value=5_000)


def _sorted_unique(xs: list[int]) -> list[int]:
    return sorted(set(xs))


increasing = st.lists(st.integers(1, 20_000), min_size=1, max_size=6).map(_sorted_unique)

EXPRESSIONS = [
    "0.1",
    "0.1 * min(1, (t + 1) / 500)",
    "0.5 * (1 + cos(pi * min(t, 1000) / 1000))",
    "where(t < 100, t / 100, exp(-(t - 100) / 1000))",
    "1 / sqrt(max(t, 1))",
    "abs(sin(t / 10)) + floor(t / 7) % 3",
    "tanh(t / 100) ** 2",
    "0.9 ** (t // 30)",
]


@st.composite
def _exponentials(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(values)
    grow = draw(st.booleans())
    factor = 1 + draw(st.floats(1e-3, 1.0)) if grow else draw(decays)
    limit = draw(values) + start if grow else draw(st.one_of(st.none(), values))
    return {
        "type": "exponential",
        "start": start,
        "factor": factor,
        "every": draw(steps),
        "staircase": draw(st.booleans()),
        "begin": draw(offsets),
        "limit": limit,
    }


def leaves() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(lambda v: {"type": "constant", "value": v}, values),
        st.builds(
            lambda s, e, f: {"type": "step", "start": s, "every": e, "factor": f},
            values,
            steps,
            decays,
        ),
        st.builds(
            lambda s, m, f: {"type": "multistep", "start": s, "milestones": sorted(m), "factor": f},
            values,
            st.lists(st.integers(0, 20_000), max_size=6),
            decays,
        ),
        increasing.flatmap(
            lambda b: st.builds(
                lambda v: {"type": "piecewise", "boundaries": b, "values": v},
                st.lists(values, min_size=len(b) + 1, max_size=len(b) + 1),
            )
        ),
        _exponentials(),
        st.builds(
            lambda s, r, e, sc: {
                "type": "inverse_time",
                "start": s,
                "rate": r,
                "every": e,
                "staircase": sc,
            },
            values,
            values,
            steps,
            st.booleans(),
        ),
        st.builds(
            lambda s, e, n, p, c, b: {
                "type": "polynomial",
                "start": s,
                "end": e,
                "steps": n,
                "power": p,
                "cycle": c,
                "begin": b,
            },
            values,
            values,
            steps,
            positives,
            st.booleans(),
            offsets,
        ),
        st.builds(
            lambda s, e, n, b: {"type": "linear", "start": s, "end": e, "steps": n, "begin": b},
            values,
            values,
            steps,
            offsets,
        ),
        st.builds(
            lambda s, e, n, x, c, p: {
                "type": "cosine",
                "start": s,
                "end": e,
                "steps": n,
                "exponent": x,
                "cycles": c,
                "periodic": p,
            },
            values,
            values,
            steps,
            positives,
            positives,
            st.booleans(),
        ),
        st.builds(
            lambda s, e, n, f, pf, c: {
                "type": "cosine_restarts",
                "start": s,
                "end": e,
                "period": n,
                "period_factor": f,
                "peak_factor": pf,
                "cycles": c,
            },
            values,
            values,
            steps,
            st.integers(1, 5),
            decays,
            st.one_of(st.none(), st.integers(1, 10)),
        ),
        st.builds(
            lambda b, p, u, d, m, g: {
                "type": "cyclic",
                "base": b,
                "peak": p,
                "up": u,
                "down": d,
                "mode": m,
                "gamma": g,
            },
            values,
            values,
            steps,
            st.one_of(st.none(), steps),
            st.sampled_from(["triangular", "triangular2", "exp_range"]),
            st.floats(0.5, 1.0),
        ),
        st.builds(
            lambda p, n, w, s, sh, tp: {
                "type": "one_cycle",
                "peak": p,
                "steps": n,
                "warm_fraction": w,
                "shape": sh,
                "three_phase": tp,
                **({} if s is None else {"start": s, "end": s / 10}),
            },
            values,
            st.integers(20, 5_000),
            st.floats(0.1, 0.45),
            st.one_of(st.none(), values),
            st.sampled_from(["cos", "linear"]),
            st.booleans(),
        ),
        st.builds(
            lambda p, w, ts, s: {
                "type": "inverse_sqrt",
                "peak": p,
                "warmup": w,
                "timescale": ts,
                "start": s,
            },
            values,
            st.integers(0, 2_000),
            st.one_of(st.none(), steps),
            values,
        ),
        st.builds(
            lambda p, w, s, d, e, ws, ds: {
                "type": "wsd",
                "peak": p,
                "warmup": w,
                "stable": s,
                "decay": d,
                "end": e,
                "warmup_shape": ws,
                "decay_shape": ds,
            },
            values,
            st.integers(0, 2_000),
            st.integers(0, 2_000),
            st.integers(0, 2_000),
            values,
            st.sampled_from(["linear", "cosine", "sqrt"]),
            st.sampled_from(["linear", "cosine", "sqrt"]),
        ),
        increasing.flatmap(
            lambda xs: st.builds(
                lambda vs, shape: {
                    "type": "interpolate",
                    "points": [[x, v] for x, v in zip(xs, vs, strict=True)],
                    "shape": shape,
                },
                st.lists(st.floats(1e-3, 10.0), min_size=len(xs), max_size=len(xs)),
                st.sampled_from(["linear", "cosine", "exponential", "step"]),
            )
        ),
        st.builds(lambda e: {"type": "expression", "expr": e}, st.sampled_from(EXPRESSIONS)),
    )


def _compound(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(
            lambda n, s, sh, then: {
                "type": "warmup",
                "steps": n,
                "start": s + 1e-3 if sh == "exponential" else s,
                "shape": sh,
                "then": then,
            },
            st.integers(0, 2_000),
            values,
            st.sampled_from(["linear", "cosine", "exponential"]),
            children,
        ),
        st.lists(children, min_size=1, max_size=4).flatmap(
            lambda cs: st.builds(
                lambda b: {"type": "sequence", "curves": cs, "boundaries": b},
                st.lists(
                    st.integers(1, 20_000), min_size=len(cs) - 1, max_size=len(cs) - 1, unique=True
                ).map(sorted),
            )
        ),
        st.builds(
            lambda cs: {"type": "product", "curves": cs}, st.lists(children, min_size=1, max_size=3)
        ),
    )


def curves() -> st.SearchStrategy[dict[str, Any]]:
    """Any valid curve with integer durations, nested at most a few levels."""
    return st.recursive(leaves(), _compound, max_leaves=6)


def documents() -> st.SearchStrategy[dict[str, Any]]:
    names = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True).filter(lambda n: n != "lr")
    return st.builds(
        lambda lr, others: {"curves": {"lr": lr, **others}},
        curves(),
        st.dictionaries(names, curves(), max_size=2),
    )


def duration_fields() -> set[str]:
    """The fields of any curve whose schema admits a duration (``"12ep"``, ``"5%"``)."""
    found = set()
    for family in typing.get_args(AnyCurve):
        schema = family.model_json_schema()
        fields = schema.get("properties") or schema["$defs"][family.__name__]["properties"]
        found |= {name for name, field in fields.items() if "(ep|%)" in json.dumps(field)}
    return found
