"""Deploy to a local board: offline wheels into a venv, 0 bytes on a re-deploy, locks, a full disk."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from edgeq.deploy.plan import deploy
from edgeq.errors import DeployError
from edgeq.profile.run import profile

from .conftest import Board, assert_one_line_error, run_cli, write_board


@pytest.fixture
def system_python_board(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Board:
    """Debian's python3 lacks both TFLite runtimes, as a fresh board does: deploy must bring them."""
    record = write_board(tmp_path / "boards", "debianboard", tmp_path / "work", python="/usr/bin/python3",
                         backends="[tflite-cpu, armnn]")
    monkeypatch.setenv("EDGEQ_BOARDS", str(record.boards_dir))
    return record


def test_deploy_builds_a_venv_from_offline_wheels_then_sends_nothing(
        system_python_board: Board, models: dict[str, Path], tmp_path: Path) -> None:
    first = deploy(system_python_board.name, [models["float"]])
    assert first.files_sent >= 3 and first.bytes_sent > 1_000_000
    work = system_python_board.work_dir
    assert os.readlink(work / "current") == f"deployments/{first.deployment}"
    wheels = sorted(p.name for p in (work / "deployments" / first.deployment / "wheels").iterdir())
    assert any(w.startswith("ai_edge_litert-2.3.0") for w in wheels)
    assert any(w.startswith("tflite_runtime-2.14.0") for w in wheels)
    assert not any(w.startswith("numpy-") for w in wheels), "the board's own numpy must stay"
    assert first.python.endswith(f"deployments/{first.deployment}/venv/bin/python")
    cfg = (work / "deployments" / first.deployment / "venv" / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg

    again = deploy(system_python_board.name, [models["float"]])
    assert (again.bytes_sent, again.files_sent, again.deployment) == (0, 0, first.deployment)

    # The runtimes the deploy brought are the ones that run, next to Debian's pyarmnn.
    run = profile(models["float"], board=system_python_board.name,
                  backends=["tflite-cpu", "tflite-cpu:runtime=tflite_runtime", "armnn:backends=CpuRef"],
                  runs=3, warmup=0, runs_dir=tmp_path / "runs")
    info = [(b["status"], b["info"]["runtime"]) for b in run.result["backends"]]
    assert info == [("ok", "ai_edge_litert"), ("ok", "tflite_runtime"), ("ok", "pyarmnn")]
    assert run.result["facts"]["python"]["executable"] == first.python


def test_cli_deploy_prints_what_it_sent(board: Board, models: dict[str, Path]) -> None:
    ran = run_cli("deploy", "--board", board.name, "--model", str(models["int8"]))
    assert ran.returncode == 0, ran.stderr
    assert "1 sent, 0 unchanged" in ran.stdout
    ran = run_cli("deploy", "--board", board.name, "--model", str(models["int8"]))
    assert "0 sent, 1 unchanged" in ran.stdout and "0.0 KB" in ran.stdout


def _write_lock(work: Path, holder: str, since: float) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "deploy.lock").write_text(json.dumps({"holder": holder, "token": "t0k", "since": since}))


def test_a_held_lock_refuses_with_its_holder(board: Board, models: dict[str, Path]) -> None:
    deploy(board.name, [models["float"]])
    before = os.readlink(board.work_dir / "current")
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        holder = f"alice@{socket.gethostname()} pid {sleeper.pid}"
        _write_lock(board.work_dir, holder, time.time())
        ran = run_cli("deploy", "--board", board.name, "--model", str(models["int8"]))
        assert_one_line_error(ran, 3, f"board {board.name} is being deployed by {holder} since", "try again")
        assert os.readlink(board.work_dir / "current") == before
    finally:
        sleeper.kill()
        sleeper.wait()
    # The holder is gone now: its lock is stale and the next deploy takes it over.
    result = deploy(board.name, [models["int8"]])
    assert result.files_sent == 1
    assert not (board.work_dir / "deploy.lock").exists()


def test_a_lock_from_another_machine_is_respected_until_old(board: Board, models: dict[str, Path]) -> None:
    _write_lock(board.work_dir, "bob@elsewhere pid 1", time.time() - 60)
    with pytest.raises(DeployError, match="being deployed by bob@elsewhere pid 1"):
        deploy(board.name, [models["float"]])
    _write_lock(board.work_dir, "bob@elsewhere pid 1", time.time() - 3600)
    assert deploy(board.name, [models["float"]]).files_sent == 1


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 2 MB file system (tmpfs), so 'disk full' is the kernel's, not a simulation."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    assert done.returncode == 0, f"mounting a tmpfs needs root: {done.stderr.strip()}"
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_refused_before_upload_and_loses_nothing(
        small_disk: Path, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = write_board(tmp_path / "boards", "smallboard", small_disk / "work")
    monkeypatch.setenv("EDGEQ_BOARDS", str(record.boards_dir))
    deploy(record.name, [models["float"]])
    before = os.readlink(record.work_dir / "current")
    big = tmp_path / "big.tflite"
    shutil.copyfile(models["float"], big)
    with big.open("ab") as handle:  # a valid model with 3 MB of trailing bytes: too big for the board
        handle.write(b"\0" * 3_000_000)
    ran = run_cli("deploy", "--board", record.name, "--model", str(big))
    line = assert_one_line_error(ran, 3, "board smallboard has", "MB free in", "this deploy needs about")
    assert "Traceback" not in line
    assert os.readlink(record.work_dir / "current") == before
    assert not (record.work_dir / "deploy.lock").exists()
    assert not list((record.work_dir / "store").glob(".*part*"))
    # A profile of it is refused the same way, and takes its job and inputs off the board again.
    ran = run_cli("profile", "--board", record.name, "--runs", "2", "--runs-dir", str(tmp_path / "runs"),
                  "--model", str(big))
    assert_one_line_error(ran, 3, "board smallboard has", "MB free in", "this deploy needs about")
    assert list((record.work_dir / "runs").iterdir()) == []
    assert list((tmp_path / "runs").iterdir()) == []
    assert os.readlink(record.work_dir / "current") == before
