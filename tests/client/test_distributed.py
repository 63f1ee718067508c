"""Two real processes under ``torch.distributed`` (gloo on CPU): rank 0 fetches and broadcasts
every block, rank 1 makes no request, and both see the same values, edit included."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from lrcast._client import Client
from lrcast.torch import RemoteLR
from tests.client.conftest import ADMIN_TOKEN, Server, free_port
from tests.client.helpers import COSINE, expected

STEPS = 96
BLOCK = 16
EDIT_AT = 20


def _rank(rank: int, url: str, port: int, out: str) -> None:
    os.environ["LRCAST_URL"] = url
    os.environ["LRCAST_TOKEN"] = ADMIN_TOKEN
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0, momentum=0.9)
        scheduler = RemoteLR(opt, "dist")
        lrs = []
        for t in range(STEPS):
            if t == EDIT_AT and rank == 0:
                with Client() as client:
                    client.edit_run("dist", scale=0.5)
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            scheduler.step()
        Path(out, f"rank{rank}.json").write_text(json.dumps(lrs))
        scheduler.close()
    finally:
        dist.destroy_process_group()


def test_ranks_see_the_same_values_and_the_server_one_lease_per_block(
    own_server: Server, tmp_path: Path
) -> None:
    with Client(url=own_server.url, token=ADMIN_TOKEN) as client:
        client.publish("s", COSINE)
        client.bind_run("dist", "s", block=BLOCK)
        mp.spawn(_rank, args=(own_server.url, free_port(), str(tmp_path)), nprocs=2, join=True)
        ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
        assert ranks[0] == ranks[1]
        assert ranks[0] == expected(client, "dist", range(STEPS))["lr"]
        edit = [s.from_step for s in client.get_run("dist").timeline]
    assert len(edit) == 2
    assert ranks[0][edit[1]] != ranks[0][edit[1] - 1]
    leases = own_server.requests(r"^GET /v1/runs/dist/lease")
    # One request per block at most for the whole job (a fast loop leases several at once).
    assert 1 <= len(leases) == len(set(leases)) <= -(-(STEPS + 1) // BLOCK)
    assert len(own_server.requests(r"^GET /v1/runs/dist/lr")) == 0
