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
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeq.agent.records import BackendResult, Job, Result
from edgeq.agent.wire import COOLDOWN_TIMEOUT_S, Layout, RunFiles
from edgeq.profile import backendspec, correctness, customops, jobfile, preflight
from edgeq.profile.checks import check_on_board, check_reference, resolve_cores
from edgeq.model import inputs, shapes
from edgeq.boards.catalog import load_board, target_arch
from edgeq.boards.schema import Board
from edgeq import stopping
from edgeq.errors import BoardError, ConfigError, TransportError
from edgeq.deploy.plan import apply_deploy, lock_wait_s, plan_deploy
from edgeq.outpaths import write_atomically
from edgeq.model.reader import ModelInfo, inspect_model
from edgeq.model.naming import safe_name
from edgeq.link import client as agent_client
from edgeq.link.client import AgentClient, Start
from edgeq.link.probe import os_disagreement
from edgeq.link.transport import Progress, Transport, connect
from edgeq.profile.handle import RunHandle
from edgeq.settings import DEFAULTS, Decision, Settings, exit_decision

Watch = Callable[[dict[str, str]], None]
"""Called with {backend label: phase} (loading, warmup, measuring, ...) while a run goes on."""


@dataclass(frozen=True)
class ProfileRun:
    run_dir: Path
    record: Result  # the result as a typed record (records.Result): what callers read instead of the raw JSON
    settings: Settings = DEFAULTS  # what it was measured with (a resumed run: the checks of the defaults)

    @cached_property
    def result(self) -> dict[str, Any]:
        """The result as result.json has it: the record's dict view, for callers that pass the JSON on."""
        return self.record.to_dict()

    @property
    def ok(self) -> bool:
        return self.record.ok

    def decision(self) -> Decision | None:
        """None when the run passes the checks its settings ask for; else why not, with an exit code."""
        return exit_decision(self.record, self.settings, self.record.board_name)


WARM_AGENT_ENV = "EDGEQ_WARM_AGENT_S"
WARM_AGENT_DEFAULT_S = 300.0


def warm_agent_s(local: bool = False) -> float:
    """How long a board's warm agent outlives its last job (agent/warm.py); 0 runs every job cold.

    Unset, it is off on a local board (a cold start costs ~0.15 CPU-s there; a process left on
    the user's own machine would surprise) and on elsewhere (a Pi's cold start is over a second).
    """
    text = os.environ.get(WARM_AGENT_ENV, "").strip()
    if not text:
        return 0.0 if local else WARM_AGENT_DEFAULT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigError(f"{WARM_AGENT_ENV}={text!r}: expected seconds >= 0 (0 turns the warm agent off)")
    return value


def _starts(request: dict[str, Any]) -> int:
    """How many times the agent starts a backend: a GPU one twice (cold, then warm with its kernel cache)."""
    options = request.get("options") or {}
    return 2 if request["name"] == "tflite-gpu" or "GpuAcc" in str(options.get("backends")) else 1


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


POLL_MIN_S, POLL_FAST_S, POLL_MAX_S = 0.01, 1.0, 0.25
"""Polls every POLL_MIN_S for the first POLL_FAST_S (one SFTP stat each, a fraction of a millisecond
of CPU on either side), then less often, up to POLL_MAX_S apart: the most a finished run waits to be seen."""
PHASE_EVERY_S, ALIVE_EVERY_S = 0.5, 1.0
"""How often the phase line is refreshed and the agent's pid is checked; every poll checks the result."""


OVERDUE_GRACE_S = 10.0
"""Beyond a backend's own allowance: the agent's timer kills a backend at --timeout and records why;
only a job that cannot do that (stopped, hung, starved) is still on the same backend after this."""
STOP_GRACE_S = 3.0
"""Between SIGTERM and SIGKILL of an overdue job's process group."""


class RunStopped(BoardError):
    """The host stopped a detached run that overstayed its deadline."""


