"""Models and their variants, built once and kept by content key under the work folder.

Layout: `sources/<key>/` (a zoo model and its data splits, `done.json` last) and
`variants/<key>/<model>.<mode>.tflite` with its sidecar. A folder counts only once its
last file is in place, so an interrupted build is simply built again.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from edgeq import zoo
from edgeq.errors import ConfigError
from edgeq.quantize import quantize
from edgeq.quantize.calibration import CalibrationWarning
from edgeq.quantize.sidecar import file_sha256
from edgeq.recipe.cache import data_sha256, digest, tool_versions, variant_key
from edgeq.recipe.schema import ModelEntry, Recipe

__all__ = ["Source", "find_source", "build_source", "variant_path", "make_variants"]

KERAS_ZOO = tuple(zoo.KERAS_MODELS)


@dataclass
class Source:
    """A model entry made concrete: its file, data, and the hash variants are keyed by."""

    entry: ModelEntry
    path: Path
    sha256: str
    calib: str | None
    train: str | None
    eval: str | None
    versions: dict[str, str] = field(default_factory=tool_versions)

    def variant_key(self, mode: str) -> str:
        return variant_key(self.sha256, mode, data_sha256(self.calib), data_sha256(self.train), self.versions)


def _source_dir(work: Path, entry: ModelEntry) -> Path:
    return work / "sources" / digest("source", entry.zoo, entry.params, tool_versions())[:16]


def _source(recipe: Recipe, entry: ModelEntry, path: Path, splits: dict[str, str]) -> Source:
    def data(given: str | None, role: str) -> str | None:
        return str(recipe.path_of(given)) if given and given != "random" else given or splits.get(role)

    calib = data(entry.calib, "train") or ("random" if set(entry.modes) & {"int8", "int16x8"} else None)
    return Source(entry, path, file_sha256(path), calib, data(entry.train, "train"), data(entry.eval, "eval"))


def find_source(recipe: Recipe, entry: ModelEntry, work: Path) -> Source | None:
    """The source if it exists already (a file, or a zoo build in the cache); None: it must be built."""
    if entry.file:
        path = recipe.path_of(entry.file)
        if not path.exists():
            raise ConfigError(f"{recipe.source}: models: {entry.label}: no such model file {path}")
        return _source(recipe, entry, path, {})
    done = _source_dir(work, entry) / "done.json"
    if not done.exists():
        return None
    files = {role: str(done.parent / name) for role, name in json.loads(done.read_text()).items()}
    return _source(recipe, entry, Path(files.pop("model")), files)


def build_source(recipe: Recipe, entry: ModelEntry, work: Path) -> Source:
    """Build a zoo model into the cache (TensorFlow, in a child, for the Keras ones)."""
    folder = _source_dir(work, entry)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if entry.zoo in KERAS_ZOO:
        made = zoo.build_keras(entry.zoo, folder / f"{entry.label}.keras", **entry.params)
    else:
        made = {"model": zoo.build(str(entry.zoo), folder / f"{entry.label}.tflite", **entry.params)}
    (folder / "done.json").write_text(json.dumps({role: Path(p).name for role, p in made.items()}))
    found = find_source(recipe, entry, work)
    assert found is not None
    return found


def variant_path(source: Source, mode: str, work: Path) -> Path:
    return work / "variants" / source.variant_key(mode)[:16] / f"{source.entry.label}.{mode}.tflite"


def make_variants(source: Source, modes: list[str], work: Path) -> list[str]:
    """Quantize the modes not in the cache, in one TensorFlow child; returns compat warnings."""
    missing = [m for m in modes if not variant_path(source, m, work).exists()]
    if not missing:
        return []
    with tempfile.TemporaryDirectory(dir=work) as scratch, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = quantize(source.path, missing, source.calib, Path(scratch) / "out",
                        train=Path(source.train) if source.train else None)
        for variant in made:
            target = variant_path(source, variant.mode, work)
            target.parent.mkdir(parents=True, exist_ok=True)
            variant.sidecar.replace(target.with_name(target.name + ".json"))
            variant.path.replace(target)  # the .tflite last: its presence means complete
    return [str(w.message) for w in caught if not issubclass(w.category, CalibrationWarning)]
