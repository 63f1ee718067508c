"""Edits that change how many groups a run has, while a trainer whose parameter groups have no
``name`` key (matched by order) is training on it: a real server and real torch optimizers."""

from __future__ import annotations

import pytest
import torch
from torch.optim import Optimizer

from lrcast._client import Client
from lrcast.torch import RemoteLR
from tests.client.helpers import COSINE


def unnamed(count: int) -> Optimizer:
    """An optimizer with ``count`` parameter groups, none of them named."""
    return torch.optim.SGD(
        [{"params": [torch.nn.Parameter(torch.zeros(1))]} for _ in range(count)], lr=0.0
    )


def train_until(optimizer: Optimizer, scheduler: RemoteLR, last: int) -> dict[int, list[float]]:
    """Train through step ``last``: the lr each parameter group was given at each step."""
    used: dict[int, list[float]] = {}
    while scheduler.last_epoch < last:
        optimizer.step()
        scheduler.step()
        used[scheduler.last_epoch] = [float(g["lr"]) for g in optimizer.param_groups]
    return used


@pytest.mark.parametrize("mode", ["lease", "per_step"])
def test_an_edit_adding_then_one_dropping_groups_each_warn_once_and_training_goes_on_by_order(
    client: Client, name: str, mode: str
) -> None:
    client.publish(name, COSINE)
    client.bind_run(name, name, block=8, groups={"a": 1.0, "b": 0.1})
    optimizer = unnamed(2)
    scheduler = RemoteLR(optimizer, name, client=client, mode=mode)  # type: ignore[arg-type]
    used = train_until(optimizer, scheduler, 10)

    at_added = client.edit_run(name, groups={"a": 0.5, "b": 0.1, "c": 2.0}).effective_step
    with pytest.warns(UserWarning, match="matched by order") as added:
        used |= train_until(optimizer, scheduler, at_added + 16)
    at_dropped = client.edit_run(name, groups={"c": 2.0}).effective_step
    with pytest.warns(UserWarning, match="matched by order") as dropped:
        used |= train_until(optimizer, scheduler, at_dropped + 16)
    used |= train_until(optimizer, scheduler, at_dropped + 64)  # no more warnings (errors here)

    assert len(added) == 1
    assert len(dropped) == 1
    assert f"from step {at_added}, run {name!r} has 3 groups (a, b, c)" in str(added[0].message)
    assert "the optimizer has 2 parameter groups" in str(added[0].message)
    assert f"from step {at_dropped}, run {name!r} has 1 groups (c)" in str(dropped[0].message)
    assert "param_groups[1:] take the run's lr" in str(dropped[0].message)
    assert list(client.lr(name, at_added - 1).groups) == ["a", "b"]
    assert list(client.lr(name, at_added).groups) == ["a", "b", "c"]
    assert list(client.lr(name, at_dropped).groups) == ["c"]
    assert sorted(used) == list(range(1, at_dropped + 65))
    for step, lrs in used.items():
        answer = client.lr(name, step)
        # The i-th group of the run, else (past the run's groups) the run's lr.
        want = [answer.groups["a"], answer.groups["b"]] if step < at_dropped else []
        want = want or [answer.groups["c"], answer.lr]
        assert lrs == want, step

    # Known when the scheduler is built, the same mismatch is still refused up front.
    client.bind_run(f"{name}-x", name, block=8, groups={"a": 0.5, "b": 0.1, "c": 2.0})
    with pytest.raises(ValueError, match=r"3 groups \(a, b, c\) .* give each a 'name' key"):
        RemoteLR(unnamed(2), f"{name}-x", client=client)


def test_a_group_dropped_inside_a_lease_shifts_the_later_groups_down_from_that_step(
    client: Client, name: str
) -> None:
    client.publish(name, COSINE)
    client.bind_run(name, name, block=8, groups={"a": 1.0, "b": 0.1, "c": 2.0})
    client.edit_run(name, groups={"a": 1.0, "c": 2.0}, at_step=16)
    optimizer = unnamed(3)
    # The first lease (four blocks) holds the edit: a mismatch ahead is said, not refused.
    with pytest.warns(UserWarning, match="matched by order") as dropped:
        scheduler = RemoteLR(optimizer, name, client=client, blocks=4)
    used = train_until(optimizer, scheduler, 40)

    assert len(dropped) == 1
    assert f"from step 16, run {name!r} has 2 groups (a, c)" in str(dropped[0].message)
    for step, lrs in used.items():
        answer = client.lr(name, step)
        names = ["a", "b", "c"] if step < 16 else ["a", "c"]
        assert list(answer.groups) == names
        assert lrs == [answer.groups[n] for n in names] + [answer.lr] * (3 - len(names)), step
