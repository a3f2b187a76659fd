"""TFLite metadata: the normalization, labels, author and version a model may carry.

The metadata is a second flatbuffer (tflite-support's metadata_schema.fbs, identifier
"M001") stored in a buffer the model names "TFLITE_METADATA"; label files are packed
into the .tflite as a zip archive appended to the model. tflite-support is not a
dependency, so the few fields shown are read by their slot numbers in that schema
with flatbuffers' own Table reader. Anything damaged reads as "unreadable", never as
a crash: metadata explains a model, it never decides whether it runs.
"""

from __future__ import annotations

import io
import struct
import zipfile
from typing import Any

import flatbuffers
from flatbuffers import number_types as N
from flatbuffers.table import Table

METADATA_NAME = "TFLITE_METADATA"
MIN_RUNTIME = "min_runtime_version"
# Slots (field order) in metadata_schema.fbs.
_MODEL = {"name": 0, "description": 1, "version": 2, "subgraphs": 3, "author": 4, "license": 5}
_SUBGRAPH_INPUTS, _SUBGRAPH_OUTPUTS = 2, 3
_TENSOR_NAME, _TENSOR_PROCESS_UNITS, _TENSOR_FILES = 0, 4, 6
_UNIT_TYPE, _UNIT_OPTIONS = 0, 1
_NORMALIZATION = 1  # ProcessUnitOptions.NormalizationOptions
_FILE_NAME, _FILE_TYPE = 0, 2
_AXIS_LABELS = 2  # AssociatedFileType.TENSOR_AXIS_LABELS
LABELS_SHOWN = 5


def _offset(table: Table, slot: int) -> int:
    return table.Offset(4 + 2 * slot)


def _string(table: Table, slot: int) -> str | None:
    at = _offset(table, slot)
    return table.String(at + table.Pos).decode("utf-8", "replace") if at else None


def _tables(table: Table, slot: int) -> list[Table]:
    at = _offset(table, slot)
    if not at:
        return []
    start, count = table.Vector(at), table.VectorLen(at)
    return [Table(table.Bytes, table.Indirect(start + 4 * i)) for i in range(count)]


def _floats(table: Table, slot: int) -> list[float]:
    at = _offset(table, slot)
    if not at:
        return []
    start, count = table.Vector(at), table.VectorLen(at)
    return [float(table.Get(N.Float32Flags, start + 4 * i)) for i in range(count)]


def _byte(table: Table, slot: int) -> int:
    at = _offset(table, slot)
    return int(table.Get(N.Uint8Flags, at + table.Pos)) if at else 0


def _tensor(table: Table, labels: dict[str, list[str]]) -> dict[str, Any]:
    found: dict[str, Any] = {"name": _string(table, _TENSOR_NAME)}
    for unit in _tables(table, _TENSOR_PROCESS_UNITS):
        at = _offset(unit, _UNIT_OPTIONS)
        if _byte(unit, _UNIT_TYPE) == _NORMALIZATION and at:
            options = Table(unit.Bytes, unit.Indirect(at + unit.Pos))
            found["normalization"] = {"mean": _floats(options, 0), "std": _floats(options, 1)}
    for file in _tables(table, _TENSOR_FILES):
        name = _string(file, _FILE_NAME)
        if _byte(file, _FILE_TYPE) == _AXIS_LABELS and name:
            found["labels_file"] = name
            if name in labels:
                found["labels"] = len(labels[name])
                found["first_labels"] = labels[name][:LABELS_SHOWN]
    return {k: v for k, v in found.items() if v is not None}


def _packed_files(data: bytes) -> dict[str, list[str]]:
    """Label files zipped onto the end of the model (how tflite-support packs them)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {name: archive.read(name).decode("utf-8", "replace").splitlines()
                    for name in archive.namelist() if name.endswith(".txt")}
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError, NotImplementedError, RuntimeError):
        return {}


def read_metadata(model: Any, data: bytes) -> dict[str, Any] | None:
    """The metadata a model carries, or None when it carries none."""
    entries = {(m.name.decode() if isinstance(m.name, bytes) else str(m.name)): m.buffer
               for m in model.metadata or []}
    if not entries:
        return None
    found: dict[str, Any] = {}
    buffers = model.buffers or []
    if MIN_RUNTIME in entries and entries[MIN_RUNTIME] < len(buffers) and buffers[entries[MIN_RUNTIME]].data is not None:
        found["min_runtime_version"] = bytes(buffers[entries[MIN_RUNTIME]].data).rstrip(b"\0").decode("ascii", "replace")
    if METADATA_NAME in entries:
        index = entries[METADATA_NAME]
        raw = bytes(buffers[index].data) if index < len(buffers) and buffers[index].data is not None else b""
        try:
            found.update(_model_metadata(raw, _packed_files(data)))
        except (IndexError, ValueError, TypeError, OverflowError, struct.error):
            found["unreadable"] = "the TFLITE_METADATA buffer is damaged"
    return found or None


def _model_metadata(raw: bytes, labels: dict[str, list[str]]) -> dict[str, Any]:
    if len(raw) < 8:
        raise ValueError("too short")
    buf = bytearray(raw)
    root = Table(buf, flatbuffers.encode.Get(N.UOffsetTFlags.packer_type, buf, 0))
    found: dict[str, Any] = {key: _string(root, slot) for key, slot in _MODEL.items() if key != "subgraphs"}
    found = {k: v for k, v in found.items() if v}
    subgraphs = _tables(root, _MODEL["subgraphs"])
    if subgraphs:
        found["inputs"] = [_tensor(t, labels) for t in _tables(subgraphs[0], _SUBGRAPH_INPUTS)]
        found["outputs"] = [_tensor(t, labels) for t in _tables(subgraphs[0], _SUBGRAPH_OUTPUTS)]
    return found
