"""The quantization engines' registry: which engine makes which mode from which kind of source.

An engine is a function `(job: EngineJob) -> bytes` that runs in the worker child
(edgeq.quantize.worker), never in the host process: TensorFlow must stay out of the
process that later loads tflite-runtime. Engines register with `@register`; callers
ask `engine_for` and never import an implementation.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np

from edgeq.errors import ConfigError

# Every mode a user may ask for; each engine makes a subset of them.
MODES = ("fp32", "fp16", "dynamic", "int8", "int16x8", "int4-weights", "int8-weights", "dynamic-int4", "qat")
# Modes that need representative (calibration) data; qat needs labelled training data instead.
CALIBRATED_MODES = ("int8", "int16x8")
SOURCE_KINDS = ("keras", "savedmodel", "tflite")
IO_TYPES = ("float", "int8", "uint8")
_IMPLEMENTATIONS = ("edgeq.quantize.tf_converter", "edgeq.quantize.aiq", "edgeq.quantize.qat")


@dataclass
class EngineJob:
    """What an engine needs for one variant. `calib` is already shaped to the model's input."""

    source: Path
    kind: str
    mode: str
    calib: np.ndarray | None = None
    train: tuple[np.ndarray, np.ndarray] | None = None
    io: str = "float"
    per_tensor_dense: bool = False
    options: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Engine:
    name: str
    sources: tuple[str, ...]
    modes: tuple[str, ...]
    package: str
    """The distribution whose version goes into the sidecar."""
    run: Callable[[EngineJob], bytes]

    def version(self) -> str:
        try:
            return metadata.version(self.package)
        except metadata.PackageNotFoundError:
            return "not installed"


ENGINES: dict[str, Engine] = {}


def register(name: str, *, sources: tuple[str, ...], modes: tuple[str, ...],
             package: str) -> Callable[[Callable[[EngineJob], bytes]], Callable[[EngineJob], bytes]]:
    def add(run: Callable[[EngineJob], bytes]) -> Callable[[EngineJob], bytes]:
        ENGINES[name] = Engine(name, sources, modes, package, run)
        return run
    return add


def _load() -> None:
    """Import every implementation (cheap after the first time: they import their libraries lazily)."""
    for module in _IMPLEMENTATIONS:
        importlib.import_module(module)


def check_modes(modes: list[str]) -> None:
    """Refuse unknown or repeated modes before any child process starts."""
    if not modes:
        raise ConfigError(f"no quantization mode given. Choose from: {', '.join(MODES)}")
    for mode in modes:
        if mode not in MODES:
            raise ConfigError(f"unknown quantization mode '{mode}'. Choose from: {', '.join(MODES)}")
    if len(set(modes)) != len(modes):
        raise ConfigError(f"mode given twice: {', '.join(modes)}")


def engine_for(kind: str, mode: str) -> Engine:
    """The engine that makes `mode` from a `kind` source (the first registered wins)."""
    _load()
    for engine in ENGINES.values():
        if kind in engine.sources and mode in engine.modes:
            return engine
    possible = sorted({m for e in ENGINES.values() if kind in e.sources for m in e.modes}, key=MODES.index)
    raise ConfigError(f"mode '{mode}' cannot be made from a {kind} model. Choose from: {', '.join(possible)}")


def source_kind(model: Path) -> str:
    """keras (.keras/.h5), savedmodel (a folder with saved_model.pb) or tflite."""
    if model.is_dir():
        if (model / "saved_model.pb").exists():
            return "savedmodel"
        raise ConfigError(f"{model}: a folder without saved_model.pb is not a SavedModel")
    if not model.exists():
        raise ConfigError(f"{model}: no such model")
    kinds = {".keras": "keras", ".h5": "keras", ".tflite": "tflite"}
    if model.suffix not in kinds:
        raise ConfigError(f"{model}: unknown model type '{model.suffix}'. Choose from: .keras, .h5, .tflite, a SavedModel folder")
    return kinds[model.suffix]
