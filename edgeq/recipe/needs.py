"""What a recipe run will need on this host, known before it starts: `run --dry-run` lists it.

Building a Keras zoo model and quantizing a variant need the `quantize` extra
(TensorFlow and friends); a run that would discover that after planning and
profiling half the matrix fails up front instead, in one line.
"""

from __future__ import annotations

from edgeq.extras import missing
from edgeq.quantize.api import modules_for
from edgeq.quantize.engines import engine_for, source_kind
from edgeq.recipe.plan import Plan
from edgeq.recipe.sources import KERAS_ZOO, variant_path
from edgeq.zoo.keras_models import keras_modules

__all__ = ["needs"]


def needs(plan: Plan) -> dict[str, list[str]]:
    """Step ("build digits-cnn", "quantize digits-cnn: int8, qat") -> the modules it imports."""
    found: dict[str, list[str]] = {}
    for entry in plan.recipe.models:
        pending = [m for m in entry.modes if any(c.model == entry.label and c.mode == m and not c.cached
                                                 for c in plan.cells)]
        if not pending:
            continue
        source = plan.sources.get(entry.label)
        if source is None and entry.zoo in KERAS_ZOO:
            found[f"build {entry.label}"] = list(keras_modules(str(entry.zoo)))
        kind = "keras" if source is None and entry.zoo in KERAS_ZOO else (
            source_kind(source.path) if source is not None else "tflite")
        if source is not None:
            pending = [m for m in pending if not variant_path(source, m, plan.work).exists()]
        if pending:
            found[f"quantize {entry.label}: {', '.join(pending)}"] = modules_for(
                kind, [engine_for(kind, mode) for mode in pending])
    return found


def missing_needs(plan: Plan) -> dict[str, list[str]]:
    """Only the steps whose modules are not all importable, with the missing ones."""
    return {step: absent for step, modules in needs(plan).items() if (absent := missing(modules))}
