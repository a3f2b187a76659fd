"""A fake sysfs root and a fake `vcgencmd`: the hardware boundary of telemetry, for tests.

The agent reads /sys under a `root` prefix and finds vcgencmd on PATH. Pointing the
prefix at a FakeSys folder and putting a FakeVcgencmd folder first on PATH is the
only difference from a board: the reading code is the code that runs on one.

Values change over time through a trace, a function of `time.perf_counter_ns()` (the
clock the agent stamps samples and iterations with), so a test can place a step in
power or temperature at a known instant. Every change is written to a temporary file
and renamed over the old one, so a reader sees the old value or the new, never half.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

__all__ = ["FakeSys", "FakeVcgencmd", "PI5_RAILS", "Trace", "microwatts", "millicelsius"]

Trace = Callable[[int], Mapping[str, object]]
"""perf_counter_ns -> {path under the root: value as the kernel would print it}."""


def microwatts(watts: float) -> int:
    """hwmon's power1_input unit."""
    return round(watts * 1e6)


def millicelsius(celsius: float) -> int:
    """The thermal zone `temp` unit."""
    return round(celsius * 1000)


class FakeSys:
    """A folder laid out like the parts of /sys that the agent's telemetry reads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._writer: threading.Thread | None = None
        self._halt = threading.Event()
        self._error: BaseException | None = None

    def write(self, rel: str, value: object) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(f"{value}\n")
        os.replace(tmp, path)

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text().strip()

    def _next(self, folder: str, prefix: str) -> str:
        base = self.root / folder
        count = len(list(base.glob(f"{prefix}*"))) if base.exists() else 0
        return f"{folder}/{prefix}{count}"

    def hwmon(self, name: str, *, power_w: float | None = None, in1_mv: int | None = None,
              curr1_ma: int | None = None) -> str:
        """A power monitor; give power_w for a driver that computes power, else volts and amps."""
        folder = self._next("sys/class/hwmon", "hwmon")
        self.write(f"{folder}/name", name)
        if power_w is not None:
            self.write(f"{folder}/power1_input", microwatts(power_w))
        if in1_mv is not None:
            self.write(f"{folder}/in1_input", in1_mv)
        if curr1_ma is not None:
            self.write(f"{folder}/curr1_input", curr1_ma)
        return folder

    def thermal_zone(self, kind: str, celsius: float) -> str:
        folder = self._next("sys/class/thermal", "thermal_zone")
        self.write(f"{folder}/type", kind)
        self.write(f"{folder}/temp", millicelsius(celsius))
        return folder

    def cpufreq_policy(self, *, cur_khz: int, min_khz: int, max_khz: int, governor: str = "schedutil",
                       available: tuple[str, ...] = ("performance", "powersave", "schedutil")) -> str:
        folder = self._next("sys/devices/system/cpu/cpufreq", "policy")
        for name, value in (("scaling_cur_freq", cur_khz), ("scaling_min_freq", min_khz),
                            ("scaling_max_freq", max_khz), ("scaling_governor", governor),
                            ("scaling_available_governors", " ".join(available))):
            self.write(f"{folder}/{name}", value)
        return folder

    def files(self) -> Iterator[tuple[str, Path]]:
        """(path under the root, local file) for each file, to copy the tree onto a board."""
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.endswith(".tmp"):
                yield path.relative_to(self.root).as_posix(), path

    def play(self, trace: Trace, period_s: float = 0.002) -> None:
        """Apply `trace` every period_s in a thread, writing only the values that changed."""
        self.stop()
        self._halt.clear()

        def loop() -> None:
            written: dict[str, str] = {}
            try:
                while not self._halt.is_set():
                    for rel, value in trace(time.perf_counter_ns()).items():
                        if written.get(rel) != str(value):
                            self.write(rel, value)
                            written[rel] = str(value)
                    self._halt.wait(period_s)
            except BaseException as exc:  # handed to the test by stop()
                self._error = exc

        self._writer = threading.Thread(target=loop, name="fakesys-writer", daemon=True)
        self._writer.start()

    def stop(self) -> None:
        """End the writer; a trace that raised re-raises here, in the test."""
        if self._writer:
            self._halt.set()
            self._writer.join()
            self._writer = None
        if self._error:
            error, self._error = self._error, None
            raise error

    def __enter__(self) -> FakeSys:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# `vcgencmd pmic_read_adc` on a Raspberry Pi 5: rail names, ADC channel numbers and order
# as the firmware prints them; EXT5V and BATT have a voltage channel only.
_CURRENT_CHANNELS = (("3V7_WL_SW", 0), ("3V3_SYS", 1), ("1V8_SYS", 2), ("DDR_VDD2", 3), ("DDR_VDDQ", 4),
                     ("1V1_SYS", 5), ("0V8_SW", 6), ("VDD_CORE", 7), ("3V3_DAC", 17), ("3V3_ADC", 18),
                     ("0V8_AON", 16), ("HDMI", 22))
_VOLT_CHANNELS = (("3V7_WL_SW", 8), ("3V3_SYS", 9), ("1V8_SYS", 10), ("DDR_VDD2", 11), ("DDR_VDDQ", 12),
                  ("1V1_SYS", 13), ("0V8_SW", 14), ("VDD_CORE", 15), ("3V3_DAC", 20), ("3V3_ADC", 21),
                  ("0V8_AON", 19), ("HDMI", 23), ("EXT5V", 24), ("BATT", 25))
PI5_RAILS: dict[str, tuple[float, float | None]] = {
    "3V7_WL_SW": (3.7, 0.002), "3V3_SYS": (3.3, 0.12), "1V8_SYS": (1.8, 0.19), "DDR_VDD2": (1.1, 0.02),
    "DDR_VDDQ": (0.6, 0.0), "1V1_SYS": (1.1, 0.18), "0V8_SW": (0.8, 0.26), "VDD_CORE": (0.72, 2.1644),
    "3V3_DAC": (3.3, 0.0), "3V3_ADC": (3.3, 0.0), "0V8_AON": (0.8, 0.003), "HDMI": (5.1, 0.026),
    "EXT5V": (5.14, None), "BATT": (0.0, None),
}
"""(volts, amps) per rail of an idle Pi 5; amps None where the PMIC measures no current."""

_SCRIPT = '''#!{python} -S
"""Fake vcgencmd from edgeq.testing.fakesys: the firmware's formats, values from vcgencmd.json."""
import json, os, sys
CURRENT = {current!r}
VOLT = {volt!r}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "vcgencmd.json")) as handle:
    state = json.load(handle)
