"""Fixtures for the reliability suite: real server processes (SQLite, and PostgreSQL when the
suite's cluster is available) that the tests kill, pause and feed bad input."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.reliability.cluster import Cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """Start clusters (``cluster(replicas=2, workers=1, **env)``); all stopped at the end."""
    started: list[Cluster] = []

    def start(replicas: int = 1, workers: int = 1, **env: str) -> Cluster:
        running = Cluster(tmp_path / f"data-{len(started)}", replicas, workers, env)
        started.append(running)
        return running.start()

    yield start
    for running in started:
        running.stop()
