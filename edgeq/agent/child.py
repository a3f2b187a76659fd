"""One backend's run, inside its own process.

A runtime that aborts (pyarmnn on some int8 models, a GPU driver) takes only
this process down; the parent (runner.py) records why and goes on.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, TypeVar

import numpy as np

from . import backends, timing
from .wire import Phase

T = TypeVar("T")


def _phase(spec: Dict[str, Any], phase: str) -> None:
    """Tell whoever watches (the host's progress display, a test) where we are.

    One file for the whole job, `<backend file stem> <phase>`: backends run one at a
    time, and the host can poll one small file without starting a process on the board.
    """
    path = spec["status"]
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(Phase(spec["stem"], phase).line())
    os.replace(tmp, path)


def _inputs(path: str) -> list:
    with np.load(path, allow_pickle=False) as data:
        return [data[name] for name in data.files]


def _window(windows: Dict[str, List[int]], name: str, call: Callable[[], T]) -> T:
    """Run one phase and keep its [start, end] in perf_counter_ns (CLOCK_MONOTONIC on Linux).

    The agent's telemetry sampler stamps its samples on the same clock in another
    process, which is how each sample is later placed in load, warm-up or measurement.
    """
    t0 = time.perf_counter_ns()
    value = call()
    windows[name] = [t0, time.perf_counter_ns()]
    return value


def measure(spec: Dict[str, Any]) -> Dict[str, Any]:
    if spec.get("cores"):
        os.sched_setaffinity(0, spec["cores"])
    _phase(spec, "loading")
    # The runtime's import stays out of load_ms whether this process was forked from the warm
    # agent (imported there already) or started afresh (imported here, before the clock starts).
    backends.preload(spec["backend"], spec["options"])
    holder: Dict[str, Any] = {}
    windows: Dict[str, List[int]] = {}

    def load() -> None:
        holder["session"] = backends.open_session(spec["backend"], spec["model"], spec["options"], spec["threads"])

    load_ms = _window(windows, "load", lambda: timing.time_once(load))
    session = holder["session"]
    load_ms -= session.untimed_ms
    external = getattr(session, "external_result", None)
    if external is not None:  # a tool that times itself (benchmark_model): its figures, not our loop's
        _phase(spec, "measuring")
        return dict(external(spec["warmup"], spec["measure"]), status="ok", info=session.info())
    session.set_inputs(_inputs(spec["inputs"]))
    _phase(spec, "first-inference")
    first_ms = _window(windows, "first", lambda: timing.time_once(session.step))
    if spec.get("start_only"):  # a second, warm start: nothing more to measure
        return {"status": "ok", "load_ms": load_ms, "first_inference_ms": first_ms}
    _phase(spec, "warmup")
    warm = spec["warmup"]
    warm_samples = _window(windows, "warmup", lambda: timing.run_loop(session.step, warm["runs"], warm["seconds"]))
    _phase(spec, "measuring")
    meas = spec["measure"]
    samples = _window(windows, "measure", lambda: timing.run_loop(session.step, meas["runs"], meas["min_seconds"]))
    _phase(spec, "saving")
    outputs = session.outputs()
    np.savez(spec["outputs"], **{f"output_{i}": a for i, a in enumerate(outputs)})
    return {
        "status": "ok",
        "load_ms": load_ms,
        "first_inference_ms": first_ms,
        "warmup": {"runs": len(warm_samples), "seconds": sum(warm_samples) / 1e9},
        "stats": timing.summarize(samples),
        "samples_ns": samples,
        "windows": windows,
        "outputs": os.path.basename(spec["outputs"]),
        "info": session.info(),
        "layers": _layers(session),
        "accuracy": _accuracy(session, spec.get("eval")),
    }


def _accuracy(session: backends.Session, path: Optional[str]) -> Optional[Dict[str, Any]]:
    """Top-1 accuracy on the user's labelled data, computed here on the board by this backend:
    the figure that matters when a runtime is silently wrong only on some inputs."""
    if not path:
        return None
    with np.load(path, allow_pickle=False) as data:
        x, y = data["x"], data["y"]
    right = 0
    for i in range(len(x)):
        session.set_inputs([x[i:i + 1]])
        session.step()
        right += int(np.argmax(session.outputs()[0].reshape(-1)) == int(y[i]))
    return {"samples": int(len(x)), "top1": right / len(x) if len(x) else None}


def _layers(session: backends.Session) -> Optional[Dict[str, Any]]:
    """Per-layer times where the runtime has a profiler, taken after the measured runs so
    that profiling never slows the figures above."""
    try:
        return session.layer_profile()
    except Exception as exc:  # a profiler that fails costs the layer table, not the run
        return {"error": f"{type(exc).__name__}: {exc}"}


def _die_with_parent() -> None:
    """Linux: SIGKILL this backend when the job that started it dies (killed, crashed), so a
    measurement never runs on alone and skews the board's next one. Elsewhere, nothing."""
    try:
        import ctypes
        import signal as signals

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signals.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the job died before we asked: nobody waits for this result
        os._exit(1)


def main(spec_path: str) -> int:
    _die_with_parent()
    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    try:
        result = measure(spec)
    except backends.BackendUnavailable as exc:
        result = {"status": "unavailable", "reason": str(exc)}
    except Exception as exc:  # any runtime error becomes this backend's failure, never the profile's
        traceback.print_exc(file=sys.stderr)
        result = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
    tmp = spec["result"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    os.replace(tmp, spec["result"])
    _phase(spec, "done")
    return 0
