"""`edgeq advise`: race the ways to run a model on a board and recommend one."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import EXIT_OK
from .common import Once, board_option, command, host_key_flag, quiet


def cmd_advise(args: argparse.Namespace) -> int:
    from ..advise import advise
    from ..advise.render import terminal

    from ..extras import require
    from ..quantize.engines import source_kind

    kind = source_kind(Path(args.model)) if Path(args.model).exists() else "tflite"
    require("advise (it quantizes the candidates)",
            ["tensorflow", *(["tf_keras"] if kind == "keras" else []),
             *(["ai_edge_quantizer"] if kind == "tflite" else [])])
    say = None if quiet(args) else (lambda text: print(f"  {text}", file=sys.stderr, flush=True))
    advice = advise(Path(args.model), board=args.board, calib=args.calib,
                    eval_data=Path(args.eval) if args.eval else None, train=Path(args.train) if args.train else None,
                    max_accuracy_drop=args.max_accuracy_drop, objective=args.objective,
                    budget_minutes=args.budget_minutes, backends=args.backends, threads=args.threads,
                    modes=args.modes, mixed_ks=args.mixed_k, mixed_kinds=args.mixed_kinds, work_dir=Path(args.work_dir) if args.work_dir else None,
                    round_seconds=args.round_seconds, max_rounds=args.rounds,
                    accept_new_host_key=args.accept_new_host_key, progress=say)
    if args.json:
        print(json.dumps(advice.answer, indent=1))
    else:
        print(terminal(advice.answer))
        for role, path in advice.answer["files"].items():
            print(f"{role}: {path}")
    return EXIT_OK


def register(sub: Any) -> None:
    p = command(sub, "advise", "measure the ways to run a model on a board; recommend the best within an accuracy "
                               "budget",
                ["edgeq advise -m digits.keras --calib digits.train.npz --eval digits.eval.npz -b rpi5",
                 "edgeq advise -m model.tflite --calib random --objective energy --budget-minutes 10 --json"])
    board_option(p, fleet=False)
    p.add_argument("-m", "--model", required=True, action=Once, help=".keras, .h5, a SavedModel folder, or a float .tflite; "
                                                         "required")
    p.add_argument("--calib", help="calibration data: .npy/.npz or an image folder (required, no default)")
    p.add_argument("--eval", help="labelled data (.npz with x, y); default: agreement with the float model")
    p.add_argument("--train", help="labelled training data (.npz with x, y): adds a QAT candidate; default: none")
    p.add_argument("--max-accuracy-drop", type=float, default=1.0, help="percentage points")
    p.add_argument("--objective", default="latency", choices=("latency", "energy", "size"), help="what to minimise")
    p.add_argument("--budget-minutes", type=float, default=30.0, help="no round starts that would overrun it")
    p.add_argument("--backends", nargs="+", help="backend specs (default: every backend the board has)")
    p.add_argument("--threads", nargs="+", type=int, help="thread counts (default: powers of two up to the cores)")
    p.add_argument("--modes", nargs="+", help="quantization modes (default: fp32 fp16 dynamic int8 int16x8 "
                                              "int4-weights, and qat with --train); mixed variants come on top")
    p.add_argument("--mixed-k", nargs="+", type=int,
                   help="mixed variants keeping the K most sensitive layers in higher precision (default: 1 2 4 8)")
    p.add_argument("--mixed-kinds", nargs="+", choices=("float", "int16", "int8-weights"),
                   help="what the K layers are kept as: float or int16 (over int8), int8-weights (over int4-weights);"
                        " default: every kind whose base mode is among --modes")
    p.add_argument("--rounds", type=int, default=4, help="at most this many rounds")
    p.add_argument("--round-seconds", type=float, default=0.25,
                   help="seconds per candidate in the first round, doubled each round")
    p.add_argument("--work-dir", help="cache and results (default: .edgeq/advise/<model>-<board>)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    host_key_flag(p)
    p.set_defaults(func=cmd_advise)
