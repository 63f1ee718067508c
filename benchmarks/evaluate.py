"""Bulk evaluation: 1M steps of warmup + cosine through ``lrcast.evaluate``, against stepping
torch's own scheduler (``SequentialLR(LinearLR, CosineAnnealingLR)``) 1M times, in the same run.

Run: ``python benchmarks/evaluate.py [--steps N] [--repeats R]``. Prints the medians and the ratio
(torch time / lrcast time); the goal is at least 100x.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

import lrcast


def lrcast_seconds(n: int, warm: int) -> float:
    curve = {
        "type": "warmup",
        "steps": warm,
        "then": {"type": "cosine", "start": 0.4, "end": 0.0, "steps": n - warm},
    }
    steps = np.arange(n, dtype=np.int64)
    start = time.perf_counter()
    values = lrcast.evaluate(curve, steps)
    elapsed = time.perf_counter() - start
    assert values.shape == (n,)
    return elapsed


def torch_seconds(n: int, warm: int) -> float:
    import torch

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.4)
    scheduler = torch.optim.lr_scheduler.SequentialLR(
        optimizer,
        [
            torch.optim.lr_scheduler.LinearLR(optimizer, 1e-8, 1.0, total_iters=warm),
            torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=n - warm),
        ],
        milestones=[warm],
    )
    with warnings.catch_warnings():
        # Stepping the scheduler without an optimizer step is the point here.
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        for _ in range(n):
            scheduler.step()
        return time.perf_counter() - start


def run(steps: int = 1_000_000, repeats: int = 5, torch_repeats: int = 3) -> tuple[float, float]:
    """Median seconds of lrcast and of torch for ``steps`` steps."""
    warm = steps // 100
    ours = statistics.median(lrcast_seconds(steps, warm) for _ in range(repeats))
    theirs = statistics.median(torch_seconds(steps, warm) for _ in range(torch_repeats))
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--torch-repeats", type=int, default=3)
    args = parser.parse_args()
    ours, theirs = run(args.steps, args.repeats, args.torch_repeats)
    print(f"steps                      {args.steps:>12,}")
    print(f"lrcast.evaluate (median)   {ours * 1e3:>12.1f} ms")
    print(f"torch scheduler.step()     {theirs * 1e3:>12.1f} ms")
    print(f"ratio torch / lrcast       {theirs / ours:>12.0f}x   (goal >= 100x)")


if __name__ == "__main__":
    main()
