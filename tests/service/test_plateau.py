"""Reduce-on-plateau: torch's ``ReduceLROnPlateau`` rule, step for step, through the API."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

import lrcast
from lrcast._schemas import Plateau
from lrcast_server.plateau import State, observe
from tests.service.helpers import CONSTANT, assert_problem, bind, publish

RTOL = 1e-12


def torch_plateau(optimizer_lr: float, **options: Any) -> tuple[Any, Any]:
    """A one-parameter SGD optimizer and torch's ReduceLROnPlateau on it (the tests that need
    torch skip without it; the rest of this file runs on the server alone)."""
    torch = pytest.importorskip("torch")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=optimizer_lr)
    return optimizer, torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **options)


def torch_lrs(settings: dict[str, Any], values: Sequence[float], base: float) -> list[float]:
    """The lr torch uses at each step when ``values[s]`` is reported after step ``s``."""
    options = {k: v for k, v in settings.items() if k != "metric"}
    optimizer, scheduler = torch_plateau(base, **options)
    lrs = []
    for value in values:
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        scheduler.step(value)
    lrs.append(float(optimizer.param_groups[0]["lr"]))
    return lrs


def lrcast_lrs(
    client: TestClient,
    headers: dict[str, str],
    run: str,
    settings: dict[str, Any],
    values: Sequence[float],
    base: float,
) -> list[float]:
    """The same through lrcast, per step: ask the lr of step s, then report step s's metric."""
    publish(client, headers, run, {"curves": {"lr": {"type": "constant", "value": base}}})
    bind(client, headers, run, schedule=run, block=1, plateau=settings)
    lrs = []
    for step, value in enumerate(values):
        lrs.append(client.get(f"/v1/runs/{run}/lr", params={"step": step}).json()["lr"])
        report = {"step": step, "name": settings["metric"], "value": value}
        response = client.post(f"/v1/runs/{run}/metrics", json=report, headers=headers)
        assert response.status_code == 201, response.text
    lrs.append(client.get(f"/v1/runs/{run}/lr", params={"step": len(values)}).json()["lr"])
    return lrs


def _noisy(seed: int, n: int, *, rising: bool = False) -> list[float]:
    rng = np.random.default_rng(seed)
    curve = 1.0 / np.sqrt(1.0 + np.arange(n) / 4.0) + rng.normal(0, 0.03, n)
    values = (1.0 - curve) if rising else curve
    return [float(v) for v in values]


CASES: list[tuple[str, dict[str, Any], list[float], float]] = [
    (
        "reference-patience2-cooldown1",
        {"patience": 2, "cooldown": 1, "factor": 0.5},
        [1.0] * 7 + [0.5] * 4,
        1.0,
    ),
    ("defaults-long-plateau", {}, [1.0] * 40, 0.1),
    ("min-rel-patience0", {"patience": 0, "factor": 0.5}, _noisy(1, 40), 1.0),
    (
        "min-abs-patience2",
        {"patience": 2, "threshold": 0.01, "threshold_mode": "abs"},
        _noisy(2, 60),
        0.3,
    ),
    (
        "max-rel-patience5-cooldown2",
        {"mode": "max", "patience": 5, "cooldown": 2, "factor": 0.3},
        _noisy(3, 80, rising=True),
        0.05,
    ),
    (
        "max-abs-cooldown2",
        {
            "mode": "max",
            "patience": 2,
            "cooldown": 2,
            "threshold": 0.02,
            "threshold_mode": "abs",
            "factor": 0.7,
        },
        _noisy(4, 60, rising=True),
        2.0,
    ),
    (
        "min-lr-floor",
        {"patience": 0, "factor": 0.5, "min_lr": 0.2},
        [float(v) for v in range(20, 0, -1)][::-1],
        1.0,
    ),
    ("eps-skips-small-reductions", {"patience": 1, "factor": 0.5, "eps": 0.05}, [1.0] * 30, 1.0),
    ("threshold-rel-large", {"patience": 2, "threshold": 0.2, "cooldown": 2}, _noisy(5, 60), 0.5),
]


