"""Where this job's native components are (deployments/<id>/native, sent with --native).

The runner hands the job's `native_dir` to each backend child in EDGEQ_NATIVE_DIR and
puts its lib/ first on LD_LIBRARY_PATH, so a delegate finds the libraries it needs
(libarmnn.so.N next to libarmnnDelegate.so) without the board being configured.
"""

from __future__ import annotations

import os
from typing import Dict, Optional

ENV = "EDGEQ_NATIVE_DIR"


def find(relative: str) -> Optional[str]:
    """`lib/<name>` or `bin/<name>` from the job's natives, or None when the job has none or lacks it."""
    root = os.environ.get(ENV)
    if not root:
        return None
    path = os.path.join(root, relative)
    return path if os.path.isfile(path) else None


def child_env(native_dir: Optional[str], env: Dict[str, str]) -> Dict[str, str]:
    """`env` with the natives made visible to a backend child."""
    if not native_dir:
        return env
    lib = os.path.join(native_dir, "lib")
    parts = [lib] + [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p and p != lib]
    return dict(env, **{ENV: native_dir, "LD_LIBRARY_PATH": ":".join(parts)})
