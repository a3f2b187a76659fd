"""Running a job detached from the SSH session that started it.

A profile can take minutes; a dropped connection must not kill it. The agent
double-forks into its own session and records its pid; the host then polls the
run's files (work/phase, result.json, /proc/<pid>) until the result is there.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Optional

from .wire import RunFiles


class AlreadyStarted(Exception):
    """The job was started already (by the warm agent or a cold start): `pid` runs it, or None."""

    def __init__(self, pid: Optional[int]) -> None:
        super().__init__(f"the job was started already (pid {pid})")
        self.pid = pid


CLAIM = RunFiles.CLAIM
"""Created exclusively by whoever starts a job folder's run: a job runs once, however it was asked."""


def start(out_dir: str, work: Callable[[], Any]) -> int:
    """Run `work()` in a grandchild in a new session; return its pid once recorded.

    Raises AlreadyStarted when this folder's job was started before (its claim exists).
    """
    os.makedirs(out_dir, exist_ok=True)
    pid_file = os.path.join(out_dir, RunFiles.PID)
    try:
        os.close(os.open(os.path.join(out_dir, CLAIM), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise AlreadyStarted(_recorded_pid(pid_file)) from None
    read_end, write_end = os.pipe()
    if os.fork() == 0:  # child
        try:
            os.close(read_end)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            # A process group of its own, named by this pid: the host stops a run that overstays
            # (a stopped or hung job) with one kill of -pid, which reaches its backend children too.
            os.setpgid(0, 0)
            log = os.open(os.path.join(out_dir, RunFiles.LOG), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            with open(pid_file + ".tmp", "w", encoding="utf-8") as handle:
                handle.write(str(os.getpid()))
            os.replace(pid_file + ".tmp", pid_file)
            os.write(write_end, b"started")
            # Let go of every inherited descriptor, the SSH session's stdout above all:
            # while we hold it, the command that started us cannot return.
            os.closerange(3, _max_fd())
        except BaseException:  # noqa: B036  never unwind into the caller's code (a server's loop) in a fork
            os._exit(1)
        code = 0
        try:
            work()
        except BaseException:  # noqa: B036  the log gets the traceback; nobody else is listening
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    said = os.read(read_end, 16)  # until the grandchild has written its pid
    os.close(read_end)
    os.wait()
    pid = _recorded_pid(pid_file) if said else None
    if pid is None:
        raise OSError(f"the detached run did not start; see {os.path.join(out_dir, RunFiles.LOG)}")
    return pid


def _recorded_pid(pid_file: str, wait_s: float = 10.0) -> Optional[int]:
    """The pid a start recorded, waiting a little for a start still under way."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with open(pid_file, encoding="utf-8") as handle:
                return int(handle.read())
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)


def _max_fd() -> int:
    try:
        return int(os.sysconf("SC_OPEN_MAX"))
    except (ValueError, OSError):
        return 1024
