"""Train a small PyTorch model on CPU with its learning rate served by lrcast.

Start the server first (README): ``lrcast-server serve`` with ``LRCAST_ADMIN_TOKEN`` set, then

    LRCAST_TOKEN=$LRCAST_ADMIN_TOKEN python examples/train_torch.py

Edit the run while it trains (``lrcast apply`` or ``PATCH /v1/runs/example-torch``) and watch the
lr follow from the next block.
"""

from __future__ import annotations

import torch

import lrcast
from lrcast.torch import RemoteLR

SCHEDULE = {
    "description": "warmup then cosine, with a momentum cycle",
    "curves": {
        "lr": {
            "type": "warmup",
            "steps": 50,
            "then": {"type": "cosine", "start": 0.05, "end": 0.001, "steps": 450},
        },
        "momentum": {"type": "constant", "value": 0.9},
    },
}


def main() -> None:
    with lrcast.Client() as client:  # LRCAST_URL / LRCAST_TOKEN
        client.publish("example-torch", SCHEDULE)
        client.bind_run("example-torch", "example-torch", block=64)

        torch.manual_seed(0)
        x = torch.randn(512, 8)
        y = x @ torch.randn(8, 1) + 0.1 * torch.randn(512, 1)
        model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)
        scheduler = RemoteLR(optimizer, "example-torch", client=client)

        for step in range(500):
            batch = torch.randint(0, 512, (32,))
            loss = torch.nn.functional.mse_loss(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            if step % 100 == 0:
                print(
                    f"step {step:4d}  lr {scheduler.get_last_lr()[0]:.6f}  loss {loss.item():.4f}"
                )
        print(f"done: {scheduler.last_epoch} steps, final loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
