"""The sampling thread: one probe reading per period, kept in memory and written as JSON lines.

It runs in the agent's parent process while each backend runs in its own child, so
it competes with inference for a core only for the few microseconds a sample takes,
never for the child's interpreter lock. A slow source (vcgencmd's pmic_read_adc takes
up to 0.1 s) lowers the rate actually reached; ticks are skipped, never bunched up.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Dict, List, Optional

from .probe import Probe


class Sampler(threading.Thread):
    def __init__(self, probe: Probe, rate_hz: float, path: str) -> None:
        super().__init__(name="edgeq-telemetry", daemon=True)
        self.samples: List[Dict[str, Any]] = []
        self.error: Optional[str] = None
        self._probe = probe
        self._period_ns = int(1e9 / rate_hz)
        self._path = path
        self._halt = threading.Event()
        self._first = threading.Event()

    def run(self) -> None:
        try:
            with open(self._path, "w", encoding="utf-8") as out:
                self._loop(out)
        except Exception as exc:  # a sensor that breaks mid-run ends sampling, not the job
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._first.set()

    def _loop(self, out: Any) -> None:
        clock = time.perf_counter_ns
        due = clock()
        while True:
            sample = self._probe.sample()
            self.samples.append(sample)
            out.write(json.dumps(sample, separators=(",", ":")) + "\n")
            self._first.set()
            if self._halt.is_set():
                return  # the sample just taken closes the last window
            due += self._period_ns
            now = clock()
            if due < now:
                due = now
            self._halt.wait((due - now) / 1e9)

    def begin(self) -> None:
        """Start, and return once the first sample is in: the windows that follow begin after it."""
        self.start()
        self._first.wait()

    def finish(self) -> None:
        """Stop after one last sample, which stands for the end of the last window."""
        self._halt.set()
        self.join()
