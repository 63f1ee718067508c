"""Schedules over HTTP: publish, read, history, evaluate, archive."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

import lrcast
from tests.service.helpers import CONSTANT, COSINE, assert_problem, bind, publish


def test_publish_creates_version_one_with_etag_and_location(
    client: TestClient, writer: dict[str, str]
) -> None:
    response = client.put("/v1/schedules/resnet", json=COSINE, headers=writer)
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "resnet"
    assert body["version"] == 1
    assert body["published"] is True
    assert body["runs"] == []
    assert body["created_by"] == "write-token"
    assert body["document"]["curves"]["lr"]["steps"] == 1000
    assert response.headers["etag"] == '"v1"'
    assert response.headers["location"] == "/v1/schedules/resnet/versions/1"


def test_publishing_the_same_document_again_is_a_no_op(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    again = client.put("/v1/schedules/resnet", json=COSINE, headers=writer)
    assert again.status_code == 200
    assert again.json()["version"] == 1
    assert again.json()["published"] is False


def test_publishing_a_new_document_appends_the_next_version(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    response = client.put("/v1/schedules/resnet", json=CONSTANT, headers=writer)
    assert response.status_code == 201
    assert response.json()["version"] == 2
    latest = client.get("/v1/schedules/resnet")
    assert latest.json()["version"] == 2
    assert latest.headers["etag"] == '"v2"'
    first = client.get("/v1/schedules/resnet/versions/1")
    assert first.json()["document"]["curves"]["lr"]["type"] == "cosine"


def test_invalid_document_names_every_bad_field(client: TestClient, writer: dict[str, str]) -> None:
    bad = {
        "curves": {
            "lr": {
                "type": "warmup",
                "steps": 10,
                "then": {"type": "cosine", "start": 0.1, "steps": 0},
            },
            "momentum": {"type": "step", "start": -1, "every": 5},
        }
    }
    response = client.put("/v1/schedules/bad", json=bad, headers=writer)
    assert_problem(response, 422, "curves.lr.then.steps", "curves.momentum.start")


def test_document_without_lr_is_refused(client: TestClient, writer: dict[str, str]) -> None:
    response = client.put(
        "/v1/schedules/bad",
        json={"curves": {"wd": {"type": "constant", "value": 1}}},
        headers=writer,
    )
    problem = assert_problem(response, 422)
    assert "lr" in problem["detail"]


def test_unknown_curve_type_is_refused_with_its_path(
    client: TestClient, writer: dict[str, str]
) -> None:
    response = client.put(
        "/v1/schedules/bad", json={"curves": {"lr": {"type": "sawtooth"}}}, headers=writer
    )
    assert_problem(response, 422, "curves.lr")


def test_bad_schedule_name_is_refused(client: TestClient, writer: dict[str, str]) -> None:
    response = client.put("/v1/schedules/Bad Name", json=COSINE, headers=writer)
    assert_problem(response, 422, "name")


def test_document_over_the_size_limit_is_refused(
    client: TestClient, writer: dict[str, str]
) -> None:
    points = [[i, 0.125] for i in range(1000)]
    huge = {"curves": {f"c{i}": {"type": "interpolate", "points": points} for i in range(30)}}
    huge["curves"]["lr"] = COSINE["curves"]["lr"]
    response = client.put("/v1/schedules/huge", json=huge, headers=writer)
    assert_problem(response, 422)


def test_if_match_publishes_only_over_the_named_version(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    stale = client.put(
        "/v1/schedules/resnet", json=CONSTANT, headers={**writer, "If-Match": '"v7"'}
    )
    assert_problem(stale, 412)
    fresh = client.put(
        "/v1/schedules/resnet", json=CONSTANT, headers={**writer, "If-Match": '"v1"'}
    )
    assert fresh.status_code == 201


def test_if_match_on_a_missing_schedule_fails(client: TestClient, writer: dict[str, str]) -> None:
    response = client.put("/v1/schedules/new", json=COSINE, headers={**writer, "If-Match": "*"})
    assert_problem(response, 412)


def test_if_none_match_star_publishes_only_a_new_schedule(
    client: TestClient, writer: dict[str, str]
) -> None:
    create = {**writer, "If-None-Match": "*"}
    assert client.put("/v1/schedules/new", json=COSINE, headers=create).status_code == 201
    for document in (COSINE, CONSTANT):  # the same document too: the schedule exists
        assert_problem(client.put("/v1/schedules/new", json=document, headers=create), 412)
    assert client.get("/v1/schedules/new").json()["version"] == 1
    tagged = {**writer, "If-None-Match": '"v1"'}  # only * is meaningful for a PUT here
    assert_problem(client.put("/v1/schedules/new", json=CONSTANT, headers=tagged), 422)


def test_reading_a_missing_schedule_or_version_is_404(
    client: TestClient, writer: dict[str, str]
) -> None:
    assert_problem(client.get("/v1/schedules/missing"), 404)
    publish(client, writer, "resnet", COSINE)
    assert_problem(client.get("/v1/schedules/resnet/versions/2"), 404)
    assert_problem(client.get("/v1/schedules/missing/versions"), 404)


def test_schedules_are_listed_a_page_at_a_time(client: TestClient, writer: dict[str, str]) -> None:
    for name in ["c", "a", "b"]:
        publish(client, writer, name, COSINE)
    first = client.get("/v1/schedules", params={"limit": 2}).json()
    assert [s["name"] for s in first["items"]] == ["a", "b"]
    assert first["items"][0]["description"] == "cosine over 1000 steps"
    second = client.get("/v1/schedules", params={"limit": 2, "cursor": first["next_cursor"]})
    assert [s["name"] for s in second.json()["items"]] == ["c"]
    assert second.json()["next_cursor"] is None


def test_versions_are_listed_oldest_first_a_page_at_a_time(
    client: TestClient, writer: dict[str, str]
) -> None:
    for value in [0.1, 0.2, 0.3]:
        publish(client, writer, "s", {"curves": {"lr": {"type": "constant", "value": value}}})
    first = client.get("/v1/schedules/s/versions", params={"limit": 2}).json()
    assert [v["version"] for v in first["items"]] == [1, 2]
    rest = client.get("/v1/schedules/s/versions", params={"cursor": first["next_cursor"]}).json()
    assert [v["version"] for v in rest["items"]] == [3]
    assert rest["next_cursor"] is None


def test_stored_schedule_evaluates_at_a_step_like_the_language(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    body = client.get("/v1/schedules/resnet/lr", params={"step": 300}).json()
    expected = lrcast.compile_document(COSINE).block(1, 256)
    assert body["lr"] == float(expected["lr"][300 - 256])
    assert body["values"]["weight_decay"] == 5e-5
    assert body["version"] == 1


def test_stored_schedule_evaluates_over_a_range(client: TestClient, writer: dict[str, str]) -> None:
    publish(client, writer, "resnet", COSINE)
    publish(client, writer, "resnet", CONSTANT)
    body = client.get(
        "/v1/schedules/resnet/lr", params={"start": 0, "stop": 1000, "every": 250, "version": 1}
    ).json()
    assert body["steps"] == [0, 250, 500, 750]
    expected = lrcast.compile_document(COSINE).evaluate(np.array(body["steps"]))
    np.testing.assert_array_equal(body["values"]["lr"], expected["lr"])


def test_epoch_durations_need_steps_per_epoch_to_evaluate(
    client: TestClient, writer: dict[str, str]
) -> None:
    epochs = {"curves": {"lr": {"type": "step", "start": 0.1, "every": "30ep"}}}
    publish(client, writer, "epochs", epochs)
    problem = assert_problem(client.get("/v1/schedules/epochs/lr", params={"step": 1}), 422)
    assert problem["errors"][0]["path"] == "curves.lr.every"
    ok = client.get("/v1/schedules/epochs/lr", params={"step": 300, "steps_per_epoch": 10})
    assert ok.json()["lr"] == 0.1 * 0.1


def test_evaluating_needs_either_a_step_or_a_range(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    assert_problem(client.get("/v1/schedules/resnet/lr"), 422, "step")
    assert_problem(
        client.get("/v1/schedules/resnet/lr", params={"step": 1, "start": 0, "stop": 5}),
        422,
        "step",
    )
    empty = client.get("/v1/schedules/resnet/lr", params={"start": 5, "stop": 5})
    assert empty.json()["steps"] == []
    assert empty.json()["values"] == {"lr": [], "weight_decay": []}
    assert_problem(
        client.get("/v1/schedules/resnet/lr", params={"start": 0, "stop": 10**6}), 422, "stop"
    )


def test_schedule_used_by_a_live_run_cannot_be_archived(
    client: TestClient, writer: dict[str, str], admin: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    bind(client, writer, "run-1", schedule="resnet")
    problem = assert_problem(client.delete("/v1/schedules/resnet", headers=admin), 409)
    assert "run-1" in problem["detail"]
    assert client.delete("/v1/runs/run-1", headers=writer).status_code == 204
    assert client.delete("/v1/schedules/resnet", headers=admin).status_code == 204
    assert_problem(client.get("/v1/schedules/resnet"), 404)


def test_archiving_a_schedule_needs_the_admin_role(
    client: TestClient, writer: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    assert_problem(client.delete("/v1/schedules/resnet", headers=writer), 403)


def test_republishing_an_archived_schedule_continues_its_versions(
    client: TestClient, writer: dict[str, str], admin: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    assert client.delete("/v1/schedules/resnet", headers=admin).status_code == 204
    assert client.get("/v1/schedules").json()["items"] == []
    response = client.put("/v1/schedules/resnet", json=COSINE, headers=writer)
    assert response.status_code == 201
    assert response.json()["version"] == 2


def test_archiving_honours_if_match(
    client: TestClient, writer: dict[str, str], admin: dict[str, str]
) -> None:
    publish(client, writer, "resnet", COSINE)
    stale = client.delete("/v1/schedules/resnet", headers={**admin, "If-Match": '"v2"'})
    assert_problem(stale, 412)
    assert_problem(client.delete("/v1/schedules/missing", headers=admin), 404)
    malformed = client.delete("/v1/schedules/resnet", headers={**admin, "If-Match": "v1"})
    assert_problem(malformed, 422, "If-Match")


def test_inline_document_evaluates_without_being_stored(client: TestClient) -> None:
    response = client.post("/v1/evaluate", json={"document": COSINE, "start": 10, "stop": 13})
    assert response.status_code == 200
    body = response.json()
    assert body["steps"] == [10, 11, 12]
    np.testing.assert_array_equal(
        body["values"]["lr"], lrcast.compile_document(COSINE).evaluate([10, 11, 12])["lr"]
    )
    assert client.get("/v1/schedules").json()["items"] == []


def test_inline_document_over_the_size_limit_is_refused_as_on_publish(
    client: TestClient, writer: dict[str, str]
) -> None:
    points = [[100_000_000 + i, 0.123456789012345] for i in range(lrcast.MAX_LIST)]
    big = {"curves": {"lr": {"type": "interpolate", "points": points}}}
    response = client.post("/v1/evaluate", json={"document": big, "stop": 3})
    problem = assert_problem(response, 422, "document")
    assert "larger than 262144 bytes" in problem["detail"]
    response = client.put("/v1/schedules/big", json=big, headers=writer)
    assert "larger than 262144 bytes" in assert_problem(response, 422)["detail"]


def test_inline_document_errors_are_paths_inside_the_request(client: TestClient) -> None:
    bad = {"curves": {"lr": {"type": "cosine", "start": 0.1, "steps": -3}}}
    response = client.post("/v1/evaluate", json={"document": bad, "stop": 3})
    assert_problem(response, 422, "document.curves.lr.steps")
    percent = {"curves": {"lr": {"type": "cosine", "start": 0.1, "steps": "50%"}}}
    response = client.post("/v1/evaluate", json={"document": percent, "stop": 3})
    assert_problem(response, 422, "document.curves.lr.steps")
    response = client.post(
        "/v1/evaluate", json={"document": percent, "stop": 3, "total_steps": 100}
    )
    assert response.status_code == 200
