"""A backend that dies takes only itself down: the profile records why and the others complete."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from edgeq.profile.run import profile

from .conftest import Board

VICTIM = "tflite-cpu:runtime=tflite_runtime"


def _child_pid(run_work: Path, stem: str) -> int | None:
    """The pid of the backend child of `stem`, as the runner records it (forked or started)."""
    try:
        return int((run_work / f"{stem}.pid").read_text())
    except (OSError, ValueError):
        return None


def _abort_when_measuring(work_dir: Path, stem: str, killed: list[int], deadline: float) -> None:
    while time.monotonic() < deadline:
        for phase_file in work_dir.glob("runs/*/work/phase"):
            if phase_file.read_text() == f"{stem} measuring":
                pid = _child_pid(phase_file.parent, stem)
                if pid:
                    os.kill(pid, signal.SIGABRT)
                    killed.append(pid)
                    return
        time.sleep(0.02)


def test_sigabrt_in_one_backend_fails_only_that_backend(models: dict[str, Path], board: Board,
                                                        tmp_path: Path) -> None:
    killed: list[int] = []
    watcher = threading.Thread(
        target=_abort_when_measuring,
        args=(board.work_dir, "01-tflite-cpu_runtime_tflite_runtime", killed, time.monotonic() + 60),
    )
    watcher.start()
    run = profile(models["float"], board=board.name,
                  backends=["tflite-cpu", VICTIM, "armnn:backends=CpuRef"],
                  runs=1, warmup=0, min_seconds=2.0, runs_dir=tmp_path / "runs")
    watcher.join()
    assert killed, "the watcher never saw the backend child in its measuring phase"
    first, victim, last = run.result["backends"]
    assert victim["label"] == VICTIM
    assert victim["status"] == "failed"
    assert "killed by SIGABRT" in victim["reason"] and "crash inside the runtime" in victim["reason"]
    assert "samples_ns" not in victim
    for entry in (first, last):
        assert entry["status"] == "ok", entry
        # It measured its full two seconds (the sum of samples leaves out the loop's own overhead).
        assert entry["stats"]["count"] == len(entry["samples_ns"]) > 100
        assert sum(entry["samples_ns"]) >= 1.0e9
    assert (run.run_dir / "outputs" / first["outputs"]).exists()
    assert (run.run_dir / "outputs" / last["outputs"]).exists()
    assert (run.run_dir / victim["log"]).exists()
