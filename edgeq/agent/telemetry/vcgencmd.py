"""The Raspberry Pi firmware's `vcgencmd`: throttling state and, on a Pi 5, the PMIC's rails.

vcgencmd is found on PATH, so a test can put a fake one first. It is a process per
call (about a millisecond for get_throttled, up to 0.1 s for pmic_read_adc on a Pi 5),
which bounds how fast these readings can be sampled.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Dict, Optional, Tuple

_TIMEOUT_S = 5.0
# Bit meanings as the Raspberry Pi documentation lists them for `vcgencmd get_throttled`;
# bit n is the state now, bit n + 16 says it has occurred since boot.
THROTTLE_BITS = {0: "under_voltage", 1: "frequency_capped", 2: "throttled", 3: "soft_temp_limit"}
SINCE_BOOT_SHIFT = 16
NOW_MASK = sum(1 << bit for bit in THROTTLE_BITS)
_RAIL = re.compile(r"^\s*(\S+)_([AV])\s+(?:current|volt)\(\d+\)=([-+0-9.eE]+)[AV]\s*$")


def find() -> Optional[str]:
    return shutil.which("vcgencmd")


def run(command: str, *args: str) -> Optional[str]:
    """The command's stdout, or None when it cannot run or the firmware refuses it."""
    try:
        done = subprocess.run([command, *args], capture_output=True, text=True, timeout=_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def parse_throttled(text: str) -> Optional[int]:
    """`throttled=0x50005` -> 0x50005."""
    match = re.search(r"throttled=(0x[0-9a-fA-F]+|\d+)", text)
    return int(match.group(1), 0) if match else None


def decode_throttled(value: int) -> Dict[str, object]:
    """Each documented condition, now and since boot, with the raw value kept as hex."""
    return {
        "raw": hex(value),
        "now": {name: bool(value >> bit & 1) for bit, name in THROTTLE_BITS.items()},
        "since_boot": {name: bool(value >> (bit + SINCE_BOOT_SHIFT) & 1) for bit, name in THROTTLE_BITS.items()},
    }


def read_throttled(command: str) -> Optional[int]:
    text = run(command, "get_throttled")
    return parse_throttled(text) if text is not None else None


def parse_pmic(text: str) -> Dict[str, Tuple[float, float]]:
    """Rail -> (volts, amps) for every rail `pmic_read_adc` gives both for.

    Lines look like `  VDD_CORE_A current(7)=2.16440000A` and `  VDD_CORE_V volt(15)=0.72000000V`;
    rails with a voltage only (EXT5V, BATT) carry no power reading and are left out.
    """
    amps: Dict[str, float] = {}
    volts: Dict[str, float] = {}
    for line in text.splitlines():
        match = _RAIL.match(line)
        if match:
            rail, unit, value = match.groups()
            (amps if unit == "A" else volts)[rail] = float(value)
    return {rail: (volts[rail], amps[rail]) for rail in amps if rail in volts}