def _wait(client: AgentClient, handle: RunHandle, watch: Watch | None) -> None:
    """Poll the detached agent's files until its result exists; a dead agent is a board failure.

    Polling reads files (over SFTP on an SSH board) instead of starting a process on the
    board, which costs seconds on an emulated board and CPU on a real one. A poll is one
    `stat` of result.json; the phase and the pid are looked at less often. The pause stays
    short (at most POLL_MAX_S): a pause that kept growing would leave a finished run unseen
    for longer the longer it ran, which is what a busy board's run does.

    Each backend has a deadline of its own, from when the phase first names it: its allowance
    (--timeout, twice for a GPU's cold and warm start, plus a cooldown) and OVERDUE_GRACE_S.
    A job past it is stopped on the board (RunStopped): the agent's own timer would have ended
    the backend, so the job itself is stopped or hung and would otherwise hold the board.
    """
    assert handle.pid is not None
    deadline = time.monotonic() + handle.budget_s
    pause, seen = POLL_MIN_S, None
    started = next_phase = next_alive = time.monotonic()
    current, since = None, started
    while True:
        now = time.monotonic()
        look_phase, look_alive = now >= next_phase, now >= next_alive
        poll = client.poll(handle.remote_run, handle.pid, phase=look_phase, alive=look_alive)
        if poll.done:
            return
        if look_phase:
            next_phase = now + PHASE_EVERY_S
            if watch and poll.phase and poll.phase != seen:
                index = poll.phase.index if poll.phase.stem[:2].isdigit() else -1
                shown = handle.labels[index] if 0 <= index < len(handle.labels) else poll.phase.label
                watch({shown: poll.phase.phase})
            seen = poll.phase
            if poll.phase and poll.phase.index != current:
                current, since = poll.phase.index, now
        if look_alive:
            next_alive = now + ALIVE_EVERY_S
            if poll.alive is False:
                last = client.log_tail(handle.remote_run)
                raise BoardError(f"the agent on board {handle.board} stopped before writing a result"
                                 f"{' (' + last + ')' if last else ''}; see {handle.remote_run}/{RunFiles.LOG} "
                                 f"on the board")
        stopping.checkpoint()  # a fleet's signal: the run goes on on the board, kept to resume
        allowed = handle.start_s if current is None else (
            handle.backend_s[current] if current < len(handle.backend_s) else handle.budget_s)
        if now > since + allowed + OVERDUE_GRACE_S or now > deadline:
            _stop_overdue(client, handle, seen, allowed)
        time.sleep(pause)
        if now - started > POLL_FAST_S:  # most profiles of a small model end within this: look often
            pause = min(pause * 1.5, POLL_MAX_S)


def _stop_overdue(client: AgentClient, handle: RunHandle, phase: Any, allowed: float) -> None:
    what = f"backend {phase.label} ({phase.phase})" if phase else "the job (before its first backend)"
    gone = client.stop_run(int(handle.pid or 0), STOP_GRACE_S)
    raise RunStopped(
        f"{what} on board {handle.board} overstayed its {allowed:g} s (+{OVERDUE_GRACE_S:g} s) without the agent "
        f"ending it: the job is stopped or hung. Its processes on the board were "
        f"{'stopped' if gone else 'sent SIGKILL but may remain'} (SIGTERM, then SIGKILL to process group "
        f"{handle.pid})")


def _finish(client: AgentClient, handle: RunHandle, record: Board, local: Path, runs_dir: Path,
            watch: Watch | None, held: tuple[ModelInfo, list[np.ndarray]] | None = None) -> ProfileRun:
    """Wait, pull, check the outputs and make `local` the run directory. `held`: the model and inputs
    when the caller has them (a resume reads them from the run folder). Backends refused before
    upload (preflight) join the board's entries."""
    try:
        _wait(client, handle, watch)
    except RunStopped as exc:
        client.pull_leftovers(handle.remote_run, local)
        kept = local if local.name.endswith(".partial") else _move_to_unique(local, runs_dir, f"{handle.run_id}.partial")
        raise BoardError(f"{exc}; its job, inputs and the board's agent log are kept in {kept}") from None
    pulled = client.pull(handle.remote_run, local)
    result = Result.from_dict({**pulled, **{k: v for k, v in handle.host.items() if k not in HOST_NOTES}})
    result.backends = [*result.backends, *(BackendResult.from_dict(r) for r in handle.host.get("refused", []))]
    _explain_unavailable(result, handle.host.get("unavailable") or {})
    warning = os_disagreement(record, result.facts or {})  # a leased place is no catalog name
    if warning:
        result.warnings = [*result.warnings, warning]
    _check_outputs(result, local, handle, held)
    (local / RunFiles.RESULT).write_text(json.dumps(result.to_dict(), indent=1))
    RunHandle.forget(local)
    final = _move_to_unique(local, runs_dir, handle.run_id)
    if final.name != result.run_id:  # two runs of one model in one second: the folder's name is the id
        result.run_id = final.name
        write_atomically(final / RunFiles.RESULT, json.dumps(result.to_dict(), indent=1))
    return ProfileRun(final, result)