@pytest.mark.parametrize(
    ("options", "values", "base"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_lrcast_reproduces_torch_reduce_lr_on_plateau_step_for_step(
    client: TestClient,
    writer: dict[str, str],
    options: dict[str, Any],
    values: list[float],
    base: float,
) -> None:
    settings = {"metric": "loss", **options}
    expected = torch_lrs(settings, values, base)
    got = lrcast_lrs(client, writer, "plateau-run", settings, values, base)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0)
    assert len(set(expected)) > 1 or settings.get("eps", 0) >= base, "the case never reduces"


def test_the_reference_case_halves_lr_from_the_fourth_call(
    client: TestClient, writer: dict[str, str]
) -> None:
    settings = {"metric": "loss", "patience": 2, "cooldown": 1, "factor": 0.5}
    lrs = lrcast_lrs(client, writer, "reference", settings, [1.0] * 7 + [0.5] * 4, 1.0)
    assert lrs[:5] == [1.0, 1.0, 1.0, 1.0, 0.5]


@pytest.mark.parametrize("seed", range(40))
def test_the_rule_decides_as_torch_on_random_settings(seed: int) -> None:
    rng = np.random.default_rng(seed)
    settings: dict[str, Any] = {
        "metric": "m",
        "mode": str(rng.choice(["min", "max"])),
        "factor": float(rng.uniform(0.05, 0.95)),
        "patience": int(rng.integers(0, 6)),
        "threshold": float(rng.choice([0.0, 1e-4, 0.01, 0.1])),
        "threshold_mode": str(rng.choice(["rel", "abs"])),
        "cooldown": int(rng.integers(0, 4)),
    }
    values = [float(v) for v in rng.choice([0.5, 1.0, 1.5], size=60) + rng.normal(0, 0.01, 60)]
    options = {k: v for k, v in settings.items() if k != "metric"}
    optimizer, scheduler = torch_plateau(1.0, **options, eps=0.0)
    plateau = Plateau.model_validate(settings)
    state = State()
    for value in values:
        before = optimizer.param_groups[0]["lr"]
        scheduler.step(value)
        state, reduce = observe(plateau, state, value)
        assert reduce == (optimizer.param_groups[0]["lr"] < before)
        assert state.num_bad_epochs == scheduler.num_bad_epochs
        assert state.cooldown_counter == scheduler.cooldown_counter
        if state.best is None:
            assert math.isinf(scheduler.best)
        else:
            assert state.best == scheduler.best


# -- reports ----------------------------------------------------------------------------------


def _run(client: TestClient, headers: dict[str, str], *, block: int = 1, **plateau: Any) -> str:
    publish(client, headers, "const", CONSTANT)
    bind(client, headers, "r", schedule="const", block=block, plateau={"metric": "loss", **plateau})
    return "r"


def test_a_report_is_idempotent_and_cannot_change(
    client: TestClient, writer: dict[str, str]
) -> None:
    run = _run(client, writer)
    body = {"step": 3, "name": "loss", "value": 0.25}
    first = client.post(f"/v1/runs/{run}/metrics", json=body, headers=writer)
    assert first.status_code == 201
    assert first.json()["applied"] is True
    again = client.post(f"/v1/runs/{run}/metrics", json=body, headers=writer)
    assert again.status_code == 200
    assert again.json()["value"] == 0.25
    other = client.post(f"/v1/runs/{run}/metrics", json={**body, "value": 0.5}, headers=writer)
    assert_problem(other, 409)
    listed = client.get(f"/v1/runs/{run}/metrics").json()["items"]
    assert [(m["step"], m["name"], m["value"]) for m in listed] == [(3, "loss", 0.25)]


def test_a_report_honours_if_match_on_the_runs_etag(
    client: TestClient, writer: dict[str, str]
) -> None:
    run = _run(client, writer)
    etag = client.get(f"/v1/runs/{run}").headers["etag"]
    body = {"step": 3, "name": "loss", "value": 0.25}
    stale = client.post(
        f"/v1/runs/{run}/metrics", json=body, headers={**writer, "If-Match": '"stale"'}
    )
    assert_problem(stale, 412)
    assert client.get(f"/v1/runs/{run}/metrics").json()["items"] == []  # nothing stored
    fresh = client.post(f"/v1/runs/{run}/metrics", json=body, headers={**writer, "If-Match": etag})
    assert fresh.status_code == 201


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"step": 1, "name": "loss", "value": "nan"}, "value"),
        ({"step": 1, "name": "loss", "value": "Infinity"}, "value"),
        ({"step": -1, "name": "loss", "value": 1.0}, "step"),
        ({"step": 1, "name": "bad name", "value": 1.0}, "name"),
    ],
)
def test_reports_must_be_finite_and_well_named(
    client: TestClient, writer: dict[str, str], body: dict[str, Any], path: str
) -> None:
    run = _run(client, writer)
    response = client.post(f"/v1/runs/{run}/metrics", json=body, headers=writer)
    assert_problem(response, 422, path)


def test_metrics_are_listed_a_page_at_a_time_and_a_foreign_cursor_is_422(
    client: TestClient, writer: dict[str, str]
) -> None:
    run = _run(client, writer)
    for step in (1, 2, 3):
        body = {"step": step, "name": "loss", "value": 1.0}
        client.post(f"/v1/runs/{run}/metrics", json=body, headers=writer)
    first = client.get(f"/v1/runs/{run}/metrics", params={"limit": 2}).json()
    rest = client.get(f"/v1/runs/{run}/metrics", params={"cursor": first["next_cursor"]}).json()
    assert [m["step"] for m in first["items"] + rest["items"]] == [1, 2, 3]
    assert rest["next_cursor"] is None
    for cursor in ["x", "1", "1:", "\u00b2:loss", "-1:loss", f"{2**63}:loss", f"{2**53}:loss"]:
        response = client.get(f"/v1/runs/{run}/metrics", params={"cursor": cursor})
        assert_problem(response, 422, "cursor")


