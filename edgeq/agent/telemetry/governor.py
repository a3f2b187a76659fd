"""Setting a cpufreq governor for the run, and putting the board's own back afterwards.

A governor is machine-wide state that outlives the agent, so it is restored in a
`finally`, whatever happened in between. Where a policy cannot be changed (not root,
governor not built in), the run goes on and the record says why.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Dict, Iterator, Optional

from . import sysfs


def _write(folder: str, governor: str) -> Optional[str]:
    """Why `governor` could not be set on this policy, or None when it took."""
    path = os.path.join(folder, "scaling_governor")
    try:
        with open(path, "w", encoding="ascii") as handle:
            handle.write(governor)
    except OSError as exc:
        hint = " (setting a governor needs root)" if isinstance(exc, PermissionError) else ""
        return f"cannot write {path}: {exc.strerror}{hint}"
    now = sysfs.read(path)
    return None if now == governor else f"the kernel kept {now!r}"


def set_everywhere(root: str, governor: str) -> Dict[str, Any]:
    """Set `governor` on every policy that offers it; the record holds what each had before."""
    record: Dict[str, Any] = {"requested": governor, "policies": {}}
    folders = sysfs.policies(root)
    if not folders:
        record["reason"] = f"no cpufreq policies under {os.path.join(root, sysfs.CPUFREQ)}"
    for name, folder in folders.items():
        was = sysfs.read(os.path.join(folder, "scaling_governor"))
        offered = (sysfs.read(os.path.join(folder, "scaling_available_governors")) or "").split()
        entry: Dict[str, Any] = {"was": was}
        if offered and governor not in offered:
            entry["reason"] = f"not available here (choose from: {', '.join(offered)})"
        else:
            reason = _write(folder, governor) if was != governor else None
            if reason:
                entry["reason"] = reason
        entry["set"] = "reason" not in entry
        record["policies"][name] = entry
    return record


def restore(root: str, record: Dict[str, Any]) -> None:
    """Put back each governor this run changed; a failure is recorded, never raised."""
    failures = []
    folders = sysfs.policies(root)
    for name, entry in record["policies"].items():
        if entry["set"] and entry["was"] and entry["was"] != record["requested"]:
            reason = _write(folders[name], entry["was"]) if name in folders else "the policy is gone"
            if reason:
                failures.append(f"{name}: {reason}")
    record["restored"] = not failures
    if failures:
        record["restore_errors"] = failures


@contextlib.contextmanager
def governed(root: str, governor: Optional[str]) -> Iterator[Optional[Dict[str, Any]]]:
    """Hold `governor` for the body (None: leave the board alone) and yield the record."""
    if governor is None:
        yield None
        return
    record = set_everywhere(root, governor)
    try:
        yield record
    finally:
        restore(root, record)
