"""Quantization: float model -> variants with sidecars, analysis table, runtime compatibility warnings.

All TensorFlow work runs in a child process (edgeq.quantize.worker); importing this
package never imports TensorFlow.
"""

from __future__ import annotations

from edgeq.quantize.analysis import FORMATS, AnalysisTable, analyze
from edgeq.quantize.api import quantize
from edgeq.quantize.calibration import CalibrationWarning
from edgeq.quantize.compat import CompatWarning, check, rules_for, targets_from_facts
from edgeq.quantize.engines import MODES
from edgeq.quantize.sidecar import Variant

__all__ = ["FORMATS", "MODES", "AnalysisTable", "CalibrationWarning", "CompatWarning", "Variant", "analyze",
           "check", "quantize", "rules_for", "targets_from_facts"]

import edgeq as _edgeq

_edgeq.make_callable(__name__)  # edgeq.quantize(...) is the API function (edgeq/__init__.py)
