"""Fault 3 (a stopped or hung detached job honours --timeout) and fault 6's last part (a killed job's
backend child dies with it), on a loopback SSH board."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from edgeq.boards.schema import Board
from edgeq.errors import BoardError
from edgeq.profile import run as profile_run
from edgeq.profile.run import profile

from .conftest import home, loopback, processes_under, sshd_server  # noqa: F401  (fixtures)


def _pid(pattern: str, work: Path) -> int:
    (path,) = work.glob(pattern)
    return int(path.read_text().split()[0])


def _gone(pid: int, within: float = 10.0) -> bool:
    """True once `pid` has ended (a zombie waiting for init to reap it counts as ended)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_a_stopped_job_is_stopped_on_the_board_after_its_timeout_and_kept_as_partial(
        loopback: Board, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profile_run, "OVERDUE_GRACE_S", 3.0)  # the test's patience, not the rule
    work, runs = Path(loopback.work_dir), tmp_path / "runs"
    frozen: list[int] = []

    def freeze(phases: dict[str, str]) -> None:
        if not frozen and "measuring" in phases.values():
            frozen.append(_pid("runs/*/agent.pid", work))
            frozen.append(_pid("runs/*/work/*.pid", work))
            os.kill(frozen[0], signal.SIGSTOP)  # the job: its own timer can no longer end the backend

    with pytest.raises(BoardError) as caught:
        # --timeout 6: the backend's own timer (from its start) must not fire before the host has seen
        # it measuring and stopped the job; with 2 s, a slow start and a 0.5 s phase poll left ~1 s.
        profile(models["float"], board=loopback.name, runs=1, warmup=0, min_seconds=120, timeout_s=6,
                runs_dir=runs, watch=freeze)
    message = str(caught.value)
    assert frozen and "overstayed its 6 s" in message and f"process group {frozen[0]}" in message
    (partial,) = runs.glob("*.partial")
    assert f"kept in {partial}" in message
    assert (partial / "job.json").exists() and (partial / "inputs.npz").exists() and (partial / "agent.log").exists()
    assert _gone(frozen[0]) and _gone(frozen[1])
    assert not list(runs.glob(".staging-*"))


def test_a_killed_job_takes_its_backend_child_with_it(
        loopback: Board, models: dict[str, Path], tmp_path: Path) -> None:
    work = Path(loopback.work_dir)
    killed: list[int] = []

    def kill(phases: dict[str, str]) -> None:
        if not killed and "measuring" in phases.values():
            killed.append(_pid("runs/*/agent.pid", work))
            killed.append(_pid("runs/*/work/*.pid", work))
            os.kill(killed[0], signal.SIGKILL)

    with pytest.raises(BoardError, match="stopped before writing a result"):
        profile(models["float"], board=loopback.name, runs=1, warmup=0, min_seconds=120, runs_dir=tmp_path / "runs",
                watch=kill)
    assert killed and _gone(killed[1], within=5.0), "the backend child ran on after its job was killed"
