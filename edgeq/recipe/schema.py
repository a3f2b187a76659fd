"""What a recipe YAML file may say: the matrix to run, and how to measure and report it.

A recipe names models, their quantization modes and data, boards, backends with thread
counts, profiling settings and the report. It is validated by the one shared loader, so a
mistake reads like a board file's: file, key path, expected, found, "did you mean".
Relative paths in a recipe are relative to the recipe file, not to the working folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Union

from pydantic import (Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, field_validator,
                      model_validator)

from edgeq.config.loader import FileRecord, Record, load_model
from edgeq.settings import DEFAULTS, Settings

__all__ = ["Backend", "ModelEntry", "Profiling", "Recipe", "Report", "load_recipe"]

Mode = Literal["fp32", "fp16", "dynamic", "int8", "int16x8", "int4-weights", "int8-weights", "dynamic-int4", "qat"]
ReportFormat = Literal["html", "md", "csv", "json"]
ZooName = Literal["tiny-cnn", "tiny-cnn-fallback", "mobilenet_v1", "keras-mobilenet_v1", "digits-cnn"]
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class ModelEntry(Record):
    """One model: a zoo entry with its params, or a file; and the variants to make of it."""

    name: str | None = None
    """Label in cell ids; default: the zoo name or the file stem."""
    zoo: ZooName | None = None
    params: dict[str, Union[int, float, str]] = {}
    """Zoo parameters, e.g. alpha and resolution for mobilenet_v1."""
    file: str | None = None
    """A .tflite, .keras/.h5 or SavedModel folder, relative to the recipe."""
    modes: list[Mode] = Field(["fp32"], min_length=1)
    calib: str | None = None
    """Calibration data (.npy/.npz, image folder, or `random`); digits-cnn defaults to its train split."""
    train: str | None = None
    """Labelled .npz for qat; digits-cnn defaults to its train split."""
    eval: str | None = None
    """Labelled .npz for the analysis table; digits-cnn defaults to its eval split."""

    @model_validator(mode="after")
    def _one_source(self) -> ModelEntry:
        if (self.zoo is None) == (self.file is None):
            raise ValueError("give exactly one of 'zoo' (a zoo model) or 'file' (a model file)")
        if self.params and self.zoo is None:
            raise ValueError("'params' go with a 'zoo' model")
        if len(set(self.modes)) != len(self.modes):
            raise ValueError(f"modes: a mode is listed twice: {', '.join(self.modes)}")
        return self

    @property
    def label(self) -> str:
        return self.name or self.zoo or Path(self.file or "model").stem


class Backend(Record):
    """A backend as `edgeq profile --backend` takes it, with the thread counts to run it at."""

    spec: str = Field(min_length=1)
    """`NAME[:key=value...]`, e.g. `armnn:backends=CpuAcc`."""
    threads: list[PositiveInt] | None = None
    """Default: the recipe's `threads`."""


class Profiling(Record):
    """How each cell is measured: edgeq.settings.Settings, with its defaults (the CLI's too).
    Threads come from the recipe's `threads` and its backends; inputs are generated (seed)."""

    runs: PositiveInt = DEFAULTS.runs
    warmup: NonNegativeInt = DEFAULTS.warmup
    min_seconds: NonNegativeFloat = DEFAULTS.min_seconds
    warmup_seconds: NonNegativeFloat = DEFAULTS.warmup_seconds
    pin: str | None = DEFAULTS.pin
    """A CPU cluster name (big, little) or core ids (0,1); null: the scheduler decides."""
    seed: int = DEFAULTS.seed
    cooldown_to: float | None = DEFAULTS.cooldown_to
    """Degrees C to wait for before each backend; null: no wait."""
    governor: str | None = DEFAULTS.governor
    telemetry_hz: NonNegativeFloat = DEFAULTS.telemetry_hz
    timeout_s: PositiveFloat = DEFAULTS.timeout_s
    strict: bool = DEFAULTS.strict
    """A cell whose outputs do not match its model's fails its check (`edgeq run` exits 1)."""
    require_full_delegation: bool = DEFAULTS.require_full_delegation
    """A cell that ran part of the model on the CPU instead of its accelerator fails its check."""

    def settings(self, threads: int) -> Settings:
        return Settings(threads=threads, **self.model_dump())


class Report(Record):
    formats: list[ReportFormat] = ["html", "md"]
    output: str = "report"
    """File stem inside the recipe's run folder."""


class Recipe(FileRecord):
    """A whole recipe file; `source` is the file, `name` defaults to its stem."""

    name: str | None = None
    description: str = ""
    models: list[ModelEntry] = Field(min_length=1)
    boards: list[str] = Field(min_length=1)
    """Board names or group names from the catalog."""
    backends: list[Union[str, Backend]] = Field(min_length=1)
    threads: list[PositiveInt] = [1]
    profile: Profiling = Profiling()
    report: Report = Report()
    work_dir: str | None = None
    """Cache and state folder; default `.edgeq/<name>` in the working folder."""
    runs_dir: str = "runs"

    @field_validator("boards", mode="before")
    @classmethod
    def _boards_text(cls, value: object) -> object:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(f"expected lower case letters, digits, '.', '_' or '-', found {value!r}")
        return value

    @model_validator(mode="after")
    def _labels_unique(self) -> Recipe:
        labels = [m.label for m in self.models]
        repeated = sorted({x for x in labels if labels.count(x) > 1})
        if repeated:
            raise ValueError(f"models: two models are called {repeated[0]!r}; give one a 'name'")
        return self

    @property
    def backend_list(self) -> list[Backend]:
        return [Backend(spec=b) if isinstance(b, str) else b for b in self.backends]

    def title(self) -> str:
        return self.name or (self.source.stem if self.source else "recipe")

    def path_of(self, text: str) -> Path:
        """A path written in the recipe, resolved against the recipe's folder."""
        path = Path(text).expanduser()
        base = self.source.parent if self.source else Path.cwd()
        return path if path.is_absolute() else base / path


def load_recipe(path: str | Path) -> Recipe:
    return load_model(path, Recipe)
