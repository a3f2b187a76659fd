"""`quantize`: one float model in, one variant per mode out, each with its sidecar."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

from edgeq.errors import ConfigError
from edgeq.extras import PACKAGE_MODULE, require
from edgeq.outpaths import make_folder
from edgeq.quantize import calibration, compat, worker
from edgeq.quantize.engines import CALIBRATED_MODES, Engine, IO_TYPES, check_modes, engine_for, source_kind
from edgeq.quantize.sidecar import Variant, file_sha256


def quantize(model: Path, modes: list[str], calib: str | None, out: Path, *, io: str = "float",
             train: Path | None = None, per_tensor_dense: bool = False,
             targets: list[str] | None = None, options: dict[str, object] | None = None,
             on_step: Callable[[str], None] | None = None) -> list[Variant]:
    """Write `<stem>.<mode>.tflite` and its sidecar into `out` for every mode, in one TensorFlow child.

    calib: .npy/.npz, an image folder, or "random" (warns: its int8 ranges mean nothing).
    io: the int8 variant's input/output type. train: labelled .npz (x, y) for qat.
    per_tensor_dense: quantize FullyConnected weights per tensor (see compat.py for why).
    targets: runtimes such as "tflite-runtime==2.14" whose known failures become Variant.warnings.
    on_step: told which mode the child is making, as it starts each one (the CLI's live line).
    """
    model, out = Path(model), Path(out)
    check_modes(modes)
    if io not in IO_TYPES:
        raise ConfigError(f"unknown io type '{io}'. Choose from: {', '.join(IO_TYPES)}")
    kind = source_kind(model)
    if kind == "tflite":
        from edgeq.model.reader import inspect_model

        stored = inspect_model(model).quantization  # an empty or damaged file: one line now, not TensorFlow's later
        if stored != "fp32":  # ai-edge-quantizer would keep its weights and the sidecar would name the mode
            raise ConfigError(f"{model}: already quantized ({stored}, by its tensors); quantize from the float model "
                              "(an fp32 .tflite, .keras or SavedModel)")
    engines = [engine_for(kind, mode) for mode in modes]  # refuse a mode this source cannot give before TF starts
    require(f"quantizing {model.name} ({', '.join(modes)})", modules_for(kind, engines))
    needing = [m for m in modes if m in CALIBRATED_MODES]
    if needing and calib is None:
        raise ConfigError(f"mode {needing[0]} needs calibration data: pass --calib DATA (.npy, .npz or an image folder), "
                          "or --calib random for a variant you will not ship")
    if "qat" in modes and train is None:
        raise ConfigError("mode qat needs labelled training data: pass train=DATA.npz with arrays x and y")
    calibration.check_spec(calib)
    rules = compat.rules_for(targets or [])
    for unjudged in sorted(set(targets or []) - {target for target, _ in rules}):
        warnings.warn(f"--target {unjudged}: newer than every runtime version edgeq has rules for; "
                      "nothing is checked against it", stacklevel=2)
    if calib == calibration.RANDOM and (needing or "qat" in modes):
        calibration.warn_random()
    make_folder(out, "out")
    result = worker.call({"task": "quantize", "source": str(model.resolve()), "kind": kind, "modes": modes,
                          "calib": calib, "train": str(train) if train else None, "io": io,
                          "per_tensor_dense": per_tensor_dense, "out": str(out.resolve()),
                          "stem": model.stem, "options": options or {}}, on_step=on_step)
    source_hash = file_sha256(model)
    made = [Variant(path=Path(v["path"]), source=str(model), source_sha256=source_hash, mode=v["mode"],
                    engine=v["engine"], engine_version=v["engine_version"],
                    size_bytes=Path(v["path"]).stat().st_size, calib_sha256=v["calib_sha256"],
                    io=io if v["mode"] in ("int8", "qat") else "float") for v in result["variants"]]
    float_size = _float_size(model, kind, made)
    for variant in made:
        variant.float_size_bytes = float_size
        variant.write()
        variant.warnings = compat.check(variant.path, rules, variant)
        for text in variant.warnings:
            warnings.warn(text, compat.CompatWarning, stacklevel=2)
    return made


def modules_for(kind: str, engines: list[Engine]) -> list[str]:
    """What the TensorFlow child will import for these engines: checked before any folder is made."""
    wanted = ["tensorflow", *(["tf_keras"] if kind == "keras" else [])]
    wanted += [PACKAGE_MODULE.get(e.package, e.package.replace("-", "_")) for e in engines]
    return list(dict.fromkeys(wanted))


def _float_size(model: Path, kind: str, made: list[Variant]) -> int | None:
    """The float TFLite size the compression column divides by: the source, or this call's fp32 variant."""
    if kind == "tflite":
        return model.stat().st_size
    return next((v.size_bytes for v in made if v.mode == "fp32"), None)
