"""Run a job: each backend in a child process, one after another, then one result file.

Backends run sequentially so they never compete for cores. A child that dies
(a native abort, a segfault, a timeout) becomes a failed entry with its reason;
the rest of the job still runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from . import facts
from .coverage import coverage
from .native import child_env
from .telemetry.observer import Observer
from .wire import AGENT_VERSION, RESULT, RunFiles, stem as _stem

_TAIL_BYTES = 2000


def last_line(path: str) -> str:
    """The last non-empty line of a log (its last 2000 bytes), or ""."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _death_reason(status: int, timed_out: bool, timeout_s: float, log: str) -> str:
    if timed_out:
        return f"timed out after {timeout_s:g} s and was killed"
    last = last_line(log)
    suffix = f"; last output: {last}" if last else ""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"the backend process was killed by {name} (a crash inside the runtime){suffix}"
    return f"the backend process exited with code {os.WEXITSTATUS(status)} without a result{suffix}"


def _child_env(job: Dict[str, Any]) -> Dict[str, str]:
    env = dict(os.environ)
    # The child holds inputs and outputs in numpy but does no linear algebra with it: one BLAS
    # thread halves numpy's import (~80 ms of CPU less per child here, more on a Pi) and keeps
    # idle BLAS threads out of the process being measured. A user's own setting wins.
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    if job["library_path"]:
        parts = job["library_path"] + [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p]
        env["LD_LIBRARY_PATH"] = ":".join(parts)
    return child_env(job.get("native_dir"), env)


def _on_gpu(backend: Dict[str, Any]) -> bool:
    wanted = backend["options"].get("backends") or []
    return backend["name"] == "tflite-gpu" or (backend["name"] == "armnn" and "GpuAcc" in str(wanted))


def _can_fork(env: Dict[str, str]) -> bool:
    """A child may be forked from this process (warm) only where that is the same as starting it:
    one thread (a sampler thread's locks would be copied mid-use) and the same LD_LIBRARY_PATH,
    which the dynamic linker reads once, at a process's start."""
    return threading.active_count() == 1 and env.get("LD_LIBRARY_PATH") == os.environ.get("LD_LIBRARY_PATH")


