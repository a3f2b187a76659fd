"""The warm agent: one long-lived process per deployment that forks each detached job.

Every profile used to start Python, then numpy and a TFLite runtime in its backend
child: about 0.15 CPU-seconds on an x86 core, over a second on a Pi 4 or under QEMU,
paid again for every cell of a recipe. The warm agent pays it once. `profile --detach
--warm DIR` hands the job to it over a Unix socket in DIR (the board's work dir/warm,
mode 0700); it imports what the job's backends need, forks the job (detach.start, as a
cold run would), and the job forks each backend child from that state (runner.py).
Forked children are still separate processes: a runtime that aborts takes down only
its child, exactly as before.

One server per (python, agent, LD_LIBRARY_PATH): a new deployment gets its own, and a
server whose python or agent file is gone (a pruned deployment) exits. It also exits
after `idle_s` without a job. An flock on `<key>.lock` held for the server's life makes
starting one race-free: whoever cannot take the lock waits for the holder's socket.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from .wire import AGENT_VERSION, RunFiles

START_TIMEOUT_S = 60.0
"""How long a job waits for a server to start (numpy and a runtime import in ~0.1 s on x86, seconds under
QEMU); well inside the host's 120 s for the agent call that waits, so a cold start still has time."""
WAKE_S = 5.0
"""How often an idle server checks that its deployment still exists."""
_REQUEST_LIMIT = 1 << 16


class WarmError(Exception):
    """The warm agent could not take the job; the caller runs it cold instead."""


class _Retired(WarmError):
    """The server closed without an answer: it found itself stale (or died) and exits; start another."""


def key(agent: str, python: str) -> str:
    """Which server a job belongs to: jobs from another interpreter, agent or library path get another."""
    parts = [AGENT_VERSION, python, os.path.abspath(agent), os.environ.get("LD_LIBRARY_PATH", "")]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _in_dir(folder: str, call: Callable[[], Any]) -> Any:
    """Socket paths are limited to ~108 bytes and work dirs can be longer: bind and connect by a
    name relative to the folder."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        return call()
    finally:
        os.chdir(before)


def _ask(folder: str, name: str, request: Dict[str, Any], timeout: float) -> Dict[str, Any]:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        _in_dir(folder, lambda: conn.connect(name))
        conn.sendall(json.dumps(request).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
    finally:
        conn.close()
    try:
        answer = json.loads(reply)
    except ValueError:
        raise _Retired("the warm agent closed the connection without an answer") from None
    if "error" in answer:
        raise WarmError(str(answer["error"]))
    return answer


def submit(folder: str, job_path: str, idle_s: float, agent: str, python: Optional[str] = None) -> Dict[str, Any]:
    """Hand `job_path` to the server of `python` (default: this one), starting one if none runs;
    returns its answer ({"started": pid, "result": path, "warm": "reused" | "started"}).

    A job is started once whatever happens here (detach.CLAIM): should this give up while the
    server still goes on to start it, the caller's cold start finds the claim and that pid.
    """
    python = python or sys.executable
    if os.sep not in python:  # "python3": the same server whatever asks, by its full path
        import shutil

        python = shutil.which(python) or python
    name = key(agent, python)
    request = {"job": os.path.abspath(job_path)}
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
        try:
            return dict(_ask(folder, f"{name}.sock", request, START_TIMEOUT_S), warm="reused")
        except (FileNotFoundError, ConnectionRefusedError, _Retired):
            pass  # none runs (or a dead or stale one left its socket): start one below
        return dict(_wait_for_new_server(folder, name, request, idle_s, agent, python), warm="started")
    except WarmError:
        raise
    except OSError as exc:  # a folder we may not write, a full disk, a timeout
        raise WarmError(f"cannot use the warm agent: {exc}") from None


def _wait_for_new_server(folder: str, name: str, request: Dict[str, Any], idle_s: float, agent: str,
                         python: str) -> Dict[str, Any]:
    server = _start_server(folder, name, idle_s, agent, python)
    deadline = time.monotonic() + START_TIMEOUT_S
    next_try = time.monotonic() + 0.25
    while True:
        try:
            return _ask(folder, f"{name}.sock", request, START_TIMEOUT_S)
        except (FileNotFoundError, ConnectionRefusedError, _Retired):
            pass
        code = server.poll() if server is not None else None
        if code not in (None, 0):
            from .runner import last_line  # only on this failure: the runner is heavy to import

            last = last_line(os.path.join(folder, f"{name}.log")) or "no output"
            raise WarmError(f"the warm agent exited at start ({last})")
        if (server is None or code == 0) and time.monotonic() >= next_try:
            # Someone else's server is starting (or ours lost the race to it): if that one died
            # before listening, its lock is free again and we start another.
            server, next_try = _start_server(folder, name, idle_s, agent, python), time.monotonic() + 0.25
        if time.monotonic() > deadline:
            raise WarmError(f"the warm agent did not start within {START_TIMEOUT_S:g} s; "
                            f"see {os.path.join(folder, name)}.log")
        time.sleep(0.01)


def _start_server(folder: str, name: str, idle_s: float, agent: str, python: str) -> Optional[subprocess.Popen]:
    """Start a server unless one holds the lock (running, or starting right now: None)."""
    with open(os.path.join(folder, f"{name}.lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # the holder's socket will answer
        fcntl.flock(lock, fcntl.LOCK_UN)
    log_path = os.path.join(folder, f"{name}.log")  # appended: why the last one exited stays readable
    big = os.path.exists(log_path) and os.path.getsize(log_path) > 1 << 16
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if big else os.O_APPEND), 0o600)
    try:  # its own session, no descriptor of ours: the SSH command that started it can return
        return subprocess.Popen([python, agent, "warm-serve", folder, name, str(idle_s)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                close_fds=True)
    except OSError as exc:
        raise WarmError(f"cannot start {python}: {exc}") from None
    finally:
        os.close(log)


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _read_request(conn: socket.socket) -> Dict[str, Any]:
    conn.settimeout(10)
    data = b""
    while not data.endswith(b"\n") and len(data) < _REQUEST_LIMIT:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    request = json.loads(data)
    if not isinstance(request, dict) or not isinstance(request.get("job"), str):
        raise ValueError("expected {\"job\": PATH}")
    return request


def _loaded_files() -> Dict[str, int]:
    """mtime_ns of what decides which code a child runs: the files behind the runtimes this process
    has imported (numpy, LiteRT, tflite_runtime, pyarmnn), and every folder and zip on sys.path.

    A folder's mtime changes when an entry is added, removed or renamed in it: a package installed
    or upgraded there (pip writes a new .dist-info and package folder), a .pth file, an egg. That
    catches what the imported files alone cannot: a new package that shadows an old one, or the
    venv's packages changing while the server holds the old ones imported.
    """
    seen: Dict[str, int] = {}
    paths = [getattr(sys.modules.get(name), "__file__", None)
             for name in ("numpy", "ai_edge_litert", "tflite_runtime", "pyarmnn")]
    paths += [os.path.abspath(entry) for entry in sys.path if entry]
    for path in paths:
        if path and path not in seen:
            try:
                seen[path] = os.stat(path).st_mtime_ns
            except OSError:
                seen[path] = -1
    return seen


def _stale(known: Dict[str, int]) -> bool:
    """The environment changed since it was recorded (a runtime upgraded, a package installed or
    removed on sys.path): children forked from here would run the old code."""
    for path, mtime in known.items():
        try:
            changed = os.stat(path).st_mtime_ns != mtime
        except OSError:
            changed = mtime != -1  # a sys.path entry that never existed (a zip not there) stays absent
        if changed:
            print(f"warm agent: {path} changed since it started; exiting so that a new one starts", file=sys.stderr)
            return True
    return False


def _preload_base() -> None:
    """What every job needs, imported once: numpy (one BLAS thread, see runner._child_env), the
    runner, the child and the backend registry."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import importlib.metadata  # noqa: F401  (runtime versions are read from package metadata)

    import numpy  # noqa: F401

    from . import backends, child, runner  # noqa: F401

    backends.names()


