"""Telemetry on the board: power, temperatures, clocks and throttling, time-aligned with inference.

A latency figure means little without the conditions it was taken in. The sampler
(sampler.py) reads them on `time.perf_counter_ns`, the clock the backend children
time their iterations with (CLOCK_MONOTONIC on Linux, shared by every process), so
each sample can be placed in an idle, warm-up or measured window afterwards
(derive.py). Power sources are plug-ins (power/). Every path is read under a `root`
prefix so tests can point the same code at a fake tree (edgeq.testing.fakesys).
Standard library only: this ships inside the agent.
"""


class TelemetryError(Exception):
    """A configured source cannot be read here; the message says which and why."""
