"""The PyTorch shim against a real server: parity with torch's own schedulers, parameter
groups, tensors, resuming, per-step mode and a real HF Trainer."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch.optim import Optimizer
from torch.optim import lr_scheduler as sched

from lrcast._client import Client
from lrcast.torch import RemoteLR
from tests.client.conftest import ADMIN_TOKEN, Server
from tests.client.helpers import COSINE, expected

Factory = Callable[[Optimizer], sched.LRScheduler]


def make_optimizer(kind: str = "sgd", lr: float = 0.5) -> Optimizer:
    params = [torch.nn.Parameter(torch.zeros(2))]
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr)
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def trace(optimizer: Optimizer, scheduler: Any, n: int) -> dict[str, list[float]]:
    """What each of ``n`` updates used: lr and momentum (SGD) or betas[0] (Adam)."""
    out: dict[str, list[float]] = {"lr": [], "momentum": []}
    for t in range(n):
        if t:
            optimizer.step()
            scheduler.step()
        group = optimizer.param_groups[0]
        out["lr"].append(float(group["lr"]))
        momentum = group["betas"][0] if "betas" in group else group["momentum"]
        out["momentum"].append(float(momentum))
    return out


def bind(client: Client, name: str, document: dict[str, Any], **binding: Any) -> str:
    client.publish(name, document)
    client.bind_run(name, name, **binding)
    return name


PARITY: list[tuple[str, str, Factory, dict[str, Any]]] = [
    (
        "step",
        "sgd",
        lambda o: sched.StepLR(o, step_size=7, gamma=0.5),
        {"lr": {"type": "step", "start": 0.5, "every": 7, "factor": 0.5}},
    ),
    (
        "multistep",
        "sgd",
        lambda o: sched.MultiStepLR(o, milestones=[10, 50, 90], gamma=0.3),
        {"lr": {"type": "multistep", "start": 0.5, "milestones": [10, 50, 90], "factor": 0.3}},
    ),
    (
        "exponential",
        "adam",
        lambda o: sched.ExponentialLR(o, gamma=0.97),
        {"lr": {"type": "exponential", "start": 0.5, "factor": 0.97}},
    ),
    (
        "cosine",
        "sgd",
        lambda o: sched.CosineAnnealingLR(o, T_max=60, eta_min=0.01),
        {"lr": {"type": "cosine", "start": 0.5, "end": 0.01, "steps": 60, "periodic": True}},
    ),
    (
        "one_cycle_momentum_sgd",
        "sgd",
        lambda o: sched.OneCycleLR(o, max_lr=0.3, total_steps=150),
        {
            "lr": {"type": "one_cycle", "peak": 0.3, "steps": 150},
            "momentum": {
                "type": "one_cycle",
                "peak": 0.85,
                "start": 0.95,
                "end": 0.95,
                "steps": 150,
            },
        },
    ),
    (
        "cyclic_betas_adam",
        "adam",
        lambda o: sched.CyclicLR(
            o, base_lr=0.01, max_lr=0.1, step_size_up=13, step_size_down=29, mode="triangular2"
        ),
        {
            "lr": {
                "type": "cyclic",
                "base": 0.01,
                "peak": 0.1,
                "up": 13,
                "down": 29,
                "mode": "triangular2",
            },
            "momentum": {
                "type": "cyclic",
                "base": 0.9,
                "peak": 0.8,
                "up": 13,
                "down": 29,
                "mode": "triangular2",
            },
        },
    ),
]


@pytest.mark.parametrize(
    ("family", "kind", "factory", "curves"), PARITY, ids=[p[0] for p in PARITY]
)
def test_remote_lr_sets_the_same_values_as_torch_at_every_step(
    client: Client, name: str, family: str, kind: str, factory: Factory, curves: dict[str, Any]
) -> None:
    n = 150
    theirs_opt = make_optimizer(kind)
    theirs = trace(theirs_opt, factory(theirs_opt), n)
    run = bind(client, name, {"curves": curves}, block=32)
    ours_opt = make_optimizer(kind)
    ours = trace(ours_opt, RemoteLR(ours_opt, run, client=client), n)
    np.testing.assert_allclose(ours["lr"], theirs["lr"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(ours["momentum"], theirs["momentum"], rtol=1e-12, atol=0)


def test_values_are_the_servers_bit_for_bit_across_blocks(client: Client, name: str) -> None:
    run = bind(client, name, COSINE, block=16, scale=2.0)
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0, weight_decay=0.3)
    got = trace(opt, RemoteLR(opt, run, client=client), 100)
    want = expected(client, run, range(100))
    assert got["lr"] == want["lr"]
    assert got["momentum"] == want["momentum"]
    assert opt.param_groups[0]["weight_decay"] == 5e-5


def test_param_groups_are_matched_by_name_then_by_order(client: Client, name: str) -> None:
    run = bind(client, name, COSINE, block=8, groups={"backbone": 0.1, "head": 2.0})
    backbone, head, other = (torch.nn.Parameter(torch.zeros(1)) for _ in range(3))
    named = torch.optim.SGD(
        [
            {"params": [head], "name": "head"},
            {"params": [backbone], "name": "backbone"},
            {"params": [other], "name": "bias"},
        ],
        lr=1.0,
    )
    scheduler = RemoteLR(named, run, client=client)
    for _ in range(20):
        named.step()
        scheduler.step()
    want = expected(client, run, range(21))
    assert [g["lr"] for g in named.param_groups] == [
        want["group:head"][20],
        want["group:backbone"][20],
        want["lr"][20],
    ]
    ordered = torch.optim.SGD([{"params": [backbone]}, {"params": [head]}], lr=1.0)
    RemoteLR(ordered, run, client=client)
    assert [g["lr"] for g in ordered.param_groups] == [
        want["group:backbone"][0],
        want["group:head"][0],
    ]
    with pytest.raises(ValueError, match="give each a 'name' key"):
        RemoteLR(torch.optim.SGD([backbone], lr=1.0), run, client=client)


def test_unnamed_groups_keep_their_order_through_an_edit_that_reorders_the_run_groups(
    client: Client, name: str
) -> None:
    run = bind(client, name, COSINE, block=8, groups={"head": 1.0, "backbone": 0.1})
    head, backbone = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [head]}, {"params": [backbone]}], lr=1.0)
    scheduler = RemoteLR(optimizer, run, client=client)
    client.edit_run(run, groups={"backbone": 0.3, "head": 1.0})
    for _ in range(40):
        optimizer.step()
        scheduler.step()
    want = expected(client, run, range(41))
    assert [g["lr"] for g in optimizer.param_groups] == [
        want["group:head"][40],
        want["group:backbone"][40],
    ]
    assert want["group:backbone"][40] == 0.3 * want["lr"][40]


def test_a_param_group_added_mid_run_gets_its_values_at_the_next_step(
    client: Client, name: str
) -> None:
    run = bind(client, name, COSINE, block=16, groups={"head": 1.0, "backbone": 0.1})
    head, backbone = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [head], "name": "head"}], lr=0.0)
    scheduler = RemoteLR(optimizer, run, client=client)
    want = expected(client, run, range(20))
    for step in range(1, 20):
        if step == 3:  # unfreeze the backbone
            optimizer.add_param_group({"params": [backbone], "name": "backbone", "lr": 0.0})
        optimizer.step()
        scheduler.step()
        if step >= 3:
            assert optimizer.param_groups[1]["lr"] == want["group:backbone"][step]


def test_remote_lr_after_a_warmup_in_sequential_lr_starts_at_its_step_0(
    client: Client, name: str
) -> None:
    document = {
        "curves": {
            "lr": {"type": "linear", "start": 1.0, "end": 0.0, "steps": 1000},
            "momentum": {"type": "constant", "value": 0.8},
        }
    }
    run = bind(client, name, document, block=8)
    optimizer = make_optimizer(lr=0.5)
    warmup = sched.LinearLR(optimizer, start_factor=0.1, total_iters=5)
    sequence = sched.SequentialLR(
        optimizer, [warmup, RemoteLR(optimizer, run, client=client)], milestones=[5]
    )
    used = trace(optimizer, sequence, 9)
    want = expected(client, run, range(4))
    assert used["lr"][5:] == want["lr"]
    assert used["momentum"][5:] == [0.8] * 4


def test_a_tensor_lr_stays_the_same_tensor_filled_in_place(client: Client, name: str) -> None:
    run = bind(client, name, COSINE, block=8)
    opt = torch.optim.Adam(
        [torch.nn.Parameter(torch.zeros(1))],
        lr=torch.tensor(1.0),
        betas=(torch.tensor(0.9), torch.tensor(0.99)),
    )
    lr, beta = opt.param_groups[0]["lr"], opt.param_groups[0]["betas"][0]
    scheduler = RemoteLR(opt, run, client=client)
    for _ in range(12):
        opt.step()
        scheduler.step()
    want = expected(client, run, range(13))
    assert opt.param_groups[0]["lr"] is lr
    assert opt.param_groups[0]["betas"][0] is beta
    assert lr.item() == pytest.approx(want["lr"][12], rel=1e-6)
    assert beta.item() == pytest.approx(0.85, rel=1e-6)
    last = scheduler.get_last_lr()[0]
    assert isinstance(last, torch.Tensor)
    assert last is not lr


def test_a_tensor_lr_shared_by_param_groups_is_set_for_each_group_on_its_own(
    client: Client, name: str
) -> None:
    run = bind(client, name, COSINE, block=8, groups={"head": 1.0, "backbone": 0.1})
    head, backbone = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    # torch puts the one tensor given as the default lr into every group.
    optimizer = torch.optim.AdamW(
        [{"params": [head], "name": "head"}, {"params": [backbone], "name": "backbone"}],
        lr=torch.tensor(0.0, dtype=torch.float64),
    )
    assert optimizer.param_groups[0]["lr"] is optimizer.param_groups[1]["lr"]
    scheduler = RemoteLR(optimizer, run, client=client)
    tensors = [g["lr"] for g in optimizer.param_groups]
    assert tensors[0] is not tensors[1]
    assert all(t.dtype == torch.float64 and t.device.type == "cpu" for t in tensors)
    want = expected(client, run, range(21))
    for step in range(21):
        if step:
            optimizer.step()
            scheduler.step()
        assert [g["lr"].item() for g in optimizer.param_groups] == [
            want["group:head"][step],
            want["group:backbone"][step],
        ]
    # Still the same tensors, filled in place (nothing for torch.compile to recompile).
    assert all(g["lr"] is t for g, t in zip(optimizer.param_groups, tensors, strict=True))


def test_a_no_decay_group_keeps_its_zero_weight_decay(client: Client, name: str) -> None:
    document = {
        "curves": {
            "lr": {"type": "cosine", "start": 0.1, "end": 0.0, "steps": 1000},
            "weight_decay": {"type": "linear", "start": 0.1, "end": 0.01, "steps": 100},
        }
    }
    run = bind(client, name, document, block=8)
    weights, bias, norm = (torch.nn.Parameter(torch.zeros(1)) for _ in range(3))
    # As HF Trainer builds them: biases and norms in a group without weight decay.
    optimizer = torch.optim.AdamW(
        [{"params": [weights], "weight_decay": 0.05}, {"params": [bias], "weight_decay": 0.0}],
        lr=1.0,
    )
    scheduler = RemoteLR(optimizer, run, client=client)
    want = expected(client, run, range(21))["weight_decay"]
    for step in range(21):
        if step:
            if step == 5:  # added later: also a no-decay group
                optimizer.add_param_group({"params": [norm], "weight_decay": 0.0})
            optimizer.step()
            scheduler.step()
        decay, no_decay = optimizer.param_groups[:2]
        assert decay["weight_decay"] == want[step]
        assert no_decay["weight_decay"] == 0.0
    assert optimizer.param_groups[2]["weight_decay"] == 0.0
    # Every group at 0.0 (SGD's default): no group is a no-decay group, the curve sets them all.
    sgd = torch.optim.SGD([{"params": [weights]}, {"params": [bias]}], lr=1.0)
    RemoteLR(sgd, run, client=client)
    assert [g["weight_decay"] for g in sgd.param_groups] == [want[0], want[0]]


def checkpoint(optimizer: Optimizer, scheduler: Any) -> io.BytesIO:
    """Both state dicts through ``torch.save``, as a training job checkpoints them."""
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    return buffer


def resume(optimizer: Optimizer, scheduler: Any, buffer: io.BytesIO) -> None:
    """Restore both, as every torch, HF or Lightning resume does."""
    saved = torch.load(buffer)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])


def test_a_resumed_job_continues_at_the_saved_step(client: Client, name: str) -> None:
    run = bind(client, name, COSINE, block=16)
    opt = make_optimizer()
    scheduler = RemoteLR(opt, run, client=client)
    for _ in range(37):
        opt.step()
        scheduler.step()
    assert scheduler.state_dict()["last_epoch"] == 37
    saved = torch.load(checkpoint(opt, scheduler))

    resumed_opt = make_optimizer()
    resumed = RemoteLR(resumed_opt, run, client=client)
    resumed.load_state_dict(saved["scheduler"])
    # As a torch scheduler's, load_state_dict leaves the optimizer alone: its own state has them.
    assert resumed_opt.param_groups[0]["lr"] == expected(client, run, range(1))["lr"][0]
    resumed_opt.load_state_dict(saved["optimizer"])
    used = trace(resumed_opt, resumed, 11)
    assert resumed.last_epoch == 47
    want = expected(client, run, range(37, 48))
    assert used["lr"] == want["lr"]
    assert used["momentum"] == want["momentum"]
    assert resumed_opt.param_groups[0]["weight_decay"] == want["weight_decay"][-1]


def sequence(client: Client, run: str, remote_first: bool) -> tuple[Optimizer, Any]:
    """``SequentialLR`` switching at step 10: a warmup then ``RemoteLR``, or ``RemoteLR`` then
    an exponential decay that compounds from the lr it is handed."""
    optimizer = make_optimizer(lr=0.1)
    remote = RemoteLR(optimizer, run, client=client)
    if remote_first:
        schedulers = [remote, sched.ExponentialLR(optimizer, gamma=0.9)]
    else:
        schedulers = [sched.LinearLR(optimizer, start_factor=0.1, total_iters=10), remote]
    return optimizer, sched.SequentialLR(optimizer, schedulers, milestones=[10])


@pytest.mark.parametrize("remote_first", [False, True], ids=["warmup-remote", "remote-decay"])
@pytest.mark.parametrize("saved_at", [5, 15], ids=["before-milestone", "after-milestone"])
def test_sequential_lr_resumed_before_or_after_its_milestone_goes_on_as_if_uninterrupted(
    client: Client, name: str, remote_first: bool, saved_at: int
) -> None:
    document = {
        "curves": {
            "lr": {"type": "linear", "start": 0.05, "end": 0.0, "steps": 40},
            "momentum": {"type": "linear", "start": 0.9, "end": 0.8, "steps": 40},
        }
    }
    run = bind(client, name, document, block=8)
    optimizer, scheduler = sequence(client, run, remote_first)
    uninterrupted = trace(optimizer, scheduler, 30)

    optimizer, scheduler = sequence(client, run, remote_first)
    trace(optimizer, scheduler, saved_at + 1)
    buffer = checkpoint(optimizer, scheduler)
    optimizer, scheduler = sequence(client, run, remote_first)
    resume(optimizer, scheduler, buffer)
    resumed = trace(optimizer, scheduler, 30 - saved_at)
    assert resumed["lr"] == uninterrupted["lr"][saved_at:]
    assert resumed["momentum"] == uninterrupted["momentum"][saved_at:]
    # The uninterrupted run has the server's values where RemoteLR leads.
    served = uninterrupted["lr"][:10] if remote_first else uninterrupted["lr"][10:]
    assert served == expected(client, run, range(len(served)))["lr"]


def test_per_step_mode_asks_the_server_at_every_step(
    server: Server, client: Client, name: str
) -> None:
    run = bind(client, name, COSINE, block=16)
    opt = make_optimizer()
    got = trace(opt, RemoteLR(opt, run, client=client, mode="per_step"), 20)
    assert got["lr"] == expected(client, run, range(20))["lr"]
    assert len(server.requests(rf"^GET /v1/runs/{run}/lr\?step=")) == 20
    assert server.requests(rf"^GET /v1/runs/{run}/lease") == []


def test_an_edit_reaches_the_trainer_at_its_effective_step(client: Client, name: str) -> None:
    run = bind(client, name, COSINE, block=16)
    opt = make_optimizer()
    scheduler = RemoteLR(opt, run, client=client)
    lrs = [opt.param_groups[0]["lr"]]
    effective = None
    for t in range(1, 100):
        if t == 20:
            effective = client.edit_run(run, scale=0.5).effective_step
        opt.step()
        scheduler.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert effective is not None
    assert 20 < effective < 100
    want = expected(client, run, range(100))["lr"]
    assert lrs == want
    assert lrs[effective] == pytest.approx(lrs[effective - 1] * 0.5, rel=1e-2)


class Tiny(torch.nn.Module):
    """A model as HF's Trainer takes it: a dict batch in, a dict with the loss out."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": torch.nn.functional.mse_loss(self.linear(x).squeeze(-1), labels)}


