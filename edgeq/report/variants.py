"""Which model and quantization type a run measured, and what the quantization stage says about it.

result.json knows a model file by its name, size and hash only. The quantization
type comes from the variant's sidecar (`<variant>.tflite.json`, schema
wire.VARIANT, written by `edgeq quantize`) when there is one, and otherwise
from the file name's last part (`mobilenet.int8.tflite`, `tiny_float32.tflite`).
Accuracy, agreement with the float model and SQNR come from `edgeq analyze
--format json` files (schema wire.ANALYSIS): given to `edgeq report` by name,
or found as `analysis.json` beside the runs or the models.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeq.agent.sections import ModelSection
from edgeq.agent.wire import ANALYSIS, VARIANT
from edgeq.errors import ConfigError

from .load import Run

SIDECAR_SCHEMA = VARIANT.tag
ANALYSIS_SCHEMA = ANALYSIS.tag
ANALYSIS_FILE = "analysis.json"
# Quantization types, least to most aggressive; the names are `edgeq quantize --mode`'s.
ORDER = ("original", "fp32", "fp16", "dynamic", "int8", "uint8", "int16x8", "int8-weights", "int4-weights",
         "dynamic-int4", "qat")
_ALIASES = {
    "no quantization": "fp32", "float32": "fp32", "float": "fp32", "f32": "fp32", "float16": "fp16", "f16": "fp16",
    "keras": "original", "savedmodel": "original", "hybrid": "dynamic", "int4": "int4-weights", "quant": "uint8",
}
_TOKENS = "|".join(re.escape(t) for t in sorted({*ORDER, *_ALIASES} - {"no quantization"}, key=len, reverse=True))
# The model name is greedy so that the last quantization word wins (net_float_int8 -> int8);
# an interface qualifier may follow it (model_int8-float-io).
_NAME = re.compile(rf"^(?P<model>.+)[_.-](?P<mode>{_TOKENS})(?P<io>[_-](?:float|int8|uint8)-?io)?$", re.I)
UNKNOWN = "?"


@dataclass(frozen=True)
class VariantRecord:
    """What the quantization stage says about one variant; None where it says nothing.

    `file_stem` is set for a sidecar (it describes that one file); analysis rows are
    matched to runs by (model, variant).
    """

    model: str
    variant: str
    source: Path
    file_stem: str | None = None
    size_bytes: int | None = None
    float_size_bytes: int | None = None
    compression: float | None = None
    accuracy: float | None = None
    agreement: float | None = None
    sqnr_db: float | None = None


def canonical(mode: str) -> str:
    """One spelling per quantization type, so float32 and fp32 runs land in one row."""
    mode = mode.lower()
    if mode.startswith("original"):
        return "original"
    return _ALIASES.get(mode, mode)


def variant_rank(variant: str) -> tuple[int, str]:
    """Sort key: the original model first, then by how hard the quantization is, unknown types last."""
    base = next((m for m in sorted(ORDER, key=len, reverse=True) if variant.startswith(m)), None)
    return (ORDER.index(base) if base else len(ORDER), variant)


def from_name(stem: str) -> tuple[str, str]:
    """(model, variant) from a file stem such as `mobilenet_v1.int8`; the variant is '?' if the name has none."""
    match = _NAME.match(stem)
    if not match:
        return stem, UNKNOWN
    return match["model"], canonical(match["mode"]) + (match["io"] or "").lower()


def from_content(model: ModelSection) -> str | None:
    """The variant a run's model record shows by its tensors (model/storage.py), in the sidecar's spelling:
    an integer model fed integers gets the interface suffix (`int8-int8-io`) as `edgeq quantize --io int8` names it."""
    kind, io = model.quantization, model.input_dtype
    if not isinstance(kind, str) or not kind:
        return None  # a result.json from before edgeq read the type from the model
    if kind in ("int8", "uint8", "int16x8") and io in ("int8", "uint8", "int16"):
        return f"{canonical(kind)}-{io}-io"
    return canonical(kind)


def identify(run: Run, sidecar: VariantRecord | None) -> tuple[str, str]:
    """(model, variant) of a run: the sidecar's recipe and source when there is one, else the model's
    content (its tensors' types), with the file name giving the model's name and, for a result.json
    written before edgeq read content, the variant."""
    if sidecar:
        return sidecar.model, sidecar.variant
    section = run.record.model_section
    model, named = from_name(section.name)
    return model, from_content(section) or named


def match_analysis(model: str, variant: str, size_bytes: int | None,
                   analyses: list[VariantRecord]) -> VariantRecord | None:
    """The analysis row of a run's variant.

    wire.ANALYSIS names a row by model and mode only, so int8 with float and with
    int8 inputs share a name; the row's size (0.1 KB) tells them apart.
    """
    named = [a for a in analyses if a.model == model and (variant == a.variant or variant.startswith(a.variant + "-"))]
    sized = [a for a in named if size_bytes and a.size_bytes and abs(a.size_bytes - size_bytes) <= 52]
    exact = [a for a in named if a.variant == variant]
    chosen = sized or exact
    return chosen[-1] if chosen else None


def is_analysis(path: Path) -> bool:
    """Whether a file given to `edgeq report` is an analysis table rather than a run."""
    if not path.is_file() or path.name == "result.json":
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("schema") == ANALYSIS_SCHEMA
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return False


def sidecar_for(run: Run) -> VariantRecord | None:
    """The sidecar `edgeq quantize` wrote next to the run's model, if the model is still on this host."""
    model = Path(str(run.record.model_section.path or ""))
    if not model.name:  # a result without its model's path (edited, or damaged): nothing to look beside
        return None
    file = model.with_name(model.name + ".json")
    if not file.is_file():
        return None
    data = _read_json(file, "variant sidecar")
    if not isinstance(data, dict) or data.get("schema") != SIDECAR_SCHEMA or not isinstance(data.get("mode"), str):
        raise ConfigError(f"{file}: not an {SIDECAR_SCHEMA} sidecar")
    io = data.get("io") or "float"
    variant = canonical(data["mode"]) + (f"-{io}-io" if io != "float" else "")
    return VariantRecord(Path(str(data.get("source") or model.stem)).stem, variant, file, file_stem=model.stem,
                         size_bytes=_number(file, data, "size_bytes"),
                         float_size_bytes=_number(file, data, "float_size_bytes"))


def read_analyses(runs: Iterable[Run], given: Iterable[Path] = ()) -> list[VariantRecord]:
    """Rows of every analysis table given or found as analysis.json beside the runs or their models."""
    files = list(dict.fromkeys(Path(p) for p in given))
    for run in runs:
        model_dir = Path(str(run.record.model_section.path or "")).parent
        for folder in (run.path.parent, model_dir):
            if (folder / ANALYSIS_FILE).is_file() and folder / ANALYSIS_FILE not in files:
                files.append(folder / ANALYSIS_FILE)
    return [row for file in files for row in _analysis_rows(file)]


def _analysis_rows(file: Path) -> list[VariantRecord]:
    data = _read_json(file, "analysis table")
    if not isinstance(data, dict) or data.get("schema") != ANALYSIS_SCHEMA or not isinstance(data.get("rows"), list):
        raise ConfigError(f"{file}: not an {ANALYSIS_SCHEMA} table (from `edgeq analyze --format json`)")
    agreement = data.get("accuracy_kind") == "top1_agreement"
    records = []
    for index, row in enumerate(data["rows"]):
        if not isinstance(row, dict) or not isinstance(row.get("model"), str) or \
                not isinstance(row.get("quantization"), str):
            raise ConfigError(f"{file}: rows[{index}] needs 'model' and 'quantization'")
        model, variant = row["model"], canonical(row["quantization"])
        if variant.startswith("unknown"):  # a variant without a sidecar: its file name is all there is
            model, variant = from_name(model)
        where = f"rows[{index}]."
        size_kb, score = _number(file, row, "size_kb", where), _number(file, row, "accuracy", where)
        records.append(VariantRecord(
            model, variant, file, size_bytes=round(size_kb * 1024) if size_kb is not None else None,
            compression=_number(file, row, "compression", where),
            accuracy=None if agreement else score, agreement=score if agreement else None,
            sqnr_db=_number(file, row, "sqnr_db", where)))
    return records


def _read_json(file: Path, what: str) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{file}: damaged {what} ({exc})") from None


def _number(file: Path, item: dict[str, Any], key: str, where: str = "") -> Any:
    value = item.get(key)
    if value == "inf":  # an analysis table writes an SQNR of identical outputs as "inf"
        return float("inf")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ConfigError(f"{file}: {where}{key} should be a number, found {value!r}")
    return value
