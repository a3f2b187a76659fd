"""Commands that read run directories: reports and regression gates."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import EXIT_OK
from .common import STDOUT, command, emit, out_option, refuse_overwriting_inputs


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import report
    from ..report.api import render_report

    refuse_overwriting_inputs(args.out, args.runs)
    if args.out == STDOUT:
        emit(render_report(args.runs, args.format or "md", args.max_accuracy_drop).rstrip("\n"), STDOUT)
        return EXIT_OK
    print(report([Path(p) for p in args.runs], Path(args.out) if args.out else None, args.format,
                 args.max_accuracy_drop))
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from ..report import compare_runs

    refuse_overwriting_inputs(args.out, [args.baseline, args.new])
    result = compare_runs(Path(args.baseline), Path(args.new), args.max_regression)
    written = emit(result.markdown, args.out)
    if written:
        print(written)
    result.check()  # CheckFailed (exit 1) on a regression, after the summary is written
    return EXIT_OK


def register(sub: Any) -> None:
    r = command(sub, "report", "one self-contained HTML page (or Markdown, CSV, JSON) from run directories",
                ["edgeq report runs/ -o report.html", "edgeq report runs/2026*-local-* --format md -o -"])
    r.add_argument("runs", nargs="+", help="run directories, folders of them, or `edgeq analyze --format json` files")
    out_option(r, None, "output file or folder; - prints to stdout (Markdown unless --format says otherwise); "
                        "default: ./report.<format>")
    r.add_argument("--output", dest="out", help=argparse.SUPPRESS)  # the old spelling still works
    r.add_argument("--format", choices=("html", "md", "csv", "json"),
                   help="default: from the output's suffix, else html")
    r.add_argument("--max-accuracy-drop", default="1",
                   help="the verdict's accuracy budget in percentage points below the best: the "
                        "fastest setup within it is named (default: 1)")
    r.set_defaults(func=cmd_report)

    c = command(sub, "compare", "latency, energy and accuracy change between two runs; exit 1 on a regression",
                ["edgeq compare gate/baseline gate/new --max-regression 5%",
                 "edgeq compare runs/A runs/B -o change.md"])
    c.add_argument("baseline", help="a run directory or a folder of runs (repeated runs narrow the interval)")
    c.add_argument("new", help="a run directory or a folder of runs")
    c.add_argument("--max-regression", default="5%",
                   help="slowdown allowed before the gate fails, decided on a bootstrap 95%% confidence interval "
                        "of the median ratio from the raw samples (default: 5%%)")
    out_option(c, STDOUT, "where the Markdown summary goes; - is stdout")
    c.set_defaults(func=cmd_compare)
