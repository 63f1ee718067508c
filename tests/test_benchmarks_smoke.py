"""The benchmark scripts import and their cheapest pieces run (no timing is asserted: CI must
not time things). The full suite runs with ``python benchmarks/run_all.py``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
MODULES = ["_harness", "anchors", "cold_start", "evaluate", "hot_path", "leases", "many_runs"]


@pytest.fixture(autouse=True)
def _on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))


@pytest.mark.parametrize("name", [*MODULES, "shim_step", "run_all"])
def test_benchmark_module_imports(name: str) -> None:
    if name in ("shim_step", "run_all"):
        pytest.importorskip("torch")
    module = importlib.import_module(name)
    assert module.__doc__


def test_evaluate_runs_its_smallest_configuration() -> None:
    pytest.importorskip("torch")
    evaluate = importlib.import_module("evaluate")
    ours, theirs = evaluate.run(1_000, 1, 1)
    assert ours > 0
    assert theirs > 0


def test_harness_reads_wrk_durations_and_describes_the_machine() -> None:
    harness = importlib.import_module("_harness")
    assert harness._ms("250.00us") == pytest.approx(0.25)
    assert harness._ms("1.50ms") == pytest.approx(1.5)
    assert harness._ms("2.00s") == pytest.approx(2000)
    info = harness.machine()
    assert info["Python"] == ".".join(map(str, sys.version_info[:3]))


def test_anchor_apps_answer_the_hot_path_route() -> None:
    from fastapi.testclient import TestClient

    anchors = importlib.import_module("anchors")
    with TestClient(anchors.fastapi_app) as client:
        answer = client.get("/v1/runs/bench/lr", params={"step": 3}).json()
    assert answer["step"] == 3
    assert answer["run"] == "bench"
