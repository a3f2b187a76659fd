"""ArmNN: pyarmnn's TfLiteParser, or the ArmNN TFLite delegate where the board has it.

pyarmnn comes from the board's Debian packages (python3-pyarmnn), which is why
the board's venv is created with --system-site-packages. Two generations are in use,
told apart by what the module itself reports (`ARMNN_VERSION`), never by a guess:

- Debian 12: pyarmnn 20.08 on libarmnn22 (ARMNN_VERSION 22.x). The backends are
  built in; a plain `CreationOptions()` sees CpuAcc and CpuRef.
- Debian 13: pyarmnn 23.08 on libarmnn33 (ARMNN_VERSION 33.x). The backends are
  shared objects loaded at run time from /usr/lib/<triplet>/armnn33; without
  `m_DynamicBackendsPath` the runtime has none but CpuRef's stub and Optimize fails
  ("CpuAcc has no IBackend factory registered"). Its runtime must also exist before
  the parser and network are made, and one per process.

Both take `OptimizerOptions()` (23.08 has no OptimizerOptionsOpaque yet; a later
pyarmnn that has it gets it), and the profiler JSON nests workload events at
different depths, so they are found by walking the tree (`workloads`).
"""

from __future__ import annotations

import glob
import json
import os
import re
import tempfile
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

if TYPE_CHECKING:  # numpy is imported where arrays are made: validating a job never pays for it
    import numpy as np

from .. import native
from . import BackendUnavailable, Session, register
from .tflite_interpreter import InterpreterSession, import_runtime, load_delegate, make_interpreter, preload_runtime

_PYARMNN_HINT = (
    "apt-get install python3-pyarmnn and its backends: libarmnn-cpuref-backend22 (Debian 12) or "
    "libarmnn-cpuref-backend33 (Debian 13), plus libarmnn-cpuacc-backendNN / libarmnn-gpuacc-backendNN "
    "on ARM, then use a venv created with --system-site-packages"
)
BACKENDS_DIR_ENV = "EDGEQ_ARMNN_BACKENDS_DIR"
"""Overrides where dynamic backends are looked for (default: /usr/lib/*/armnn<major>)."""
_RUNTIME: Dict[str, Any] = {}
DEFAULT_PREFERENCE = ("CpuAcc", "CpuRef")
PROFILED_RUNS = 5
TOP_LAYERS = 10


def _backend_list(value: Any) -> List[str]:
    if value is None:
        return list(DEFAULT_PREFERENCE)
    if isinstance(value, str):
        return [v for v in value.replace("+", ",").split(",") if v]
    return [str(v) for v in value]


_BACKEND_PREFIX = (("Ref", "CpuRef"), ("Neon", "CpuAcc"), ("Cl", "GpuAcc"))


def _wall_clock(event: Dict[str, Any]) -> List[float]:
    for key, value in event.items():
        if key.startswith("Wall clock time_#") and isinstance(value, dict):
            return [float(v) for v in value.get("raw", [])]
    return []


# 20.08: `NeonConvolution2dWorkload_Execute_#8`; 23.08 puts the layer first:
# `Convolution2d:model/conv2d/Conv2D_NeonConvolution2dWorkload_Execute_#14`.
_WORKLOAD = re.compile(r"^(?:(?P<layer>.*)_)?(?P<workload>[A-Za-z0-9]+Workload)_Execute(?:_#\d+)?$")


def _workload_events(tree: Dict[str, Any]) -> List[Any]:
    """(name match, event) of every event below `tree` that is a backend's workload."""
    found = []
    for name, event in tree.items():
        if not isinstance(event, dict):
            continue
        match = _WORKLOAD.match(name) if event.get("type") == "Event" else None
        if match:
            found.append((match, event))
        else:
            found.extend(_workload_events(event))
    return found


def _events_below(tree: Dict[str, Any], prefix: str) -> List[Dict[str, Any]]:
    return [v for k, v in tree.items() if k.startswith(prefix) and isinstance(v, dict)]