if sys.argv[1:] == ["get_throttled"]:
    print("throttled=" + hex(state["throttled"]))
elif sys.argv[1:] == ["pmic_read_adc"]:
    rails = state["rails"]
    for name, channel in CURRENT:
        if name in rails and rails[name][1] is not None:
            print("%12s current(%d)=%.8fA" % (name + "_A", channel, rails[name][1]))
    for name, channel in VOLT:
        if name in rails:
            print("%12s volt(%d)=%.8fV" % (name + "_V", channel, rails[name][0]))
else:
    print('error=2 error_msg="Command not registered"')
    sys.exit(2)
'''


class FakeVcgencmd:
    """An executable `vcgencmd` in `folder`; `set()` changes what it prints next."""

    def __init__(self, folder: Path, python: str = sys.executable) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        script = folder / "vcgencmd"
        script.write_text(_SCRIPT.format(python=python, current=_CURRENT_CHANNELS, volt=_VOLT_CHANNELS))
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        self._state: dict[str, object] = {"throttled": 0, "rails": dict(PI5_RAILS)}
        self._save()

    def set(self, *, throttled: int | None = None,
            rails: Mapping[str, tuple[float, float | None]] | None = None) -> None:
        if rails is not None:
            unknown = sorted(set(rails) - {name for name, _ in _VOLT_CHANNELS})
            if unknown:
                raise ValueError(f"no PMIC rail {unknown[0]!r} on a Pi 5")
            self._state["rails"] = dict(rails)
        if throttled is not None:
            self._state["throttled"] = throttled
        self._save()

    def _save(self) -> None:
        path = self.folder / "vcgencmd.json"
        tmp = path.with_name(".vcgencmd.json.tmp")
        tmp.write_text(json.dumps(self._state))
        os.replace(tmp, path)

    def path(self, rest: str | None = None) -> str:
        """A PATH with this folder first, for the agent's environment."""
        return os.pathsep.join([str(self.folder), os.environ.get("PATH", "") if rest is None else rest])
