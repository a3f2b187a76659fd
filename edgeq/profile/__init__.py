"""Profiling: a job sent to a board, its run handle, polling, pulling, correctness checks."""

import edgeq as _edgeq

_edgeq.make_callable(__name__)  # edgeq.profile(...) is the API function (edgeq/__init__.py)
