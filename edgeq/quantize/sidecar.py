"""The variant sidecar: `<variant>.tflite.json`, schema wire.VARIANT.

It says where a variant came from (source hash, mode, engine and version,
calibration data hash) so that an analysis or a profile run can be traced back
and a stale variant recognised, without opening the model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeq.agent.wire import VARIANT
from edgeq.errors import ModelError

SCHEMA = VARIANT.tag


@dataclass
class Variant:
    path: Path
    source: str
    source_sha256: str
    mode: str
    engine: str
    engine_version: str
    size_bytes: int
    calib_sha256: str | None = None
    float_size_bytes: int | None = None
    io: str = "float"
    warnings: list[str] = field(default_factory=list)
    """Compatibility warnings for the runtimes asked about; not stored in the sidecar."""

    @property
    def sidecar(self) -> Path:
        return self.path.with_name(self.path.name + ".json")

    def write(self) -> Path:
        record = {"schema": SCHEMA, **asdict(self)}
        record["path"] = self.path.name
        del record["warnings"]
        self.sidecar.write_text(json.dumps(record, indent=2) + "\n")
        return self.sidecar


def file_sha256(path: Path) -> str:
    """A file's hash; for a SavedModel folder, the hash of its files' names and contents in order."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            h.update(str(file.relative_to(path)).encode())
        h.update(file.read_bytes())
    return h.hexdigest()


def read(variant: Path) -> Variant | None:
    """The sidecar next to `variant`, or None when it has none (a model made elsewhere)."""
    sidecar = variant.with_name(variant.name + ".json")
    if not sidecar.exists():
        return None
    try:
        record = json.loads(sidecar.read_text())
    except ValueError as exc:
        raise ModelError(f"{sidecar}: not JSON: {exc}") from None
    if record.pop("schema", None) != SCHEMA:
        raise ModelError(f"{sidecar}: not an {SCHEMA} sidecar")
    record["path"] = variant
    return Variant(**record)
