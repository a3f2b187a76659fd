"""Turning results into what people read. Host only.

`report()` renders run directories as HTML, Markdown, CSV or JSON; `compare_runs()`
decides whether new runs regressed against a baseline. `terminal` is the table
`edgeq profile` prints.
"""

from .api import compare_runs, parse_regression, report
from .compare import Change, CompareResult

__all__ = ["Change", "CompareResult", "compare_runs", "parse_regression", "report"]