def _median(values: List[float]) -> Optional[float]:
    return sorted(values)[len(values) // 2] if values else None


def workloads(profile: Dict[str, Any], runs: int) -> List[Dict[str, Any]]:
    """Each workload's median wall-clock time (us) over the last `runs` inferences, in the order they ran.

    ArmNN's JSON nests events below inference_measurements > Execute, one per workload; the
    workload's name (`NeonConvolution2dWorkload`) starts with its backend's prefix. 20.08 names
    an event after the workload alone, 23.08 puts `<LayerType>:<layer name>_` before it; the
    numbering differs too, so events are found by walking the tree and by name, not by path.
    The `_#N` suffix numbers events as they were first seen, which is the order they ran.
    """
    found: List[Dict[str, Any]] = []
    for inference in _events_below(profile.get("ArmNN", {}), "inference_measurements"):
        for match, event in _workload_events(inference):
            times = _wall_clock(event)[-runs:]
            if not times:
                continue
            workload = match.group("workload")
            backend = next((b for prefix, b in _BACKEND_PREFIX if workload.startswith(prefix)), None)
            entry = {"name": workload, "id": match.group(0), "backend": backend,
                     "median_us": _median(times), "runs": len(times), "_raw": times}
            if match.group("layer"):
                entry["layer"] = match.group("layer")
            found.append(entry)
    return sorted(found, key=_ran_at)


def _ran_at(entry: Dict[str, Any]) -> int:
    found = re.search(r"_#(\d+)$", entry["id"])
    return int(found.group(1)) if found else 0


def execute_time(profile: Dict[str, Any], ran: List[Dict[str, Any]], runs: int) -> Dict[str, Optional[float]]:
    """The median of ArmNN's Execute event (one inference's workloads plus ArmNN's own work between
    them: input and output copies, working memory) and of that own work alone, per run."""
    totals: List[float] = []
    for inference in _events_below(profile.get("ArmNN", {}), "inference_measurements"):
        for execute in _events_below(inference, "Execute"):
            totals.extend(_wall_clock(execute))
    totals = totals[-runs:]
    per_run = [entry["_raw"] for entry in ran]
    if not totals or any(len(raw) != len(totals) for raw in per_run):
        return {"execute_us": _median(totals), "armnn_own_us": None}
    own = [total - sum(raw[i] for raw in per_run) for i, total in enumerate(totals)]
    return {"execute_us": _median(totals), "armnn_own_us": round(_median(own) or 0.0, 3)}


# SerializeToDot's node lines: `7 [label="{Concat|...\lLayerName : Concatenation:0:4\lLayerType : Concat\l...}"];`
_DOT_LAYER = re.compile(r'^\s*\d+ \[label="\{.*?LayerName : (?P<name>.*?)\\lLayerType : (?P<type>\w+)\\l')
_NOT_RUN = ("Input", "Output", "MemCopy", "MemImport")  # no workload event of their own (or not a `...Workload`)


def graph_layers(optimized: Any) -> List[Tuple[str, str]]:
    """(layer type, layer name) of the optimized network's layers that run as workloads, in the
    graph's topological order: the order ArmNN creates and runs their workloads. Read from the
    network's own dot dump, which must be taken before LoadNetwork takes the network."""
    with tempfile.TemporaryDirectory(prefix="edgeq-armnn-") as folder:
        path = os.path.join(folder, "optimized.dot")
        optimized.SerializeToDot(path)
        with open(path, encoding="utf-8", errors="replace") as dot:
            hits = [_DOT_LAYER.match(line) for line in dot]
    return [(m.group("type"), m.group("name")) for m in hits if m and m.group("type") not in _NOT_RUN]


def _kind(workload: str) -> str:
    """`RefConvolution2dWorkload` -> `Convolution2d` (Neon's `NeonDepthwiseConvolutionWorkload` -> its stem)."""
    return re.sub(r"^(Ref|Neon|Cl)", "", workload).replace("Workload", "").replace("Float32", "").replace("Uint8", "")


def name_by_graph(ran: List[Dict[str, Any]], layers: Optional[List[Tuple[str, str]]]) -> str:
    """Give each workload (in the order it ran) the name of the layer it ran, where the optimized
    graph's layers, in order, are exactly the kinds the workloads are; else leave them and say why."""
    if all("layer" in entry for entry in ran):
        return "ArmNN's profiler names each workload's layer"
    if layers is None:
        return "the optimized network's layers were not read (done on ArmNN 20.08 only, where it was seen to work)"
    if len(layers) != len(ran):
        return f"{len(ran)} workload events for {len(layers)} layers in the optimized network"
    for entry, (kind, name) in zip(ran, layers):
        stem = _kind(entry["name"])
        if not (stem.startswith(kind) or kind.startswith(stem)):
            return f"workload {entry['id']} is not the {kind} layer {name} the optimized network runs there"
    for entry, (_, name) in zip(ran, layers):
        entry["layer"] = name
    return "by the optimized network's layer order, which its workloads ran in, kind for kind"


def armnn_major(ann: Any) -> int:
    """The ArmNN library's major version as pyarmnn reports it: 22 (pyarmnn 20.08), 33 (23.08)."""
    text = str(getattr(ann, "ARMNN_VERSION", None) or getattr(ann, "__version__", "0"))
    head = text.split(".")[0]
    return int(head) if head.isdigit() else 0


def dynamic_backends_dir(major: int, root: str = "/") -> Optional[str]:
    """Where this ArmNN's backend shared objects are (Debian: /usr/lib/<triplet>/armnn<major>)."""
    override = os.environ.get(BACKENDS_DIR_ENV)
    if override:
        return override
    hits = sorted(glob.glob(os.path.join(root, "usr", "lib", "*", f"armnn{major}")))
    return hits[0] if hits else None


def creation_options(ann: Any) -> Any:
    options = ann.CreationOptions()
    folder = dynamic_backends_dir(armnn_major(ann))
    if folder and hasattr(options, "m_DynamicBackendsPath"):
        options.m_DynamicBackendsPath = folder
    return options


def shared_runtime(ann: Any) -> Any:
    """This process's one IRuntime, made before any parser or network (23.08 needs both)."""
    if "runtime" not in _RUNTIME:
        _RUNTIME["runtime"] = ann.IRuntime(creation_options(ann))
    return _RUNTIME["runtime"]


def optimizer_options(ann: Any) -> Any:
    return (getattr(ann, "OptimizerOptionsOpaque", None) or ann.OptimizerOptions)()


class PyArmnnSession(Session):
    def __init__(self, ann: Any, model_path: str, wanted: List[str], info: Dict[str, Any]) -> None:
        runtime = shared_runtime(ann)
        parser = ann.ITfLiteParser()
        network = parser.CreateNetworkFromBinaryFile(model_path)
        self._in_bindings = [parser.GetNetworkInputBindingInfo(0, n) for n in parser.GetSubgraphInputTensorNames(0)]
        out_bindings = [parser.GetNetworkOutputBindingInfo(0, n) for n in parser.GetSubgraphOutputTensorNames(0)]
        available = [str(b) for b in runtime.GetDeviceSpec().GetSupportedBackends()]
        chosen = [b for b in wanted if b in available]
        if not chosen:
            raise BackendUnavailable(
                f"none of the ArmNN backends {', '.join(wanted)} is available here; "
                f"this board has {', '.join(available) or 'none'}"
            )
        optimized, messages = ann.Optimize(network, [ann.BackendId(b) for b in chosen], runtime.GetDeviceSpec(),
                                           optimizer_options(ann))
        self._layers: Optional[List[Tuple[str, str]]] = None
        if armnn_major(ann) <= 22:  # seen on 20.08 only; before LoadNetwork, which takes the network
            started = time.perf_counter_ns()
            try:
                self._layers = graph_layers(optimized)
            except (AttributeError, RuntimeError, OSError):
                pass
            self.untimed_ms = (time.perf_counter_ns() - started) / 1e6  # the dot dump is ours, not ArmNN's load
        self._net_id, _ = runtime.LoadNetwork(optimized)
        self._ann, self._runtime = ann, runtime
        self._out_tensors = ann.make_output_tensors(out_bindings)
        self._in_tensors: Any = None
        self._info = dict(info, armnn_backends=chosen, armnn_available=available,
                          optimizer_messages=[str(m) for m in messages])

    def set_inputs(self, arrays: Sequence[np.ndarray]) -> None:
        self._in_tensors = self._ann.make_input_tensors(self._in_bindings, list(arrays))
        enqueue, net, ins, outs = self._runtime.EnqueueWorkload, self._net_id, self._in_tensors, self._out_tensors
        self.step = lambda: enqueue(net, ins, outs)  # type: ignore[method-assign]

    def outputs(self) -> List[np.ndarray]:
        import numpy as np

        return [np.array(a) for a in self._ann.workload_tensors_to_ndarray(self._out_tensors)]

    def info(self) -> Dict[str, Any]:
        return dict(self._info)

    def layer_profile(self, runs: int = PROFILED_RUNS) -> Dict[str, Any]:
        """ArmNN's profiler over a few extra runs: each workload's median time and backend."""
        profiler = self._runtime.GetProfiler(self._net_id)
        profiler.EnableProfiling(True)
        try:
            for _ in range(runs):
                self.step()
            text = profiler.as_json()
        finally:
            profiler.EnableProfiling(False)
        tree = json.loads(text)
        ran = workloads(tree, runs)
        named = name_by_graph(ran, self._layers)
        totals = execute_time(tree, ran, runs)
        by_layer: Dict[str, float] = {}
        for entry in ran:
            if "layer" in entry:
                by_layer[entry["layer"]] = round(by_layer.get(entry["layer"], 0.0) + entry["median_us"], 3)
            del entry["_raw"]
        slowest = sorted(ran, key=lambda layer: layer["median_us"], reverse=True)
        return {"source": "armnn-profiler", "unit": "us", "runs": runs, "count": len(ran),
                "top": slowest[:TOP_LAYERS], "named": named, **totals,
                "by_layer": by_layer if len(by_layer) and all("layer" in e for e in ran) else None}


def _preload(options: Dict[str, Any]) -> None:
    if options.get("delegate_library") or options.get("delegate"):
        preload_runtime(options)
    else:
        import pyarmnn  # noqa: F401


@register("armnn", preload=_preload)
def open_armnn(model_path: str, options: Dict[str, Any], threads: int) -> Session:
    wanted = _backend_list(options.get("backends"))
    library = options.get("delegate_library")
    if not library and options.get("delegate"):  # armnn:delegate=true: the one sent with --native
        library = native.find("lib/libarmnnDelegate.so")
        if library is None:
            raise BackendUnavailable("armnn:delegate=true needs the ArmNN delegate: deploy with --native DIR "
                                     "(edgeq cross build) or name armnn.delegate_library in the board record")
    if library:
        runtime, module, version = import_runtime(str(options.get("runtime", "auto")))
        delegate = load_delegate(module, str(library), {"backends": ",".join(wanted)})
        interpreter = make_interpreter(module, model_path, threads, delegates=[delegate])
        info = {"runtime": runtime, "runtime_version": version, "accelerator": "armnn-delegate",
                "delegate_library": library, "armnn_backends": wanted}
        return InterpreterSession(interpreter, info)
    try:
        import pyarmnn as ann
    except ImportError as exc:
        raise BackendUnavailable(f"pyarmnn is not importable ({exc}); {_PYARMNN_HINT}") from None
    info = {
        "runtime": "pyarmnn",
        "runtime_version": str(getattr(ann, "__version__", "unknown")),
        "armnn_version": str(getattr(ann, "ARMNN_VERSION", "unknown")),
        "threads": "runtime default (pyarmnn cannot set a thread count)",
    }
    return PyArmnnSession(ann, model_path, wanted, info)
