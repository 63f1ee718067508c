"""Runs over HTTP: bind, read, edit, archive, list, and their answers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

import lrcast
from lrcast._schemas import TimelineSegment
from lrcast_server.tables import run_segments
from tests.service.helpers import CONSTANT, COSINE, assert_problem, bind, core_of, publish


def expected(
    timeline: list[dict[str, Any]], documents: dict[tuple[str, int], Any], step: int, block: int
) -> dict[str, float]:
    """The values of ``step`` computed from a run's timeline with the language alone."""
    segments = [TimelineSegment(**s) for s in timeline]
    k = step // block
    segment = lrcast.segment_for(segments, k * block)
    compiled = lrcast.compile_document(
        documents[(segment.schedule, segment.version)],
        total_steps=segment.total_steps,
        steps_per_epoch=segment.steps_per_epoch,
    )
    values = lrcast.segment_block(compiled, segment, k, block)
    return {name: float(column[step - k * block]) for name, column in values.items()}


def lr_at(client: TestClient, run: str, step: int) -> dict[str, Any]:
    response = client.get(f"/v1/runs/{run}/lr", params={"step": step})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_bind_creates_a_run_on_the_latest_version(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    response = client.put("/v1/runs/run-1", json={"schedule": "resnet"}, headers=writer)
    assert response.status_code == 201
    run = response.json()
    assert run["version"] == "latest"
    assert run["horizon"] == -1
    assert run["block"] == 256
    assert run["timeline"] == [
        {
            "from_step": 0,
            "schedule": "resnet",
            "version": 1,
            "scale": 1.0,
            "offset": 0,
            "clock": "global",
            "reduction": 1.0,
            "min_lr": 0.0,
            "groups": {},
            "total_steps": None,
            "steps_per_epoch": None,
        }
    ]
    assert response.headers["location"] == "/v1/runs/run-1"
    assert response.headers["etag"]


def test_binding_the_same_body_again_is_a_no_op(client: TestClient, writer: dict[str, str]) -> None:
    publish(client, writer, "resnet", COSINE)
    first = bind(client, writer, "run-1", schedule="resnet", scale=2.0)
    again = client.put("/v1/runs/run-1", json={"schedule": "resnet", "scale": 2.0}, headers=writer)
    assert again.status_code == 200
    assert again.headers["etag"] == first.headers["etag"]
    client.patch("/v1/runs/run-1", json={"scale": 5.0}, headers=writer)
    restarted = client.put(
        "/v1/runs/run-1", json={"schedule": "resnet", "scale": 2.0}, headers=writer
    )
    assert restarted.status_code == 200
    assert restarted.json()["scale"] == 5.0


def test_binding_another_body_to_a_bound_run_conflicts(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet")
    other = client.put("/v1/runs/run-1", json={"schedule": "resnet", "scale": 3}, headers=writer)
    problem = assert_problem(other, 409)
    assert (problem["type"], problem["title"]) == ("urn:lrcast:problem:conflict", "Conflict")


def test_binding_to_a_missing_schedule_or_version_names_the_field(
    client: TestClient, writer: dict[str, str]
) -> None:
    assert_problem(
        client.put("/v1/runs/r", json={"schedule": "nope"}, headers=writer), 422, "schedule"
    )
    publish(client, writer, "resnet", COSINE)
    assert_problem(
        client.put("/v1/runs/r", json={"schedule": "resnet", "version": 9}, headers=writer),
        422,
        "version",
    )


def test_binding_validates_every_field(client: TestClient, writer: dict[str, str]) -> None:
    body = {
        "schedule": "resnet",
        "scale": -1,
        "block": 0,
        "groups": {"head": -0.5},
        "total_steps": 0,
        "colour": "red",
    }
    response = client.put("/v1/runs/r", json=body, headers=writer)
    assert_problem(response, 422, "scale", "groups.head", "block", "total_steps", "colour")


def test_numbers_must_be_json_numbers_not_booleans_or_strings(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    body = {"schedule": "resnet", "scale": True, "groups": {"head": "2"}}
    assert_problem(client.put("/v1/runs/r", json=body, headers=writer), 422, "scale", "groups.head")
    plateau = {"metric": "loss", "factor": "0.5", "min_lr": False}
    bound = client.put(
        "/v1/runs/r", json={"schedule": "resnet", "plateau": plateau}, headers=writer
    )
    assert_problem(bound, 422, "plateau.factor", "plateau.min_lr")
    bind(client, writer, "r", schedule="resnet")
    report = {"step": 1, "name": "loss", "value": False}
    assert_problem(client.post("/v1/runs/r/metrics", json=report, headers=writer), 422, "value")
    patch = client.patch("/v1/runs/r", json={"scale": "2"}, headers=writer)
    assert_problem(patch, 422, "scale")


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"scale": 1e308}, "scale"),
        ({"groups": {"backbone": 0.1, "head": 1e308}}, "groups.head"),
    ],
)
def test_a_scale_or_multiplier_that_overflows_lr_is_422_and_commits_nothing(
    client: TestClient, writer: dict[str, str], body: dict[str, Any], path: str
) -> None:
    publish(client, writer, "ten", {"curves": {"lr": {"type": "constant", "value": 10.0}}})
    bind(client, writer, "r", schedule="ten", block=4, **body)
    for url in ["/v1/runs/r/lr?step=1", "/v1/runs/r/lr?start=0&stop=4", "/v1/runs/r/lease?step=0"]:
        problem = assert_problem(client.get(url), 422, path)
        assert "overflows at step 0" in problem["detail"]
    assert client.get("/v1/runs/r").json()["horizon"] == -1


