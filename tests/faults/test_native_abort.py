"""A native abort in one backend on a loopback SSH board fails only that backend (the local-board
version is tests/test_backend_isolation.py)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from edgeq.boards.schema import Board
from edgeq.profile.run import profile

from .conftest import home, loopback, sshd_server  # noqa: F401  (fixtures)


def test_sigabrt_in_a_backend_on_an_ssh_board_fails_only_that_backend(
        loopback: Board, models: dict[str, Path], tmp_path: Path) -> None:
    work, killed = Path(loopback.work_dir), []

    def abort(phases: dict[str, str]) -> None:
        if not killed and phases.get("tflite-cpu") == "measuring":
            (pid_file,) = work.glob("runs/*/work/00-tflite-cpu.pid")
            killed.append(int(pid_file.read_text()))
            os.kill(killed[0], signal.SIGABRT)

    run = profile(models["float"], board=loopback.name, backends=["tflite-cpu", "armnn:backends=CpuRef"], runs=1,
                  warmup=0, min_seconds=1.5, runs_dir=tmp_path / "runs", watch=abort)
    victim, other = run.result["backends"]
    assert killed and victim["status"] == "failed" and "killed by SIGABRT" in victim["reason"]
    assert other["status"] == "ok" and (run.run_dir / victim["log"]).exists()
