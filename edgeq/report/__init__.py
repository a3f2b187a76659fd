"""Turning results into what people read. Host only.

`report()` renders run directories as HTML, Markdown, CSV or JSON; `compare_runs()`
decides whether new runs regressed against a baseline. `terminal` is the table
`edgeq profile` prints.
"""

from .api import compare_runs, parse_regression, report
from .compare import Change, CompareResult

__all__ = ["Change", "CompareResult", "compare_runs", "parse_regression", "report"]

import edgeq as _edgeq

_edgeq.make_callable(__name__)  # edgeq.report(...) is the API function (edgeq/__init__.py)