HOST_NOTES = ("refused", "unavailable")
"""The handle's host record keeps these for _finish; the rest of it are the host's sections of the result."""


def _explain_unavailable(result: Result, gaps: dict[str, str]) -> None:
    """A backend the board could not open because its runtime has no wheel for the board says so
    (the bundle knew why), beside what the board itself said."""
    for entry in result.backends:
        runtime = str(entry.options.get("runtime", ""))
        if entry.status == "unavailable" and runtime in gaps:
            entry.overrule(f"{gaps[runtime]}: not on this board and not deployable")


def _check_outputs(result: Result, local: Path, handle: RunHandle,
                   held: tuple[ModelInfo, list[np.ndarray]] | None) -> None:
    """Add the `correctness` section and a warning per mismatch; the run dir keeps both. When the host
    cannot compute a reference (a model its runtime refuses, an op it lacks), the board's results stay
    and the section says "no reference: <why>"."""
    reference = Path(handle.reference) if handle.reference else None
    try:
        if held is None:
            info = inspect_model(Path(handle.host["model"]["path"]))
            if handle.host["model"].get("signature"):
                info = shapes.signature_view(info, handle.host["model"]["signature"])
            with np.load(local / RunFiles.INPUTS) as saved:
                held = info, [saved[name] for name in saved.files]
        section = correctness.check_run(held[0], held[1], result.backends, local / RunFiles.OUTPUTS, reference,
                                        handle.host["model"].get("custom_op_library"))
        added = [f"outputs do not match the reference: {m}" for m in correctness.mismatches(section)]
    except Exception as exc:  # noqa: BLE001 - any failure of the host's reference, said in the run
        section = correctness.no_reference(exc, reference)
        added = [f"no reference: {section.why}"]
    result.correctness = section.to_dict()
    result.warnings = [*result.warnings, *added]


def _keep_partial(staging: Path, runs_dir: Path, run_id: str, error: TransportError) -> TransportError:
    partial = _move_to_unique(staging, runs_dir, f"{run_id}.partial")
    return TransportError(f"{error}; the run goes on on the board: pick it up with "
                          f"`edgeq profile --resume {partial}`")


def resume(partial: Path, accept_new_host_key: bool = False, watch: Watch | None = None) -> ProfileRun:
    """Finish a run whose connection was lost: wait for it on the board and pull its results."""
    handle = RunHandle.load(partial)
    record = load_board(handle.board)
    with connect(record, accept_new_host_key=accept_new_host_key) as transport:
        client = agent_client.open_client(transport, record.name, handle.python, handle.agent)
        return _finish(client, handle, record, partial, partial.parent, watch)


def _start_on_board(transport: Transport, record: Board, info: ModelInfo, job: Job, staging: Path,
                    native: Path | None, progress: Progress | None, handle: RunHandle,
                    force_threads: bool = False, break_lock: bool = False) -> AgentClient:
    """Ask deploy for a ready deployment, upload the job and start it detached; the handle gets its pid.

    When the board has everything, the job starts in the deploy's own agent call (client.offer_start).
    If anything fails before the job started, its folder on the board is removed again.
    """
    planned = plan_deploy(record, transport, [info], native)
    planned.break_lock, planned.lock_wait_s = break_lock, lock_wait_s()  # queue behind another profile's deploy
    check_on_board(record, job, planned.facts, force_threads)
    client = planned.client
    handle.host["unavailable"] = planned.bundle.unavailable  # runtimes with no wheel for this board, and why
    job.native_dir = planned.native_dir  # it lives in the deployment the plan chose
    (staging / RunFiles.JOB).write_text(json.dumps(job.to_dict(), indent=1))
    layout = Layout(str(planned.work))
    # Unique on the board even for two profiles of one model in the same second.
    handle.remote_run = layout.run(f"{handle.run_id}-{uuid.uuid4().hex[:8]}")
    handle.python, handle.agent = planned.deployed_python, client.agent
    try:
        for name in RunFiles.UPLOADS:
            stopping.checkpoint()  # a fleet's signal: the folder on the board is removed below
            if (staging / name).exists():
                transport.put(staging / name, f"{handle.remote_run}/{name}", progress if name == RunFiles.EVAL else None)
        handle.save(staging)
        start = Start(f"{handle.remote_run}/{RunFiles.JOB}", planned.deployed_python, layout.warm,
                      warm_agent_s(record.connection.kind == "local"))
        if start.idle_s > 0:
            client.offer_start(start)
        apply_deploy(planned, progress)
        answer = client.started_with_deploy() or client.start_profile(start)
    except BaseException:
        client.remove_run(handle.remote_run)
        raise
    handle.pid = answer["started"]
    handle.host["warm_agent"] = answer.get("warm", "off: not asked for")
    handle.save(staging)
    return client


