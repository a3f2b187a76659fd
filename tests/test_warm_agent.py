"""The warm agent (agent/warm.py): jobs forked from one long-lived process per deployment.

Against the real runtimes on the local board and over real SSH: it is started once and
reused, forked children give the same outputs as started ones, a crash still takes
only its child, it goes away when idle or killed, and it can be turned off.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgeq.profile import correctness
from edgeq.profile.run import WARM_AGENT_ENV, profile
from edgeq.testing.sshd import SshServer
from edgeq.testing.warm import running_warm_agents

from .conftest import Board, assert_one_line_error, run_cli
from .ssh_fixtures import ssh_board, sshd_server  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def warm_on_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests use local boards, where the warm agent is off unless asked for."""
    monkeypatch.setenv(WARM_AGENT_ENV, "300")


def _outputs(run_dir: Path, entry: dict) -> list[np.ndarray]:
    with np.load(run_dir / "outputs" / entry["outputs"]) as saved:
        return [saved[name] for name in saved.files]


def test_the_second_profile_reuses_the_agent_and_forks_its_backends(models: dict[str, Path], board: Board,
                                                                     tmp_path: Path) -> None:
    backends = ["tflite-cpu", "tflite-cpu:runtime=tflite_runtime", "armnn:backends=CpuRef"]
    first = profile(models["float"], board=board.name, backends=backends, runs=5, runs_dir=tmp_path / "runs")
    servers = running_warm_agents(board.work_dir)
    second = profile(models["float"], board=board.name, backends=backends, runs=5, runs_dir=tmp_path / "runs")
    assert (first.result["warm_agent"], second.result["warm_agent"]) == ("started", "reused")
    assert len(servers) == 1 and running_warm_agents(board.work_dir) == servers
    for run in (first, second):
        assert [b["status"] for b in run.result["backends"]] == ["ok"] * 3
        assert [b["process"] for b in run.result["backends"]] == ["fork"] * 3
        assert correctness.mismatches(run.result["correctness"]) == []


