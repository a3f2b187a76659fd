"""`hwmon`: a power monitor chip (INA219, INA226, INA260, ...) through Linux hwmon.

The device is found by its `name` file, because hwmonN numbers change from boot to
boot. `power1_input` (microwatts) is used when the driver computes power; otherwise
`in1_input` (bus voltage, millivolts) times `curr1_input` (milliamps).
"""

from __future__ import annotations

import glob
import os
from typing import Any, Dict, Optional

from .. import TelemetryError
from ..sysfs import read, read_int
from . import PowerSource, Reading, register

HWMON = "sys/class/hwmon"


class Hwmon(PowerSource):
    def __init__(self, folder: str) -> None:
        self._power = os.path.join(folder, "power1_input")
        self._volts = os.path.join(folder, "in1_input")
        self._amps = os.path.join(folder, "curr1_input")
        self._has_power = os.path.exists(self._power)
        if not self._has_power and not (os.path.exists(self._volts) and os.path.exists(self._amps)):
            raise TelemetryError(f"hwmon device {folder} has neither power1_input nor in1_input and curr1_input")

    def read(self) -> Optional[Reading]:
        if self._has_power:
            microwatts = read_int(self._power)
            return {"w": microwatts / 1e6} if microwatts is not None else None
        millivolts, milliamps = read_int(self._volts), read_int(self._amps)
        if millivolts is None or milliamps is None:
            return None
        return {"w": millivolts * milliamps / 1e6}


@register("hwmon")
def open_hwmon(config: Dict[str, Any], root: str) -> PowerSource:
    wanted = config.get("hwmon_name")
    base = os.path.join(root, HWMON)
    seen = []
    for folder in sorted(glob.glob(os.path.join(base, "hwmon*"))):
        name = read(os.path.join(folder, "name"))
        if name == wanted:
            return Hwmon(folder)
        seen.append(f"{os.path.basename(folder)}={name}")
    found = ", ".join(seen) or "none"
    raise TelemetryError(f"no hwmon device named {wanted!r} under {base} (found: {found})")
