"""Ctrl-C and SIGTERM during a fleet (`edgeq profile --board a,b`): every board stops the way one board
does. A run started on a board is kept as RUN.partial with its `--resume` command, a board still waiting
changes nothing, a finished one keeps its run directory, no deploy lock of ours is left, and the CLI
says one line per board and exits 130 / 143.

The boards are real: an SSH board on a loopback sshd and a local board, profiled by a CLI subprocess
that is signalled mid-run, as a user's terminal or a CI runner would.
"""

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

from edgeq import stopping
from edgeq.boards.schema import Board
from edgeq.deploy.plan import deploy
from edgeq.profile.run import resume

from ..conftest import write_board
from .conftest import cli_env, home, loopback, sshd_server  # noqa: F401  (fixtures)


STOPPING = "edgeq: stopping every board at a safe point (a run started on a board is kept to resume)"


def _fleet(loopback: Board, tmp_path: Path) -> tuple[str, dict[str, Path]]:
    """The loopback SSH board and a local board beside it: `--board` spec, and each one's work dir."""
    local = write_board(tmp_path / "boards", "bench", tmp_path / "bench-work", backends="[tflite-cpu]")
    return f"{loopback.name},{local.name}", {loopback.name: Path(loopback.work_dir), local.name: local.work_dir}


def _cli_profile(spec: str, model: Path, runs: Path, env: dict[str, str], seconds: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edgeq", "profile", "--board", spec, "--model", str(model),
                             "--runs", "1", "--warmup", "0", "--min-seconds", seconds, "--runs-dir", str(runs)],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _when(condition, within: float = 120.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + within
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


def _said(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("edgeq:")]  # besides the progress lines


def _started_on_every_board(runs: Path, works: dict[str, Path]) -> bool:
    started = [p for p in runs.glob(".staging-*/resume.json") if '"pid": null' not in p.read_text()]
    return len(started) == len(works) and all(any(w.glob("runs/*/work/phase")) for w in works.values())


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_during_a_fleet_keeps_every_started_run_to_resume(
        sig: int, code: int, word: str, loopback: Board, home: Path, models: dict[str, Path],
        tmp_path: Path) -> None:  # noqa: F811
    spec, works = _fleet(loopback, tmp_path)
    runs = tmp_path / "runs"
    process = _cli_profile(spec, models["float"], runs, cli_env(tmp_path, home), seconds="20")
    assert _when(lambda: _started_on_every_board(runs, works) or process.poll() is not None), process.poll()
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert "Traceback" not in err
    assert len(list(runs.glob("*.partial"))) == 2, err
    said = _said(err)
    assert said[0] == STOPPING
    assert said[1] == f"edgeq: {word}"
    lines = said[2:]
    assert len(lines) == 2, said  # one per board, in the order given
    for line, name in zip(lines, works):
        (partial,) = [p for p in runs.glob("*.partial") if f"-{name}-" in p.name]
        assert line == (f"edgeq: board {name}: the run goes on on the board: pick it up with "
                        f"`edgeq profile --resume {partial}`")
    assert not list(runs.glob(".staging-*"))  # nothing half-moved on the host
    for work in works.values():
        assert not (work / "deploy.lock").exists()  # no board is left locked
    for partial in runs.glob("*.partial"):  # each picks up where it was, on its own board
        run = resume(partial)
        assert run.result["backends"][0]["status"] == "ok"
        assert not partial.exists()


def test_a_signal_keeps_a_finished_board_and_stops_one_waiting_for_its_lock(
        loopback: Board, home: Path, models: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    """The local board finishes; the SSH board waits for a lock another live deploy holds, and the
    signal stops its waiting: that lock stays the holder's, nothing is started, nothing is kept."""
    spec, works = _fleet(loopback, tmp_path)
    ssh_work = works[loopback.name]
    ssh_work.mkdir(parents=True, exist_ok=True)
    held = {"holder": "ci@build-7 pid 4242", "token": "t0k3n", "since": time.time()}
    (ssh_work / "deploy.lock").write_text(json.dumps(held))  # another machine's deploy, in progress
    runs = tmp_path / "runs"
    env = {**cli_env(tmp_path, home), "EDGEQ_LOCK_WAIT_S": "600"}
    process = _cli_profile(spec, models["float"], runs, env, seconds="0")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    waiting = f"edgeq: board {loopback.name}: waiting up to 600 s for the deploy lock of {held['holder']}"
    assert _when(lambda: (any(runs.glob("*-bench-*/result.json")) and any(waiting in line for line in lines))
                 or process.poll() is not None), process.poll()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=120)
    reader.join(timeout=60)
    err = "".join(lines)
    assert process.returncode == 130, err
    (finished,) = [p for p in runs.iterdir() if not p.name.startswith(".")]
    assert (finished / "result.json").exists() and "-bench-" in finished.name
    said = _said(err)
    assert said[0].startswith(waiting), said
    assert said[1] == STOPPING
    assert said[2:] == [
        "edgeq: interrupted",
        f"edgeq: board {loopback.name}: stopped before its step changed anything on the board (nothing to resume)",
        f"edgeq: board bench: finished: run directory {finished}",
    ]
    assert json.loads((ssh_work / "deploy.lock").read_text())["token"] == "t0k3n"  # still the holder's
    assert not list(runs.glob(".staging-*")) and not list(runs.glob("*.partial"))
    assert not list(ssh_work.glob("runs/*"))  # nothing was started on the waiting board


def test_a_stop_between_uploads_releases_the_deploy_lock_and_switches_nothing(
        loopback: Board, models: dict[str, Path]) -> None:  # noqa: F811
    """The seam a fleet's worker thread stops at during a deploy: between two whole files, under the
    lock. The lock is given back and the board's `current` deployment is not switched."""
    request = stopping.StopRequest()
    token = stopping.bind(request)
    sent: list[int] = []

    def after_first_file(done: int, size: int) -> None:
        sent.append(done)
        if done == size:
            request.request(KeyboardInterrupt())

    try:
        with pytest.raises(KeyboardInterrupt):
            deploy(loopback, [models["float"], models["int8"]], progress=after_first_file)
    finally:
        stopping.unbind(token)
    work = Path(loopback.work_dir)
    assert sent  # it had begun sending under the lock
    assert not (work / "deploy.lock").exists()
    assert not (work / "current").exists()
    done = deploy(loopback, [models["float"], models["int8"]])  # the next deploy takes the board at once
    assert done.files_sent >= 1 and (work / "current").exists() and not (work / "deploy.lock").exists()
