"""Telemetry around a job's backends, in the order a run needs it.

The runner enters an Observer before the first backend and leaves it after the
last: entering sets the governor, opens the power source, takes the start snapshot,
starts the sampler and measures idle power; leaving stops the sampler, takes the end
snapshot and puts the governor back, also when a backend or the runner failed.
Figures per backend are derived only after leaving, when a sample closes every window.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Dict, Iterable, List, Optional

from . import TelemetryError, derive, governor
from .power import PowerSource, open_source
from .probe import Probe
from .sampler import Sampler

SAMPLES_FILE = "telemetry.jsonl"
COOLDOWN_POLL_S = 0.25


class Observer:
    def __init__(self, job: Dict[str, Any]) -> None:
        self._job = job
        self._settings = job["telemetry"]
        self._stack = contextlib.ExitStack()
        self._power_error: Optional[str] = None
        self._governor: Optional[Dict[str, Any]] = None
        self._start: Dict[str, Any] = {}
        self._end: Dict[str, Any] = {}
        self._idle: Optional[List[int]] = None
        self.sampler: Optional[Sampler] = None
        self.idle_w: Optional[float] = None

    def _open_power(self) -> PowerSource:
        """The configured source; one that cannot be read is recorded and the run goes on without it."""
        try:
            return open_source(self._settings["power"], self._settings["root"])
        except TelemetryError as exc:
            self._power_error = str(exc)
            return open_source({"source": "none"}, self._settings["root"])

    def __enter__(self) -> "Observer":
        root = self._settings["root"]
        with contextlib.ExitStack() as stack:
            self._governor = stack.enter_context(governor.governed(root, self._job["governor"]))
            power = stack.enter_context(contextlib.closing(self._open_power()))
            self.probe = Probe(root, self._settings["thermal_zones"], power)
            self._start = self.probe.snapshot()
            if self._settings["rate_hz"] > 0:
                self.sampler = Sampler(self.probe, self._settings["rate_hz"],
                                       os.path.join(self._job["out_dir"], SAMPLES_FILE))
                self.sampler.begin()
                stack.callback(self.sampler.finish)
                if self._settings["idle_seconds"] > 0:
                    t0 = time.perf_counter_ns()
                    time.sleep(self._settings["idle_seconds"])
                    self._idle = [t0, time.perf_counter_ns()]
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.sampler:
                self.sampler.finish()
                if self._idle:
                    self.idle_w = derive.average_power(self.sampler.samples, *self._idle)
            self._end = self.probe.snapshot()
        finally:
            self._stack.close()

    def cool_down(self) -> Optional[Dict[str, Any]]:
        """Wait until the hottest zone is at or below the job's cooldown_to_c (or its timeout)."""
        target = self._job["cooldown_to_c"]
        if target is None:
            return None
        started = time.monotonic()
        first = now = self.probe.max_temp()
        if first is None:
            return {"target_c": target, "reached": False, "reason": "no thermal zone to read"}
        while now is not None and now > target and time.monotonic() - started < self._job["cooldown_timeout_s"]:
            time.sleep(COOLDOWN_POLL_S)
            now = self.probe.max_temp()
        return {"target_c": target, "start_c": first, "end_c": now, "reached": now is not None and now <= target,
                "waited_s": round(time.monotonic() - started, 3)}

    def describe(self, entry: Dict[str, Any], cooldown: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        """Add the backend's `telemetry` (its cooldown, and the figures of its measured window)."""
        found: Dict[str, Any] = {"cooldown": cooldown} if cooldown else {}
        window = (entry.get("windows") or {}).get("measure")
        if self.sampler and window and entry.get("stats"):
            found.update(derive.backend(self.sampler.samples, window, entry["stats"]["count"], self.idle_w))
        if found:
            entry["telemetry"] = found
        return entry

    def summary(self, entries: List[Dict[str, Any]]) -> Dict[str, Any]:
        """The result's top-level `telemetry`: what was sampled, and the run's conditions at start and end."""
        samples = self.sampler.samples if self.sampler else []
        span_s = (samples[-1]["t_ns"] - samples[0]["t_ns"]) / 1e9 if len(samples) > 1 else 0.0
        flags = [(e.get("telemetry") or {}).get("throttling") or {} for e in entries]
        with_temps = [s for s in samples if "temps" in s]
        return {
            "source": self._settings["power"]["source"],
            "power_error": self._power_error,
            "rate_hz": self._settings["rate_hz"],
            "achieved_hz": (len(samples) - 1) / span_s if span_s else None,
            "samples": len(samples),
            "file": SAMPLES_FILE if self.sampler else None,
            "sampler_error": self.sampler.error if self.sampler else None,
            "idle_s": (self._idle[1] - self._idle[0]) / 1e9 if self._idle else 0.0,
            "idle_w": self.idle_w,
            "start": self._start,
            "end": self._end,
            "thermal": {
                "start_c": {z: t["c"] for z, t in self._start["temps"].items()},
                "end_c": {z: t["c"] for z, t in self._end["temps"].items()},
                "max_c": {z: max(s["temps"][z] for s in with_temps if z in s["temps"])
                          for z in sorted({z for s in with_temps for z in s["temps"]})},
            },
            "throttling": {key: _any_known(f.get(key) for f in flags) for key in ("throttled", "clock_dropped")},
            "governor": self._governor,
        }


def _any_known(flags: Iterable[Optional[bool]]) -> Optional[bool]:
    """True if any flag is set, None when no backend could tell (nothing sampled)."""
    known = [f for f in flags if f is not None]
    return any(known) if known else None
