"""Odd board behaviour at the agent-client seam, with the strict fake agent (edgeq/testing/fakeagent.py):
the agent dying mid-run, the deadline passing, the deploy lock taken over, a pull cut short.
The host's code, the local transport and the run folders are real."""

from __future__ import annotations

import getpass
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeq.agent import facts as board_facts
from edgeq.agent.records import Result
from edgeq.agent.wire import Phase
from edgeq.boards.schema import Board
from edgeq.deploy.plan import deploy
from edgeq.errors import BoardError, DeployError, TransportError
from edgeq.link.client import Poll
from edgeq.profile.handle import RunHandle
from edgeq.profile.run import profile, resume
from edgeq.testing.fakeagent import FakeAgent, UnexpectedCall, committed, result_pull

OK_ENTRY = {"backend": "tflite-cpu", "label": "tflite-cpu", "options": {}, "status": "ok",
            "stats": {"p50_ms": 1.0, "count": 3}, "log": "logs/00.log"}


def started(agent: FakeAgent) -> FakeAgent:
    """What every profile of a deployed board sends first: facts, a deploy that commits, the start."""
    return (agent.expect("facts", board_facts.quick_facts(), when=lambda quick, dirs: quick)
            .expect("deploy_begin", committed())
            .expect("start_profile", {"started": 4242, "result": "x", "warm": "off: fake"},
                    when=lambda start: start.job.endswith("/job.json")))


def test_the_fake_refuses_what_it_was_not_told() -> None:
    agent = FakeAgent().expect("facts", {})
    with pytest.raises(UnexpectedCall, match="expected facts, the host sent deploy_release"):
        agent.deploy_release("/w", {})
    with pytest.raises(UnexpectedCall, match="the host never sent: facts"):
        agent.done()
    with pytest.raises(ValueError, match="Choose from: facts"):
        agent.expect("reboot")


