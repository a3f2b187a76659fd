"""One round of measurement on the board: profile() per (variant, threads), all its backends at once.

Each call's outcome is stored under a content key (variant hash, board, backends,
threads, the round's settings) in the advise work folder before the next call starts,
so an interrupted advise resumes where it stopped and a re-run measures nothing again.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeq.advise.candidates import Candidate
from edgeq.agent.records import BackendResult
from edgeq.agent.sections import Check, Correctness
from edgeq.model.reader import inspect_model
from edgeq.profile.run import profile
from edgeq.quantize.sidecar import file_sha256
from edgeq.recipe.cache import digest


@dataclass
class Cell:
    """What the board said about one candidate, pooled over the rounds it was measured in."""

    candidate: Candidate
    status: str = "pending"
    """ok, failed (crashed or refused on the board), unavailable, wrong (outputs off the reference)."""
    reason: str | None = None
    accuracy: float | None = None
    samples_ns: list[list[int]] = field(default_factory=list)
    """One list per round, in order."""
    energy_mj: list[float] = field(default_factory=list)
    board_s: float = 0.0
    run_dirs: list[str] = field(default_factory=list)
    layers: dict[str, Any] | None = None
    settled: str | None = None
    """Why measuring stopped (the racing rule's words), None while it races."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def pooled_ns(self) -> np.ndarray:
        return np.concatenate([np.asarray(s, dtype=np.int64) for s in self.samples_ns]) if self.samples_ns \
            else np.zeros(0, np.int64)

    @property
    def p50_ms(self) -> float | None:
        pooled = self.pooled_ns
        return float(np.median(pooled)) / 1e6 if len(pooled) else None

    @property
    def runs(self) -> int:
        return int(sum(len(s) for s in self.samples_ns))


@dataclass(frozen=True)
class RoundPlan:
    """How one round measures: seconds per candidate grow by `growth` each round."""

    index: int
    min_seconds: float
    runs: int = 10
    warmup: int = 3

    def settings(self) -> dict[str, Any]:
        return {"round": self.index, "min_seconds": self.min_seconds, "runs": self.runs, "warmup": self.warmup}


class Store:
    """profile outcomes by key, rewritten atomically after each call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.data.get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.data[key] = value
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(self.data))
        tmp.replace(self.path)


@dataclass
class Setup:
    """What every profile call of one advise shares."""

    board: str
    variants: dict[str, Path]
    reference: Path
    input_file: Path
    eval_file: Path
    runs_dir: Path
    store: Store
    telemetry_hz: float = 0.0
    telemetry_root: str = "/"
    accept_new_host_key: bool = False
    hashes: dict[str, str] = field(default_factory=dict)

    def variant_sha(self, name: str) -> str:
        if name not in self.hashes:
            self.hashes[name] = file_sha256(self.variants[name])
        return self.hashes[name]


@dataclass(frozen=True)
class Measured:
    """What advise keeps of one backend's result; stored as JSON (Store), so plain values only."""

    status: str
    reason: str | None = None
    samples_ns: list[int] = field(default_factory=list)
    wall_s: float = 0.0
    accuracy: float | None = None
    passed: bool | None = None
    why: str | None = None
    energy_mj: float | None = None
    layers: dict[str, Any] | None = None  # sections.LayerProfile as a dict

    @classmethod
    def of(cls, backend: BackendResult, checks: Correctness) -> "Measured":
        check = checks.checks.get(backend.label) or Check()
        reason = " ".join(str(backend.reason).split()) if backend.reason else None  # one line
        layers = backend.layer_profile
        return cls(backend.status, reason, backend.samples_ns, backend.wall_s,
                   backend.accuracy.top1 if backend.accuracy else None, check.passed, check.why,
                   backend.energy.mj if backend.energy else None, layers.to_dict() if layers else None)


def _call(setup: Setup, variant: str, threads: int, labels: list[str], plan: RoundPlan) -> dict[str, Any]:
    key = digest(setup.variant_sha(variant), setup.board, labels, threads, plan.settings(), setup.telemetry_hz,
                 file_sha256(setup.input_file), file_sha256(setup.eval_file) if plan.index == 0 else None)
    cached = setup.store.get(key)
    if cached is not None:
        return cached
    model = setup.variants[variant]
    run = profile(model, board=setup.board, backends=labels, threads=threads, runs=plan.runs, warmup=plan.warmup,
                  min_seconds=plan.min_seconds, input_file=_input_for(setup.input_file, model), runs_dir=setup.runs_dir,
                  reference=None if model == setup.reference else setup.reference,
                  eval_data=setup.eval_file if plan.index == 0 else None, telemetry_hz=setup.telemetry_hz,
                  telemetry_root=setup.telemetry_root,
                  accept_new_host_key=setup.accept_new_host_key)
    record = run.record
    outcome = {"run_dir": str(run.run_dir),
               "backends": {b.label: dataclasses.asdict(Measured.of(b, record.checks)) for b in record.backends}}
    setup.store.put(key, outcome)
    return outcome


def _input_for(float_input: Path, model: Path) -> Path:
    """The float sample in the model's own input type (an integer input through its scale and zero point)."""
    spec = inspect_model(model).inputs[0]
    wanted = np.dtype(spec.dtype)
    if wanted.kind not in "iu":
        return float_input
    info = np.iinfo(wanted)
    x = np.load(float_input)
    path = float_input.with_name(f"{float_input.stem}.{wanted.name}-{spec.scale}-{spec.zero_point}.npy")
    np.save(path, np.clip(np.round(x / spec.scale) + spec.zero_point, info.min, info.max).astype(wanted))
    return path


def _record(cell: Cell, summary: Measured, run_dir: str, first: bool) -> None:
    cell.board_s += summary.wall_s
    cell.run_dirs.append(run_dir)
    if summary.status != "ok":
        cell.status = summary.status
        cell.reason = summary.reason
        return
    if first:
        cell.accuracy = summary.accuracy
        if summary.passed is False:
            cell.status, cell.reason = "wrong", f"outputs off the float model: {summary.why}"
            return
    cell.status = "ok"
    cell.samples_ns.append(list(summary.samples_ns))
    if summary.energy_mj is not None:
        cell.energy_mj.append(float(summary.energy_mj))
    if summary.layers:
        cell.layers = summary.layers


def measure_round(setup: Setup, cells: list[Cell], plan: RoundPlan,
                  on_call: Callable[[str], None] | None = None) -> float:
    """Measure `cells` once more; returns the board-seconds this round spent (cached calls included)."""
    groups: dict[tuple[str, int], list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.candidate.variant, cell.candidate.threads), []).append(cell)
    spent = 0.0
    for (variant, threads), group in groups.items():
        if on_call:
            on_call(f"round {plan.index + 1}: {variant} t{threads} on {', '.join(c.candidate.backend for c in group)}")
        outcome = _call(setup, variant, threads, [c.candidate.backend for c in group], plan)
        for cell in group:
            summary = Measured(**outcome["backends"][cell.candidate.backend])
            spent += summary.wall_s
            _record(cell, summary, outcome["run_dir"], plan.index == 0)
    return spent
