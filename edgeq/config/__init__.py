"""Reading edgeq's YAML: one strict loader and the schemas it validates against.

Boards and recipes both go through `load_model`, so every config mistake reads the
same way: file, key path, what was expected, what was found.
"""

from edgeq.config.loader import FileRecord, Record, describe_error, load_model, load_yaml, validate

__all__ = ["FileRecord", "Record", "describe_error", "load_model", "load_yaml", "validate"]
