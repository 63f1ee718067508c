"""Outages: the real server is stopped mid-training and started again on the same port and
data directory."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Iterator

import pytest
import torch

from lrcast._client import Client
from lrcast._config import Retry, Timeout
from lrcast._errors import LrcastError
from lrcast._lease import OutageWarning
from lrcast.torch import RemoteLR
from tests.client.conftest import ADMIN_TOKEN, Server
from tests.client.helpers import COSINE, expected

QUICK = Retry(retries=1, backoff=0.02)


@pytest.fixture
def client(own_server: Server) -> Iterator[Client]:
    """A client of the test's own server that gives up quickly, with run ``r`` bound."""
    with Client(
        url=own_server.url, token=ADMIN_TOKEN, retry=QUICK, timeout=Timeout(connect=1.0)
    ) as client:
        client.publish("s", COSINE)
        yield client


def setup(client: Client, block: int = 16) -> Client:
    client.bind_run("r", "s", block=block)
    return client


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for what the shim does in the background (a busy machine may take a while)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not done in time"
        time.sleep(0.02)


def train(opt: torch.optim.Optimizer, scheduler: RemoteLR, steps: range) -> list[float]:
    lrs = []
    for _ in steps:
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
        time.sleep(0.003)
    return lrs


def test_training_goes_on_through_an_outage_and_returns_to_the_servers_values(
    own_server: Server, client: Client
) -> None:
    setup(client)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0, momentum=0.9)
    scheduler = RemoteLR(opt, "r", client=client)
    lrs = train(opt, scheduler, range(40))
    own_server.stop()
    with pytest.warns(OutageWarning, match="extrapolate") as warned:
        lrs += train(opt, scheduler, range(40, 120))
    assert len([w for w in warned if w.category is OutageWarning]) == 1
    assert scheduler.source == "extrapolated"
    own_server.start()
    lrs += train(opt, scheduler, range(120, 200))
    assert scheduler.source == "server"
    assert own_server.requests(r"^GET /v1/runs/r/lease\?step=(1[6-9]\d)&")
    assert lrs == expected(client, "r", range(200))["lr"]
    assert client.get_run("r").horizon >= 199


def test_hold_keeps_the_last_values_until_the_server_answers(
    own_server: Server, client: Client
) -> None:
    setup(client)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = RemoteLR(opt, "r", client=client, on_outage="hold")
    lrs = train(opt, scheduler, range(32))
    want = expected(client, "r", range(48))["lr"]  # steps 32-47 were prefetched at step 24
    own_server.stop()
    with pytest.warns(OutageWarning, match="hold"):
        lrs += train(opt, scheduler, range(32, 80))
    assert lrs[:48] == want
    assert lrs[48:] == [want[47]] * 32
    own_server.start()
    lrs += train(opt, scheduler, range(80, 120))
    assert lrs[112:] == expected(client, "r", range(112, 120))["lr"]


def test_raise_stops_training_past_the_lease(own_server: Server, client: Client) -> None:
    setup(client)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = RemoteLR(opt, "r", client=client, on_outage="raise")
    train(opt, scheduler, range(10))
    own_server.stop()
    train(opt, scheduler, range(10, 15))  # still inside the leased block
    with pytest.raises(LrcastError, match="failed"):
        train(opt, scheduler, range(15, 40))


def test_wait_blocks_until_the_server_is_back(own_server: Server, client: Client) -> None:
    setup(client, block=8)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = RemoteLR(opt, "r", client=client, on_outage="wait")
    lrs = train(opt, scheduler, range(6))
    own_server.stop()
    restart = threading.Timer(1.0, own_server.start)
    restart.start()
    try:
        with pytest.warns(OutageWarning, match="waits"):
            lrs += train(opt, scheduler, range(6, 30))
    finally:
        restart.join()
    assert lrs == expected(client, "r", range(30))["lr"]


def test_a_run_that_was_never_reached_is_a_clear_error() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with (
        Client(url="http://127.0.0.1:9", retry=Retry(retries=0)) as client,
        pytest.raises(LrcastError, match="nothing to extrapolate from"),
    ):
        RemoteLR(opt, "r", client=client)


def test_extrapolation_takes_in_an_edit_scheduled_before_the_outage(
    own_server: Server, client: Client
) -> None:
    setup(client)
    effective = client.edit_run("r", scale=2.0, at_step=100).effective_step
    assert effective == 112
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = RemoteLR(opt, "r", client=client)
    lrs = train(opt, scheduler, range(40))
    # The documents of the timeline's versions are fetched in the background.
    wait_until(lambda: ("s", 1) in scheduler._engine._known.documents)
    own_server.stop()
    with pytest.warns(OutageWarning, match="extrapolate"):
        lrs += train(opt, scheduler, range(40, 140))
    assert scheduler.source == "extrapolated"
    own_server.start()
    # The server answers the steps past the edit as the trainer computed them.
    assert lrs == expected(client, "r", range(140))["lr"]
    assert lrs[112] == pytest.approx(2 * expected(client, "r", [111])["lr"][0], rel=1e-3)


def test_extrapolation_uses_an_edit_named_by_a_prefetched_lease(
    own_server: Server, client: Client
) -> None:
    client.publish("t", {"curves": {"lr": {"type": "constant", "value": 0.02}}})
    setup(client)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = RemoteLR(opt, "r", client=client)  # block 0's lease: no edit in sight yet
    client.edit_run("r", schedule="t", version=1, at_step=64)
    # Step 8 prefetches block 1, whose lease names the edit; the outage starts before step 16,
    # where the trainer would have used that lease.
    lrs = train(opt, scheduler, range(10))
    wait_until(lambda: ("t", 1) in scheduler._engine._known.documents)
    own_server.stop()
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        lrs += train(opt, scheduler, range(10, 100))
    said = [str(w.message) for w in warned if w.category is OutageWarning]
    assert len(said) == 1
    assert "extrapolate" in said[0]
    own_server.start()
    assert lrs == expected(client, "r", range(100))["lr"]
    assert lrs[64:] == [0.02] * 36


def test_reports_lost_to_each_outage_are_warned_about_once_per_outage(
    own_server: Server, client: Client
) -> None:
    setup(client)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = RemoteLR(opt, "r", client=client)
    said: list[str] = []
    for outage in range(2):
        train(opt, scheduler, range(2))
        own_server.stop()
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            for _ in range(3):
                scheduler.report(0.5)
        said += [str(w.message) for w in warned if "could not report" in str(w.message)]
        own_server.start()
        scheduler.report(0.25)  # the server answers again
        assert len(said) == outage + 1
    assert all("could not report the plateau metric" in message for message in said)


def test_extrapolation_applies_a_reduction_the_trainers_own_report_made(
    own_server: Server, client: Client
) -> None:
    client.publish("flat", {"curves": {"lr": {"type": "constant", "value": 0.1}}})
    plateau = {"metric": "val_loss", "patience": 0, "factor": 0.5}
    client.bind_run("r", "flat", block=16, plateau=plateau)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = RemoteLR(opt, "r", client=client)
    lrs = []
    for step in range(12):  # step 8 prefetches steps 16-31; the second report reduces lr
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step({9: 1.0, 10: 2.0}.get(step))
    wait_until(lambda: any(s.reduction != 1.0 for s in scheduler._engine._known.timeline))
    own_server.stop()
    with pytest.warns(OutageWarning, match="extrapolate"):
        lrs += train(opt, scheduler, range(12, 64))
    own_server.start()
    assert lrs == expected(client, "r", range(64))["lr"]
    assert lrs[-1] == 0.05
