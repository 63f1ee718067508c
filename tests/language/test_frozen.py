"""The evaluator's floats, frozen: every family at steps near and far, bit for bit against
``frozen_values.json``, and the same on any x86 CPU.

A server recomputes a run's blocks from its documents (after a restart, on another replica,
after an upgrade), so an answered step keeps its float only if the arithmetic never changes:
a new lrcast computing a curve in another order would answer a live run's committed steps
differently. If the first test fails, the change alters answers: keep the old arithmetic (a new
option or curve type may compute differently). Regenerate the file only for a new entry:
``python -m tests.language.test_frozen``.

The families in :data:`CPU_DEPENDENT` use numpy's ``exp``, ``log`` or fractional ``power``,
whose vectorised code differs in the last bit between CPUs with and without AVX-512 or AVX2
(docs/api.md, "How answers stay the same"): they are checked on neither count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lrcast

FROZEN = Path(__file__).with_name("frozen_values.json")
STEPS = [0, 1, 2, 5, 17, 99, 100, 101, 250, 999, 1000, 1001, 4321, 10**6, 2**40 + 3]

CURVES: dict[str, dict[str, Any]] = {
    "constant": {"type": "constant", "value": 0.1},
    "step": {"type": "step", "start": 0.1, "every": 30, "factor": 0.5},
    "multistep": {"type": "multistep", "start": 0.1, "milestones": [30, 80, 80], "factor": 0.1},
    "piecewise": {"type": "piecewise", "boundaries": [100, 1000], "values": [0.1, 0.01, 0.001]},
    "exponential": {"type": "exponential", "start": 0.1, "factor": 0.97, "limit": 1e-4},
    "exponential-staircase": {
        "type": "exponential",
        "start": 0.1,
        "factor": 0.5,
        "every": 7,
        "staircase": True,
    },
    "inverse_time": {"type": "inverse_time", "start": 0.1, "rate": 0.5, "every": 10},
    "polynomial": {"type": "polynomial", "start": 0.1, "end": 1e-4, "steps": 1000, "power": 2},
    "polynomial-cycle": {
        "type": "polynomial",
        "start": 0.1,
        "steps": 300,
        "power": 0.5,
        "cycle": True,
    },
    "linear": {"type": "linear", "start": 0.01, "end": 0.1, "steps": 250},
    "cosine": {"type": "cosine", "start": 0.1, "end": 1e-5, "steps": 1000},
    "cosine-periodic": {"type": "cosine", "start": 0.1, "steps": 7, "periodic": True},
    "cosine-cycles": {"type": "cosine", "start": 0.1, "steps": 1000, "cycles": 1.5, "exponent": 2},
    "cosine_restarts": {
        "type": "cosine_restarts",
        "start": 0.1,
        "period": 10,
        "period_factor": 3,
        "peak_factor": 0.8,
    },
    "cyclic": {
        "type": "cyclic",
        "base": 0.001,
        "peak": 0.1,
        "up": 20,
        "mode": "exp_range",
        "gamma": 0.999,
    },
    "one_cycle": {"type": "one_cycle", "peak": 0.1, "steps": 1000, "three_phase": True},
    "inverse_sqrt": {"type": "inverse_sqrt", "peak": 0.1, "warmup": 100},
    "wsd": {
        "type": "wsd",
        "peak": 0.1,
        "warmup": 100,
        "stable": 500,
        "decay": 400,
        "decay_shape": "sqrt",
    },
    "interpolate": {
        "type": "interpolate",
        "points": [[0, 0.1], [100, 0.01], [1000, 0.05]],
        "shape": "cosine",
    },
    "interpolate-exponential": {
        "type": "interpolate",
        "points": [[0, 0.1], [1000, 0.001]],
        "shape": "exponential",
    },
    "warmup-exponential": {
        "type": "warmup",
        "steps": 100,
        "start": 1e-4,
        "shape": "exponential",
        "then": {"type": "constant", "value": 0.1},
    },
    "cosine_restarts-plain": {
        "type": "cosine_restarts",
        "start": 0.1,
        "period": 10,
        "period_factor": 2,
    },
    "cyclic-triangular2": {
        "type": "cyclic",
        "base": 0.001,
        "peak": 0.1,
        "up": 20,
        "mode": "triangular2",
    },
    "expression-arithmetic": {"type": "expression", "expr": "0.1 * (1 - t / 2000) ** 2 + 1e-4"},
    "expression-trig": {"type": "expression", "expr": "0.05 * (1 + cos(pi * t / 700))"},
    "expression": {"type": "expression", "expr": "0.1 * exp(-t / 300) + 0.01 * sin(t / 10) ** 2"},
    "warmup": {
        "type": "warmup",
        "steps": 100,
        "shape": "cosine",
        "then": {"type": "cosine", "start": 0.4, "steps": 900},
    },
    "sequence": {
        "type": "sequence",
        "boundaries": [100, 1000],
        "curves": [
            {"type": "linear", "start": 0.0, "end": 0.1, "steps": 100},
            {"type": "exponential", "start": 0.1, "factor": 0.99},
            {"type": "constant", "value": 0.001},
        ],
    },
    "product": {
        "type": "product",
        "curves": [
            {"type": "cosine", "start": 1.0, "steps": 1000},
            {"type": "step", "start": 0.1, "every": 100, "factor": 0.9},
        ],
    },
}


CPU_DEPENDENT = frozenset(
    {
        "exponential",
        "cosine_restarts",
        "cyclic",
        "interpolate-exponential",
        "warmup-exponential",
        "expression",
        "sequence",
    }
)
"""Curves whose floats depend on the CPU numpy runs on (see the module's docstring)."""
STABLE = sorted(set(CURVES) - CPU_DEPENDENT)

NO_AVX = "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"
"""numpy's dispatch targets above its x86 baseline: disabled, numpy computes as on a CPU
without AVX2 or AVX-512."""


def evaluated(names: list[str] | None = None) -> dict[str, list[str]]:
    """Each curve's floats at :data:`STEPS`, as ``float.hex`` (exact)."""
    return {
        name: [float(v).hex() for v in lrcast.evaluate(CURVES[name], np.asarray(STEPS))]
        for name in names or list(CURVES)
    }


@pytest.mark.parametrize("name", STABLE)
def test_a_curve_gives_the_floats_it_always_gave(name: str) -> None:
    frozen = json.loads(FROZEN.read_text())
    assert name in frozen, f"a new entry: regenerate {FROZEN.name}"
    assert evaluated([name])[name] == frozen[name]


def test_the_curves_give_the_same_floats_without_avx(tmp_path: Path) -> None:
    code = (
        "import json, sys; from tests.language.test_frozen import STABLE, evaluated; "
        "json.dump(evaluated(STABLE), sys.stdout)"
    )
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": NO_AVX}
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == evaluated(STABLE)


if __name__ == "__main__":
    known = json.loads(FROZEN.read_text()) if FROZEN.exists() else {}
    now = evaluated(STABLE)
    changed = [name for name in known if now.get(name) != known[name]]
    if changed:
        sys.exit(f"refusing to rewrite changed entries: {', '.join(changed)}")
    FROZEN.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
