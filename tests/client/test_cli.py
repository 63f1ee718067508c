"""The ``lrcast`` command against a real server."""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import lrcast
from lrcast import _yaml
from lrcast.cli import main
from tests.client.conftest import ADMIN_TOKEN, Server

APPLY = """\
schedules:
  {name}:
    description: warmup then cosine
    curves:
      lr: {{type: warmup, steps: 10, then: {{type: cosine, start: 0.1, steps: 90}}}}
runs:
  {name}-a:
    schedule: {name}
    block: 8
---
runs:
  {name}-b:
    schedule: {name}
    scale: 2.0
"""


def run_cli(server: Server, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--url", server.url, "--token", ADMIN_TOKEN, *args], out=out)
    return code, out.getvalue()


def test_apply_is_idempotent_and_edits_what_changed(
    server: Server, name: str, tmp_path: Path
) -> None:
    path = tmp_path / "lrcast.yaml"
    path.write_text(APPLY.format(name=name))
    assert run_cli(server, "apply", "-f", str(path)) == (
        0,
        f"schedule/{name} published (version 1)\nrun/{name}-a created\nrun/{name}-b created\n",
    )
    assert run_cli(server, "apply", "-f", str(path))[1] == (
        f"schedule/{name} unchanged (version 1)\nrun/{name}-a unchanged\nrun/{name}-b unchanged\n"
    )
    run_cli(server, "lr", f"{name}-a", "3")
    path.write_text(APPLY.format(name=name).replace("scale: 2.0", "scale: 3.0"))
    code, out = run_cli(server, "--json", "apply", "-f", str(path))
    assert code == 0
    assert json.loads(out)[2] == {
        "kind": "run",
        "name": f"{name}-b",
        "action": "configured",
        "effective_step": 0,
    }


def test_apply_edits_a_changed_plateau_and_stops_a_removed_one(
    server: Server, name: str, tmp_path: Path
) -> None:
    path = tmp_path / "lrcast.yaml"
    plateau = "    plateau: {metric: val_loss, patience: 3}\n"
    path.write_text(APPLY.format(name=name) + plateau)
    run_cli(server, "apply", "-f", str(path))
    with lrcast.Client(url=server.url, token=ADMIN_TOKEN) as client:
        assert client.get_run(f"{name}-b").plateau.patience == 3  # type: ignore[union-attr]
        path.write_text(APPLY.format(name=name) + plateau.replace("3", "7"))
        assert run_cli(server, "apply", "-f", str(path))[1].endswith(
            f"run/{name}-b configured (from step 0)\n"
        )
        assert client.get_run(f"{name}-b").plateau.patience == 7  # type: ignore[union-attr]
        assert run_cli(server, "apply", "-f", str(path))[1].endswith(f"run/{name}-b unchanged\n")
        path.write_text(APPLY.format(name=name))
        run_cli(server, "apply", "-f", str(path))
        assert client.get_run(f"{name}-b").plateau is None


def test_apply_leaves_the_block_alone_when_the_file_does_not_give_one(
    server: Server, name: str, tmp_path: Path
) -> None:
    path = tmp_path / "lrcast.yaml"
    path.write_text(APPLY.format(name=name))
    run_cli(server, "apply", "-f", str(path))  # run a has block 8, from the file
    path.write_text(APPLY.format(name=name).replace("    block: 8\n", "    scale: 2.0\n"))
    code, out = run_cli(server, "apply", "-f", str(path))
    assert code == 0
    assert f"run/{name}-a configured (from step 0)" in out
    path.write_text(APPLY.format(name=name).replace("block: 8", "block: 16"))
    assert run_cli(server, "apply", "-f", str(path))[0] == 1  # a block given must match


def test_apply_checks_every_run_before_publishing_anything(
    server: Server, name: str, tmp_path: Path
) -> None:
    path = tmp_path / "lrcast.yaml"
    path.write_text(APPLY.format(name=name).replace("scale: 2.0", "scale: -2.0"))
    assert run_cli(server, "apply", "-f", str(path))[0] == 1
    with (
        lrcast.Client(url=server.url, token=ADMIN_TOKEN) as client,
        pytest.raises(lrcast.NotFoundError),
    ):
        client.get_schedule(name)


def test_get_lr_and_history_print_tables_or_json(server: Server, name: str, tmp_path: Path) -> None:
    path = tmp_path / "lrcast.yaml"
    path.write_text(APPLY.format(name=name))
    run_cli(server, "apply", "-f", str(path))
    code, out = run_cli(server, "get", "schedules")
    assert code == 0
    assert out.startswith("NAME")
    assert re.search(rf"^{name}\s+1\s", out, re.MULTILINE)
    assert '"type": "warmup"' in run_cli(server, "get", "schedules", name)[1]
    runs = run_cli(server, "get", "runs")[1]
    assert f"{name}-a" in runs
    assert "timeline:" in run_cli(server, "get", "runs", f"{name}-a")[1]
    code, out = run_cli(server, "lr", f"{name}-b", "5", "--json")
    assert json.loads(out)["lr"] == pytest.approx(2 * 0.05, rel=1e-12)
    assert "lr" in run_cli(server, "lr", f"{name}-b", "5")[1]
    assert run_cli(server, "history", name)[1].splitlines()[1].startswith("1 ")


def test_get_run_shows_plateau_reductions_in_its_timeline(server: Server, name: str) -> None:
    with lrcast.Client(url=server.url, token=ADMIN_TOKEN) as client:
        client.publish(name, {"curves": {"lr": {"type": "constant", "value": 0.1}}})
        client.bind_run(name, name, block=4, plateau={"metric": "loss", "patience": 0})
        client.lr(name, 0)
        client.report(name, 0, "loss", 1.0)
        result = client.report(name, 1, "loss", 2.0)  # worse: patience 0 reduces
        assert result.plateau is not None
        assert result.plateau.reduced
    out = run_cli(server, "get", "runs", name)[1]
    header, *rows = out.split("timeline:\n")[1].splitlines()
    assert header.split()[-1] == "REDUCTION"
    assert [row.split()[-1] for row in rows] == ["1.0", "0.1"]


def test_errors_show_the_servers_problem_detail(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(server, "lr", "no-such-run", "3")[0] == 1
    assert capsys.readouterr().err.startswith("lrcast: error: 404")
    assert run_cli(server, "get", "runs", "no-such-run")[0] == 1
    assert "no run 'no-such-run'" in capsys.readouterr().err


def test_evaluate_needs_no_server(tmp_path: Path) -> None:
    path = tmp_path / "doc.yaml"
    path.write_text("curves:\n  lr: {type: step, start: 0.1, every: 10}\n")
    out = io.StringIO()
    argv = ["--url", "http://127.0.0.1:9", "evaluate", "-f", str(path), "--steps", "0:30:10"]
    assert main(argv, out=out) == 0
    compiled = lrcast.compile_document(
        {"curves": {"lr": {"type": "step", "start": 0.1, "every": 10}}}
    )
    want = compiled.evaluate([0, 10, 20])["lr"].tolist()
    assert out.getvalue().split() == [
        "STEP",
        "lr",
        "0",
        repr(want[0]),
        "10",
        repr(want[1]),
        "20",
        repr(want[2]),
    ]


def test_the_console_script_runs(server: Server) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lrcast.cli", "--url", server.url, "get", "schedules", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert isinstance(json.loads(done.stdout), list)


# -- apply checks the whole file before the first change --------------------------------------


def apply_file(server: Server, tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "apply.yaml"
    path.write_text(text)
    return run_cli(server, "apply", "-f", str(path))


def assert_no_schedule(server: Server, *names: str) -> None:
    with lrcast.Client(url=server.url, token=ADMIN_TOKEN) as client:
        for name in names:
            with pytest.raises(lrcast.NotFoundError):
                client.get_schedule(name)


def test_apply_validates_every_schedule_before_publishing_any(
    server: Server, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = apply_file(
        server,
        tmp_path,
        f"""\
schedules:
  {name}-1: {{curves: {{lr: {{type: constant, value: 0.1}}}}}}
  {name}-bad: {{curves: {{lr: {{type: cosine, start: 0.1, steps: -5}}}}}}
  {name}-2: {{curves: {{lr: {{type: constant, value: 0.2}}}}}}
runs:
  {name}-r: {{schedule: {name}-1, scale: -1.0}}
""",
    )
    assert (code, out) == (1, "")
    assert capsys.readouterr().err.splitlines() == [
        f"lrcast: error: schedule '{name}-bad': curves.lr.steps: must be >= 0",
        f"lrcast: error: run '{name}-r': scale: must be >= 0.0",
        "lrcast: error: nothing was changed",
    ]
    assert_no_schedule(server, f"{name}-1", f"{name}-2")


def test_apply_refuses_a_run_of_a_schedule_neither_on_the_server_nor_in_the_file(
    server: Server, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = apply_file(
        server,
        tmp_path,
        f"""\
schedules:
  {name}: {{curves: {{lr: {{type: constant, value: 0.1}}}}}}
runs:
  {name}-a: {{schedule: {name}}}
  {name}-b: {{schedule: {name}-nosuch}}
  {name}-c: {{schedule: {name}, version: 2}}
""",
    )
    assert code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"lrcast: error: run '{name}-b': no schedule '{name}-nosuch', neither on the server "
        "nor in the file",
        f"lrcast: error: run '{name}-c': schedule '{name}' has no version 2",
        "lrcast: error: nothing was changed",
    ]
    assert_no_schedule(server, name)


def test_apply_refuses_a_run_that_could_not_evaluate_its_schedule(
    server: Server, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    epochs = "{curves: {lr: {type: step, start: 0.1, every: 2ep}}}"
    text = f"schedules:\n  {name}: {epochs}\nruns:\n  {name}: {{schedule: {name}}}\n"
    assert apply_file(server, tmp_path, text)[0] == 1
    err = capsys.readouterr().err
    assert f"run '{name}': schedule '{name}' version 1: " in err
    assert "steps_per_epoch" in err
    assert_no_schedule(server, name)
    fixed = text.replace(f"{{schedule: {name}}}", f"{{schedule: {name}, steps_per_epoch: 5}}")
    assert apply_file(server, tmp_path, fixed)[0] == 0


def test_apply_refuses_a_version_a_following_run_could_not_evaluate(
    server: Server, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with lrcast.Client(url=server.url, token=ADMIN_TOKEN) as client:
        client.publish(name, {"curves": {"lr": {"type": "constant", "value": 0.1}}})
        client.bind_run(name, name)
    half = "{curves: {lr: {type: step, start: 0.1, every: 50%}}}"
    text = f"schedules:\n  {name}-new: {half}\n  {name}: {half}\n"
    assert apply_file(server, tmp_path, text)[0] == 1
    assert (
        f"lrcast: error: schedule '{name}': run '{name}' follows it and could not evaluate "
        "this document: " in capsys.readouterr().err
    )
    assert_no_schedule(server, f"{name}-new")


def test_apply_refuses_a_changed_block_before_any_change(
    server: Server, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lrcast.yaml"
    path.write_text(APPLY.format(name=name))
    run_cli(server, "apply", "-f", str(path))  # run a has block 8
    changed = APPLY.format(name=name).replace("block: 8", "block: 16")
    assert apply_file(server, tmp_path, changed.replace("0.1, steps: 90", "0.2, steps: 90")) == (
        1,
        "",
    )
    assert capsys.readouterr().err.splitlines() == [
        f"lrcast: error: run '{name}-a': has block 8 on the server, the file gives 16; "
        "a run's block is fixed for its life",
        "lrcast: error: nothing was changed",
    ]
    with lrcast.Client(url=server.url, token=ADMIN_TOKEN) as client:
        assert client.get_schedule(name).version == 1


def test_apply_prints_what_it_applied_before_the_server_refused_an_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A body over the server's limit is refused (413) only once sent: the file is valid.
    env = {"LRCAST_ADMIN_TOKEN": ADMIN_TOKEN, "LRCAST_MAX_BODY_BYTES": "1024"}
    server = Server(tmp_path / "data", env=env)
    server.data_dir.mkdir()
    server.start()
    try:
        big = {"description": "x" * 2000, "curves": {"lr": {"type": "constant", "value": 0.1}}}
        small = {"curves": {"lr": {"type": "constant", "value": 0.1}}}
        runs = {"r": {"schedule": "small"}}
        path = tmp_path / "apply.json"
        path.write_text(json.dumps({"schedules": {"small": small, "big": big}, "runs": runs}))
        assert run_cli(server, "apply", "-f", str(path)) == (
            1,
            "schedule/small published (version 1)\n",
        )
        err = capsys.readouterr().err.splitlines()
        assert err[0].startswith("lrcast: error: schedule 'big': 413")
        assert err[-1] == (
            "lrcast: error: the changes printed above were applied; this one and the rest were not"
        )
        code, out = run_cli(server, "--json", "apply", "-f", str(path))
        assert code == 1
        assert json.loads(out) == [
            {"kind": "schedule", "name": "small", "action": "unchanged", "version": 1}
        ]
    finally:
        server.stop()


def test_apply_reports_an_archived_run_and_leaves_it_alone(
    server: Server, name: str, tmp_path: Path
) -> None:
    path = tmp_path / "lrcast.yaml"
    path.write_text(APPLY.format(name=name))
    run_cli(server, "apply", "-f", str(path))
    with lrcast.Client(url=server.url, token=ADMIN_TOKEN) as client:
        client.archive_run(f"{name}-b")
        path.write_text(APPLY.format(name=name).replace("scale: 2.0", "scale: 3.0"))
        assert run_cli(server, "apply", "-f", str(path)) == (
            0,
            f"schedule/{name} unchanged (version 1)\nrun/{name}-a unchanged\n"
            f"run/{name}-b archived\n",
        )
        assert client.get_run(f"{name}-b").scale == 2.0


def test_apply_moves_a_run_to_another_schedule_keeping_its_pinned_version(
    server: Server, name: str, tmp_path: Path
) -> None:
    doc = "{curves: {lr: {type: constant, value: 0.1}}}"
    text = (
        f"schedules:\n  {name}: {doc}\n  {name}-t: {doc}\n"
        f"runs:\n  {name}: {{schedule: {name}, version: 1}}\n"
    )
    apply_file(server, tmp_path, text)
    moved = text.replace(f"{{schedule: {name},", f"{{schedule: {name}-t,")
    assert apply_file(server, tmp_path, moved)[1].endswith(f"run/{name} configured (from step 0)\n")
    with lrcast.Client(url=server.url, token=ADMIN_TOKEN) as client:
        assert client.get_run(name).version == 1
    assert apply_file(server, tmp_path, moved)[1].endswith(f"run/{name} unchanged\n")


def test_apply_refuses_a_name_declared_twice(
    server: Server, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = "{curves: {lr: {type: constant, value: 0.1}}}"
    text = f"schedules:\n  {name}: {doc}\n---\nschedules:\n  {name}: {doc}\n"
    assert apply_file(server, tmp_path, text)[0] == 1
    assert f"schedule '{name}' is declared twice" in capsys.readouterr().err
    assert_no_schedule(server, name)


# -- YAML as the command reads it --------------------------------------------------------------


def test_yaml_reads_floats_without_a_dot_as_yaml_1_2_does() -> None:
    text = "[5e-5, 3e-4, 1e3, -2.5E+4, .5, 1., .inf, -.inf, 1.5, 1_000, 12, 0x10, 1e, abc]"
    (values,) = _yaml.load_all(text)
    assert values[:9] == [5e-5, 3e-4, 1000.0, -25000.0, 0.5, 1.0, math.inf, -math.inf, 1.5]
    assert all(isinstance(v, float) for v in values[:9])
    assert values[9:] == [1000, 12, 16, "1e", "abc"]
    assert all(type(v) is int for v in values[9:12])
    (nan,) = _yaml.load_all(".nan")
    assert math.isnan(nan)


def test_yaml_refuses_repeated_keys_and_numbers_not_written_as_their_digits() -> None:
    with pytest.raises(yaml.YAMLError, match="'a' appears twice"):
        _yaml.load_all("a: 1\na: 2\n")
    with pytest.raises(yaml.YAMLError, match="'0x10' reads as the number 16"):
        _yaml.load_all("0x10: 1\n")
    assert _yaml.load_all("base: &b {a: 1}\nother: {<<: *b, a: 2}\n") == [
        {"base": {"a": 1}, "other": {"a": 2}}
    ]


def test_apply_and_evaluate_read_5e_5_as_a_number(
    server: Server, name: str, tmp_path: Path
) -> None:
    path = tmp_path / "lrcast.yaml"
    path.write_text(
        f"schedules:\n  {name}:\n    curves:\n      lr: {{type: constant, value: 5e-5}}\n"
    )
    assert run_cli(server, "apply", "-f", str(path)) == (
        0,
        f"schedule/{name} published (version 1)\n",
    )
    with lrcast.Client(url=server.url, token=ADMIN_TOKEN) as client:
        assert client.get_schedule(name).document.model_dump()["curves"]["lr"]["value"] == 5e-5
    out = io.StringIO()
    assert main(["evaluate", "-f", str(path), "--steps", "0:2", "--json"], out=out) == 0
    assert json.loads(out.getvalue())["values"]["lr"] == [5e-5, 5e-5]


def test_apply_takes_integer_keys_as_names_and_refuses_other_keys(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    number = time.monotonic_ns()
    doc = "{curves: {lr: {type: constant, value: 0.1}}}"
    text = f"schedules:\n  {number}: {doc}\nruns:\n  {number + 1}: {{schedule: '{number}'}}\n"
    assert apply_file(server, tmp_path, text) == (
        0,
        f"schedule/{number} published (version 1)\nrun/{number + 1} created\n",
    )
    for key, shown in (("1.5", "1.5 is read as a float"), ("~", "None is read as a NoneType")):
        assert apply_file(server, tmp_path, f"schedules:\n  {key}: {doc}\n")[0] == 1
        err = capsys.readouterr().err
        assert f"the schedule name {shown}, not a name; quote it in the file" in err


# -- evaluate ---------------------------------------------------------------------------------


def test_evaluate_refuses_more_steps_than_the_servers_ranges_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "doc.yaml"
    path.write_text("curves:\n  lr: {type: constant, value: 0.1}\n")
    argv = ["evaluate", "-f", str(path), "--steps", "0:9007199254740991"]
    assert main(argv, out=io.StringIO()) == 1
    assert capsys.readouterr().err == (
        "lrcast: error: --steps gives 9007199254740991 steps; at most 10000 "
        "(the server's max_points)\n"
    )
    out = io.StringIO()
    assert main([*argv[:-1], "5:100005:10"], out=out) == 0
    assert len(out.getvalue().splitlines()) == 10_001


def test_evaluate_picks_a_schedule_of_an_apply_file_of_several_documents(tmp_path: Path) -> None:
    path = tmp_path / "multi.yaml"
    path.write_text(
        APPLY.format(name="s")
        + "---\nschedules:\n  t: {curves: {lr: {type: constant, value: 0.3}}}\n"
    )
    out = io.StringIO()
    assert main(["evaluate", "-f", str(path), "--schedule", "t", "--steps", "0:1"], out=out) == 0
    assert out.getvalue().split() == ["STEP", "lr", "0", "0.3"]
