"""What sampling telemetry at 50 Hz costs the latency it sits beside: median with vs without.

    .venv/bin/python benchmarks/bench_telemetry.py [--runs 2000] [--trials 7] [--hz 50]

Both arms profile MobileNetV1 0.25/128 on the local board with `tflite-cpu` (ai_edge_litert,
XNNPACK, 1 thread). The sampled arm's board has an INA226 on hwmon, and the agent reads
a fake sysfs tree (edgeq.testing.fakesys) laid out like a Raspberry Pi 5's: the power
monitor, 4 thermal zones and 2 cpufreq policies, so every sample makes the same file
reads it would make on a board. The arms alternate trial by trial so that drift in the
machine hits both; the figure is the median over trials of (sampled p50 / plain p50).
On a shared or loaded machine that ratio is mostly noise, so the CPU time one sample
costs is measured too, in process: it bounds what sampling can take from inference.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from edgeq import zoo
from edgeq.agent.telemetry.power import open_source
from edgeq.agent.telemetry.probe import Probe
from edgeq.profile.run import profile
from edgeq.testing.fakesys import FakeSys

_BOARD = """name: {name}
description: this host, for bench_telemetry.py
arch: auto
connection: {{kind: local}}
cpu: {{model: auto}}
backends: [tflite-cpu]
python: null
work_dir: {work}
{power}
"""


def _boards(folder: Path) -> None:
    folder.mkdir()
    for name, power in (("bench-plain", ""), ("bench-sensed", "power: {source: hwmon, hwmon_name: ina226}")):
        (folder / f"{name}.yaml").write_text(_BOARD.format(name=name, work=folder.parent / "work", power=power))


def _pi5_like(root: Path) -> FakeSys:
    tree = FakeSys(root)
    tree.hwmon("ina226", power_w=4.2)
    for kind, celsius in (("cpu-thermal", 52.0), ("gpu-thermal", 49.5), ("soc-thermal", 50.1), ("ddr-thermal", 45.0)):
        tree.thermal_zone(kind, celsius)
    tree.cpufreq_policy(cur_khz=2_400_000, min_khz=1_500_000, max_khz=2_400_000)
    tree.cpufreq_policy(cur_khz=1_800_000, min_khz=1_000_000, max_khz=1_800_000)
    return tree


def _p50(model: Path, board: str, runs: int, warmup: int, runs_dir: Path, hz: float, root: str) -> tuple[float, int]:
    run = profile(model, board=board, backends=["tflite-cpu:runtime=ai_edge_litert"], runs=runs, warmup=warmup,
                  runs_dir=runs_dir, telemetry_hz=hz, telemetry_root=root)
    (entry,) = run.result["backends"]
    if entry["status"] != "ok":
        raise SystemExit(f"edgeq profile failed: {entry.get('reason')}")
    return entry["stats"]["p50_ms"], (entry.get("telemetry") or {}).get("samples", 0)


def _sample_cpu_us(root: str, count: int = 2000) -> float:
    """CPU microseconds of one sample (its reads and its JSON line), taken as the agent's sampler takes it."""
    probe = Probe(root, [], open_source({"source": "hwmon", "hwmon_name": "ina226"}, root))
    with open(os.devnull, "w") as out:
        t0 = time.process_time_ns()
        for _ in range(count):
            out.write(json.dumps(probe.sample(), separators=(",", ":")) + "\n")
        return (time.process_time_ns() - t0) / count / 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--hz", type=float, default=50.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        _boards(base / "boards")
        os.environ["EDGEQ_BOARDS"] = str(base / "boards")
        root = str(_pi5_like(base / "sys-root").root)
        model = zoo.build("mobilenet_v1", base / "mobilenet_v1_0.25_128.tflite", alpha=0.25, resolution=128)
        plain, sampled, ratios, samples = [], [], [], []
        for trial in range(args.trials):
            # Alternate which goes first, so that an order effect cannot pass for the sampler's cost.
            if trial % 2 == 0:
                p_plain, _ = _p50(model, "bench-plain", args.runs, args.warmup, base / "runs", 0, root)
                p_sampled, n = _p50(model, "bench-sensed", args.runs, args.warmup, base / "runs", args.hz, root)
            else:
                p_sampled, n = _p50(model, "bench-sensed", args.runs, args.warmup, base / "runs", args.hz, root)
                p_plain, _ = _p50(model, "bench-plain", args.runs, args.warmup, base / "runs", 0, root)
            plain.append(p_plain)
            sampled.append(p_sampled)
            ratios.append(p_sampled / p_plain)
            samples.append(n)
        cost_us = _sample_cpu_us(root)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}; "
          f"runs {args.runs}, warm-up {args.warmup}, trials {args.trials}, interleaved, order alternating")
    print(f"\n| model | plain p50 ms | sampled at {args.hz:g} Hz p50 ms | samples in the measured window "
          "| ratio sampled/plain (median of trials) | ratio range |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| mobilenet_v1 0.25/128 float32 | {statistics.median(plain):.4f} | {statistics.median(sampled):.4f} | "
          f"{statistics.median(samples):.0f} | {statistics.median(ratios):.3f} | {min(ratios):.3f}–{max(ratios):.3f} |")
    print(f"\nOne sample costs {cost_us:.0f} µs of CPU: {cost_us * args.hz / 1e4:.2f}% of one core at {args.hz:g} Hz.")


if __name__ == "__main__":
    main()
