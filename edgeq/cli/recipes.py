"""`edgeq run RECIPE`: the whole matrix of a recipe file in one command."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import EXIT_CHECK_FAILED, EXIT_OK
from .common import command, help_of, live, print_table


def cmd_run(args: argparse.Namespace) -> int:
    from ..recipe import run_recipe

    with live(args) as progress:
        run = run_recipe(Path(args.recipe), only=args.only, dry_run=args.dry_run, retry_failed=args.retry_failed,
                         place_wait_s=args.place_wait, live=progress)
    if run.run_dir is None:
        return EXIT_OK
    counters = run.counters
    lines = [f"\n{counters['cells_profiled']} cells run ({counters['cells_failed']} failed), "
             f"{counters['cells_cached']} cached; {counters['variants_quantized']} variants quantized"]
    for cell in run.failed:
        reason = " ".join(str((cell.cached or {}).get("reason")).split())  # runtimes' messages span lines
        lines.append(f"FAILED {cell.id}: {reason[:200]}")
    for cell in run.checks_failed:
        lines.append(f"CHECK FAILED {cell.id}: {str((cell.cached or {}).get('check'))[:200]}")
    print_table("\n".join(lines))
    for note in run.notes:
        print(f"note: {note}")
    print(f"run folder: {run.run_dir}")
    for path in run.reports:
        print(f"report: {path}")
    return EXIT_CHECK_FAILED if run.checks_failed else EXIT_OK


def register(sub: Any) -> None:
    from ..recipe import run_recipe

    p = command(sub, "run", help_of(run_recipe),
                ["edgeq run recipes/quickstart.yaml --dry-run", "edgeq run recipes/quickstart.yaml --only 'digits-cnn/int8/*'"])
    p.add_argument("recipe", metavar="RECIPE", help="a recipe YAML file, e.g. recipes/quickstart.yaml")
    p.add_argument("--only", metavar="PATTERN",
                   help="run only cells whose id matches (fnmatch), e.g. 'digits-cnn/int8/*'; default: every cell")
    p.add_argument("--dry-run", action="store_true",
                   help="print the matrix, what is cached and what the run needs installed; run nothing")
    p.add_argument("--retry-failed", action="store_true",
                   help="run again the cells recorded as failed (they are reused, like the others, by default)")
    p.add_argument("--place-wait", type=float, default=0.0, metavar="SECONDS",
                   help="labgrid boards (labgrid:board=NAME): wait this long for a place someone else holds")
    p.set_defaults(func=cmd_run)