def serve(folder: str, name: str, idle_s: float, agent: str) -> int:
    """The server's life: take the lock, import, listen, fork jobs; exit when idle or orphaned."""
    lock = open(os.path.join(folder, f"{name}.lock"), "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another one won the race
    _preload_base()
    sock_name, pid_file = f"{name}.sock", os.path.join(folder, f"{name}.pid")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o077)
    try:
        if os.path.exists(os.path.join(folder, sock_name)):
            os.unlink(os.path.join(folder, sock_name))  # a dead server's; we hold the lock
        _in_dir(folder, lambda: listener.bind(sock_name))
    finally:
        os.umask(old_umask)
    listener.listen(16)
    with open(pid_file, "w", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} warm-serve\n")
    command = [sys.executable, agent]
    last_job = time.monotonic()
    loaded = _loaded_files()
    try:
        while True:
            listener.settimeout(min(WAKE_S, max(idle_s, 0.1)))
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                if time.monotonic() - last_job >= idle_s or _stale(loaded) or not (
                        os.path.exists(agent) and os.path.exists(sys.executable)):
                    return 0
                continue
            with conn:
                if _stale(loaded):  # no answer: the asker starts this job cold, the next gets a new server
                    return 0
                last_job = time.monotonic()
                reply = _take_job(conn, command)
                loaded.update({p: m for p, m in _loaded_files().items() if p not in loaded})
                try:
                    conn.sendall(json.dumps(reply).encode() + b"\n")
                except OSError:
                    pass  # the asker went away; its job (if started) runs regardless
    finally:
        for path in (os.path.join(folder, sock_name), pid_file):
            try:
                os.unlink(path)
            except OSError:
                pass
        listener.close()


def _take_job(conn: socket.socket, command: List[str]) -> Dict[str, Any]:
    from . import backends, detach, jobspec, runner  # imported by _preload_base already

    if _peer_uid(conn) != os.getuid():
        return {"error": "refused: another user"}
    try:
        request = _read_request(conn)
        job = jobspec.load_job(request["job"])
    except (OSError, ValueError, jobspec.JobError) as exc:
        return {"error": f"bad request: {exc}"}
    for backend in job["backends"]:
        backends.preload(backend["name"], backend["options"])
    sys.stdout.flush()
    sys.stderr.flush()
    result = os.path.join(job["out_dir"], RunFiles.RESULT)
    try:
        pid = detach.start(job["out_dir"], lambda: runner.run_job(job, command, fork=True))
    except detach.AlreadyStarted as exc:  # its asker gave up on us and started it cold
        return {"started": exc.pid, "result": result} if exc.pid else {"error": str(exc)}
    except OSError as exc:  # this job cannot start (a full disk, no fork): the next may
        return {"error": f"cannot start the run: {exc}"}
    return {"started": pid, "result": result}

