"""TFLite's C++ `benchmark_model` (sent with --native), timed by the tool itself.

Its figures sit next to edgeq's own in one result: same threads, same warm-up and
run counts, and the delegate asked for (`delegate=gpu` -> --use_gpu=true,
`delegate=armnn` -> the ArmNN delegate from native/lib as an external delegate).
The tool runs once, in `external_result`; child.py then records its figures
instead of running its own loop. It gives no outputs, so there is no correctness
check for this backend.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any, Dict, List

from .. import benchmark_model, native
from . import BackendUnavailable, Session, register

_TOOL = "bin/benchmark_model"


class BenchmarkModelSession(Session):
    """A benchmark_model invocation waiting to run; the child asks for its result."""

    def __init__(self, tool: str, model_path: str, flags: List[str], info: Dict[str, Any]) -> None:
        self._argv = [tool, f"--graph={model_path}"] + flags
        self._info = info

    def external_result(self, warmup: Dict[str, Any], measure: Dict[str, Any]) -> Dict[str, Any]:
        """Run the tool with the job's counts and return its figures as a result entry."""
        argv = self._argv + [f"--warmup_runs={int(warmup['runs'])}", f"--warmup_min_secs={warmup['seconds']}",
                             f"--num_runs={int(measure['runs'])}", f"--min_secs={measure['min_seconds']}"]
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True)
        sys.stderr.write(done.stdout)  # the child's log keeps the tool's own text
        if done.returncode != 0:
            last = (done.stdout.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"benchmark_model exited with code {done.returncode}: {last}")
        self._info["argv"] = argv
        return benchmark_model.to_result(benchmark_model.parse(done.stdout))

    def info(self) -> Dict[str, Any]:
        return dict(self._info)


def _delegate_flags(delegate: str, options: Dict[str, Any]) -> List[str]:
    if delegate == "none":
        return []
    if delegate == "gpu":
        return ["--use_gpu=true"]
    if delegate == "xnnpack":
        return ["--use_xnnpack=true"]
    if delegate == "armnn":
        library = native.find("lib/libarmnnDelegate.so")
        if library is None:
            raise BackendUnavailable("tflite-benchmark:delegate=armnn needs lib/libarmnnDelegate.so from --native")
        backends = options.get("backends") or ["CpuAcc", "CpuRef"]
        names = backends if isinstance(backends, list) else str(backends).split(",")
        return [f"--external_delegate_path={library}", f"--external_delegate_options=backends:{','.join(names)}"]
    raise BackendUnavailable(f"tflite-benchmark has no delegate '{delegate}'. Choose from: none, gpu, xnnpack, armnn")


@register("tflite-benchmark")
def open_benchmark(model_path: str, options: Dict[str, Any], threads: int) -> Session:
    tool = native.find(_TOOL)
    if tool is None:
        raise BackendUnavailable("benchmark_model is not on this board: build it with `edgeq cross build` "
                                 "and deploy with --native DIR")
    delegate = str(options.get("delegate", "none"))
    profiling = bool(options.get("op_profiling", True))
    flags = [f"--num_threads={threads}", f"--enable_op_profiling={'true' if profiling else 'false'}"]
    flags += _delegate_flags(delegate, options)
    info = {"runtime": "benchmark_model", "tool": tool, "threads": threads, "delegate": delegate,
            "op_profiling": profiling}
    return BenchmarkModelSession(tool, model_path, flags, info)
