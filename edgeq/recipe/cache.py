"""Content keys and the recipe's state file: what makes a re-run cost seconds.

A variant is keyed by what determines its bytes (source hash, mode, calibration and
training data hashes, io, tool versions); a cell's result by what determines its
measurement (variant hash, board, backend spec, threads, profiling settings). Keys are
hashes, so a changed input simply misses the cache: nothing is ever invalidated by hand.
`cells.json` is rewritten atomically after every cell, so an interrupted run loses at
most the cell in flight and the next run resumes from the cells not yet done.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any

from edgeq.agent.wire import RECIPE_CELLS
from edgeq.quantize.engines import CALIBRATED_MODES
from edgeq.quantize.sidecar import file_sha256

__all__ = ["CellState", "digest", "data_sha256", "tool_versions", "variant_key", "cell_key"]

STATE_SCHEMA = RECIPE_CELLS.tag
_TOOLS = ("edgeq", "tensorflow", "ai-edge-quantizer", "tensorflow-model-optimization")


def digest(*parts: Any) -> str:
    """A stable hash of JSON-able parts: the one way keys are made."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def tool_versions() -> dict[str, str]:
    """Versions of the tools that make variants: a new TensorFlow must not reuse old bytes."""
    found = {}
    for name in _TOOLS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def data_sha256(spec: str | None) -> str | None:
    """Hash of a calibration or training file or folder; `random` and None stand for themselves."""
    if spec is None or spec == "random":
        return spec
    return file_sha256(Path(spec))


def variant_key(source_sha: str, mode: str, calib_sha: str | None, train_sha: str | None,
                versions: dict[str, str]) -> str:
    """Calibration data counts only for the modes that read it, so new data re-makes only those."""
    return digest("variant", source_sha, mode, calib_sha if mode in CALIBRATED_MODES else None,
                  train_sha if mode == "qat" else None, versions)


def cell_key(variant_sha: str, board: str, backend: str, threads: int, settings: dict[str, Any]) -> str:
    return digest("cell", variant_sha, board, backend, threads, settings)


class CellState:
    """`cells.json`: cell key -> its recorded outcome (status, reason, run dir, figures)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cells: dict[str, dict[str, Any]] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text())
            except ValueError:
                data = {}  # a damaged state file only costs a re-run of the cells
            if data.get("schema") == STATE_SCHEMA:
                self.cells = data.get("cells", {})

    def done(self, key: str) -> dict[str, Any] | None:
        """The recorded outcome, if its run directory is still there to report from."""
        record = self.cells.get(key)
        if record and record.get("run_dir") and Path(record["run_dir"]).is_dir():
            return record
        return None

    def remember(self, key: str, outcome: dict[str, Any]) -> None:
        self.cells[key] = outcome
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps({"schema": STATE_SCHEMA, "cells": self.cells}, indent=1))
        partial.replace(self.path)  # Ctrl-C between cells never leaves half a file
