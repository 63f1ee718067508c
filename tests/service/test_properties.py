"""Any valid document, published and bound, is answered over HTTP (the lean hot path) with
exactly the floats ``lrcast.evaluate`` gives, bit for bit, at any step; and a step gets the
same floats whether asked alone, in a range or in a lease."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lrcast
from tests.language.strategies import documents
from tests.service.helpers import bind, publish

NAMES = itertools.count()


SERVED = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
"""Each example publishes and binds through the test's one client."""


def bits(value: float) -> int:
    """The float's bits: -0.0 and 0.0 differ, as they do on the wire."""
    return int(np.float64(value).view(np.int64))


def served(
    client: TestClient, writer: dict[str, str], document: dict[str, Any], multiplier: float
) -> str:
    """A new run of ``document`` (published under the run's name) with group ``head``."""
    name = f"p{next(NAMES)}"
    publish(client, writer, name, document)
    bind(client, writer, name, schedule=name, groups={"head": multiplier})
    return name


@settings(SERVED, max_examples=40)
@given(
    document=documents(),
    steps=st.lists(st.integers(0, 20_000), min_size=1, max_size=6),
    multiplier=st.floats(0.0, 2.0),
)
def test_any_document_is_answered_with_exactly_the_evaluators_floats(
    client: TestClient,
    writer: dict[str, str],
    document: dict[str, Any],
    steps: list[int],
    multiplier: float,
) -> None:
    name = served(client, writer, document, multiplier)
    expected = lrcast.evaluate(document, np.array(steps))
    for i, step in enumerate(steps):
        answer = client.get(f"/v1/runs/{name}/lr", params={"step": step}).json()
        for curve, values in expected.items():
            assert bits(answer["values"][curve]) == bits(values[i]), (curve, step)
        assert bits(answer["lr"]) == bits(expected["lr"][i])
        assert bits(answer["groups"]["head"]) == bits(expected["lr"][i] * multiplier)


@settings(SERVED, max_examples=25)
@given(document=documents(), step=st.integers(0, 20_000), multiplier=st.floats(0.0, 2.0))
def test_a_step_gets_the_same_floats_by_lease_by_range_and_alone(
    client: TestClient,
    writer: dict[str, str],
    document: dict[str, Any],
    step: int,
    multiplier: float,
) -> None:
    name = served(client, writer, document, multiplier)
    lease = client.get(f"/v1/runs/{name}/lease", params={"step": step, "blocks": 2}).json()
    ranged = client.get(f"/v1/runs/{name}/lr", params={"start": step, "stop": step + 1}).json()
    alone = client.get(f"/v1/runs/{name}/lr", params={"step": step}).json()
    at = step - lease["from_step"]
    for curve, value in alone["values"].items():
        assert bits(lease["values"][curve][at]) == bits(value), curve
        assert bits(ranged["values"][curve][0]) == bits(value), curve
    assert bits(lease["groups"]["head"][at]) == bits(alone["groups"]["head"])
    assert bits(ranged["groups"]["head"][0]) == bits(alone["groups"]["head"])
