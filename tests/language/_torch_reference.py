"""Drive real ``torch.optim.lr_scheduler`` schedulers and record what each optimizer update used.

The reference for the parity tests is torch itself, run the standard way: a real optimizer, the
scheduler built on it (its constructor performs step 0), then ``opt.step(); sched.step()`` per
update. The value at step ``t`` is the one ``param_groups[0]`` holds when update ``t`` runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

Array = npt.NDArray[np.float64]
SchedulerFactory = Callable[[Optimizer], LRScheduler]
OptimizerKind = Literal["sgd", "adam"]

RTOL = 1e-12
"""SPEC.md's parity promise for torch (float64): a relative 1e-12, with no absolute slack."""

WORST: dict[str, float] = {}
"""The largest relative error each test saw (test id → error), for reports; never asserted on."""


def make_optimizer(base_lr: float, kind: OptimizerKind = "sgd") -> Optimizer:
    """An optimizer over one parameter: SGD with momentum (``group["momentum"]``) or Adam
    (``group["betas"][0]``), the two places torch cycles momentum."""
    params = [torch.nn.Parameter(torch.zeros(1))]
    if kind == "adam":
        return torch.optim.Adam(params, lr=base_lr)
    return torch.optim.SGD(params, lr=base_lr, momentum=0.9)


def torch_trace(
    factory: SchedulerFactory, n: int, base_lr: float, optimizer: OptimizerKind = "sgd"
) -> dict[str, Array]:
    """The lr and momentum (SGD ``momentum`` or Adam ``betas[0]``) used by updates ``0..n-1``."""
    opt = make_optimizer(base_lr, optimizer)
    scheduler = factory(opt)
    lrs: list[float] = []
    momenta: list[float] = []
    for t in range(n):
        if t:  # the constructor performed step 0
            opt.step()  # first, as torch expects (it warns otherwise)
            scheduler.step()
        group = opt.param_groups[0]
        lrs.append(float(group["lr"]))
        momenta.append(float(group["betas"][0] if optimizer == "adam" else group["momentum"]))
    return {"lr": np.asarray(lrs), "momentum": np.asarray(momenta)}


def torch_lrs(
    factory: SchedulerFactory, n: int, base_lr: float, optimizer: OptimizerKind = "sgd"
) -> Array:
    """The lr used by updates ``0..n-1`` of ``factory(optimizer(lr=base_lr))``."""
    return torch_trace(factory, n, base_lr, optimizer)["lr"]


def max_relative_error(ours: Array, theirs: Array) -> float:
    """``max |ours - theirs| / |theirs|``, counting equal values (zeros included) as exact."""
    diff = np.abs(np.asarray(ours) - np.asarray(theirs))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.abs(theirs))
    return float(rel.max(initial=0.0))


def assert_matches_torch(ours: Array, theirs: Array) -> None:
    """``ours == theirs`` to a relative 1e-12 at every step (absolute tolerance 0)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
    WORST[test] = max(WORST.get(test, 0.0), max_relative_error(ours, theirs))
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=0)