def test_a_negative_zero_scale_answers_zero_on_every_database(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bound = bind(client, writer, "r", schedule="resnet", scale=-0.0, groups={"head": -0.0})
    assert math.copysign(1, bound.json()["scale"]) == 1
    answer = lr_at(client, "r", 3)
    assert math.copysign(1, answer["lr"]) == 1
    assert math.copysign(1, answer["groups"]["head"]) == 1


def test_binding_a_schedule_that_needs_context_without_it_is_refused(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(
        client, writer, "epochs", {"curves": {"lr": {"type": "step", "start": 1, "every": "2ep"}}}
    )
    problem = assert_problem(
        client.put("/v1/runs/r", json={"schedule": "epochs"}, headers=writer), 422
    )
    assert problem["errors"][0]["path"] == "curves.lr.every"
    bind(client, writer, "r", schedule="epochs", steps_per_epoch=100)
    assert lr_at(client, "r", 199)["lr"] == 1.0
    assert lr_at(client, "r", 200)["lr"] == 0.1


def test_the_hot_path_answers_every_curve_and_group(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(
        client,
        writer,
        "run-1",
        schedule="resnet",
        scale=2.0,
        offset=10,
        groups={"backbone": 0.1, "head": 1.0},
    )
    body = lr_at(client, "run-1", 300)
    run = client.get("/v1/runs/run-1").json()
    want = expected(run["timeline"], {("resnet", 1): COSINE}, 300, 256)
    assert body == {
        "run": "run-1",
        "step": 300,
        "lr": want["lr"],
        "values": want,
        "groups": {"backbone": want["lr"] * 0.1, "head": want["lr"] * 1.0},
        "schedule": "resnet",
        "version": 1,
    }
    assert body["lr"] == 2.0 * lrcast.evaluate(COSINE["curves"]["lr"], [310])[0]


def test_answering_a_step_commits_its_whole_block(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet", block=100)
    lr_at(client, "run-1", 250)
    run = client.get("/v1/runs/run-1").json()
    assert run["horizon"] == 299
    assert run["last_step_seen"] == 250


def test_publish_new_version_switches_following_runs_at_next_block(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "follows", schedule="resnet", block=100)
    bind(client, writer, "pinned", schedule="resnet", version=1, block=100)
    bind(client, writer, "idle", schedule="resnet", block=100)
    before = lr_at(client, "follows", 150)
    lr_at(client, "pinned", 150)
    response = client.put("/v1/schedules/resnet", json=CONSTANT, headers=writer)
    assert response.json()["runs"] == [
        {"run": "follows", "effective_step": 200},
        {"run": "idle", "effective_step": 0},
    ]
    assert lr_at(client, "follows", 150) == before
    assert lr_at(client, "follows", 199)["version"] == 1
    assert lr_at(client, "follows", 200)["lr"] == 0.5
    assert lr_at(client, "follows", 200)["version"] == 2
    assert lr_at(client, "pinned", 250)["version"] == 1
    assert lr_at(client, "idle", 0)["lr"] == 0.5


def test_publish_switches_only_the_segments_of_the_published_schedule(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "a", COSINE)
    publish(client, writer, "b", CONSTANT)
    bind(client, writer, "run-1", schedule="a", block=100)
    lr_at(client, "run-1", 0)
    moved = {"schedule": "b", "at_step": 1000}
    assert client.patch("/v1/runs/run-1", json=moved, headers=writer).status_code == 200
    quarter = {"curves": {"lr": {"type": "constant", "value": 0.25}}}
    response = client.put("/v1/schedules/b", json=quarter, headers=writer)
    # The switch to b stays at step 1000, now to b's new version; steps before it keep a.
    assert response.json()["runs"] == [{"run": "run-1", "effective_step": 1000}]
    cosine = lrcast.evaluate(COSINE["curves"]["lr"], [100, 999])
    assert [lr_at(client, "run-1", s)["lr"] for s in (100, 999)] == list(cosine)
    assert lr_at(client, "run-1", 999)["schedule"] == "a"
    after = lr_at(client, "run-1", 1000)
    assert (after["schedule"], after["version"], after["lr"]) == ("b", 2, 0.25)
    # Until its step 1000 a run moved the same way still follows a: a new version of a moves
    # that part only (run-1 has answered all of it).
    bind(client, writer, "run-2", schedule="a", block=100)
    lr_at(client, "run-2", 0)
    assert client.patch("/v1/runs/run-2", json=moved, headers=writer).status_code == 200
    response = client.put("/v1/schedules/a", json=CONSTANT, headers=writer)
    assert response.json()["runs"] == [{"run": "run-2", "effective_step": 100}]
    assert [lr_at(client, "run-2", s)["version"] for s in (99, 100, 999)] == [1, 2, 2]
    assert lr_at(client, "run-2", 1000)["schedule"] == "b"


def test_publish_moves_the_part_of_a_run_that_follows_latest_not_a_pin_scheduled_later(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "a", COSINE)
    bind(client, writer, "run-1", schedule="a", block=100)
    lr_at(client, "run-1", 0)
    pin = client.patch("/v1/runs/run-1", json={"version": 1, "at_step": 1000}, headers=writer)
    assert pin.json()["version"] == 1
    response = client.put("/v1/schedules/a", json=CONSTANT, headers=writer)
    assert response.json()["runs"] == [{"run": "run-1", "effective_step": 100}]
    assert [lr_at(client, "run-1", s)["version"] for s in (99, 100, 999, 1000)] == [1, 2, 2, 1]


def test_publish_refuses_a_version_a_following_run_cannot_evaluate(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "s", CONSTANT)
    bind(client, writer, "no-length", schedule="s", block=4)
    bind(client, writer, "pinned", schedule="s", version=1, block=4)
    answered = [lr_at(client, "no-length", s) for s in range(4)]
    share = {"curves": {"lr": {"type": "cosine", "start": 0.1, "steps": "50%"}}}
    response = client.put("/v1/schedules/s", json=share, headers=writer)
    (error,) = assert_problem(response, 422, "curves.lr.steps")["errors"]
    assert "'no-length'" in error["message"]
    assert "total_steps" in error["message"]
    # Nothing was written: no version 2, and every answer stays as it was.
    assert client.get("/v1/schedules/s").json()["version"] == 1
    assert [lr_at(client, "no-length", s) for s in range(4)] == answered
    assert lr_at(client, "no-length", 4)["version"] == 1
    # Once the run says its length, the same version publishes and switches it.
    patched = client.patch("/v1/runs/no-length", json={"total_steps": 100}, headers=writer)
    assert patched.status_code == 200
    switched = client.put("/v1/schedules/s", json=share, headers=writer).json()
    assert switched["runs"] == [{"run": "no-length", "effective_step": 8}]
    expected_lr = lrcast.evaluate(share["curves"]["lr"], [8], total_steps=100)[0]
    assert lr_at(client, "no-length", 8)["lr"] == expected_lr


def test_patch_takes_effect_at_the_first_block_past_the_horizon(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet", block=64)
    answered = lr_at(client, "run-1", 70)
    response = client.patch("/v1/runs/run-1", json={"scale": 0.5}, headers=writer)
    assert response.status_code == 200
    edit = response.json()
    assert edit["effective_step"] == 128
    assert edit["scale"] == 0.5
    assert [s["from_step"] for s in edit["timeline"]] == [0, 128]
    assert lr_at(client, "run-1", 70) == answered
    assert (
        lr_at(client, "run-1", 127)["lr"]
        == expected(edit["timeline"], {("resnet", 1): COSINE}, 127, 64)["lr"]
    )
    unscaled = lrcast.evaluate(COSINE["curves"]["lr"], [128])[0]
    assert lr_at(client, "run-1", 128)["lr"] == unscaled * 0.5


def test_patch_at_a_later_step_rounds_up_to_its_block(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet", block=100)
    edit = client.patch(
        "/v1/runs/run-1", json={"scale": 3.0, "at_step": 450}, headers=writer
    ).json()
    assert edit["effective_step"] == 500
    assert lr_at(client, "run-1", 499)["lr"] == lrcast.evaluate(COSINE["curves"]["lr"], [499])[0]


def test_a_patch_before_a_scheduled_edit_keeps_the_binding_in_force_where_it_lands(
    client: TestClient, writer: dict[str, str]
) -> None:
    for value in (0.1, 0.2):
        publish(client, writer, "a", {"curves": {"lr": {"type": "constant", "value": value}}})
    publish(client, writer, "b", CONSTANT)
    patch = lambda run, body: client.patch(f"/v1/runs/{run}", json=body, headers=writer)  # noqa: E731
    # A pinned run: an edit scheduled to move it to b is superseded, the pin stays.
    bind(client, writer, "pinned", schedule="a", version=1)
    lr_at(client, "pinned", 0)
    patch("pinned", {"schedule": "b", "at_step": 10_000})
    edit = patch("pinned", {"scale": 2.0}).json()
    assert (edit["schedule"], edit["version"], edit["effective_step"]) == ("a", 1, 256)
    answer = lr_at(client, "pinned", 300)
    assert (answer["version"], answer["lr"]) == (1, 0.2)
    publish(client, writer, "a", CONSTANT)
    assert lr_at(client, "pinned", 600)["version"] == 1  # still pinned: no publish moves it
    # A run following latest: a pin scheduled later is superseded, the run keeps following.
    bind(client, writer, "follows", schedule="a")
    lr_at(client, "follows", 0)
    patch("follows", {"version": 1, "at_step": 10_000})
    edit = patch("follows", {"scale": 2.0}).json()
    assert edit["version"] == "latest"
    assert lr_at(client, "follows", 300)["version"] == 3
    # An offset scheduled later is superseded: a restarted clock counts from the offset in force.
    linear = {"curves": {"lr": {"type": "linear", "start": 1.0, "end": 0.0, "steps": 100_000}}}
    publish(client, writer, "lin", linear)
    bind(client, writer, "offset", schedule="lin")
    lr_at(client, "offset", 0)
    patch("offset", {"offset": 50_000, "at_step": 10_000})
    assert patch("offset", {"scale": 2.0}).json()["offset"] == 0
    edit = patch("offset", {"clock": "restart", "at_step": 3000}).json()
    assert edit["effective_step"] == 3072
    assert lr_at(client, "offset", 3072)["lr"] == 2.0


def test_segments_stored_before_they_kept_their_binding_follow_as_their_run_does(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "a", COSINE)
    bind(client, writer, "follows", schedule="a", block=100)
    bind(client, writer, "pinned", schedule="a", version=1, block=100, offset=7)
    with core_of(client).database.write() as conn:  # as migration 0003 leaves older segments
        conn.execute(sa.update(run_segments).values(follow=None, binding_offset=None))
    response = client.put("/v1/schedules/a", json=CONSTANT, headers=writer)
    assert response.json()["runs"] == [{"run": "follows", "effective_step": 0}]
    edit = client.patch("/v1/runs/pinned", json={"clock": "restart"}, headers=writer).json()
    assert (edit["version"], edit["offset"]) == (1, 7)
    assert edit["timeline"][-1]["offset"] == 7


def test_patch_with_a_restarted_clock_starts_the_curves_again(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet", block=10)
    lr_at(client, "run-1", 5)
    edit = client.patch("/v1/runs/run-1", json={"clock": "restart"}, headers=writer).json()
    assert edit["effective_step"] == 10
    assert lr_at(client, "run-1", 10)["lr"] == 0.1
    # A later edit without a clock keeps counting from the restart.
    client.patch("/v1/runs/run-1", json={"scale": 2.0, "at_step": 40}, headers=writer)
    assert (
        lr_at(client, "run-1", 45)["lr"] == 2.0 * lrcast.evaluate(COSINE["curves"]["lr"], [35])[0]
    )


def test_patch_can_switch_schedule_pin_a_version_and_change_groups(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    publish(client, writer, "flat", CONSTANT)
    bind(client, writer, "run-1", schedule="resnet", groups={"a": 1.0}, block=16)
    edit = client.patch(
        "/v1/runs/run-1", json={"schedule": "flat", "groups": {"b": 0.5}}, headers=writer
    ).json()
    assert edit["schedule"] == "flat"
    assert edit["version"] == "latest"
    body = lr_at(client, "run-1", 0)
    assert body["schedule"] == "flat"
    assert body["groups"] == {"b": 0.25}
    pinned = client.patch("/v1/runs/run-1", json={"version": 1}, headers=writer).json()
    assert pinned["version"] == 1
    publish(client, writer, "flat", {"curves": {"lr": {"type": "constant", "value": 0.9}}})
    assert lr_at(client, "run-1", 100)["lr"] == 0.5


def test_patch_of_run_context_changes_only_later_steps(
    client: TestClient, writer: dict[str, str]
) -> None:
    percent = {"curves": {"lr": {"type": "linear", "start": 1.0, "end": 0.0, "steps": "50%"}}}
    publish(client, writer, "pct", percent)
    bind(client, writer, "run-1", schedule="pct", total_steps=1000, block=100)
    before = lr_at(client, "run-1", 250)
    edit = client.patch("/v1/runs/run-1", json={"total_steps": 2000}, headers=writer).json()
    assert edit["effective_step"] == 300
    assert lr_at(client, "run-1", 250) == before
    assert (
        lr_at(client, "run-1", 300)["lr"]
        == lrcast.evaluate(percent["curves"]["lr"], [300], total_steps=2000)[0]
    )
    cleared = client.patch("/v1/runs/run-1", json={"total_steps": None}, headers=writer)
    assert_problem(cleared, 422, "curves.lr.steps")


def test_patch_refuses_block_nulls_and_unknown_fields(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet")
    response = client.patch("/v1/runs/run-1", json={"block": 8, "scale": None}, headers=writer)
    assert_problem(response, 422, "scale", "block")


def test_patch_honours_if_match(client: TestClient, writer: dict[str, str]) -> None:
    publish(client, writer, "resnet", COSINE)
    etag = bind(client, writer, "run-1", schedule="resnet").headers["etag"]
    ok = client.patch("/v1/runs/run-1", json={"scale": 2}, headers={**writer, "If-Match": etag})
    assert ok.status_code == 200
    assert ok.headers["etag"] != etag
    stale = client.patch("/v1/runs/run-1", json={"scale": 3}, headers={**writer, "If-Match": etag})
    assert_problem(stale, 412)


def test_if_none_match_star_binds_only_a_new_run(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    create = {**writer, "If-None-Match": "*"}
    body = {"schedule": "resnet"}
    assert client.put("/v1/runs/run-1", json=body, headers=create).status_code == 201
    assert_problem(client.put("/v1/runs/run-1", json=body, headers=create), 412)
    assert client.put("/v1/runs/run-1", json=body, headers=writer).status_code == 200


def test_archived_run_keeps_answering_but_refuses_edits(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet")
    answered = lr_at(client, "run-1", 3)
    assert client.delete("/v1/runs/run-1", headers=writer).status_code == 204
    assert client.delete("/v1/runs/run-1", headers=writer).status_code == 204
    assert lr_at(client, "run-1", 3) == answered
    assert client.get("/v1/runs/run-1").json()["archived"] is True
    assert_problem(client.patch("/v1/runs/run-1", json={"scale": 2}, headers=writer), 409)
    assert_problem(client.put("/v1/runs/run-1", json={"schedule": "resnet"}, headers=writer), 409)
    publish(client, writer, "resnet", CONSTANT)
    assert len(client.get("/v1/runs/run-1").json()["timeline"]) == 1


def test_missing_runs_are_404_everywhere(client: TestClient, writer: dict[str, str]) -> None:
    assert_problem(client.get("/v1/runs/nope"), 404)
    assert_problem(client.get("/v1/runs/nope/lr", params={"step": 1}), 404)
    assert_problem(client.get("/v1/runs/nope/lr", params={"start": 0, "stop": 3}), 404)
    assert_problem(client.get("/v1/runs/nope/lease", params={"step": 1}), 404)
    assert_problem(client.patch("/v1/runs/nope", json={"scale": 1}, headers=writer), 404)
    assert_problem(client.delete("/v1/runs/nope", headers=writer), 404)


def test_runs_are_listed_a_page_at_a_time(client: TestClient, writer: dict[str, str]) -> None:
    publish(client, writer, "resnet", COSINE)
    publish(client, writer, "flat", CONSTANT)
    for run, schedule in [("c", "resnet"), ("a", "resnet"), ("b", "flat"), ("d", "resnet")]:
        bind(client, writer, run, schedule=schedule)
    client.delete("/v1/runs/d", headers=writer)
    first = client.get("/v1/runs", params={"limit": 2}).json()
    assert [r["id"] for r in first["items"]] == ["a", "b"]
    rest = client.get("/v1/runs", params={"cursor": first["next_cursor"]}).json()
    assert [r["id"] for r in rest["items"]] == ["c"]
    resnet = client.get("/v1/runs", params={"schedule": "resnet", "archived": True}).json()
    assert [r["id"] for r in resnet["items"]] == ["a", "c", "d"]


def test_bad_steps_are_refused_with_their_field(client: TestClient, writer: dict[str, str]) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet")
    for step in ["-1", "1.5", "abc", "", str(lrcast.MAX_STEP + 1), "9" * 40]:
        assert_problem(client.get(f"/v1/runs/run-1/lr?step={step}"), 422, "step")
    assert_problem(client.get("/v1/runs/run-1/lr"), 422, "step")
    assert_problem(client.get("/v1/runs/run-1/lr?step=1&start=0&stop=2"), 422, "step")
    assert client.get(f"/v1/runs/run-1/lr?step={lrcast.MAX_STEP}").status_code in (200, 422)


def test_the_largest_step_answers(client: TestClient, writer: dict[str, str]) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet", block=1000)
    body = lr_at(client, "run-1", lrcast.MAX_STEP)
    assert body["lr"] == 0.0


def test_lease_commits_blocks_and_matches_per_step_answers(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet", block=50, groups={"g": 0.5})
    lease = client.get("/v1/runs/run-1/lease", params={"step": 120, "blocks": 3}).json()
    assert (lease["from_step"], lease["to_step"], lease["committed_until"]) == (100, 250, 249)
    assert len(lease["values"]["lr"]) == 150
    for step in (100, 149, 150, 249):
        body = lr_at(client, "run-1", step)
        assert lease["values"]["lr"][step - 100] == body["lr"]
        assert lease["groups"]["g"][step - 100] == body["groups"]["g"]
    assert client.get("/v1/runs/run-1").json()["horizon"] == 249


def test_lease_spanning_an_edit_carries_both_segments(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet", block=10)
    lr_at(client, "run-1", 0)
    client.patch("/v1/runs/run-1", json={"at_step": 20, "scale": 2}, headers=writer)
    lease = client.get("/v1/runs/run-1/lease", params={"step": 15, "blocks": 2}).json()
    assert [s["from_step"] for s in lease["timeline"]] == [0, 20]
    assert lease["values"]["lr"][10] == lr_at(client, "run-1", 20)["lr"]


def test_lease_size_is_bounded(client: TestClient, writer: dict[str, str]) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet", block=8192)
    response = client.get("/v1/runs/run-1/lease", params={"step": 0, "blocks": 2})
    assert_problem(response, 422, "blocks")
    assert_problem(
        client.get("/v1/runs/run-1/lease", params={"step": 0, "blocks": 0}), 422, "blocks"
    )


def test_range_is_a_preview_that_commits_nothing(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet", block=100)
    lr_at(client, "run-1", 10)
    preview = client.get("/v1/runs/run-1/lr", params={"start": 0, "stop": 1000, "every": 7})
    body = preview.json()
    assert body["committed_until"] == 99
    assert body["steps"] == list(range(0, 1000, 7))
    assert client.get("/v1/runs/run-1").json()["horizon"] == 99
    edit = client.patch("/v1/runs/run-1", json={"scale": 2}, headers=writer).json()
    assert edit["effective_step"] == 100
    for index in (0, 14, 15, 100):
        step = body["steps"][index]
        assert lr_at(client, "run-1", step)["lr"] == (
            body["values"]["lr"][index] * (2 if step >= 100 else 1)
        )


def test_range_values_equal_per_step_values(client: TestClient, writer: dict[str, str]) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet", block=32, groups={"g": 0.3})
    body = client.get("/v1/runs/run-1/lr", params={"start": 5, "stop": 200, "every": 13}).json()
    answers = [lr_at(client, "run-1", s) for s in body["steps"]]
    np.testing.assert_array_equal(body["values"]["lr"], [a["lr"] for a in answers])
    np.testing.assert_array_equal(body["groups"]["g"], [a["groups"]["g"] for a in answers])


def test_range_bounds_are_checked(client: TestClient, writer: dict[str, str]) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet")
    empty = client.get("/v1/runs/run-1/lr", params={"start": 9, "stop": 3}).json()
    assert (empty["steps"], empty["values"], empty["timeline"]) == ([], {}, [])
    assert_problem(client.get("/v1/runs/run-1/lr", params={"start": 0, "stop": 10**7}), 422, "stop")
    assert_problem(
        client.get("/v1/runs/run-1/lr", params={"start": 0, "stop": 9, "every": 0}), 422, "every"
    )


def test_the_lean_path_and_the_documented_route_answer_the_same_bytes(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet", groups={"g": 0.25})
    for step in (0, 255, 256, 9999):
        lean = client.get(f"/v1/runs/run-1/lr?step={step}")
        routed = client.get(f"/v1/runs/run-1/lr?step={step}&every=1")
        assert lean.content == routed.content
        assert lean.headers["content-type"] == routed.headers["content-type"] == "application/json"


def test_an_edit_that_changes_nothing_keeps_the_timeline(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet", block=10)
    edit = client.patch("/v1/runs/run-1", json={"scale": 1.0}, headers=writer).json()
    assert edit["effective_step"] == 0
    assert [s["from_step"] for s in edit["timeline"]] == [0]
    client.patch("/v1/runs/run-1", json={"scale": 2.0, "at_step": 50}, headers=writer)
    edit = client.patch("/v1/runs/run-1", json={"scale": 1.0, "at_step": 20}, headers=writer)
    assert [s["from_step"] for s in edit.json()["timeline"]] == [0]
    assert lr_at(client, "run-1", 60)["lr"] == lrcast.evaluate(COSINE["curves"]["lr"], [60])[0]


def test_a_patch_that_changes_nothing_keeps_the_etag_and_is_not_audited(
    client: TestClient, writer: dict[str, str], admin: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet", block=10, groups={"a": 1.0, "b": 0.5})
    etag = client.get("/v1/runs/run-1").headers["etag"]

    def patches() -> int:
        trail = client.get("/v1/audit", params={"target": "run/run-1"}, headers=admin).json()
        return sum(entry["action"] == "run.patch" for entry in trail["items"])

    # (an edit keeps the groups' order, so the last body asks for what is in force too)
    same = [{}, {"at_step": 40}, {"scale": 1.0}, {"groups": {"b": 0.5, "a": 1.0}}]
    for body in same:
        response = client.patch("/v1/runs/run-1", json=body, headers=writer)
        assert response.status_code == 200, body
        assert response.headers["etag"] == etag, body
    assert patches() == 0
    response = client.patch("/v1/runs/run-1", json={"groups": {"b": 0.25}}, headers=writer)
    assert response.headers["etag"] != etag
    # Asking for what is in force now also drops an edit scheduled later: a change.
    client.patch("/v1/runs/run-1", json={"scale": 2.0, "at_step": 50}, headers=writer)
    etag = client.get("/v1/runs/run-1").headers["etag"]
    response = client.patch("/v1/runs/run-1", json={"scale": 1.0}, headers=writer)
    assert response.headers["etag"] != etag
    assert [s["from_step"] for s in response.json()["timeline"]] == [0]
    assert patches() == 3


def test_version_must_be_a_number_or_latest(client: TestClient, writer: dict[str, str]) -> None:
    publish(client, writer, "resnet", COSINE)
    for version in ["newest", 0, True, 1.5, None]:
        response = client.put(
            "/v1/runs/r", json={"schedule": "resnet", "version": version}, headers=writer
        )
        assert_problem(response, 422, "version")
    bind(client, writer, "r", schedule="resnet")
    for body in [{"version": "newest"}, {"offset": None}, {"offset": 5.0}]:
        response = client.patch("/v1/runs/r", json=body, headers=writer)
        assert_problem(response, 422, next(iter(body)))