def test_an_agent_that_dies_mid_run_is_a_board_failure_and_leaves_no_run(
        board: Board, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agent = started(FakeAgent()).install(monkeypatch)
    agent.expect("poll", Poll(False, Phase("00-tflite-cpu", "measuring"), True), when=lambda *a: a[3])
    agent.expect("poll", Poll(False), when=lambda *a: not a[3], repeat=True)
    agent.expect("poll", Poll(False, None, False), when=lambda *a: a[3])  # the next look for its pid
    agent.expect("log_tail", "MemoryError", when=lambda run: "/runs/" in run)
    seen: list[dict[str, str]] = []
    with pytest.raises(BoardError, match=r"stopped before writing a result \(MemoryError\); see .*agent.log on"):
        profile(models["float"], board=board.name, runs_dir=tmp_path / "runs", watch=seen.append)
    agent.done()
    assert seen == [{"tflite-cpu": "measuring"}]
    assert list((tmp_path / "runs").iterdir()) == []  # neither a run nor a partial: there is nothing to resume


def test_a_run_past_its_deadline_is_a_board_failure_and_stays_resumable(
        board: Board, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    partial = tmp_path / "runs" / "r1.partial"
    partial.mkdir(parents=True)
    RunHandle(board.name, 0.2, {"run_id": "r1"}, None, "/board/runs/r1", "python3", "/a.pyz", 4242).save(partial)
    agent = FakeAgent().install(monkeypatch).expect("poll", Poll(False, None, True), repeat=True)
    agent.expect("stop_run", True, when=lambda pid, grace: pid == 4242)  # the job's process group, on the board
    agent.expect("pull_leftovers", [], when=lambda run, local: run == "/board/runs/r1" and local == partial)
    with pytest.raises(BoardError, match=f"on board {board.name} overstayed .* were stopped .* kept in {partial}"):
        resume(partial)
    agent.done()
    assert all(args[:2] == ("/board/runs/r1", 4242) for name, args in agent.calls if name == "poll")
    assert RunHandle.load(partial).pid == 4242  # still there to try again


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_facts_are_kept_per_board_not_per_name(board: Board, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record re-pointed under the same name (another port) is another board: its facts are asked for
    again, not served from the first one's (was: a trixie board deployed with bookworm's cp311 wheels)."""
    from edgeq.boards.catalog import load_board
    from edgeq.link.probe import quick_facts
    from edgeq.link.transport import connect

    first, other = board_facts.quick_facts(), dict(board_facts.quick_facts(), python={"version": "3.13.5"})
    agent = FakeAgent().install(monkeypatch).expect("facts", first).expect("facts", other)
    record = load_board(board.name)
    moved = record.model_copy(update={"connection": record.connection.model_copy(update={"port": 2224})})
    with connect(record) as transport:
        assert quick_facts(record, transport)[2] is first
        assert quick_facts(record, transport)[2] is first  # the same board: kept
        assert quick_facts(moved, transport)[2] is other
    agent.done()


def test_a_stale_lock_of_a_dead_deploy_is_taken_over(board: Board, monkeypatch: pytest.MonkeyPatch) -> None:
    held = {"holder": f"{getpass.getuser()}@{socket.gethostname()} pid {_dead_pid()}", "token": "old",
            "since": time.time()}
    agent = FakeAgent().install(monkeypatch).expect("facts", board_facts.quick_facts())
    agent.expect("deploy_begin", {"locked": held}, when=lambda work, plan: plan["takeover"] is None)
    agent.expect("deploy_begin", committed("d1"), when=lambda work, plan: plan["takeover"] == "old")
    done = deploy(board.name)
    agent.done()
    assert done.files_sent == 0 and done.deployment == agent.calls[-1][1][1]["deployment"]


def test_a_live_lock_is_reported_not_taken(board: Board, monkeypatch: pytest.MonkeyPatch) -> None:
    held = {"holder": "someone@elsewhere pid 1", "token": "theirs", "since": time.time()}
    agent = FakeAgent().install(monkeypatch).expect("facts", board_facts.quick_facts())
    agent.expect("deploy_begin", {"locked": held})
    with pytest.raises(DeployError, match=f"board {board.name} is being deployed by someone@elsewhere pid 1"):
        deploy(board.name)
    agent.done()


def test_a_lock_taken_over_mid_deploy_releases_and_removes_the_jobs_folder(
        board: Board, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def lacks_everything(work: str, plan: dict) -> dict:
        return {"locked": None, "missing": sorted({f["sha256"] for f in plan["files"]}), "free_bytes": 1 << 40,
                "current": None, "have_deployment": True}

    taken = DeployError(f"board {board.name}: the deploy lock was taken over (now held by x); deploy again")
    agent = FakeAgent().install(monkeypatch).expect("facts", board_facts.quick_facts())
    agent.expect("deploy_begin", lacks_everything).expect("deploy_commit", taken)
    agent.expect("deploy_release", {"released": False}, when=lambda work, plan: plan["token"])
    agent.expect("remove_run", None, when=lambda run: "/runs/" in run)
    with pytest.raises(DeployError, match="the deploy lock was taken over"):
        profile(models["float"], board=board.name, runs_dir=tmp_path / "runs")
    agent.done()
    sent = list((board.work_dir / "store").iterdir())
    assert len(sent) == 1  # the model was sent before the commit found the lock gone
    assert list((tmp_path / "runs").iterdir()) == []


def test_a_pull_cut_short_keeps_a_partial_run_that_resumes(
        board: Board, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cut = TransportError(f"connection to board {board.name} was lost getting a file")
    agent = started(FakeAgent()).install(monkeypatch)
    agent.expect("poll", Poll(True)).expect("pull", result_pull([OK_ENTRY], fail_after=1, error=cut))
    runs = tmp_path / "runs"
    with pytest.raises(TransportError) as caught:
        profile(models["float"], board=board.name, runs_dir=runs)
    agent.done()
    (partial,) = runs.glob("*.partial")
    assert f"edgeq profile --resume {partial}" in str(caught.value)
    assert (partial / "job.json").exists() and RunHandle.load(partial).pid == 4242

    again = FakeAgent().install(monkeypatch)
    again.expect("poll", Poll(True), when=lambda run, pid, *_: pid == 4242).expect("pull", result_pull([OK_ENTRY]))
    run = resume(partial)
    again.done()
    assert not partial.exists() and (run.run_dir / "logs" / "00.log").exists()
    assert run.result["run_id"] in run.run_dir.name and run.result["warm_agent"] == "off: fake"
    assert not (run.run_dir / "resume.json").exists()


def test_a_resumed_run_says_why_a_runtime_is_missing_and_takes_a_free_id(
        board: Board, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend whose runtime has no wheel for the board gets the bundle's reason, the board's kept beside it;
    a run whose id a folder already has takes the folder's name as its id; result.json is the typed record's."""
    cut = TransportError(f"connection to board {board.name} was lost getting a file")
    agent = started(FakeAgent()).install(monkeypatch)
    agent.expect("poll", Poll(True)).expect("pull", result_pull([OK_ENTRY], fail_after=0, error=cut))
    runs = tmp_path / "runs"
    with pytest.raises(TransportError):
        profile(models["float"], board=board.name, runs_dir=runs)
    (partial,) = runs.glob("*.partial")
    handle = RunHandle.load(partial)
    handle.host["unavailable"] = {"tflite_runtime": "tflite-runtime: no wheel for Python 3.13"}
    handle.save(partial)
    (runs / handle.run_id).mkdir()
    (runs / handle.run_id / "result.json").write_text("{}")  # another run's folder of the same id
    missing = {"backend": "tflite-cpu", "label": "tflite-cpu:runtime=tflite_runtime", "status": "unavailable",
               "options": {"runtime": "tflite_runtime"}, "reason": "ImportError: No module named 'tflite_runtime'"}
    again = FakeAgent().install(monkeypatch)
    again.expect("poll", Poll(True)).expect("pull", result_pull([OK_ENTRY, missing]))
    run = resume(partial)
    again.done()
    written = json.loads((run.run_dir / "result.json").read_text())
    assert run.run_dir.name == written["run_id"] == f"{handle.run_id}-2"
    ok, gap = written["backends"]
    assert gap["reason"] == "tflite-runtime: no wheel for Python 3.13: not on this board and not deployable"
    assert gap["board_reason"] == "ImportError: No module named 'tflite_runtime'" and "board_reason" not in ok
    assert Result.from_dict(written).to_dict() == written == run.result


def test_the_fake_speaks_every_command_of_the_real_client() -> None:
    """The fake cannot drift from the seam it stands in for: same public methods, same parameters."""
    import inspect

    from edgeq.link.client import AgentClient

    public = [n for n, f in inspect.getmembers(AgentClient, inspect.isfunction) if not n.startswith("_")]
    for name in public:
        real, fake = inspect.signature(getattr(AgentClient, name)), inspect.signature(getattr(FakeAgent, name))
        assert list(real.parameters) == list(fake.parameters), name
