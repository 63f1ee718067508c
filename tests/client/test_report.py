"""Metric reports from the client and the torch shim drive reduce-on-plateau on a real server."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau

import lrcast
from lrcast._client import Client
from lrcast.torch import RemoteLR
from tests.client.conftest import Server
from tests.client.helpers import expected

SETTINGS = {"metric": "val_loss", "patience": 2, "cooldown": 1, "factor": 0.5, "min_lr": 0.05}
LOSSES = [1.0] * 7 + [0.5] * 4 + [0.6] * 12 + [0.2] + [0.3] * 10


def _bind_plateau_run(server: Server, client: Client, name: str) -> None:
    client.publish(name, {"curves": {"lr": {"type": "constant", "value": 1.0}}})
    client.bind_run(name, name, block=1, plateau=SETTINGS)


def test_remote_lr_per_step_reproduces_torch_reduce_lr_on_plateau(
    server: Server, client: Client, name: str
) -> None:
    _bind_plateau_run(server, client, name)
    reference = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    torch_scheduler = ReduceLROnPlateau(
        reference, **{k: v for k, v in SETTINGS.items() if k != "metric"}
    )
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=123.0)
    # No metric=: step(loss) reports under the run's plateau.metric.
    scheduler = RemoteLR(optimizer, name, client=client, mode="per_step")
    expected, got = [], []
    for loss in LOSSES:
        expected.append(reference.param_groups[0]["lr"])
        got.append(optimizer.param_groups[0]["lr"])
        torch_scheduler.step(loss)
        scheduler.step(loss)
    expected.append(reference.param_groups[0]["lr"])
    got.append(optimizer.param_groups[0]["lr"])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    assert min(expected) == 0.05  # reduced down to the floor


def test_client_report_is_idempotent_and_refuses_a_changed_value(
    server: Server, client: Client, name: str
) -> None:
    _bind_plateau_run(server, client, name)
    first = client.report(name, 0, "val_loss", 0.75)
    assert (first.step, first.name, first.value, first.applied) == (0, "val_loss", 0.75, True)
    assert first.plateau is not None
    # A no-op: the stored report, not applied again.
    again = client.report(name, 0, "val_loss", 0.75)
    assert again.model_dump(exclude={"plateau"}) == first.model_dump(exclude={"plateau"})
    with pytest.raises(lrcast.ConflictError):
        client.report(name, 0, "val_loss", 0.5)
    client.report(name, 1, "accuracy", 0.5)
    items = httpx.get(f"{server.url}/v1/runs/{name}/metrics").json()["items"]
    assert [(m["step"], m["name"], m["value"], m["applied"]) for m in items] == [
        (0, "val_loss", 0.75, True),
        (1, "accuracy", 0.5, False),
    ]
    # The client reads the same reports, a page at a time, or one metric's.
    assert [m.model_dump(mode="json") for m in client.iter_metrics(name, page_size=1)] == items
    assert [m.name for m in client.iter_metrics(name, name="accuracy")] == ["accuracy"]
    assert client.list_metrics(name, limit=1).next_cursor is not None


def test_edit_run_changes_and_stops_reduce_on_plateau(
    server: Server, client: Client, name: str
) -> None:
    _bind_plateau_run(server, client, name)
    edited = client.edit_run(name, plateau={**SETTINGS, "patience": 5})
    assert edited.plateau is not None
    assert edited.plateau.patience == 5
    stopped = client.edit_run(name, plateau=None)
    assert stopped.plateau is None
    assert client.get_run(name).plateau is None


def test_a_report_without_a_name_follows_the_runs_plateau_metric_through_a_patch(
    server: Server, client: Client, name: str
) -> None:
    client.publish(name, {"curves": {"lr": {"type": "constant", "value": 1.0}}})
    client.bind_run(name, name, block=1)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = RemoteLR(optimizer, name, client=client, mode="per_step")
    scheduler.step(0.9)  # no plateau yet: stored as "loss"
    client.edit_run(name, plateau={"metric": "val_loss", "patience": 0})
    scheduler.step(0.8)
    scheduler.step()
    scheduler.report(0.7)  # for step 2, the last trained
    client.edit_run(name, plateau={"metric": "val_acc", "mode": "max", "patience": 0})
    scheduler.step(0.6)
    reports = [(m.step, m.name, m.value, m.applied) for m in client.iter_metrics(name)]
    assert reports == [
        (0, "loss", 0.9, False),
        (1, "val_loss", 0.8, True),
        (2, "val_loss", 0.7, True),
        (3, "val_acc", 0.6, True),
    ]


def test_a_resumed_job_re_reporting_trained_steps_warns_once_and_trains_on(
    server: Server, client: Client, name: str
) -> None:
    client.publish(name, {"curves": {"lr": {"type": "constant", "value": 1.0}}})
    client.bind_run(name, name, block=1, plateau={"metric": "val_loss", "patience": 2})
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = RemoteLR(optimizer, name, client=client)
    for step in range(10):
        if step == 5:
            saved = scheduler.state_dict()
            saved_optimizer = optimizer.state_dict()
        optimizer.step()
        scheduler.step(1.0)

    # Restarted from the checkpoint of step 5: steps 5 to 9 are trained (and reported) again,
    # with slightly different losses.
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    resumed = RemoteLR(optimizer, name, client=client)
    optimizer.load_state_dict(saved_optimizer)  # as a real resume restores both
    resumed.load_state_dict(saved)
    seen = [optimizer.param_groups[0]["lr"]]

    def train_on() -> None:
        for _ in range(5, 20):
            optimizer.step()
            resumed.step(1.01)
            seen.append(optimizer.param_groups[0]["lr"])
        resumed.report(1.02)  # step 19: reported just now, changed

    with pytest.warns(UserWarning, match="first value reported is kept") as said:
        train_on()
    assert len(said) == 1
    message = str(said[0].message)
    assert f"run {name!r}" in message
    assert "at step 5 " in message
    assert resumed.last_epoch == 20
    reports = [(m.step, m.value) for m in client.iter_metrics(name, name="val_loss")]
    assert reports == [(s, 1.0) for s in range(10)] + [(s, 1.01) for s in range(10, 20)]
    # The reports after the conflicts still drive the plateau, and the shim follows the server.
    assert seen == expected(client, name, range(5, 21))["lr"]
    assert seen[-1] < seen[5]
