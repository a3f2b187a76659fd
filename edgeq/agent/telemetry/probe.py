"""What one sample reads: power, every thermal zone, every cpufreq policy's clock, the throttle state.

The set of zones, policies and tools is fixed when the probe is made, so a sample
is a handful of small file reads (plus one vcgencmd call on a Raspberry Pi).
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Optional, Sequence

from . import sysfs, vcgencmd
from .power import PowerSource


class Probe:
    def __init__(self, root: str, zone_names: Sequence[str], power: PowerSource) -> None:
        self.power = power
        self.zones = sysfs.thermal_zones(root, zone_names)
        self.zone_types = {name: sysfs.read(os.path.join(folder, "type")) for name, folder in self.zones.items()}
        self.policies = sysfs.policies(root)
        self._vcgencmd = vcgencmd.find()
        if self._vcgencmd and vcgencmd.read_throttled(self._vcgencmd) is None:
            self._vcgencmd = None  # installed, but this firmware does not answer: not a Raspberry Pi

    def sample(self) -> Dict[str, Any]:
        """One JSON-ready sample, stamped at the middle of the power read (the fastest-moving value)."""
        t0 = time.perf_counter_ns()
        reading = self.power.read()
        sample: Dict[str, Any] = {"t_ns": (t0 + time.perf_counter_ns()) // 2}
        if reading is not None:
            sample.update(reading)
        temps = sysfs.temperatures(self.zones)
        if temps:
            sample["temps"] = temps
        khz = sysfs.current_khz(self.policies)
        if khz:
            sample["khz"] = khz
        if self._vcgencmd:
            throttled = vcgencmd.read_throttled(self._vcgencmd)
            if throttled is not None:
                sample["throttled"] = throttled
        return sample

    def max_temp(self) -> Optional[float]:
        temps = sysfs.temperatures(self.zones)
        return max(temps.values()) if temps else None

    def snapshot(self) -> Dict[str, Any]:
        """The conditions at one moment, for the result's `start` and `end`."""
        temps = sysfs.temperatures(self.zones)
        throttled = vcgencmd.read_throttled(self._vcgencmd) if self._vcgencmd else None
        return {
            "t_ns": time.perf_counter_ns(),
            "temps": {name: {"type": self.zone_types[name], "c": c} for name, c in temps.items()},
            "cpufreq": {name: sysfs.policy_state(folder) for name, folder in self.policies.items()},
            "throttled": vcgencmd.decode_throttled(throttled) if throttled is not None else None,
        }
