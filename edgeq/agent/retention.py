"""Which run folders a board keeps: the last N, or those younger than D days (the board record's keep_runs).

Every profile leaves a folder under work_dir/runs with its inputs, outputs and logs; without
a rule they pile up until the board's disk is full. A folder is removed only when its run has
finished (result.json is there): a run still going, or one a host may yet resume, is never touched.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any, Dict, List, Optional

RESULT = "result.json"


def prune(runs_dir: str, keep: Optional[Dict[str, Any]], current: str) -> List[str]:
    """Remove the finished run folders of `runs_dir` beyond the rule; returns the names removed."""
    if not keep:
        return []
    last, days = int(keep.get("last", 20)), float(keep.get("days", 14.0))
    try:
        names = os.listdir(runs_dir)
    except OSError:
        return []
    dated = []
    for name in names:
        path = os.path.join(runs_dir, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                dated.append((os.stat(path).st_mtime, name))
        except OSError:
            continue
    dated.sort(reverse=True)
    cutoff = time.time() - days * 86400
    removed = []
    for rank, (mtime, name) in enumerate(dated):
        path = os.path.join(runs_dir, name)
        if rank < last or mtime >= cutoff or os.path.abspath(path) == os.path.abspath(current):
            continue
        if os.path.exists(os.path.join(path, RESULT)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed
