"""The host side of a profile: build the job, run the agent on the board, pull the results.

The flow is the same for every board; only the Transport differs. Nothing is
written to the user's runs/ folder until the board has answered: a staging
folder becomes the run directory by one rename.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np

from edgeq.agent.records import Job
from edgeq.agent.wire import COOLDOWN_TIMEOUT_S, Layout, Phase, RunFiles
from edgeq.profile import backendspec, correctness, jobfile
from edgeq.model import inputs
from edgeq.link.agentcall import call_agent
from edgeq.link.probe import os_disagreement
from edgeq.boards.catalog import load_board
from edgeq.boards.schema import Board
from edgeq.errors import BoardError, ConfigError, TransportError
from edgeq.deploy.plan import apply_deploy, plan_deploy
from edgeq.model.reader import ModelInfo, inspect_model
from edgeq.model.naming import safe_name
from edgeq.link.transport import Progress, Transport, connect

Watch = Callable[[dict[str, str]], None]
"""Called with {backend label: phase} (loading, warmup, measuring, ...) while a run goes on."""


@dataclass
class ProfileRun:
    run_dir: Path
    result: dict[str, Any]

    @property
    def ok(self) -> bool:
        return any(b["status"] == "ok" for b in self.result["backends"])


WARM_AGENT_ENV = "EDGEQ_WARM_AGENT_S"
WARM_AGENT_DEFAULT_S = 300.0


def warm_agent_s() -> float:
    """How long a board's warm agent outlives its last job (agent/warm.py); 0 runs every job cold."""
    text = os.environ.get(WARM_AGENT_ENV, "").strip()
    if not text:
        return WARM_AGENT_DEFAULT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigError(f"{WARM_AGENT_ENV}={text!r}: expected seconds >= 0 (0 turns the warm agent off)")
    return value


def _check_reference(info: ModelInfo, ref: ModelInfo) -> None:
    """A reference must take and give the same shapes, or its outputs mean nothing here."""
    ours = ([s.shape for s in info.inputs], [s.shape for s in info.outputs])
    theirs = ([s.shape for s in ref.inputs], [s.shape for s in ref.outputs])
    if ours != theirs:
        raise ConfigError(f"--reference {ref.path}: its inputs/outputs {theirs} do not match the model's {ours}")


def resolve_cores(board: Board, pin: str | None) -> list[int] | None:
    """`big`, `little` (a cluster name) or `0,1,2` -> core ids; None leaves the scheduler alone."""
    if not pin:
        return None
    clusters = {c.name: list(c.cores) for c in board.cpu.clusters} if board.cpu else {}
    if pin in clusters:
        return clusters[pin]
    try:
        cores = [int(p) for p in pin.split(",") if p.strip()]
    except ValueError:
        choices = ", ".join(sorted(clusters)) or "(this board names no clusters)"
        raise ConfigError(f"--pin {pin!r}: expected a cluster name or core ids like 0,1. Choose from: {choices}") from None
    known = {c for ids in clusters.values() for c in ids}
    unknown = [c for c in cores if known and c not in known]
    if unknown:
        raise ConfigError(f"--pin: board {board.name} has no core {unknown[0]} (cores: {sorted(known)})")
    return cores


def _run_id(board: Board, info: ModelInfo) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"{stamp}-{safe_name(board.name)}-{safe_name(info.stem)}"


def _move_to_unique(folder: Path, parent: Path, name: str) -> Path:
    """Rename `folder` to parent/name, or name-2, name-3...: the first free one at the moment of the
    rename, so two runs finishing at once (a fleet's threads) never take the same name."""
    n = 1
    while True:
        candidate = parent / (name if n == 1 else f"{name}-{n}")
        if not candidate.exists():
            try:
                folder.rename(candidate)  # fails on an existing, non-empty run directory
                return candidate
            except OSError:
                if not candidate.exists():
                    raise
        n += 1


def _pull(transport: Transport, remote_dir: str, local: Path) -> dict[str, Any]:
    transport.get(f"{remote_dir}/{RunFiles.RESULT}", local / RunFiles.RESULT)
    result = json.loads((local / RunFiles.RESULT).read_text())
    for sub in (RunFiles.OUTPUTS, RunFiles.LOGS):
        (local / sub).mkdir(exist_ok=True)
    samples = (result.get("telemetry") or {}).get("file")
    if samples:
        transport.get(f"{remote_dir}/{samples}", local / samples)
    for backend in result["backends"]:
        if backend.get("outputs"):
            name = backend["outputs"]
            transport.get(f"{remote_dir}/{RunFiles.OUTPUTS}/{name}", local / RunFiles.OUTPUTS / name)
        if backend.get("log"):
            transport.get(f"{remote_dir}/{backend['log']}", local / backend["log"])
    return result


POLL_MIN_S, POLL_FAST_S, POLL_MAX_S = 0.01, 1.0, 0.25
"""Polls every POLL_MIN_S for the first POLL_FAST_S (one SFTP stat each, a fraction of a millisecond
of CPU on either side), then less often, up to POLL_MAX_S apart: the most a finished run waits to be seen."""
PHASE_EVERY_S, ALIVE_EVERY_S = 0.5, 1.0
"""How often the phase line is refreshed and the agent's pid is checked; every poll checks the result."""


def _wait(transport: Transport, state: dict[str, Any], budget_s: float, watch: Watch | None) -> None:
    """Poll the detached agent's files until its result exists; a dead agent is a board failure.

    Polling reads files (over SFTP on an SSH board) instead of starting a process on the
    board, which costs seconds on an emulated board and CPU on a real one. A poll is one
    `stat` of result.json; the phase and the pid are looked at less often. The pause stays
    short (at most POLL_MAX_S): a pause that kept growing would leave a finished run unseen
    for longer the longer it ran, which is what a busy board's run does.
    """
    deadline = time.monotonic() + budget_s
    run, pause, seen = state["remote_run"], POLL_MIN_S, ""
    started = time.monotonic()
    next_phase = next_alive = time.monotonic()
    while True:
        if transport.exists(f"{run}/{RunFiles.RESULT}"):
            return
        now = time.monotonic()
        if watch and now >= next_phase:
            next_phase = now + PHASE_EVERY_S
            text = (transport.read(f"{run}/{RunFiles.PHASE}") or b"").decode("utf-8", "replace")
            phase = Phase.parse(text)
            if phase and text != seen:
                watch({phase.label: phase.phase})
            seen = text
        if now >= next_alive:
            next_alive = now + ALIVE_EVERY_S
            if not transport.exists(f"/proc/{state['pid']}") and not transport.exists(f"{run}/{RunFiles.RESULT}"):
                raise BoardError(f"the agent on board {state['board']} stopped before writing a result; "
                                 f"see {run}/{RunFiles.LOG} on the board")
        if now > deadline:
            raise BoardError(f"the run on board {state['board']} did not finish within {budget_s:g} s")
        time.sleep(pause)
        if now - started > POLL_FAST_S:  # most profiles of a small model end within this: look often
            pause = min(pause * 1.5, POLL_MAX_S)


def _finish(transport: Transport, state: dict[str, Any], local: Path, runs_dir: Path,
            watch: Watch | None) -> ProfileRun:
    _wait(transport, state, state["budget_s"], watch)
    result = _pull(transport, state["remote_run"], local)
    result.update(state["host"])
    _explain_unavailable(result, state.get("unavailable") or {})
    warning = os_disagreement(load_board(state["board"]), result.get("facts") or {})
    if warning:
        result["warnings"] = [*result.get("warnings", []), warning]
    _check_outputs(result, local, state)
    (local / RunFiles.RESULT).write_text(json.dumps(result, indent=1))
    (local / "resume.json").unlink(missing_ok=True)
    final = _move_to_unique(local, runs_dir, state["host"]["run_id"])
    return ProfileRun(final, result)


