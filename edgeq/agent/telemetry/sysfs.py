"""Reading the kernel's thermal zones and cpufreq policies under a root prefix.

Files are reopened on every read: sysfs produces a fresh value per open, and a fake
tree replaces its files by rename, which an open handle would never see.
"""

from __future__ import annotations

import glob
import os
from typing import Dict, List, Optional, Sequence, Tuple

THERMAL = "sys/class/thermal"
CPUFREQ = "sys/devices/system/cpu/cpufreq"


def read(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("ascii", "replace").strip()
    except OSError:
        return None


def read_int(path: str) -> Optional[int]:
    text = read(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _numbered(pattern: str) -> List[str]:
    """thermal_zone2 before thermal_zone10, as the kernel numbers them."""
    def index(path: str) -> Tuple[int, str]:
        digits = "".join(c for c in os.path.basename(path) if c.isdigit())
        return (int(digits) if digits else -1, path)
    return sorted(glob.glob(pattern), key=index)


def thermal_zones(root: str, names: Sequence[str] = ()) -> Dict[str, str]:
    """Zone name -> folder, for every zone (or only `names`, as the board record lists them)."""
    found = {os.path.basename(p): p for p in _numbered(os.path.join(root, THERMAL, "thermal_zone*"))}
    return {n: p for n, p in found.items() if not names or n in names}


def temperatures(zones: Dict[str, str]) -> Dict[str, float]:
    """Degrees Celsius per zone; the kernel gives millidegrees. Unreadable zones are left out."""
    temps = {}
    for name, folder in zones.items():
        milli = read_int(os.path.join(folder, "temp"))
        if milli is not None:
            temps[name] = milli / 1000.0
    return temps


def policies(root: str) -> Dict[str, str]:
    """cpufreq policy name -> folder (one policy per cluster of cores that share a clock)."""
    return {os.path.basename(p): p for p in _numbered(os.path.join(root, CPUFREQ, "policy*"))}


def current_khz(folders: Dict[str, str]) -> Dict[str, int]:
    khz = {}
    for name, folder in folders.items():
        value = read_int(os.path.join(folder, "scaling_cur_freq"))
        if value is not None:
            khz[name] = value
    return khz


def policy_state(folder: str) -> Dict[str, object]:
    def value(name: str) -> Optional[int]:
        return read_int(os.path.join(folder, name))

    return {
        "governor": read(os.path.join(folder, "scaling_governor")),
        "cur_khz": value("scaling_cur_freq"),
        "min_khz": value("scaling_min_freq"),
        "max_khz": value("scaling_max_freq"),
    }
