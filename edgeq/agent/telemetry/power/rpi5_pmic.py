"""`rpi5-pmic`: the Raspberry Pi 5's power management IC, through `vcgencmd pmic_read_adc`.

The PMIC measures its own output rails (core, DDR, 3V3, ...), so the sum of V x A is
the SoC and memory side of the board, not the 5 V input: USB devices and conversion
losses are outside it. Each rail's watts are reported as well as the sum.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from .. import TelemetryError, vcgencmd
from . import PowerSource, Reading, register


class Rpi5Pmic(PowerSource):
    def __init__(self, command: str) -> None:
        self._command = command

    def read(self) -> Optional[Reading]:
        text = vcgencmd.run(self._command, "pmic_read_adc")
        rails = vcgencmd.parse_pmic(text) if text is not None else {}
        if not rails:
            return None
        watts = {rail: volts * amps for rail, (volts, amps) in sorted(rails.items())}
        return {"w": sum(watts.values()), "rails": watts}


@register("rpi5-pmic")
def open_pmic(config: Dict[str, Any], root: str) -> PowerSource:
    command = vcgencmd.find()
    if command is None:
        raise TelemetryError("rpi5-pmic needs vcgencmd on PATH (Raspberry Pi OS: apt-get install raspi-utils)")
    source = Rpi5Pmic(command)
    if source.read() is None:
        raise TelemetryError(f"{command} pmic_read_adc gave no rail readings (is this a Raspberry Pi 5?)")
    return source