def test_reports_need_the_write_role(
    client: TestClient, writer: dict[str, str], reader: dict[str, str]
) -> None:
    run = _run(client, writer)
    body = {"step": 1, "name": "loss", "value": 1.0}
    assert_problem(client.post(f"/v1/runs/{run}/metrics", json=body), 401)
    assert_problem(client.post(f"/v1/runs/{run}/metrics", json=body, headers=reader), 403)
    missing = client.post("/v1/runs/nope/metrics", json=body, headers=writer)
    assert_problem(missing, 404)


def test_a_late_report_is_stored_but_not_applied(
    client: TestClient, writer: dict[str, str]
) -> None:
    run = _run(client, writer, patience=0)
    post = lambda step, value: client.post(  # noqa: E731
        f"/v1/runs/{run}/metrics",
        json={"step": step, "name": "loss", "value": value},
        headers=writer,
    ).json()
    assert post(5, 1.0)["applied"] is True
    late = post(4, 0.1)
    assert late["applied"] is False
    assert late["plateau"] is None
    other = post(6, 2.0)
    assert other["plateau"]["best"] == 1.0
    assert other["plateau"]["reduced"] is True


def test_other_metrics_are_stored_without_driving_the_rule(
    client: TestClient, writer: dict[str, str]
) -> None:
    run = _run(client, writer, patience=0)
    body = {"step": 1, "name": "accuracy", "value": 0.5}
    result = client.post(f"/v1/runs/{run}/metrics", json=body, headers=writer).json()
    assert result["applied"] is False
    assert client.get(f"/v1/runs/{run}/metrics", params={"name": "accuracy"}).json()["items"]


def test_a_report_without_a_name_is_the_runs_plateau_metric_else_loss(
    client: TestClient, writer: dict[str, str]
) -> None:
    run = _run(client, writer, metric="val_loss")
    unnamed = {"step": 1, "value": 0.5}
    result = client.post(f"/v1/runs/{run}/metrics", json=unnamed, headers=writer).json()
    assert (result["name"], result["applied"]) == ("val_loss", True)
    again = client.post(f"/v1/runs/{run}/metrics", json=unnamed, headers=writer)
    assert again.status_code == 200  # the same report: idempotent under the resolved name
    bind(client, writer, "plain", schedule="const")
    plain = client.post("/v1/runs/plain/metrics", json=unnamed, headers=writer).json()
    assert (plain["name"], plain["applied"]) == ("loss", False)


def test_a_reduction_takes_effect_at_the_first_block_boundary_past_step_and_horizon(
    client: TestClient, writer: dict[str, str]
) -> None:
    run = _run(client, writer, block=100, patience=0, factor=0.5)
    assert client.get(f"/v1/runs/{run}/lr", params={"step": 150}).json()["lr"] == 0.5
    post = lambda step, value: client.post(  # noqa: E731
        f"/v1/runs/{run}/metrics",
        json={"step": step, "name": "loss", "value": value},
        headers=writer,
    ).json()
    post(10, 1.0)
    reduced = post(20, 2.0)["plateau"]
    assert reduced["reduced"] is True
    assert reduced["effective_step"] == 200  # past the horizon 199
    assert reduced["reduction"] == 0.5
    assert client.get(f"/v1/runs/{run}/lr", params={"step": 199}).json()["lr"] == 0.5
    assert client.get(f"/v1/runs/{run}/lr", params={"step": 200}).json()["lr"] == 0.25
    later = post(350, 3.0)["plateau"]
    assert later["effective_step"] == 400  # past the step itself
    timeline = client.get(f"/v1/runs/{run}").json()["timeline"]
    assert [(s["from_step"], s["reduction"]) for s in timeline] == [
        (0, 1.0),
        (200, 0.5),
        (400, 0.25),
    ]


