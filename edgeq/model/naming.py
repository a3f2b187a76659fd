"""Names edgeq gives to things it puts on a board: safe for any shell and any file system."""

from __future__ import annotations

import re

from edgeq.model.reader import ModelInfo

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, limit: int = 48) -> str:
    """A file-name-safe form of a user's name: nothing a shell or a path could misread."""
    return (_UNSAFE.sub("_", text).strip("._") or "model")[:limit]


def model_file_name(info: ModelInfo) -> str:
    """Content first, so two models with one name never collide on a board."""
    return f"{info.sha256[:16]}-{safe_name(info.stem)}.tflite"
