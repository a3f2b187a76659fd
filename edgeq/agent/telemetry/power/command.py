"""`command`: any program that prints watts, one reading a line (a USB power meter's reader).

The program is started once and kept running; a thread reads its lines and the
sampler takes the latest reading, so a meter that reports at its own pace (often
1-10 Hz) costs no process start per sample. The command is split like a shell
would split it (shlex) but no shell runs it.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
import threading
from typing import Any, Dict, List, Optional

from .. import TelemetryError
from . import PowerSource, Reading, register

FIRST_READING_S = 10.0
"""How long a meter may take to print its first line before the job goes on without it."""


class Command(PowerSource):
    def __init__(self, argv: List[str]) -> None:
        self._errors = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=self._errors, text=True, bufsize=1)
        except OSError as exc:
            self._errors.close()
            raise TelemetryError(f"cannot start power command {argv[0]}: {exc.strerror}") from None
        self._latest: Optional[float] = None
        self._ended = False
        self._first = threading.Event()
        self._reader = threading.Thread(target=self._read_lines, name="edgeq-power-command", daemon=True)
        self._reader.start()
        self._first.wait(FIRST_READING_S)
        if self._latest is None:
            why = self._why()
            self.close()
            raise TelemetryError(f"power command {argv[0]} printed no watts within {FIRST_READING_S:g} s{why}")

    def _read_lines(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            words = line.split()
            try:
                self._latest = float(words[0]) if words else self._latest
            except ValueError:
                continue  # a banner or a unit line; only numbers are readings
            self._first.set()
        self._ended = True
        self._first.set()

    def _why(self) -> str:
        if self._ended:  # its output ended because it is exiting: let it finish
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        code = self._proc.poll()
        self._errors.seek(0)
        last = (self._errors.read().decode("utf-8", "replace").strip().splitlines() or [""])[-1]
        status = f"; it exited with code {code}" if code is not None else ""
        return status + (f": {last}" if last else "")

    def read(self) -> Optional[Reading]:
        latest = self._latest
        return {"w": latest} if latest is not None else None

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._reader.join(timeout=2)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._errors.close()


@register("command")
def open_command(config: Dict[str, Any], root: str) -> PowerSource:
    argv = shlex.split(config.get("command") or "")
    if not argv:
        raise TelemetryError("power source 'command' needs a command that prints watts")
    return Command(argv)
