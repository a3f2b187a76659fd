"""edgeq's reported median against a bare `invoke()` loop, same model, same threads, same run.

    .venv/bin/python benchmarks/bench_overhead.py [--runs 1000] [--trials 5] [--threads 1]

Both sides use ai_edge_litert's Interpreter with its default XNNPACK delegate.
The two are interleaved trial by trial so that drift in the machine hits both;
the figure is the median over trials of (edgeq p50 / bare p50). edgeq runs its
backend in a child process, exactly as `edgeq profile --board local` does.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeq import zoo
from edgeq.model.inputs import make_inputs
from edgeq.model.reader import inspect_model
from edgeq.profile.run import profile

MODELS = [
    ("mobilenet_v1 0.25/128 float32", dict(alpha=0.25, resolution=128, dtype="float32")),
    ("mobilenet_v1 0.25/128 int8", dict(alpha=0.25, resolution=128, dtype="int8")),
    ("mobilenet_v1 1.0/224 float32", dict(alpha=1.0, resolution=224, dtype="float32")),
    ("mobilenet_v1 1.0/224 int8", dict(alpha=1.0, resolution=224, dtype="int8")),
]


def bare_median_ms(model: Path, threads: int, runs: int, warmup: int) -> float:
    """What an engineer would write by hand: set the input once, time invoke() alone."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model), num_threads=threads)
    interpreter.allocate_tensors()
    for detail, array in zip(interpreter.get_input_details(), make_inputs(inspect_model(model), seed=0)):
        interpreter.set_tensor(detail["index"], array)
    for _ in range(warmup):
        interpreter.invoke()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        interpreter.invoke()
        samples.append(time.perf_counter_ns() - t0)
    return float(np.median(samples)) / 1e6


def edgeq_median_ms(model: Path, threads: int, runs: int, warmup: int, runs_dir: Path) -> float:
    run = profile(model, board="local", backends=["tflite-cpu:runtime=ai_edge_litert"], threads=threads,
                  runs=runs, warmup=warmup, runs_dir=runs_dir)
    (entry,) = run.result["backends"]
    if entry["status"] != "ok":
        raise SystemExit(f"edgeq profile failed: {entry.get('reason')}")
    return entry["stats"]["p50_ms"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--small-only", action="store_true", help="skip the 1.0/224 models")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.processor() or platform.uname().node}, "
          f"python {platform.python_version()}, threads {args.threads}, runs {args.runs}, trials {args.trials}")
    print("\n| model | bare invoke() p50 ms | edgeq p50 ms | ratio edgeq/bare (median of trials) | ratio range |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for title, params in MODELS:
            if args.small_only and params["alpha"] == 1.0:
                continue
            runs = args.runs if params["alpha"] < 1 else max(50, args.runs // 10)
            model = zoo.build("mobilenet_v1", Path(tmp) / f"{title.replace(' ', '_').replace('/', '_')}.tflite",
                              **params)
            bare, ours = [], []
            for _ in range(args.trials):
                bare.append(bare_median_ms(model, args.threads, runs, args.warmup))
                ours.append(edgeq_median_ms(model, args.threads, runs, args.warmup, Path(tmp) / "runs"))
            ratios = [o / b for o, b in zip(ours, bare)]
            print(f"| {title} | {statistics.median(bare):.4f} | {statistics.median(ours):.4f} | "
                  f"{statistics.median(ratios):.3f} | {min(ratios):.3f}–{max(ratios):.3f} |", flush=True)


if __name__ == "__main__":
    main()
