"""Commands about models: the zoo, quantization, the analysis table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import EXIT_OK, ConfigError


def cmd_zoo_build(args: argparse.Namespace) -> int:
    from .. import zoo

    params = {k: v for k, v in (("alpha", args.alpha), ("resolution", args.resolution)) if v is not None}
    if args.name in zoo.KERAS_MODELS:
        out = Path(args.out) if args.out else Path("models") / f"{args.name}.keras"
        for role, path in zoo.build_keras(args.name, out, seed=args.seed, **params).items():
            print(f"{role}: {path}")
        return EXIT_OK
    if args.name not in zoo.MODELS:
        choices = ", ".join([*zoo.MODELS, *zoo.KERAS_MODELS])
        raise ConfigError(f"unknown zoo model '{args.name}'. Choose from: {choices}")
    out = Path(args.out) if args.out else Path("models") / f"{args.name}_{args.dtype}.tflite"
    print(zoo.build(args.name, out, dtype=args.dtype, seed=args.seed, **params))
    return EXIT_OK


def cmd_quantize(args: argparse.Namespace) -> int:
    import warnings

    from ..quantize import quantize

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        variants = quantize(Path(args.model), args.mode, args.calib, Path(args.out), io=args.io,
                            train=Path(args.train) if args.train else None, targets=args.target or None)
    for warning in caught:
        print(f"edgeq: warning: {warning.message}", file=sys.stderr)
    for variant in variants:
        print(f"{variant.mode:14} {variant.size_bytes / 1024:10.1f} KB  {variant.path}")
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    from ..quantize import analyze

    print(analyze([Path(v) for v in args.variants], Path(args.eval) if args.eval else None).render(args.format))
    return EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from ..model.explain import as_json, render
    from ..model.reader import read_card

    card = read_card(Path(args.model))
    print(json.dumps(as_json(card), indent=1) if args.json else render(card))
    return EXIT_OK


def register(sub: Any) -> None:
    ins = sub.add_parser("inspect", help="what a .tflite is: signatures, tensors, ops, quantization, predicted verdicts")
    ins.add_argument("model", help="a .tflite file")
    ins.add_argument("--json", action="store_true", help="print the card as JSON")
    ins.set_defaults(func=cmd_inspect)

    q = sub.add_parser("quantize", help="quantize a Keras/SavedModel/float .tflite model into variants")
    q.add_argument("model", help=".keras, .h5, a SavedModel folder, or a float .tflite")
    q.add_argument("--mode", action="append", required=True,
                   help="fp32, fp16, dynamic, int8, int16x8, int4-weights, qat (repeatable)")
    q.add_argument("--calib", help="calibration data: .npy/.npz, a folder of images, or 'random'")
    q.add_argument("--train", help="training data (.npz with x, y) for qat")
    q.add_argument("--io", default="float", help="int8 inputs/outputs: float, int8 or uint8 (default: float)")
    q.add_argument("--target", action="append", help="warn about variants known to fail on this runtime")
    q.add_argument("--out", default="variants", help="output folder (default: ./variants)")
    q.set_defaults(func=cmd_quantize)

    an = sub.add_parser("analyze", help="the quantization analysis table: size, accuracy, SQNR per variant")
    an.add_argument("variants", nargs="+", help="variant files (with their .json sidecars)")
    an.add_argument("--eval", help="labelled evaluation data (.npz with x, y)")
    an.add_argument("--format", default="table", choices=("table", "json", "csv"))
    an.set_defaults(func=cmd_analyze)

    zoo = sub.add_parser("zoo", help="reference models built locally").add_subparsers(dest="action", required=True)
    build = zoo.add_parser("build", help="build a reference model as .tflite")
    build.add_argument("name", help="tiny-cnn, tiny-cnn-fallback, mobilenet_v1 (no TensorFlow); "
                                    "keras-mobilenet_v1, digits-cnn (need edgeq[quantize])")
    build.add_argument("--dtype", default="float32", help="float32 or int8")
    build.add_argument("--alpha", type=float)
    build.add_argument("--resolution", type=int)
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--out", help="output file or folder (default: ./models/)")
    build.set_defaults(func=cmd_zoo_build)
