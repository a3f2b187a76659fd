"""`edgeq run recipes/quickstart.yaml` cold and re-run, against the same work done by hand.

    .venv/bin/python benchmarks/bench_recipe.py [--recipe recipes/quickstart.yaml]

Cold: empty work folder (zoo builds, every variant, a deploy, every cell). Re-run: the
same recipe again with nothing changed (goal on a 2-core machine: cold <= 4 min,
re-run <= 20 s). Plain alternative: what a user types without a recipe, one script
calling build + quantize per model and `profile` per cell, caching nothing; the
ratios say what the recipe's batching and cache save.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

from edgeq import zoo
from edgeq.profile.run import profile
from edgeq.quantize import quantize
from edgeq.recipe import load_recipe, run_recipe
from edgeq.recipe.plan import make_plan


def timed(step) -> tuple[float, object]:
    started = time.perf_counter_ns()
    value = step()
    return (time.perf_counter_ns() - started) / 1e9, value


def by_hand(recipe_path: Path, scratch: Path) -> float:
    """Every cell as separate commands: build, quantize all modes of a model, one profile per cell."""
    recipe = load_recipe(recipe_path)
    cells = make_plan(recipe).cells
    started = time.perf_counter_ns()
    for entry in recipe.models:
        if entry.zoo in zoo.KERAS_MODELS:
            made = zoo.build_keras(entry.zoo, scratch / f"{entry.label}.keras", **entry.params)
        else:
            made = {"model": zoo.build(entry.zoo, scratch / f"{entry.label}.tflite", **entry.params)}
        calib = entry.calib or str(made.get("train", "random"))
        variants = quantize(made["model"], list(entry.modes), calib, scratch / "variants",
                            train=made.get("train"))
        for variant in variants:
            for cell in [c for c in cells if c.model == entry.label and c.mode == variant.mode]:
                profile(variant.path, board=cell.board, backends=[cell.backend], threads=cell.threads,
                        runs=recipe.profile.runs, warmup=recipe.profile.warmup, runs_dir=scratch / "runs")
    return (time.perf_counter_ns() - started) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="recipes/quickstart.yaml")
    parser.add_argument("--skip-plain", action="store_true", help="only the recipe runs")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        text = Path(args.recipe).read_text()
        recipe = scratch / Path(args.recipe).name
        recipe.write_text(text + f"\nwork_dir: {scratch / 'work'}\nruns_dir: {scratch / 'runs'}\n")
        with contextlib.redirect_stdout(io.StringIO()):
            cold_s, cold = timed(lambda: run_recipe(recipe))
            warm_s, warm = timed(lambda: run_recipe(recipe))
        plain_s = None if args.skip_plain else by_hand(Path(args.recipe), scratch / "plain")
    cells = len(cold.plan.cells)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"recipe: {args.recipe}, {cells} cells, {cold.counters['cells_failed']} failed cells")
    print("| run | s | stages (s) | ratio plain / this |")
    print("| --- | --- | --- | --- |")
    for name, secs, run in (("edgeq run, cold", cold_s, cold), ("edgeq run, nothing changed", warm_s, warm)):
        stages = ", ".join(f"{k} {v:.1f}" for k, v in run.seconds.items())
        ratio = f"{plain_s / secs:.2f}" if plain_s else "-"
        print(f"| {name} | {secs:.1f} | {stages} | {ratio} |")
    if plain_s:
        print(f"| by hand (build + quantize per model, profile per cell, no cache) | {plain_s:.1f} | - | 1.00 |")
    print(f"re-run counters: {warm.counters}")


if __name__ == "__main__":
    main()
