"""Running a job detached from the SSH session that started it.

A profile can take minutes; a dropped connection must not kill it. The agent
double-forks into its own session and records its pid; the host then polls the
run's files (work/phase, result.json, /proc/<pid>) until the result is there.
"""

from __future__ import annotations

import os
from typing import Any, Callable


def start(out_dir: str, work: Callable[[], Any]) -> int:
    """Run `work()` in a grandchild in a new session; return its pid once recorded."""
    os.makedirs(out_dir, exist_ok=True)
    pid_file = os.path.join(out_dir, "agent.pid")
    if os.path.exists(pid_file):
        os.unlink(pid_file)
    read_end, write_end = os.pipe()
    if os.fork() == 0:  # child
        os.close(read_end)
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        log = os.open(os.path.join(out_dir, "agent.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        with open(pid_file, "w", encoding="utf-8") as handle:
            handle.write(str(os.getpid()))
        os.write(write_end, b"started")
        # Let go of every inherited descriptor, the SSH session's stdout above all:
        # while we hold it, the command that started us cannot return.
        os.closerange(3, _max_fd())
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
    os.read(read_end, 16)  # until the grandchild has written its pid
    os.close(read_end)
    os.wait()
    with open(pid_file, encoding="utf-8") as handle:
        return int(handle.read())


def _max_fd() -> int:
    try:
        return int(os.sysconf("SC_OPEN_MAX"))
    except (ValueError, OSError):
        return 1024
