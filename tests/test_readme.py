"""The five-minute tours of the README and docs/api.md, run as written against a real server:
the curl blocks in bash (each curl made to fail on an error answer), then the README's Python
block with real torch."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.helpers import Server, free_port

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CURL_TOURS = [
    (README, "### Serve, publish, ask (curl)"),
    (ROOT / "docs" / "api.md", "## A five-minute tour"),
]


def block(heading: str, language: str, document: Path = README) -> str:
    """The first ``language`` code block after ``heading`` in ``document``."""
    text = document.read_text()
    start = text.index(heading)
    found = re.compile(rf"```{language}\n(.*?)```", re.DOTALL).search(text, start)
    assert found is not None, f"no {language} block after {heading!r}"
    return found.group(1)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "data", free_port())
    running.data_dir.mkdir()
    running.start()
    yield running
    running.stop()


def tour_env(server: Server) -> dict[str, str]:
    return {**os.environ, "LRCAST_DATA_DIR": str(server.data_dir)}


def curl_tour(
    server: Server, tour: tuple[Path, str] = CURL_TOURS[0], *, then: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run a tour's curl block against ``server`` (each answer on a line of its own), then
    ``then``."""
    document, heading = tour
    script = block(heading, "sh", document)
    # This process's environment is already the project's, and the server runs on its own port.
    script = script.replace(". .venv/bin/activate", ":")
    script = re.sub(r"^lrcast-server serve &.*$", ":", script, flags=re.MULTILINE)
    script = script.replace("localhost:8000", f"127.0.0.1:{server.port}")
    script = re.sub(r"\bcurl ", "curl -sS --fail-with-body -w '\\n' ", script)
    script = script.replace("lrcast-server token", f"{sys.executable} -m lrcast_server.cli token")
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script + then],
        env=tour_env(server),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("tour", CURL_TOURS, ids=["README", "api.md"])
def test_the_curl_tour_runs_as_written(server: Server, tour: tuple[Path, str]) -> None:
    done = curl_tour(server, tour)
    assert done.returncode == 0, done.stdout + done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    # What the README's comments promise.
    step = next(a for a in answers if a.get("step") == 3000)
    assert str(step["lr"]).startswith("0.79972")
    assert str(step["groups"]["backbone"]).startswith("0.079972")
    published = next(a for a in answers if a.get("version") == 2 and "runs" in a)
    assert published["runs"] == [{"run": "resnet50-seed1", "effective_step": 3072}]


def test_the_python_tour_trains_against_the_served_run(server: Server) -> None:
    made = curl_tour(server, then='\necho "$TOKEN"\n')
    assert made.returncode == 0, made.stdout + made.stderr
    token = made.stdout.split()[-1]
    code = block("### Train (Python)", "python")
    code += "\nprint(*(group['lr'] for group in optimizer.param_groups))\n"
    env = {**tour_env(server), "LRCAST_URL": server.url, "LRCAST_TOKEN": token}
    done = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    backbone, head = map(float, done.stdout.split()[-2:])
    # After 3000 steps the optimizer holds what the server answers for step 3000, after the
    # tour's edits: "backbone" is the run's group, "head" is not and gets the run's lr.
    served = subprocess.run(
        ["curl", "-sS", "--fail-with-body", f"{server.url}/v1/runs/resnet50-seed1/lr?step=3000"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    answer = json.loads(served.stdout)
    assert (backbone, head) == (answer["groups"]["backbone"], answer["lr"])