def _fork_child(spec_path: str, log: str, env: Dict[str, str]) -> int:
    """`agent child SPEC`, but forked: numpy and the runtime are already imported here."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.environ.clear()
        os.environ.update(env)
        from . import child

        code = child.main(spec_path)
    except BaseException:  # noqa: B036  the log gets it; the runner reports the exit code
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _spawn(spec: Dict[str, Any], log: str, env: Dict[str, str], timeout_s: float,
           self_cmd: List[str], fork: bool = False) -> Tuple[Optional[Dict[str, Any]], int, Any, bool, str]:
    """Run one child on `spec`; (its result or None, wait status, rusage, killed for time, how it started)."""
    spec_path = spec["result"][: -len(".json")] + ".spec.json"
    with open(spec_path, "w", encoding="utf-8") as handle:
        json.dump(spec, handle)
    proc: Optional[subprocess.Popen[bytes]] = None
    if fork and _can_fork(env):
        pid, how = _fork_child(spec_path, log, env), "fork"
    else:
        with open(log, "ab") as log_handle:
            proc = subprocess.Popen(self_cmd + ["child", spec_path], stdin=subprocess.DEVNULL, stdout=log_handle,
                                    stderr=subprocess.STDOUT, env=env)
        pid, how = proc.pid, "exec"
    with open(spec["result"][: -len(".json")] + ".pid", "w", encoding="utf-8") as handle:
        handle.write(str(pid))  # who to look at (or stop) on the board while the backend runs
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout_s, kill)
    timer.start()
    try:
        _, status, usage = os.wait4(pid, 0)
    finally:
        timer.cancel()
        timer.join()  # gone before the next child: a live timer thread would make the next one a start, not a fork
    if proc is not None:
        proc.returncode = -1  # reaped above; stop Popen from waiting again
    result = None
    if not expired.is_set() and os.path.exists(spec["result"]):
        with open(spec["result"], encoding="utf-8") as handle:
            result = json.load(handle)
    return result, status, usage, expired.is_set(), how


def _warm_start(spec: Dict[str, Any], cold: Dict[str, Any], log: str, env: Dict[str, str], timeout_s: float,
                self_cmd: List[str], fork: bool) -> Dict[str, Any]:
    """Load and first inference again, in a new process, with the kernels the first run compiled:
    GPU kernel compilation can take seconds, and a cached start is what a deployed app sees."""
    again = dict(spec, start_only=True, result=spec["result"][: -len(".json")] + ".warm.json")
    result, _, _, _, _ = _spawn(again, log, env, timeout_s, self_cmd, fork)
    start = {"cold": {k: cold.get(k) for k in ("load_ms", "first_inference_ms")},
             "cache": "MESA_SHADER_CACHE_DIR (Mesa drivers' shader cache)"}
    if result and result.get("status") == "ok":
        start["warm"] = {k: result.get(k) for k in ("load_ms", "first_inference_ms")}
    else:
        start["warm_error"] = (result or {}).get("reason", "the warm start did not finish")
    return start


def run_backend(job: Dict[str, Any], index: int, backend: Dict[str, Any], self_cmd: List[str],
                fork: bool = False) -> Dict[str, Any]:
    label, stem = backend["label"], _stem(index, backend["label"])
    out, work = job["out_dir"], os.path.join(job["out_dir"], RunFiles.WORK)
    options = dict(backend["options"])
    if options.get("custom_op_library"):  # a file the host sent into this run's folder
        options["custom_op_library"] = os.path.join(out, str(options["custom_op_library"]))
    spec = {
        "backend": backend["name"],
        "options": options,
        "model": job["model"],
        "inputs": job["inputs"],
        "eval": job.get("eval"),
        "threads": job["threads"],
        "cores": job["cores"],
        "warmup": job["warmup"],
        "measure": job["measure"],
        "outputs": os.path.join(out, RunFiles.OUTPUTS, f"{stem}.npz"),
        "result": os.path.join(work, f"{stem}.json"),
        "status": os.path.join(out, RunFiles.PHASE),
        "stem": stem,
    }
    env = _child_env(job)
    gpu = _on_gpu(backend)
    if gpu:  # a kernel cache of this run's own: the first start is cold, the second warm
        env["MESA_SHADER_CACHE_DIR"] = os.path.join(work, f"{stem}.kernel-cache")
    log = os.path.join(out, RunFiles.LOGS, f"{stem}.log")
    started = time.time()
    result, status, usage, expired, how = _spawn(spec, log, env, job["timeout_s"], self_cmd, fork)
    entry: Dict[str, Any] = {"backend": backend["name"], "label": label, "options": backend["options"],
                             "process": how}
    if result is None:
        result = {"status": "failed", "reason": _death_reason(status, expired, job["timeout_s"], log)}
    entry.update(result)
    if entry["status"] == "ok":
        with open(log, encoding="utf-8", errors="replace") as handle:
            entry["coverage"] = coverage(entry.get("info", {}), handle.read())
        if gpu:
            entry["start"] = _warm_start(spec, entry, log, env, job["timeout_s"], self_cmd, fork)
    entry["peak_rss_kb"] = usage.ru_maxrss  # kilobytes on Linux, for this child alone
    entry["wall_s"] = round(time.time() - started, 3)
    entry["log"] = os.path.relpath(log, out)
    return entry


def run_job(job: Dict[str, Any], self_cmd: List[str], fork: bool = False) -> Dict[str, Any]:
    """Run every backend of `job`; with `fork` (in a warm agent's job) a backend's process is
    forked from this one, which has numpy and the runtime imported, where that is safe (_can_fork)."""
    out = job["out_dir"]
    for sub in (RunFiles.OUTPUTS, RunFiles.LOGS, RunFiles.WORK):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    result: Dict[str, Any] = {
        "schema": RESULT.tag,
        "agent_version": AGENT_VERSION,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    # The sampler runs from before the first backend (its idle window) to after the last;
    # the governor it sets holds for the same span and is restored even if a backend fails.
    ran = []
    with Observer(job) as observer:
        result["facts"] = facts.quick_facts()  # taken under the job's governor: what the run saw
        result["settings"] = {k: job[k] for k in ("threads", "cores", "warmup", "measure", "timeout_s",
                                                  "cooldown_to_c", "governor")}
        for i, backend in enumerate(job["backends"]):
            cooldown = observer.cool_down()
            ran.append((run_backend(job, i, backend, self_cmd, fork), cooldown))
    # Derived once sampling stopped, when a sample closes the last backend's window too.
    result["backends"] = [observer.describe(entry, cooldown) for entry, cooldown in ran]
    result["telemetry"] = observer.summary(result["backends"])
    result["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = os.path.join(out, RunFiles.RESULT)
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1)
    os.replace(path + ".tmp", path)
    from .retention import prune  # after the result: a slow prune never delays a run's end

    prune(os.path.dirname(os.path.abspath(out)), job.get("keep_runs"), out)
    return result
