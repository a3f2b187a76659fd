"""The quantization analysis table: size, compression, accuracy and error of each variant against float.

TFLite variants run here with ai_edge_litert (this process never imports TensorFlow);
a Keras or SavedModel source (the "original" row) runs in the worker child.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from edgeq.agent.wire import ANALYSIS
from edgeq.errors import ConfigError, InputDataError, ModelError
from edgeq.model.reader import inspect_model
from edgeq.quantize import calibration, sidecar, worker
from edgeq.quantize.engines import source_kind

SCHEMA = ANALYSIS.tag
UNLABELLED_SAMPLES = 32
COLUMNS = ("model", "quantization", "size_kb", "compression", "accuracy", "sqnr_db", "max_abs_error")
FORMATS = ("table", "json", "csv")


@dataclass
class AnalysisTable:
    rows: list[dict[str, object]]
    accuracy_kind: str
    """"accuracy" against labels, or "top1_agreement" with the float model when the data has none."""

    def to_json(self) -> str:
        # JSON has no infinity: an SQNR of inf (identical outputs) is written as the string "inf".
        rows = [{k: "inf" if v == float("inf") else v for k, v in row.items()} for row in self.rows]
        return json.dumps({"schema": SCHEMA, "accuracy_kind": self.accuracy_kind, "rows": rows}, indent=2)

    def to_csv(self) -> str:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return text.getvalue()

    def to_table(self) -> str:
        header = [c if c != "accuracy" else self.accuracy_kind for c in COLUMNS]
        cells = [[_cell(row[c]) for c in COLUMNS] for row in self.rows]
        widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
        return "\n".join(lines)

    def render(self, fmt: str) -> str:
        return {"table": self.to_table, "json": self.to_json, "csv": self.to_csv}[fmt]()


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


BANNER = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."


@contextlib.contextmanager
def _runtime_banner_dropped() -> Iterator[None]:
    """LiteRT's native code prints BANNER on fd 2 for every interpreter, between `edgeq analyze`'s
    progress and its table; it is dropped, and anything else the runtime says there is passed on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            said = [line for line in caught.read().decode(errors="replace").splitlines() if line.strip() != BANNER]
            if said:
                print("\n".join(said), file=sys.stderr)