def test_a_patch_keeps_reductions_and_new_settings_restart_the_rule(
    client: TestClient, writer: dict[str, str]
) -> None:
    run = _run(client, writer, patience=0, factor=0.5)
    for step, value in enumerate([1.0, 2.0]):
        client.get(f"/v1/runs/{run}/lr", params={"step": step})
        client.post(
            f"/v1/runs/{run}/metrics",
            json={"step": step, "name": "loss", "value": value},
            headers=writer,
        )
    assert client.get(f"/v1/runs/{run}/lr", params={"step": 2}).json()["lr"] == 0.25
    edit = client.patch(
        f"/v1/runs/{run}",
        json={"scale": 2.0, "plateau": {"metric": "loss", "patience": 3}},
        headers=writer,
    )
    assert edit.status_code == 200, edit.text
    assert edit.json()["plateau"]["patience"] == 3
    assert client.get(f"/v1/runs/{run}/lr", params={"step": 3}).json()["lr"] == 0.5
    result = client.post(
        f"/v1/runs/{run}/metrics", json={"step": 3, "name": "loss", "value": 5.0}, headers=writer
    ).json()
    assert result["plateau"]["best"] == 5.0  # a fresh start: the first report is the best
    stop = client.patch(f"/v1/runs/{run}", json={"plateau": None}, headers=writer)
    assert stop.json()["plateau"] is None


def test_a_patch_before_a_scheduled_reduction_keeps_the_reduction_on_the_edit(
    client: TestClient, writer: dict[str, str]
) -> None:
    run = _run(client, writer, block=256, patience=0, factor=0.5)  # constant lr 0.5
    client.get(f"/v1/runs/{run}/lr", params={"step": 0})
    for step, value in [(4000, 1.0), (4001, 2.0)]:
        body = {"step": step, "name": "loss", "value": value}
        client.post(f"/v1/runs/{run}/metrics", json=body, headers=writer)
    edit = client.patch(f"/v1/runs/{run}", json={"scale": 2.0}, headers=writer).json()
    assert edit["effective_step"] == 256
    assert [(s["from_step"], s["scale"], s["reduction"]) for s in edit["timeline"]] == [
        (0, 1.0, 1.0),
        (256, 2.0, 1.0),
        (4096, 2.0, 0.5),
    ]
    lr = lambda step: client.get(f"/v1/runs/{run}/lr", params={"step": step}).json()["lr"]  # noqa: E731
    assert (lr(4095), lr(4096)) == (1.0, 0.5)


def test_a_patch_of_the_plateau_alone_leaves_the_timeline_as_it_is(
    client: TestClient, writer: dict[str, str]
) -> None:
    run = _run(client, writer, block=256, patience=0, factor=0.5)
    client.get(f"/v1/runs/{run}/lr", params={"step": 0})
    later = {"scale": 3.0, "at_step": 10_000}
    scheduled = client.patch(f"/v1/runs/{run}", json=later, headers=writer).json()["timeline"]
    for plateau in [None, {"metric": "loss", "patience": 4}]:
        edit = client.patch(f"/v1/runs/{run}", json={"plateau": plateau}, headers=writer)
        assert edit.status_code == 200, edit.text
        assert edit.json()["timeline"] == scheduled
        assert edit.json()["scale"] == 3.0
    assert client.get(f"/v1/runs/{run}/lr", params={"step": 10_500}).json()["lr"] == 1.5


def test_plateau_settings_are_validated(client: TestClient, writer: dict[str, str]) -> None:
    publish(client, writer, "const", CONSTANT)
    for plateau, path in [
        ({"metric": "loss", "factor": 1.0}, "plateau.factor"),
        ({"metric": "loss", "factor": 0.0}, "plateau.factor"),
        ({"metric": "loss", "patience": -1}, "plateau.patience"),
        ({"metric": "loss", "mode": "avg"}, "plateau.mode"),
        ({"metric": "loss", "threshold_mode": "x"}, "plateau.threshold_mode"),
        ({"metric": "loss", "min_lr": -1.0}, "plateau.min_lr"),
        ({"factor": 0.5}, "plateau.metric"),
    ]:
        response = client.put(
            "/v1/runs/r", json={"schedule": "const", "plateau": plateau}, headers=writer
        )
        assert_problem(response, 422, path)


def test_binding_again_with_the_same_plateau_is_a_no_op(
    client: TestClient, writer: dict[str, str]
) -> None:
    _run(client, writer, patience=3)
    again = client.put(
        "/v1/runs/r",
        json={"schedule": "const", "block": 1, "plateau": {"metric": "loss", "patience": 3}},
        headers=writer,
    )
    assert again.status_code == 200
    assert again.json()["plateau"]["patience"] == 3


def test_a_reduction_past_the_largest_step_is_not_made(
    client: TestClient, writer: dict[str, str]
) -> None:
    run = _run(client, writer, block=100, patience=0, factor=0.5)
    post = lambda step, value: client.post(  # noqa: E731
        f"/v1/runs/{run}/metrics",
        json={"step": step, "name": "loss", "value": value},
        headers=writer,
    )
    assert post(lrcast.MAX_STEP - 10, 1.0).status_code == 201
    worse = post(lrcast.MAX_STEP, 2.0)
    assert worse.status_code == 201, worse.text
    assert worse.json()["plateau"]["reduced"] is False
    timeline = client.get(f"/v1/runs/{run}").json()["timeline"]
    assert [s["from_step"] for s in timeline] == [0]
