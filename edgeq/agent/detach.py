"""Running a job detached from the SSH session that started it, and waiting for it.

A profile can take minutes; a dropped connection must not kill it. The agent
double-forks into its own session, records its pid, and the host polls with
`wait`, which blocks on the board for a few seconds at a time so that a run's
end is seen at once without a round trip per poll.
"""

from __future__ import annotations

import glob
import os
import time
from typing import Any, Callable, Dict

POLL_S = 0.1


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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _phases(out_dir: str) -> Dict[str, str]:
    phases = {}
    for path in sorted(glob.glob(os.path.join(out_dir, "work", "*.phase"))):
        try:
            with open(path, encoding="utf-8") as handle:
                phases[os.path.basename(path)[: -len(".phase")]] = handle.read()
        except OSError:  # replaced between glob and open
            continue
    return phases


def wait(out_dir: str, seconds: float, seen: Dict[str, str]) -> Dict[str, Any]:
    """Block up to `seconds` until the run in `out_dir` finishes or its phases differ from `seen`
    (what the caller last saw), so the caller hears of every phase without polling."""
    result = os.path.join(out_dir, "result.json")
    try:
        with open(os.path.join(out_dir, "agent.pid"), encoding="utf-8") as handle:
            pid = int(handle.read())
    except (OSError, ValueError):
        return {"done": os.path.exists(result), "alive": False, "phases": {}}
    deadline = time.monotonic() + seconds
    while True:
        done = os.path.exists(result)
        alive = _alive(pid)
        phases = _phases(out_dir)
        if done or not alive or phases != seen or time.monotonic() >= deadline:
            break
        time.sleep(POLL_S)
    return {"done": done, "alive": alive, "phases": phases}
