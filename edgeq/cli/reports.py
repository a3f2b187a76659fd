"""Commands that read run directories: reports and regression gates."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import report

    print(report([Path(p) for p in args.runs], Path(args.output) if args.output else None, args.format,
                 args.max_accuracy_drop))
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from ..report import compare_runs

    result = compare_runs(Path(args.baseline), Path(args.new), args.max_regression)
    print(result.markdown)
    result.check()  # CheckFailed (exit 1) on a regression, after the summary is printed
    return EXIT_OK


def register(sub: Any) -> None:
    r = sub.add_parser("report", help="one self-contained HTML page (or Markdown, CSV, JSON) from run directories")
    r.add_argument("runs", nargs="+", help="run directories, folders of them, or `edgeq analyze --format json` files")
    r.add_argument("-o", "--output", help="output file or folder (default: ./report.<format>)")
    r.add_argument("--format", choices=("html", "md", "csv", "json"),
                   help="default: from the output's suffix, else html")
    r.add_argument("--max-accuracy-drop", default="1",
                   help="the verdict's accuracy budget in percentage points below the best (default 1): the "
                        "fastest setup within it is named")
    r.set_defaults(func=cmd_report)

    c = sub.add_parser("compare", help="latency, energy and accuracy change between two runs; exit 1 on a regression")
    c.add_argument("baseline", help="a run directory or a folder of runs (repeated runs narrow the interval)")
    c.add_argument("new", help="a run directory or a folder of runs")
    c.add_argument("--max-regression", default="5%",
                   help="slowdown allowed before the gate fails, e.g. 5%% (default); decided on a bootstrap "
                        "95%% confidence interval of the median ratio from the raw samples")
    c.set_defaults(func=cmd_compare)
