"""Live output as a person and a log see it: a real terminal (tmux) and a pipe.

In a terminal the live lines are drawn while the work goes on and are gone when the
table prints; without one, every line is a timestamped log line with no control characters.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import Board, run_cli

STAMP = re.compile(r"^\d\d:\d\d:\d\dZ \S")


def _tmux() -> str:
    found = shutil.which("tmux")
    if not found:
        pytest.fail("tmux not found: the terminal test needs it; apt-get install tmux", pytrace=False)
    return found


def test_in_a_terminal_the_live_line_is_cleared_before_the_table(models: dict[str, Path], board: Board,
                                                                  tmp_path: Path) -> None:
    tmux, socket = _tmux(), f"edgeq-test-{os.getpid()}"
    raw, done = tmp_path / "raw.txt", tmp_path / "done"
    command = (f"cd {shlex.quote(str(tmp_path))} && EDGEQ_BOARDS={shlex.quote(str(board.boards_dir))} "
               f"PYTHONPATH={shlex.quote(os.environ.get('PYTHONPATH', ''))} {shlex.quote(sys.executable)} -m edgeq "
               f"profile -b {board.name} -m {shlex.quote(str(models['float']))} "
               "--backend tflite-cpu,armnn:backends=CpuRef,armnn:backends=GpuAcc --runs 20 --min-seconds 1; "
               f"echo $? > {shlex.quote(str(done))}; sleep 600")
    subprocess.run([tmux, "-L", socket, "new-session", "-d", "-x", "220", "-y", "60", "-s", "t", command], check=True)
    try:
        subprocess.run([tmux, "-L", socket, "pipe-pane", "-t", "t", "-o", f"cat >> {shlex.quote(str(raw))}"],
                       check=True)
        deadline = time.monotonic() + 240
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert done.read_text().strip() == "0"
        screen = subprocess.run([tmux, "-L", socket, "capture-pane", "-p", "-t", "t", "-S", "-"],
                                capture_output=True, text=True, check=True).stdout
    finally:
        subprocess.run([tmux, "-L", socket, "kill-server"], check=False)
    coloured = raw.read_text(errors="replace")
    assert re.search(r"\x1b\[[0-9;]*mUNAVAILABLE", coloured)  # GpuAcc (no Mali here) stands out in the table
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", coloured)
    # the live line was drawn, with the backend as the user spelled it ...
    assert f"{board.name}: sent" in drawn or f"{board.name}: sending" in drawn
    assert "armnn:backends=CpuRef" in drawn and "armnn_backends_CpuRef" not in drawn
    # ... and nothing of it is left on the screen: the table stands alone
    lines = [line for line in screen.splitlines() if line.strip()]
    assert any(line.startswith("backend ") for line in lines), screen
    assert not any(line.startswith(f"{board.name}:") or "sending" in line or "sent " in line for line in lines), screen
    assert lines[0].startswith("tiny_float"), screen  # the table's title is the first thing on the screen


def test_without_a_terminal_progress_is_timestamped_lines(models: dict[str, Path], board: Board,
                                                          tmp_path: Path) -> None:
    ran = run_cli("profile", "-b", board.name, "-m", str(models["float"]), "--runs", "5", "--min-seconds", "3",
                  "--backend", "tflite-cpu,armnn:backends=CpuRef", "--runs-dir", str(tmp_path / "runs"),
                  env={"EDGEQ_LOG_EVERY_S": "1"})
    assert ran.returncode == 0, ran.stderr
    for text in (ran.stdout, ran.stderr):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text), repr(text)  # no ESC, no CR
    progress = [line for line in ran.stderr.splitlines() if line.strip()]
    assert progress and all(STAMP.match(line) for line in progress), ran.stderr
    assert any("armnn:backends=CpuRef" in line for line in progress)
    assert any(": still " in line for line in progress), ran.stderr  # a long phase is not silent
    assert "backend " in ran.stdout


def test_quiet_writes_no_progress(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    ran = run_cli("profile", "-b", board.name, "-m", str(models["float"]), "--runs", "3", "--quiet",
                  "--runs-dir", str(tmp_path / "runs"))
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == ""
