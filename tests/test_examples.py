"""The README's runnable examples, run as written against a real server with a write token:
each trains to its end, and its run ends where the schedule says."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.helpers import Server, free_port

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "examples-admin-token-0123456789"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("examples")
    running = Server(data, free_port(), env={"LRCAST_ADMIN_TOKEN": ADMIN})
    running.start()
    yield running
    running.stop()


@pytest.mark.parametrize(
    ("example", "run", "last_step", "said"),
    [
        ("train_torch.py", "example-torch", 500, "done: 500 steps"),
        ("train_keras.py", "example-keras", 79, "final loss"),
    ],
)
def test_an_example_trains_against_the_server(
    server: Server, example: str, run: str, last_step: int, said: str
) -> None:
    env = {
        **os.environ,
        "LRCAST_URL": server.url,
        "LRCAST_TOKEN": ADMIN,
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / example)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert said in done.stdout
    answered = httpx.get(f"{server.url}/v1/runs/{run}").json()
    assert answered["horizon"] >= last_step
