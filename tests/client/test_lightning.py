"""``RemoteLR`` in a real PyTorch Lightning ``Trainer``: values at every step, a resume from a
checkpoint, and two ranks of ``ddp_spawn``."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning
import pytest
import torch

from lrcast._client import Client
from lrcast._lease import Mode
from lrcast.torch import RemoteLR
from tests.client.conftest import ADMIN_TOKEN, Server
from tests.client.helpers import COSINE, expected


@pytest.fixture(autouse=True)
def _lightning_quiet() -> Iterator[None]:
    # Lightning warns about its own choices (few data loader workers, no logger, ...); the
    # suite makes warnings errors, which would fail on those, not on anything of lrcast's.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"lightning\.")
        warnings.filterwarnings("ignore", message=r".*(LeafSpec|weights_only|litlogger|litmodels)")
        yield


class Module(lightning.LightningModule):
    """A linear model whose ``configure_optimizers`` hands Lightning a ``RemoteLR``, stepped
    every batch; it notes the lr each optimizer step used."""

    def __init__(self, run: str, url: str, mode: Mode = "lease") -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)
        self.run, self.url, self.mode = run, url, mode
        self.seen: list[tuple[int, float]] = []

    def training_step(self, batch: Any, _index: int) -> torch.Tensor:
        lr = self.trainer.optimizers[0].param_groups[0]["lr"]
        self.seen.append((self.global_step, float(lr)))
        x, y = batch
        return torch.nn.functional.mse_loss(self.linear(x), y)

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.0, momentum=0.9)
        scheduler = RemoteLR(optimizer, self.run, url=self.url, token=ADMIN_TOKEN, mode=self.mode)
        schedule = {"scheduler": scheduler, "interval": "step"}
        return {"optimizer": optimizer, "lr_scheduler": schedule}


def data() -> torch.utils.data.DataLoader[Any]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(24, 2, generator=generator)
    dataset = torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True))
    return torch.utils.data.DataLoader(dataset, batch_size=4)


def trainer(root: Path, epochs: int, **kwargs: Any) -> Any:
    return lightning.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(root),
        **kwargs,
    )


def test_a_lightning_trainer_uses_the_runs_values_at_every_step_and_resumes_where_it_was(
    server: Server, client: Client, name: str, tmp_path: Path
) -> None:
    client.publish(name, COSINE)
    client.bind_run(name, name, block=4)
    module = Module(name, server.url)
    first = trainer(tmp_path, epochs=2, devices=1)
    first.fit(module, data())
    checkpoint = tmp_path / "two-epochs.ckpt"
    first.save_checkpoint(checkpoint)
    assert [s for s, _ in module.seen] == list(range(12))
    assert [lr for _, lr in module.seen] == expected(client, name, range(12))["lr"]

    resumed = Module(name, server.url)
    trainer(tmp_path, epochs=4, devices=1).fit(resumed, data(), ckpt_path=checkpoint)
    assert [s for s, _ in resumed.seen] == list(range(12, 24))
    assert [lr for _, lr in resumed.seen] == expected(client, name, range(12, 24))["lr"]


class Spawned(Module):
    """Writes what each rank saw to ``{out}.{rank}``: ``ddp_spawn`` trains in other processes."""

    def __init__(self, run: str, url: str, out: Path) -> None:
        super().__init__(run, url)
        self.out = out

    def on_train_end(self) -> None:
        Path(f"{self.out}.{self.global_rank}").write_text(json.dumps(self.seen))


@pytest.mark.slow
def test_two_ddp_ranks_under_lightning_get_the_same_values(
    server: Server, client: Client, name: str, tmp_path: Path
) -> None:
    client.publish(name, COSINE)
    client.bind_run(name, name, block=4)
    module = Spawned(name, server.url, tmp_path / "seen")
    trainer(tmp_path, epochs=1, devices=2, strategy="ddp_spawn").fit(module, data())
    ranks = [json.loads((tmp_path / f"seen.{rank}").read_text()) for rank in (0, 1)]
    # Each rank trains on its half of the batches: 3 steps of 4 samples.
    want = [[s, lr] for s, lr in zip(range(3), expected(client, name, range(3))["lr"], strict=True)]
    assert ranks == [want, want]


class Plateaued(Module):
    """Validates every epoch on a loss that never improves, and reports it to the run."""

    def validation_step(self, batch: Any, _index: int) -> None:
        self.log("val_loss", 1.0)

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self.lr_schedulers().report(self.trainer.callback_metrics["val_loss"])


def test_a_lightning_trainer_reports_its_validation_loss_to_a_plateau_run(
    server: Server, client: Client, name: str, tmp_path: Path
) -> None:
    client.publish(name, COSINE)
    plateau = {"metric": "val_loss", "patience": 0, "factor": 0.5}
    client.bind_run(name, name, block=2, plateau=plateau)
    # One request a step: leases would run ahead of this fast a trainer, and a reduction
    # lands past what has been answered.
    module = Plateaued(name, server.url, mode="per_step")
    trainer(tmp_path, epochs=3, devices=1).fit(module, data(), data())
    # The epochs end at steps 5, 11 and 17: the second report is no better than the best, and
    # patience 0 reduces lr; so does the third. Lightning steps the scheduler before it
    # validates, so the block after the reported step's is answered already: each reduction
    # lands at the block after that.
    reports = [(m.step, m.value, m.applied) for m in client.iter_metrics(name, name="val_loss")]
    assert reports == [(5, 1.0, True), (11, 1.0, True), (17, 1.0, True)]
    timeline = client.get_run(name).timeline
    assert [(s.from_step, s.reduction) for s in timeline] == [(0, 1.0), (14, 0.5), (20, 0.25)]
    assert [lr for _, lr in module.seen] == expected(client, name, range(18))["lr"]
    lrs = dict(module.seen)
    assert lrs[14] / lrs[13] == pytest.approx(0.5, rel=1e-3)
