"""Fault 6: locks and leftovers. A lock whose holder is gone (--break-lock), profiles queueing on a
held lock, Ctrl-C and SIGTERM during a profile, and the board's retention of run folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from edgeq.boards.schema import Board
from edgeq.errors import DeployError
from edgeq.profile.run import profile, resume

from ..conftest import assert_one_line_error
from .conftest import cli_env, home, in_process, loopback, sshd_server  # noqa: F401  (fixtures)


def _hold_lock(work: Path, holder: str = "ci@build-7 pid 4242") -> Path:
    """A fresh lock of another machine's deploy, as a crashed one leaves it."""
    work.mkdir(parents=True, exist_ok=True)
    lock = work / "deploy.lock"
    lock.write_text(json.dumps({"holder": holder, "token": "t0k3n", "since": time.time()}))
    return lock


def test_a_lock_whose_holder_is_gone_is_broken_by_name(
        loopback: Board, models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    work = Path(loopback.work_dir)
    assert in_process(capsys, "deploy", "--board", loopback.name).returncode == 0
    before = os.readlink(work / "current")
    _hold_lock(work)
    ran = in_process(capsys, "deploy", "--board", loopback.name, "--model", str(models["float"]))
    assert_one_line_error(ran, 3, "being deployed by ci@build-7 pid 4242", "--break-lock")
    assert os.readlink(work / "current") == before
    ran = in_process(capsys, "deploy", "--board", loopback.name, "--model", str(models["float"]), "--break-lock")
    assert ran.returncode == 0, ran.stderr
    assert "breaking the deploy lock of ci@build-7 pid 4242 since" in ran.stderr
    assert not (work / "deploy.lock").exists()


def test_a_profile_waits_for_a_held_lock_and_says_so(
        loopback: Board, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    lock = _hold_lock(Path(loopback.work_dir))
    monkeypatch.setenv("EDGEQ_LOCK_WAIT_S", "1")
    with pytest.raises(DeployError, match=r"ci@build-7 pid 4242 .*\(waited \d+ s\).*--break-lock"):
        profile(models["float"], board=loopback.name, runs=1, warmup=0, runs_dir=tmp_path / "runs")
    assert "waiting up to 1 s for the deploy lock of ci@build-7 pid 4242" in capsys.readouterr().err
    assert not list((tmp_path / "runs").iterdir())

    monkeypatch.setenv("EDGEQ_LOCK_WAIT_S", "120")
    released = threading.Event()

    def release_when_waited() -> None:  # the holder finishes once the profile says it waits
        while "waiting" not in capsys.readouterr().err and not released.is_set():
            time.sleep(0.05)
        lock.unlink()
        released.set()

    helper = threading.Thread(target=release_when_waited)
    helper.start()
    try:
        run = profile(models["float"], board=loopback.name, runs=1, warmup=0, runs_dir=tmp_path / "runs")
    finally:
        released.set()
        helper.join()
    assert run.result["backends"][0]["status"] == "ok"


def _cli_profile(loopback: Board, models: dict[str, Path], runs: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edgeq", "profile", "--board", loopback.name, "--model",
                             str(models["float"]), "--runs", "1", "--warmup", "0", "--min-seconds", "3",
                             "--runs-dir", str(runs)], env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _when(condition, within: float = 60.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + within
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_during_a_run_keeps_it_to_resume_and_says_how(
        sig: int, code: int, word: str, loopback: Board, home: Path, models: dict[str, Path],
        tmp_path: Path) -> None:  # noqa: F811
    runs, work = tmp_path / "runs", Path(loopback.work_dir)
    process = _cli_profile(loopback, models, runs, cli_env(tmp_path, home))
    assert _when(lambda: any(work.glob("runs/*/work/phase")) and any(
        '"pid": null' not in p.read_text() for p in runs.glob(".staging-*/resume.json")))
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    (partial,) = runs.glob("*.partial")
    said = [line for line in err.splitlines() if line.startswith("edgeq:")]  # besides the progress lines
    assert said == [f"edgeq: {word}; the run goes on on the board: pick it up with `edgeq profile --resume {partial}`"]
    assert "Traceback" not in err
    assert not list(runs.glob(".staging-*"))
    run = resume(partial)
    assert run.result["backends"][0]["status"] == "ok"


def test_sigterm_before_the_run_starts_leaves_no_staging_folder(
        loopback: Board, home: Path, models: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    runs = tmp_path / "runs"
    process = _cli_profile(loopback, models, runs, cli_env(tmp_path, home))
    assert _when(lambda: any(runs.glob(".staging-*")))
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert not list(runs.glob(".staging-*"))
    partials = list(runs.glob("*.partial"))
    assert ("--resume" in err) == bool(partials), err  # either it had started (kept) or nothing is left


def test_the_board_keeps_only_the_runs_its_record_says(
        loopback: Board, models: dict[str, Path], tmp_path: Path) -> None:
    source = Path(str(loopback.source))
    data = yaml.safe_load(source.read_text())
    data["keep_runs"] = {"last": 2, "days": 0}
    source.write_text(yaml.safe_dump(data))
    for _ in range(3):
        profile(models["float"], board=loopback.name, runs=1, warmup=0, runs_dir=tmp_path / "runs")
    on_board = sorted(p.name for p in (Path(loopback.work_dir) / "runs").iterdir())
    assert len(on_board) == 2, on_board
    pulled = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(pulled) == 3  # the host keeps every run it pulled