def test_forked_and_started_backends_give_the_same_outputs(models: dict[str, Path], board: Board, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    warm = profile(models["int8"], board=board.name, runs=3, runs_dir=tmp_path / "runs")
    monkeypatch.setenv(WARM_AGENT_ENV, "0")
    cold = profile(models["int8"], board=board.name, runs=3, runs_dir=tmp_path / "runs")
    assert warm.result["backends"][0]["process"] == "fork"
    assert cold.result["backends"][0]["process"] == "exec"
    assert cold.result["warm_agent"].startswith("off")
    for ours, theirs in zip(_outputs(warm.run_dir, warm.result["backends"][0]),
                            _outputs(cold.run_dir, cold.result["backends"][0])):
        np.testing.assert_array_equal(ours, theirs)


def test_a_killed_agent_is_replaced_by_the_next_profile(models: dict[str, Path], board: Board,
                                                        tmp_path: Path) -> None:
    profile(models["float"], board=board.name, runs=2, runs_dir=tmp_path / "runs")
    (pid,) = running_warm_agents(board.work_dir)
    os.kill(pid, signal.SIGKILL)  # its socket and pid file stay behind, as after a crash
    while Path(f"/proc/{pid}").exists() and b"warm-serve" in Path(f"/proc/{pid}/cmdline").read_bytes():
        time.sleep(0.01)
    again = profile(models["float"], board=board.name, runs=2, runs_dir=tmp_path / "runs")
    assert again.result["warm_agent"] == "started" and again.ok
    assert running_warm_agents(board.work_dir) not in ([], [pid])


def test_an_idle_agent_exits_and_removes_its_socket(models: dict[str, Path], board: Board, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WARM_AGENT_ENV, "1")
    profile(models["float"], board=board.name, runs=2, runs_dir=tmp_path / "runs")
    assert running_warm_agents(board.work_dir)
    deadline = time.monotonic() + 15
    while running_warm_agents(board.work_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running_warm_agents(board.work_dir) == []
    assert list((board.work_dir / "warm").glob("*.sock")) == []


def test_a_bad_warm_agent_setting_is_one_line(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    ran = run_cli("profile", "--board", board.name, "--model", str(models["float"]), cwd=tmp_path,
                  env={"EDGEQ_BOARDS": str(board.boards_dir), WARM_AGENT_ENV: "soon"})
    assert_one_line_error(ran, 2, WARM_AGENT_ENV, "seconds")


def test_the_agent_socket_is_the_board_user_s_alone(models: dict[str, Path], board: Board,
                                                    tmp_path: Path) -> None:
    profile(models["float"], board=board.name, runs=2, runs_dir=tmp_path / "runs")
    folder = board.work_dir / "warm"
    assert folder.stat().st_mode & 0o777 == 0o700
    (sock,) = folder.glob("*.sock")
    assert sock.stat().st_mode & 0o077 == 0


def test_over_ssh_the_deploy_call_starts_the_job_in_the_warm_agent(
        models: dict[str, Path], tmp_path: Path, sshd_server: SshServer,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text(sshd_server.known_hosts_line() + "\n")
    monkeypatch.setenv("HOME", str(home))
    record = ssh_board(tmp_path / "boards", sshd_server)
    monkeypatch.setenv("EDGEQ_BOARDS", str(tmp_path / "boards"))
    runs = [profile(models["float"], board=record.name, runs=3, runs_dir=tmp_path / "runs") for _ in range(2)]
    assert [r.result["warm_agent"] for r in runs] == ["started", "reused"]
    assert all(r.ok and r.result["backends"][0]["process"] == "fork" for r in runs)
    assert len(running_warm_agents(tmp_path / "boards")) == 1


def test_two_first_jobs_at_once_share_one_agent(models: dict[str, Path], board: Board, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WARM_AGENT_ENV, "0")  # deployed, with a job to copy, and no warm agent yet
    profile(models["float"], board=board.name, runs=2, runs_dir=tmp_path / "runs")
    (job,) = board.work_dir.glob("runs/*/job.json")
    (agent,) = board.work_dir.glob("agent/agent-*.pyz")
    folders = []
    for i in range(2):
        folder = board.work_dir / "runs" / f"again-{i}"
        folder.mkdir()
        for name in ("job.json", "inputs.npz"):
            shutil.copyfile(job.parent / name, folder / name)
        folders.append(folder)
    asks = [subprocess.Popen([sys.executable, str(agent), "profile", "--detach", "--warm", str(board.work_dir / "warm"),
                              str(folder / "job.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for folder in folders]
    answers = [json.loads(ask.communicate(timeout=120)[0]) for ask in asks]
    assert sorted(a["warm"] for a in answers) in (["reused", "started"], ["started", "started"])  # neither cold
    deadline = time.monotonic() + 60
    while not all((f / "result.json").exists() for f in folders) and time.monotonic() < deadline:
        time.sleep(0.05)
    for folder in folders:
        (entry,) = json.loads((folder / "result.json").read_text())["backends"]
        assert entry["status"] == "ok" and entry["process"] == "fork"
    assert len(running_warm_agents(board.work_dir)) == 1


def test_a_job_asked_for_twice_runs_once(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    """However the start is asked for again (a late answer, a retry), a run folder's job runs once."""
    run = profile(models["float"], board=board.name, runs=2, runs_dir=tmp_path / "runs")
    (job,) = board.work_dir.glob("runs/*/job.json")
    (agent,) = board.work_dir.glob("agent/agent-*.pyz")
    result = job.parent / "result.json"
    before = result.stat().st_mtime_ns
    for warm in ([], ["--warm", str(board.work_dir / "warm")]):
        done = subprocess.run([sys.executable, str(agent), "profile", "--detach", *warm, str(job)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["started"] == int((job.parent / "agent.pid").read_text())
    time.sleep(1.0)
    assert result.stat().st_mtime_ns == before and run.ok
