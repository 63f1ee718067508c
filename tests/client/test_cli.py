"""The ``lrcast`` command against a real server."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lrcast
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


def test_errors_show_the_servers_problem_detail(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"schedules": {"bad": {"curves": {"lr": {"type": "cosine"}}}}}))
    assert run_cli(server, "apply", "-f", str(path))[0] == 1
    err = capsys.readouterr().err
    assert err.startswith("lrcast: error: 422")
    assert "curves.lr" in err
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