def _explain_unavailable(result: dict[str, Any], gaps: dict[str, str]) -> None:
    """A backend the board could not open because its runtime has no wheel for the board says so
    (the bundle knew why), beside what the board itself said."""
    for entry in result.get("backends", []):
        runtime = str((entry.get("options") or {}).get("runtime", ""))
        if entry.get("status") == "unavailable" and runtime in gaps:
            entry["board_reason"] = entry.get("reason")
            entry["reason"] = f"{gaps[runtime]}: not on this board and not deployable"


def _check_outputs(result: dict[str, Any], local: Path, state: dict[str, Any]) -> None:
    """Add the `correctness` section and a warning per mismatch; the run dir keeps both."""
    info = inspect_model(Path(state["host"]["model"]["path"]))
    with np.load(local / RunFiles.INPUTS) as saved:
        arrays = [saved[name] for name in saved.files]
    reference = Path(state["reference"]) if state.get("reference") else None
    section = correctness.check_run(info, arrays, result["backends"], local / RunFiles.OUTPUTS, reference)
    result["correctness"] = section
    result["warnings"] = list(result.get("warnings", [])) + [
        f"outputs do not match the reference: {m}" for m in correctness.mismatches(section)]


def _keep_partial(staging: Path, runs_dir: Path, run_id: str, error: TransportError) -> TransportError:
    partial = _move_to_unique(staging, runs_dir, f"{run_id}.partial")
    return TransportError(f"{error}; the run goes on on the board: pick it up with "
                          f"`edgeq profile --resume {partial}`")


def resume(partial: Path, accept_new_host_key: bool = False, watch: Watch | None = None) -> ProfileRun:
    """Finish a run whose connection was lost: wait for it on the board and pull its results."""
    try:
        state = json.loads((partial / "resume.json").read_text())
    except (OSError, ValueError):
        raise ConfigError(f"{partial}: not a partial run directory (no readable resume.json)") from None
    record = load_board(state["board"])
    transport = connect(record, accept_new_host_key=accept_new_host_key)
    try:
        return _finish(transport, state, partial, partial.parent, watch)
    finally:
        transport.close()


def _start_on_board(transport: Transport, record: Board, info: ModelInfo, job: Job, staging: Path,
                    native: Path | None, progress: Progress | None, state: dict[str, Any]) -> dict[str, Any]:
    """Deploy what is missing, upload the job and start it detached; the resume state, with the job's pid.

    A deployed board starts the job in the deploy's own agent call; otherwise one more call.
    If anything fails before the job started, its folder on the board is removed again.
    """
    planned = plan_deploy(record, transport, [info], native)
    job.native_dir = planned.native_dir  # it lives in the deployment the plan chose
    (staging / RunFiles.JOB).write_text(json.dumps(job.to_dict(), indent=1))
    # Unique on the board even for two profiles of one model in the same second.
    remote_run = PurePosixPath(Layout(str(planned.work)).run(f"{state['host']['run_id']}-{uuid.uuid4().hex[:8]}"))
    state.update(python=planned.deployed_python, agent=planned.agent, remote_run=str(remote_run),
                 unavailable=planned.bundle.unavailable)
    try:
        for name in RunFiles.UPLOADS:
            if (staging / name).exists():
                transport.put(staging / name, str(remote_run / name), progress if name == RunFiles.EVAL else None)
        (staging / "resume.json").write_text(json.dumps(state, indent=1))
        idle_s = warm_agent_s()
        warm = {"job": str(remote_run / RunFiles.JOB), "python": planned.deployed_python,
                "warm": Layout(str(planned.work)).warm, "idle_s": idle_s}
        deployed = apply_deploy(planned, transport, progress, then=warm if idle_s > 0 else None)
        answer = deployed.started if deployed.started and "started" in deployed.started else None
        if answer is None:
            flags = ["--warm", warm["warm"], "--warm-idle", f"{idle_s:g}"] if idle_s > 0 else []
            answer = call_agent(transport, deployed.python, deployed.agent,
                                ["profile", "--detach", *flags, str(remote_run / RunFiles.JOB)], record.name)
    except BaseException:
        _remove_quietly(transport, str(remote_run))
        raise
    state["pid"] = answer["started"]
    state["host"]["warm_agent"] = answer.get("warm", "off: not asked for")
    (staging / "resume.json").write_text(json.dumps(state, indent=1))
    return state


