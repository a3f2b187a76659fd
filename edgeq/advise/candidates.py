"""The candidates `edgeq advise` may measure: variant x backend x threads, and the ones it will not.

A combination is pruned before anything runs when a known rule already refuses it
(edgeq.quantize.compat, for the runtime the backend would use on this board), when the
board lacks the backend, or when a knob cannot matter (CpuRef and the GPU run one thread).
Every pruned combination keeps its reason: the answer says why it was not measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeq.boards.schema import Board
from edgeq.errors import ConfigError
from edgeq.profile import backendspec
from edgeq.quantize import compat

BASE_MODES = ("fp32", "fp16", "dynamic", "int8", "int16x8", "int4-weights")
MIXED_KS = (1, 2, 4, 8)
# Variants where XNNPACK does the work and turning it off can change the answer.
XNNPACK_MATTERS = ("fp32", "fp16", "int8", "qat")
_TFLITE_RUNTIMES = ("ai_edge_litert", "tflite_runtime", "tensorflow")  # the agent's auto order


@dataclass(frozen=True)
class Candidate:
    """One way to run the model: which variant, through which backend, on how many threads."""

    variant: str
    backend: str
    threads: int

    @property
    def id(self) -> str:
        return f"{self.variant}/{self.backend}/t{self.threads}"


@dataclass(frozen=True)
class Pruned:
    candidate: Candidate
    reason: str


def default_backends(board: Board, facts: dict[str, Any]) -> list[str]:
    """The board's backends as specs worth comparing: each ArmNN backend it has on its own,
    and the TFLite CPU interpreter with XNNPACK off as well as on."""
    specs: list[str] = []
    for name in board.backends:
        if name == "armnn":
            have = (facts.get("pyarmnn") or {}).get("backends")
            wanted = board.armnn.preferred_backends if board.armnn else ["CpuAcc", "CpuRef"]
            specs += [f"armnn:backends={b}" for b in wanted if have is None or b in have]
        elif name == "tflite-cpu":
            specs += ["tflite-cpu", "tflite-cpu:xnnpack=false"]
        elif name == "tflite-gpu" and (facts.get("gpu") or {}).get("vulkan"):
            specs.append("tflite-gpu")
    return specs


KNOWN_BACKENDS = ("tflite-cpu", "tflite-gpu", "armnn", "tflite-benchmark")


def check_backends(specs: list[str]) -> None:
    """Refuse a misspelt backend before anything is quantized."""
    if not specs:
        raise ConfigError("--backends: no backend to measure. Choose from: " + ", ".join(KNOWN_BACKENDS))
    for label in specs:
        name = backendspec.parse(label)["name"]
        if name not in KNOWN_BACKENDS:
            raise ConfigError(f"--backends {label!r}: unknown backend '{name}'. "
                              f"Choose from: {', '.join(KNOWN_BACKENDS)}")


def thread_counts(board: Board, facts: dict[str, Any], given: list[int] | None) -> list[int]:
    """Powers of two up to the board's cores (and the core count itself), unless given."""
    cores = int((facts.get("cpu") or {}).get("count") or len(board.cpu.core_ids() if board.cpu else []) or 1)
    if given:
        bad = [t for t in given if t < 1 or t > cores]
        if bad:
            raise ConfigError(f"--threads {bad[0]}: board {board.name} has {cores} cores (choose 1..{cores})")
        return sorted(set(given))
    counts = {1, cores}
    n = 2
    while n < cores:
        counts.add(n)
        n *= 2
    return sorted(counts)


def _targets(spec: dict[str, Any], facts: dict[str, Any]) -> list[str]:
    """The compat targets for the runtime this backend would load on this board."""
    if spec["name"] == "armnn":
        version = (facts.get("pyarmnn") or {}).get("version")
        return [f"pyarmnn=={version}" if version else "pyarmnn"]
    runtimes = facts.get("runtimes") or {}
    chosen = spec["options"].get("runtime")
    if not chosen or chosen == "auto":
        chosen = next((r for r in _TFLITE_RUNTIMES if r in runtimes), None)
    if chosen == "tflite_runtime":
        return [f"tflite-runtime=={runtimes.get('tflite_runtime')}" if runtimes.get("tflite_runtime")
                else "tflite-runtime"]
    return []


def _single_thread(spec: dict[str, Any]) -> str | None:
    if spec["name"] == "armnn" and spec["options"].get("backends") in ("CpuRef", ["CpuRef"]):
        return "ArmNN's CpuRef runs on one thread"
    if spec["name"] == "tflite-gpu":
        return "the GPU backend does not use CPU threads"
    return None


def enumerate_candidates(variants: dict[str, Path], backends: list[str], threads: list[int],
                         facts: dict[str, Any], xnnpack_pairs: bool) -> tuple[list[Candidate], list[Pruned]]:
    """Every combination, split into the ones to measure and the ones pruned (with the reason).

    xnnpack_pairs: the backend list came from the board (not the user), so `xnnpack=false`
    is only worth measuring for the variants XNNPACK runs.
    """
    kept: list[Candidate] = []
    pruned: list[Pruned] = []
    for name, path in variants.items():
        for label in backends:
            spec = backendspec.parse(label)
            rules = compat.rules_for(_targets(spec, facts))
            refusals = compat.check(path, rules)
            base = name.split("-mixed")[0]
            for count in threads:
                candidate = Candidate(name, label, count)
                one = _single_thread(spec)
                if refusals:
                    pruned.append(Pruned(candidate, "refused: " + refusals[0].split(": ", 1)[-1]))
                elif one and count > 1:
                    pruned.append(Pruned(candidate, f"not measured: {one}"))
                elif xnnpack_pairs and spec["options"].get("xnnpack") is False and base not in XNNPACK_MATTERS:
                    pruned.append(Pruned(candidate, f"not measured: XNNPACK does not run {base} variants, "
                                                    "so turning it off changes nothing"))
                else:
                    kept.append(candidate)
    return kept, pruned


def not_built(unbuilt: dict[str, str], backends: list[str], threads: list[int]) -> list[Pruned]:
    """Mixed variants the quantizer refused: every combination they would have made, with its words."""
    return [Pruned(Candidate(name, label, count), f"not built: {reason}")
            for name, reason in unbuilt.items() for label in backends for count in threads]