def profile(
    model: Path,
    board: str | Board = "local",
    backends: list[str] | None = None,
    settings: Settings = DEFAULTS,
    *,
    runs_dir: Path = Path("runs"),
    accept_new_host_key: bool = False,
    progress: Progress | None = None,
    watch: Watch | None = None,
    eval_data: Path | None = None,
    telemetry_root: str = "/",
    native: Path | None = None,
    force_threads: bool = False,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    signature: str | None = None,
    break_lock: bool = False,
    custom_ops: customops.CustomOps | None = None,
    **changes: Any,
) -> ProfileRun:
    """Profile MODEL on BOARD with each backend and write a run directory.

    `settings` (edgeq.settings.Settings; its defaults are the CLI's and recipes') says how to
    measure; keyword arguments named like its fields change single settings (runs=5, pin="big").
    telemetry_root: the board's /sys ("/" but in tests). The returned run's decision() applies
    the checks the settings ask for. input_shapes: concrete shapes for inputs with dynamic dims
    (`--input-shape NAME=1,224,224,3`); without, the model's own defaults run and the run says so.
    signature: run this signature of a model with several (default: the first). custom_ops: --custom-op-library.
    """
    settings = settings.but(**changes) if changes else settings
    record = board if isinstance(board, Board) else load_board(board)  # a record: a leased labgrid place
    info = inspect_model(model)
    if settings.reference is not None:
        check_reference(info, inspect_model(settings.reference))
    requests = [backendspec.with_board_defaults(r, record) for r in backendspec.parse_all(backends or ["tflite-cpu"])]
    requests, notes = customops.apply(requests, custom_ops)
    info, checked = preflight.prepare(info, requests, input_shapes or {}, signature)
    requests = checked.run
    cores = resolve_cores(record, settings.pin)
    arrays = inputs.make_inputs(info, settings.input_file, settings.seed)
    labelled = inputs.load_eval(eval_data, info) if eval_data is not None else None
    run_id = _run_id(record, info)
    runs_dir.mkdir(parents=True, exist_ok=True)
    staging = runs_dir / f".staging-{run_id}-{os.getpid()}-{uuid.uuid4().hex[:6]}"  # per call, not per process
    staging.mkdir()
    handle: RunHandle | None = None

    def started() -> bool:  # the job runs on the board once it has a pid, whatever happens after
        return handle is not None and handle.pid is not None

    try:
        inputs.save(arrays, staging / RunFiles.INPUTS)
        if labelled is not None:
            np.savez(staging / RunFiles.EVAL, x=labelled[0], y=labelled[1])
        job = jobfile.build_job(record, info, requests, cores, labelled is not None, settings, telemetry_root)
        with connect(record, accept_new_host_key=accept_new_host_key) as transport:
            host = jobfile.host_record(run_id, record, info, settings.input_file, settings.seed, checked.warnings)
            host["model"]["predicted"] = checked.predicted
            host["refused"] = checked.refused
            customops.attach(custom_ops, target_arch(record), staging, host, notes)
            cooling = COOLDOWN_TIMEOUT_S if settings.cooldown_to is not None else 0.0
            budget_s = ((2 * settings.timeout_s + cooling)
                        * len(requests) + 120)  # a GPU backend starts twice (cold, then warm); a cooldown may wait
            reference = str(settings.reference.resolve()) if settings.reference else None
            handle = RunHandle(record.name, budget_s, host, reference,
                               backend_s=[settings.timeout_s * _starts(r) + cooling for r in requests],
                               start_s=RunHandle.start_s + cooling, labels=[r["label"] for r in requests])
            client = _start_on_board(transport, record, info, job, staging, native, progress, handle, force_threads,
                                     break_lock)
            return replace(_finish(client, handle, record, staging, runs_dir, watch, (info, arrays)), settings=settings)
    except TransportError as exc:
        if started():
            raise _keep_partial(staging, runs_dir, run_id, exc) from None
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (the CLI turns it into one: edgeq.cli.Terminated)
        if not started():
            shutil.rmtree(staging, ignore_errors=True)
            raise
        # The board keeps going; keep what is needed to pick it up, and say how.
        partial = _move_to_unique(staging, runs_dir, f"{run_id}.partial")
        raise type(exc)(f"the run goes on on the board: pick it up with `edgeq profile --resume {partial}`") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