def _remove_quietly(transport: Transport, remote: str) -> None:
    """Best effort: a lost connection leaves the folder, which holds only the job and its inputs."""
    try:
        transport.run(["rm", "-rf", "--", remote], timeout=10)
    except Exception:  # noqa: BLE001 - the error being raised already says what went wrong
        pass


def profile(
    model: Path,
    board: str = "local",
    backends: list[str] | None = None,
    threads: int = 1,
    runs: int = 50,
    warmup: int = 5,
    min_seconds: float = 0.0,
    warmup_seconds: float = 0.0,
    input_file: Path | None = None,
    seed: int = 0,
    pin: str | None = None,
    timeout_s: float = 600.0,
    runs_dir: Path = Path("runs"),
    accept_new_host_key: bool = False,
    progress: Progress | None = None,
    watch: Watch | None = None,
    reference: Path | None = None,
    eval_data: Path | None = None,
    telemetry_hz: float = 0,
    cooldown_to: float | None = None,
    governor: str | None = None,
    telemetry_root: str = "/",
    native: Path | None = None,
) -> ProfileRun:
    """Profile MODEL on BOARD with each backend and write a run directory.

    telemetry_hz: sampling rate (0: 10 Hz if the board has a power source, else none); cooldown_to:
    degrees C to wait for before each backend; telemetry_root: the board's /sys ("/" but in tests).
    """
    if (threads < 1 or runs < 1 or warmup < 0 or min_seconds < 0 or warmup_seconds < 0 or timeout_s <= 0
            or telemetry_hz < 0):
        raise ConfigError("--threads and --runs must be >= 1; --warmup, the seconds, --telemetry-hz and --timeout "
                          "must not be negative")
    record = load_board(board)
    info = inspect_model(model)
    if reference is not None:
        _check_reference(info, inspect_model(reference))
    requests = [backendspec.with_board_defaults(r, record) for r in backendspec.parse_all(backends or ["tflite-cpu"])]
    cores = resolve_cores(record, pin)
    arrays = inputs.make_inputs(info, input_file, seed)
    labelled = inputs.load_eval(eval_data, info) if eval_data is not None else None

    run_id = _run_id(record, info)
    runs_dir.mkdir(parents=True, exist_ok=True)
    staging = runs_dir / f".staging-{run_id}-{os.getpid()}-{uuid.uuid4().hex[:6]}"  # per call, not per process
    staging.mkdir()
    started = False
    try:
        inputs.save(arrays, staging / RunFiles.INPUTS)
        if labelled is not None:
            np.savez(staging / RunFiles.EVAL, x=labelled[0], y=labelled[1])
        job = jobfile.build_job(record, info, requests, cores, labelled is not None, threads=threads,
                                warmup=(warmup, warmup_seconds), measure=(runs, min_seconds), timeout_s=timeout_s,
                                telemetry_hz=telemetry_hz, telemetry_root=telemetry_root, cooldown_to=cooldown_to,
                                governor=governor)
        transport = connect(record, accept_new_host_key=accept_new_host_key)
        try:
            host = jobfile.host_record(run_id, record, info, input_file, seed)
            budget_s = ((2 * timeout_s + (COOLDOWN_TIMEOUT_S if cooldown_to is not None else 0))
                        * len(requests) + 120)  # a GPU backend starts twice (cold, then warm); a cooldown may wait
            state = _start_on_board(transport, record, info, job, staging, native, progress, {
                "board": record.name, "budget_s": budget_s, "host": host,
                "reference": str(reference.resolve()) if reference else None})
            started = True
            return _finish(transport, state, staging, runs_dir, watch)
        finally:
            transport.close()
    except TransportError as exc:
        if started:
            raise _keep_partial(staging, runs_dir, run_id, exc) from None
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except KeyboardInterrupt:
        if started:  # the board keeps going; keep what is needed to pick it up
            _keep_partial(staging, runs_dir, run_id, TransportError("interrupted"))
        else:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
