"""Deploying: plan what a board lacks, send it, switch atomically."""

import edgeq as _edgeq

_edgeq.make_callable(__name__)  # edgeq.deploy(...) is the API function (edgeq/__init__.py)
