"""How to measure, as one typed record with one set of defaults, and the exit decision rules.

The CLI's flags, a recipe's `profile:` section and the Python API's `profile()` all
build a Settings, so the same model profiled any of the three ways gets the same job.
The exit decision (did the run pass the checks asked for?) is made here too, so that
every caller gets the same exit decision from the same result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from edgeq.agent.records import Measure, Result, Warmup
from edgeq.agent.wire import DEFAULT_TIMEOUT_S, RESULT
from edgeq.errors import EXIT_BOARD_FAILURE, EXIT_CHECK_FAILED, ConfigError

__all__ = ["DEFAULTS", "Decision", "Settings", "exit_decision"]


@dataclass(frozen=True)
class Settings:
    """Measurement settings of one profile. Defaults: 50 measured runs after 5 warm-up runs,
    1 thread, no pinning, 600 s per backend, seed 0, telemetry only on a board with a power source."""

    runs: int = Measure.runs
    """Measured runs, at least."""
    min_seconds: float = Measure.min_seconds
    """Keep measuring at least this long."""
    warmup: int = Warmup.runs
    warmup_seconds: float = Warmup.seconds
    threads: int = 1
    pin: str | None = None
    """A CPU cluster name (big, little) or core ids (0,1); None leaves the scheduler alone."""
    timeout_s: float = DEFAULT_TIMEOUT_S
    """Seconds allowed per backend."""
    seed: int = 0
    """Seed for generated inputs."""
    input_file: Path | None = None
    """A .npy or .npz of inputs; None: fixed-seed random data."""
    reference: Path | None = None
    """Check outputs against this (float) model on the host; None: the model itself."""
    strict: bool = False
    """Fail the check (exit 1) when any backend's outputs do not match."""
    require_full_delegation: bool = False
    """Fail the check when any backend ran part of the model on the CPU instead of its accelerator."""
    telemetry_hz: float = 0.0
    """0: 10 Hz when the board names a power source, else off."""
    cooldown_to: float | None = None
    """Degrees C to wait for before each backend; None: no wait."""
    governor: str | None = None
    """A cpufreq governor to hold during the run (then restored)."""

    def __post_init__(self) -> None:
        for name in ("input_file", "reference"):
            if isinstance(getattr(self, name), str):  # a path as text, from a script or a YAML file
                object.__setattr__(self, name, Path(getattr(self, name)))
        check_settings(threads=self.threads, runs=self.runs, warmup=self.warmup, seed=self.seed, seconds={
            "--timeout": self.timeout_s, "--min-seconds": self.min_seconds, "--warmup-seconds": self.warmup_seconds,
            "--telemetry-hz": self.telemetry_hz, "--cooldown-to": self.cooldown_to})

    def but(self, **changes: Any) -> "Settings":
        """These settings with some changed; a name that is not a setting is a ConfigError."""
        unknown = sorted(set(changes) - set(names()))
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]!r}. Choose from: {', '.join(names())}")
        return replace(self, **changes)


MAX_THREADS = 1024


def check_settings(*, threads: int, runs: int, warmup: int, seed: int, seconds: dict[str, float | None]) -> None:
    """Every number a profile takes, checked before anything is sent: finite, whole where it counts, in range.

    `seconds` maps a flag (--timeout, --min-seconds, ...) to its value; --timeout must be > 0, the others >= 0.
    """
    for flag, value, low, high in (("--threads", threads, 1, MAX_THREADS), ("--runs", runs, 1, None),
                                   ("--warmup", warmup, 0, None), ("--seed", seed, 0, 2**63 - 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
            bound = f"from {low} to {high}" if high else f">= {low}"
            raise ConfigError(f"{flag} {value!r}: expected a whole number {bound}")
    for flag, number in seconds.items():
        if number is None:
            continue
        positive = flag == "--timeout"
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) or (
                number <= 0 if positive else (number < 0 and flag != "--cooldown-to")):
            raise ConfigError(f"{flag} {number!r}: expected a finite number"
                              f"{' > 0' if positive else '' if flag == '--cooldown-to' else ' >= 0'}")


def names() -> list[str]:
    return [f.name for f in fields(Settings)]


DEFAULTS = Settings()


@dataclass(frozen=True)
class Decision:
    """Why a finished run does not pass, and the exit code that says so. (The report's verdicts,
    report/verdict.py, rank cells; this decides a command's exit.)"""

    message: str
    exit_code: int


def exit_decision(result: Result | dict[str, Any], settings: Settings, board: str) -> Decision | None:
    """None when the run passes; else the first rule it breaks, in this order: no backend completed
    (a board failure, exit 3), not fully delegated under require_full_delegation, outputs that do
    not match under strict (checks, exit 1)."""
    from edgeq.profile.correctness import mismatches
    from edgeq.report.terminal import fallbacks

    typed = result if isinstance(result, Result) else Result.from_dict(dict(result, schema=RESULT.tag))
    if not typed.ok:
        reasons = "; ".join(f"{b.label}: {b.reason}" for b in typed.backends)
        return Decision(f"no backend completed on board {board}: {reasons}", EXIT_BOARD_FAILURE)
    fell_back = fallbacks(typed)
    if settings.require_full_delegation and fell_back:
        return Decision(f"not fully delegated on board {board}: " + "; ".join(fell_back), EXIT_CHECK_FAILED)
    if settings.strict and mismatches(typed.checks):
        return Decision(f"outputs do not match the reference on board {board}: "
                        + "; ".join(mismatches(typed.checks)), EXIT_CHECK_FAILED)
    return None
