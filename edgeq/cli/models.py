"""Commands about models: the zoo, quantization, the analysis table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import EXIT_OK, ConfigError
from .common import STDOUT, command, emit, group, live, out_option, refuse_overwriting_inputs

DTYPE_SPELLINGS = {"fp32": "float32", "float32": "float32", "int8": "int8"}
"""`fp32` as `quantize --mode` spells it; `float32` is still understood."""


def _dtype(text: str) -> str:
    if text not in DTYPE_SPELLINGS:
        raise argparse.ArgumentTypeError(f"unknown dtype {text!r}. Choose from: fp32, int8")
    return DTYPE_SPELLINGS[text]


def _zoo_target(out: str | None, default_name: str) -> Path:
    """`--out` may name a file or an existing folder (the model then gets its default name inside)."""
    if out is None:
        return Path("models") / default_name
    path = Path(out)
    if path.is_dir() or out.endswith(("/", "\\")):
        return path / default_name
    if path.exists() and not path.is_file():
        raise ConfigError(f"--out {out}: exists and is neither a file nor a folder")
    return path


def cmd_zoo_build(args: argparse.Namespace) -> int:
    from .. import zoo

    params = {k: v for k, v in (("alpha", args.alpha), ("resolution", args.resolution)) if v is not None}
    if args.name in zoo.KERAS_MODELS:
        out = _zoo_target(args.out, f"{args.name}.keras")
        with live(args) as progress:
            progress.update(f"zoo {args.name}", "starting the TensorFlow child process")
            made = zoo.build_keras(args.name, out, seed=args.seed,
                                   on_step=lambda text: progress.update(f"zoo {args.name}", text), **params)
        for role, path in made.items():
            print(f"{role}: {path}")
        return EXIT_OK
    if args.name not in zoo.MODELS:
        choices = ", ".join([*zoo.MODELS, *zoo.KERAS_MODELS])
        raise ConfigError(f"unknown zoo model '{args.name}'. Choose from: {choices}")
    suffix = "".join(f"_{v:g}" if isinstance(v, float) else f"_{v}" for v in params.values())
    out = _zoo_target(args.out, f"{args.name}{suffix}_{args.dtype}.tflite")
    with live(args) as progress:
        progress.update(f"zoo {args.name}", f"building {args.dtype} weights from seed {args.seed}")
        made = zoo.build(args.name, out, dtype=args.dtype, seed=args.seed, **params)
    print(made)
    return EXIT_OK


def cmd_quantize(args: argparse.Namespace) -> int:
    import warnings

    from ..quantize import quantize

    with warnings.catch_warnings(record=True) as caught, live(args) as progress:
        warnings.simplefilter("always")
        who = f"quantize {Path(args.model).name}"
        progress.update(who, f"{', '.join(args.mode)}: starting the TensorFlow child process")
        variants = quantize(Path(args.model), args.mode, args.calib, Path(args.out), io=args.io,
                            train=Path(args.train) if args.train else None, targets=args.target or None,
                            on_step=lambda text: progress.update(who, f"making {text}"))
    for warning in caught:
        print(f"edgeq: warning: {warning.message}", file=sys.stderr)
    for variant in variants:
        print(f"{variant.mode:14} {variant.size_bytes / 1024:10.1f} KB  {variant.path}")
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    from ..quantize import analyze
    from ..quantize.analysis import expand_folders

    variants = expand_folders([Path(v) for v in args.variants])
    refuse_overwriting_inputs(args.out, [str(v) for v in variants] + ([args.eval] if args.eval else []))
    with live(args) as progress:
        progress.update("analyze", f"running {len(variants)} variants on the host")
        table = analyze(variants, Path(args.eval) if args.eval else None)
    written = emit(table.render(args.format), args.out)
    if written:
        print(written)
    return EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from ..model.explain import as_json, render
    from ..model.reader import read_card

    card = read_card(Path(args.model))
    print(json.dumps(as_json(card), indent=1) if args.json else render(card))
    return EXIT_OK


def register(sub: Any) -> None:
    from ..quantize.engines import MODES
    from ..zoo.models import MOBILENET_V1_ALPHAS, MOBILENET_V1_RESOLUTIONS

    ins = command(sub, "inspect", "what a .tflite is: signatures, tensors, ops, quantization, predicted verdicts",
                  ["edgeq inspect model.tflite", "edgeq inspect model.tflite --json | jq '.ops'"])
    ins.add_argument("model", help="a .tflite file")
    ins.add_argument("--json", action="store_true", help="print the card as JSON")
    ins.set_defaults(func=cmd_inspect)

    q = command(sub, "quantize", "quantize a Keras/SavedModel/float .tflite model into variants (needs edgeq[quantize])",
                ["edgeq quantize digits.keras --mode fp32 --mode int8 --calib digits.train.npz",
                 "edgeq quantize model.tflite --mode dynamic --mode int8 --calib random -o variants"])
    q.add_argument("model", help=".keras, .h5, a SavedModel folder, or a float .tflite")
    q.add_argument("--mode", action="append", required=True, choices=MODES, metavar="MODE",
                   help=f"repeatable; one of {', '.join(MODES)}; required")
    q.add_argument("--calib", help="calibration data: .npy/.npz, a folder of images, or 'random'; "
                                   "default: none (int8, int16x8 and qat need it)")
    q.add_argument("--train", help="training data (.npz with x, y) for qat; default: none")
    q.add_argument("--io", default="float", choices=("float", "int8", "uint8"),
                   help="the int8 variant's input/output type")
    q.add_argument("--target", action="append", metavar="RUNTIME==VERSION",
                   help="warn about variants known to fail on this runtime, e.g. tflite-runtime==2.14; "
                        "default: no runtime")
    out_option(q, "variants", "output folder")
    q.set_defaults(func=cmd_quantize)

    an = command(sub, "analyze", "the quantization analysis table: size, accuracy, SQNR per variant",
                 ["edgeq analyze variants/*.tflite --eval digits.eval.npz",
                  "edgeq analyze variants/*.tflite --format json -o analysis.json"])
    an.add_argument("variants", nargs="+", help="variant files (with their .json sidecars), or a folder of them")
    an.add_argument("--eval", help="labelled evaluation data (.npz with x, y); default: top-1 agreement "
                                   "with the fp32 variant on generated inputs")
    an.add_argument("--format", default="table", choices=("table", "json", "csv"), help="output format")
    out_option(an, STDOUT, "output file; - is stdout")
    an.set_defaults(func=cmd_analyze)

    zoo = group(sub, "zoo", "reference models built locally, with weights from a fixed seed (no download)")
    build = command(zoo, "build", "build a reference model",
                    ["edgeq zoo build mobilenet_v1 --alpha 0.25 --resolution 128 -o models/",
                     "edgeq zoo build tiny-cnn --dtype int8 -o tiny_int8.tflite"])
    build.add_argument("name", metavar="NAME",
                       help="tiny-cnn, tiny-cnn-fallback, mobilenet_v1 (.tflite, no TensorFlow); "
                            "keras-mobilenet_v1, digits-cnn (.keras, need edgeq[quantize])")
    build.add_argument("--dtype", type=_dtype, default="fp32", metavar="{fp32,int8}",
                       help="weights and activations of a .tflite zoo model")
    build.add_argument("--alpha", type=float, choices=MOBILENET_V1_ALPHAS, metavar="A",
                       help=f"mobilenet_v1 width: {', '.join(map(str, MOBILENET_V1_ALPHAS))}; default: 1.0")
    build.add_argument("--resolution", type=int, choices=MOBILENET_V1_RESOLUTIONS, metavar="R",
                       help=f"mobilenet_v1 input size: {', '.join(map(str, MOBILENET_V1_RESOLUTIONS))}; "
                            "default: 224")
    build.add_argument("--seed", type=int, default=0, help="seed of the generated weights")
    out_option(build, None, "output file, or an existing folder to write into; default: ./models/NAME_DTYPE.tflite")
    build.set_defaults(func=cmd_zoo_build)