def hf_trainer(tmp_path: Any, model: Tiny, scheduler: RemoteLR, callback: Any, **args: Any) -> Any:
    """A quiet, CPU-only HF Trainer over 24 samples in batches of 2 (12 steps an epoch),
    stepping ``scheduler``; ``args`` add to its TrainingArguments."""
    transformers = pytest.importorskip("transformers")
    data = [{"x": torch.randn(2), "labels": torch.randn(())} for _ in range(24)]
    arguments = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        num_train_epochs=1,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        logging_strategy="no",
        **args,
    )
    return transformers.Trainer(
        model=model,
        args=arguments,
        train_dataset=data,
        eval_dataset=data[:4],
        optimizers=(scheduler.optimizer, scheduler),
        callbacks=[callback],
    )


def test_remote_lr_drives_a_hugging_face_trainer(
    server: Server, client: Client, name: str, tmp_path: Any
) -> None:
    transformers = pytest.importorskip("transformers")
    run = bind(client, name, COSINE, block=4)
    model = Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    seen: list[float] = []

    class Record(transformers.TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            seen.append(opt.param_groups[0]["lr"])

    scheduler = RemoteLR(opt, run, url=server.url, token=ADMIN_TOKEN)
    hf_trainer(tmp_path, model, scheduler, Record()).train()
    assert seen == expected(client, run, range(12))["lr"]


def test_a_trainer_faster_than_the_round_trip_gets_longer_leases(
    server: Server, client: Client, name: str
) -> None:
    bind(client, name, COSINE, block=16)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = RemoteLR(optimizer, name, client=client)
    seen = []
    for _ in range(2000):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == expected(client, name, range(2000))["lr"]
    leases = server.requests(rf"^GET /v1/runs/{name}/lease")
    assert len(leases) < 2000 // 16
    assert max(int(lease.rsplit("blocks=", 1)[1]) for lease in leases) > 1


def test_a_hugging_face_trainer_reports_its_eval_loss_to_a_plateau_run(
    server: Server, client: Client, name: str, tmp_path: Any
) -> None:
    transformers = pytest.importorskip("transformers")
    client.publish(name, COSINE)
    # No eval loss after the first is better by 1e9: each reduces lr (patience 0).
    plateau = {"metric": "eval_loss", "patience": 0, "factor": 0.5}
    plateau |= {"threshold": 1e9, "threshold_mode": "abs"}
    client.bind_run(name, name, block=2, plateau=plateau)
    model = Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = RemoteLR(opt, name, url=server.url, token=ADMIN_TOKEN, mode="per_step")

    class ReportEval(transformers.TrainerCallback):  # type: ignore[misc]
        def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            scheduler.report(kwargs["metrics"]["eval_loss"])

    trainer = hf_trainer(
        tmp_path, model, scheduler, ReportEval(), eval_strategy="steps", eval_steps=4
    )
    trainer.train()
    reports = [(m.step, m.applied) for m in client.iter_metrics(name, name="eval_loss")]
    assert reports == [(3, True), (7, True), (11, True)]  # after optimizer steps 4, 8 and 12
    # The Trainer steps the scheduler before it evaluates: the block of the next step is
    # answered already, and each reduction lands at the block after it.
    reductions = [(s.from_step, s.reduction) for s in client.get_run(name).timeline]
    assert reductions == [(0, 1.0), (10, 0.5), (14, 0.25)]