def run_tflite(path: Path, x: np.ndarray) -> np.ndarray:
    """Float outputs for float inputs, quantizing and dequantizing at integer model boundaries."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    try:
        with _runtime_banner_dropped():
            interpreter.allocate_tensors()
    except RuntimeError as error:  # an op LiteRT lacks (a custom op, Flex's TensorFlow ops): the user's model
        said = " ".join(str(error).split()).split(". ")[0].rstrip(".")
        raise ModelError(f"{path}: the host's LiteRT cannot run it ({said}); analyze runs every model on the "
                         "host, so leave this one out (`edgeq inspect` says why)") from error
    inputs = interpreter.get_input_details()
    if len(inputs) != 1:
        raise ModelError(f"{path}: the analysis feeds one input, this model has {len(inputs)}")
    # A model with several outputs (a Keras model with two heads) is compared on its first
    # output, the one the converter lists first: top-1 on a second head rarely means anything.
    model_in, model_out = inputs[0], interpreter.get_output_details()[0]
    rows = []
    for sample in x:
        sample = sample[None]
        if model_in["dtype"] != np.float32:
            scale, zero = model_in["quantization"]
            info = np.iinfo(model_in["dtype"])
            sample = np.clip(np.round(sample / scale) + zero, info.min, info.max).astype(model_in["dtype"])
        interpreter.set_tensor(model_in["index"], sample)
        interpreter.invoke()
        y = interpreter.get_tensor(model_out["index"])
        if model_out["dtype"] != np.float32:
            scale, zero = model_out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        rows.append(y[0])
    return np.stack(rows).astype(np.float32)


def _run_source(path: Path, x: np.ndarray) -> np.ndarray:
    with tempfile.TemporaryDirectory(prefix="edgeq-analyze-") as tmp:
        np.save(Path(tmp, "x.npy"), x)
        worker.call({"task": "predict", "source": str(path.resolve()), "kind": source_kind(path),
                     "x": str(Path(tmp, "x.npy")), "out": str(Path(tmp, "y.npy"))})
        return np.load(Path(tmp, "y.npy"))


def sqnr_db(reference: np.ndarray, other: np.ndarray) -> float:
    noise = float(np.sum((reference - other) ** 2))
    return float("inf") if noise == 0 else 10 * float(np.log10(np.sum(reference ** 2) / noise))


@dataclass
class _Entry:
    path: Path
    model: str
    quantization: str
    size_bytes: int
    float_size_bytes: int | None
    ends: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    """A TFLite file without a sidecar (a user's own): its input and first output shapes, which find
    its float reference among the other such files (`_reference`)."""


FLOAT = "no quantization"


def _entry(path: Path) -> _Entry:
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    info = None
    if path.suffix == ".tflite":
        info = inspect_model(path)  # a damaged or truncated file: one line, before any runtime sees it
        if len(info.inputs) != 1:
            names = ", ".join(t.name for t in info.inputs)
            raise ModelError(f"{path}: the analysis feeds one input, this model has {len(info.inputs)} "
                             f"({names}); measure it with `edgeq profile` instead")
    if path.suffix != ".tflite":
        size = sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size
        return _Entry(path, path.stem, f"original ({source_kind(path)})", size, None)
    record = sidecar.read(path)
    if record is None:  # a model from elsewhere: its tensors say what it is (model/storage.py)
        assert info is not None
        label = FLOAT if info.quantization == "fp32" else info.quantization
        ends = (info.inputs[0].shape, info.outputs[0].shape if info.outputs else ())
        return _Entry(path, path.stem, label, path.stat().st_size, None, ends)
    name = FLOAT if record.mode == "fp32" else record.mode
    return _Entry(path, Path(record.source).stem, name, record.size_bytes, record.float_size_bytes)


def _reference(entry: _Entry, entries: list[_Entry]) -> _Entry | None:
    """What `entry` is compared with: its model's original, else its fp32 variant. A file without a
    sidecar has no model name to share, so when its own name finds none, the one float file without a
    sidecar that takes and gives the same shapes is its reference (two such files: none, not a guess)."""
    group = [e for e in entries if e.model == entry.model]
    found = next((e for e in group if e.quantization.startswith("original")),
                 next((e for e in group if e.quantization == FLOAT), None))
    if found is not None or entry.ends is None:
        return found
    floats = {e.path.resolve(): e for e in entries if e.ends == entry.ends and e.quantization == FLOAT}
    return next(iter(floats.values())) if len(floats) == 1 else None


def _fixed_inputs(entries: list[_Entry]) -> np.ndarray:
    """Fixed-seed inputs shaped like the first TFLite variant's input, for data-less comparisons."""
    from ai_edge_litert.interpreter import Interpreter

    first = next((e.path for e in entries if e.path.suffix == ".tflite"), None)
    if first is None:
        raise ConfigError("analyze needs --eval DATA when no .tflite variant is given")
    shape = tuple(Interpreter(model_path=str(first)).get_input_details()[0]["shape"][1:])
    low, high = _input_range(entries)
    return np.random.default_rng(0).uniform(low, high, (UNLABELLED_SAMPLES, *shape))


def _input_range(entries: list[_Entry]) -> tuple[float, float]:
    """[-1, 1), narrowed to what the integer inputs among the variants can hold: an int8 input's scale and
    zero point are its calibration range ([0, 1] for images scaled so), and values outside it clip."""
    low, high = -1.0, 1.0
    for entry in entries:
        if entry.path.suffix != ".tflite":
            continue
        spec = inspect_model(entry.path).inputs[0]
        if spec.scale and np.dtype(spec.dtype).kind in "iu":
            info = np.iinfo(np.dtype(spec.dtype))
            low = max(low, spec.scale * (info.min - (spec.zero_point or 0)))
            high = min(high, spec.scale * (info.max - (spec.zero_point or 0)))
    return (low, high) if low < high else (-1.0, 1.0)


def _check_eval(path: Path | None, x: np.ndarray, entries: list[_Entry]) -> None:
    """Data that cannot feed every variant is said in one line before any run: --eval's samples
    (`path`), or, without --eval, the first variant's input shape that the others must share."""
    if x.ndim == 0 or len(x) == 0:
        raise InputDataError(f"{path}: no samples in x")
    tflites = [e.path for e in entries if e.path.suffix == ".tflite"]
    for model in tflites:
        want = tuple(inspect_model(model).inputs[0].shape[1:])
        if tuple(x.shape[1:]) == want:
            continue
        if path is not None:
            raise InputDataError(f"{path}: samples have shape {tuple(x.shape[1:])}, {model.name} takes {want}")
        raise ConfigError(f"{tflites[0].name} takes {tuple(x.shape[1:])}, {model.name} takes {want}: analyze "
                          "compares models of the same input; give them in separate commands")


def expand_folders(variants: list[Path]) -> list[Path]:
    """A folder that is not a SavedModel (quantize's --out) stands for the .tflite files in it."""
    expanded = []
    for path in map(Path, variants):
        if not path.is_dir() or (path / "saved_model.pb").exists():
            expanded.append(path)
            continue
        found = sorted(path.glob("*.tflite"))
        if not found:
            raise ConfigError(f"{path}: a folder with no .tflite file and no saved_model.pb; give variant files")
        expanded += found
    return expanded


def analyze(variants: list[Path], eval_data: Path | None = None) -> AnalysisTable:
    """One row per variant, compared with its model's float reference (the original, else the fp32 variant).

    eval_data: .npz with x (and y for accuracy); without labels, or without data at
    all (fixed-seed inputs), the accuracy column is top-1 agreement with the float model.
    """
    entries = [_entry(v) for v in expand_folders(variants)]
    x, labels = calibration.load_arrays(Path(eval_data)) if eval_data else (None, None)
    if x is None:
        x = _fixed_inputs(entries)
    _check_eval(Path(eval_data) if eval_data else None, x, entries)
    x = x.astype(np.float32)
    outputs = {e.path: run_tflite(e.path, x) if e.path.suffix == ".tflite" else _run_source(e.path, x) for e in entries}
    rows = []
    for entry in entries:
        reference = _reference(entry, entries)
        float_size = entry.float_size_bytes or next(
            (e.size_bytes for e in entries if e.model == entry.model and e.quantization == FLOAT),
            reference.size_bytes if reference is not None and reference.quantization == FLOAT else None)
        y = outputs[entry.path].reshape(len(x), -1)
        ref = outputs[reference.path].reshape(len(x), -1) if reference else None
        if labels is not None:
            accuracy = float(np.mean(np.argmax(y, axis=1) == labels))
        else:
            accuracy = float(np.mean(np.argmax(y, axis=1) == np.argmax(ref, axis=1))) if ref is not None else None
        rows.append({"model": entry.model, "quantization": entry.quantization,
                     "size_kb": round(entry.size_bytes / 1024, 1),
                     "compression": round(float_size / entry.size_bytes, 2) if float_size else None,
                     "accuracy": accuracy,
                     "sqnr_db": round(sqnr_db(ref, y), 2) if ref is not None else None,
                     "max_abs_error": float(np.max(np.abs(ref - y))) if ref is not None else None})
    return AnalysisTable(rows, "accuracy" if labels is not None else "top1_agreement")
