"""Typed views of a result's optional sections: what the host's readers (report, advise) rely on.

records.Result and records.BackendResult keep the JSON they were given, so a result
round-trips unchanged whatever the agent adds; the key names the host reads are spelled
here, once, and a reader sees fields instead of nested dicts. An absent or null value reads
as None (or an empty collection); load-time checks (report/load.py) make sure what is there
has the right type. Standard library only, Python >= 3.9.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .wire import CORRECTNESS


def _dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> Optional[float]:
    """A figure, or None where there is none (bools are not figures)."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Timing:
    """A backend's summary statistics (`stats`): milliseconds, the CV as a fraction, and the tool that made them."""

    p50_ms: Optional[float] = None
    p90_ms: Optional[float] = None
    p99_ms: Optional[float] = None
    mean_ms: Optional[float] = None
    std_ms: Optional[float] = None
    cv: Optional[float] = None
    count: Optional[int] = None
    source: Optional[str] = None

    @classmethod
    def read(cls, stats: Any) -> "Timing":
        s = _dict(stats)
        return cls(*(s.get(k) for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "cv", "count", "source")))


@dataclass(frozen=True)
class RuntimeInfo:
    """What a backend really ran (`info`): the runtime and, where it has them, its accelerator and placement."""

    runtime: Optional[str] = None
    runtime_version: Optional[str] = None
    armnn_backends: List[str] = field(default_factory=list)
    accelerator: Optional[str] = None
    fully_accelerated: Optional[bool] = None  # None: not reported
    xnnpack: bool = False

    @classmethod
    def read(cls, info: Any) -> "RuntimeInfo":
        i = _dict(info)
        return cls(i.get("runtime"), i.get("runtime_version"), list(i.get("armnn_backends") or []),
                   i.get("accelerator"), i.get("fully_accelerated"), bool(i.get("xnnpack")))


@dataclass(frozen=True)
class FallbackOp:
    op: Optional[str]
    reason: Optional[str] = None


@dataclass(frozen=True)
class Coverage:
    """Which ops a delegate left to the CPU (`coverage`); fully_delegated None when the backend did not say."""

    fully_delegated: Optional[bool]
    fallback_ops: List[FallbackOp]

    @classmethod
    def read(cls, coverage: Any) -> Optional["Coverage"]:
        if not isinstance(coverage, dict):
            return None
        ops = [FallbackOp(o.get("op"), o.get("reason")) for o in coverage.get("fallback_ops") or []
               if isinstance(o, dict)]
        return cls(coverage.get("fully_delegated"), ops)


@dataclass(frozen=True)
class Energy:
    """Energy per inference in mJ and power in W (`telemetry.energy`), where the board measured power."""

    mj: Optional[float] = None
    mj_above_idle: Optional[float] = None
    power_w: Optional[float] = None
    idle_w: Optional[float] = None

    @classmethod
    def read(cls, telemetry: Any) -> Optional["Energy"]:
        energy = _dict(telemetry).get("energy")
        if not isinstance(energy, dict):
            return None
        keys = ("energy_mj_per_inference", "energy_mj_per_inference_above_idle", "avg_power_w", "idle_power_w")
        return cls(*(_number(energy.get(k)) for k in keys))


@dataclass(frozen=True)
class Accuracy:
    """Top-1 accuracy measured on the board (`accuracy`, from `profile --eval`)."""

    top1: Optional[float]
    samples: Any = None

    @classmethod
    def read(cls, accuracy: Any) -> Optional["Accuracy"]:
        if not isinstance(accuracy, dict):
            return None
        return cls(_number(accuracy.get("top1")), accuracy.get("samples"))


@dataclass(frozen=True)
class Layer:
    """One of the slowest layers a runtime's own profiler saw (`layers.top`; agent/backends/armnn.py)."""

    name: Optional[str] = None
    id: Optional[str] = None
    backend: Optional[str] = None  # the compute backend it ran on, None when the profiler did not say
    median_us: Optional[float] = None
    runs: Optional[int] = None
    layer: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        out = {"name": self.name, "id": self.id, "backend": self.backend, "median_us": self.median_us,
               "runs": self.runs}
        return dict(out, layer=self.layer) if self.layer is not None else out


@dataclass(frozen=True)
class LayerProfile:
    """A runtime profiler's per-layer timing (`layers`): where it came from and the slowest layers, slowest first."""

    top: List[Layer]
    source: Optional[str] = None
    unit: Optional[str] = None
    runs: Optional[int] = None
    count: Optional[int] = None
    by_layer: Optional[Dict[str, float]] = None  # every workload's median, summed per ArmNN layer name
    named: Optional[str] = None  # how workloads got their layer names, or why they have none
    execute_us: Optional[float] = None  # ArmNN's Execute event: the workloads and ArmNN's own work
    armnn_own_us: Optional[float] = None  # that own work alone (input/output copies, working memory)

    @classmethod
    def read(cls, layers: Any) -> Optional["LayerProfile"]:
        if not isinstance(layers, dict) or not layers:
            return None
        top = [Layer(t.get("name"), t.get("id"), t.get("backend"), _number(t.get("median_us")), t.get("runs"),
                     t.get("layer")) for t in layers.get("top") or [] if isinstance(t, dict)]
        by_layer = layers.get("by_layer")
        by_layer = {str(k): float(v) for k, v in by_layer.items() if _number(v) is not None} \
            if isinstance(by_layer, dict) else None
        return cls(top, layers.get("source"), layers.get("unit"), layers.get("runs"), layers.get("count"), by_layer,
                   layers.get("named"), _number(layers.get("execute_us")), _number(layers.get("armnn_own_us")))

    def to_dict(self) -> Dict[str, Any]:
        more = {"by_layer": self.by_layer, "named": self.named, "execute_us": self.execute_us,
                "armnn_own_us": self.armnn_own_us}
        return {"source": self.source, "unit": self.unit, "runs": self.runs, "count": self.count,
                "top": [t.to_dict() for t in self.top], **{k: v for k, v in more.items() if v is not None}}


@dataclass(frozen=True)
class StartTimes:
    """A GPU backend's start, cold (empty kernel cache) and warm (`start`): (load_ms, first_inference_ms) each."""

    cold: Tuple[Optional[float], Optional[float]]
    warm: Tuple[Optional[float], Optional[float]]

    @classmethod
    def read(cls, start: Any) -> Optional["StartTimes"]:
        if not start or not isinstance(start, dict):
            return None
        cold, warm = _dict(start.get("cold")), _dict(start.get("warm"))
        return cls((cold.get("load_ms"), cold.get("first_inference_ms")),
                   (warm.get("load_ms"), warm.get("first_inference_ms")))


@dataclass(frozen=True)
class Check:
    """One backend's output check against the reference (`correctness.backends.<label>`; profile/correctness.py
    writes it with to_dict). Without a verdict (passed None), the figures of one output."""

    passed: Optional[bool] = None
    why: Optional[str] = None
    bit_exact: bool = False
    share_over_1_lsb: Optional[float] = None  # the integer-domain figures: quantized outputs only
    max_lsb: Any = None
    rel_error: Optional[float] = None
    sqnr_db: Optional[float] = None
    cosine: Optional[float] = None
    top1_agree: Any = None  # a bool for one sample, a share of agreeing samples for many; None when not checked
    thresholds: Dict[str, Any] = field(default_factory=dict)
    written: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # as in result.json, for
    # formats that pass the verdict on whole (the JSON report)
    max_abs_error: Optional[float] = None

    @classmethod
    def read(cls, check: Any) -> Optional["Check"]:
        if not isinstance(check, dict):
            return None
        agree = check.get("top1_agree")
        return cls(check.get("passed") if isinstance(check.get("passed"), bool) else None, check.get("why"),
                   bool(check.get("bit_exact")), _number(check.get("share_over_1_lsb")), check.get("max_lsb"),
                   _number(check.get("rel_error")), _number(check.get("sqnr_db")), _number(check.get("cosine")),
                   agree if isinstance(agree, (int, float)) else None, _dict(check.get("thresholds")), dict(check),
                   _number(check.get("max_abs_error")))

    def to_dict(self) -> Dict[str, Any]:
        """The check as result.json keeps it: the float figures always, top-1 agreement and the integer-domain
        figures where they were measured, then the verdict and the floors it was held to."""
        out: Dict[str, Any] = {"max_abs_error": self.max_abs_error, "rel_error": self.rel_error,
                               "sqnr_db": self.sqnr_db, "cosine": self.cosine, "bit_exact": self.bit_exact}
        for key in ("top1_agree", "max_lsb", "share_over_1_lsb"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out.update(passed=self.passed, why=self.why, thresholds=self.thresholds)
        return out


@dataclass(frozen=True)
class Correctness:
    """The outputs check (`correctness`): what the reference was, and a Check per backend label.
    profile/correctness.py makes one and writes it with to_dict; readers get it from Result.checks."""

    reference_kind: Optional[str] = None  # same-model | float-model | none
    reference_model: Optional[str] = None
    reference_why: Optional[str] = None  # why there is none; for same-model, what it can and cannot see
    checks: Dict[str, Check] = field(default_factory=dict)
    has_reference: bool = False  # the section names a reference at all
    reference_sha256: Optional[str] = None
    reference_runtime: Optional[str] = None
    thresholds: Optional[Dict[str, Any]] = None  # the floors of the model's outputs (a backend may have its own)
    why: Optional[str] = None  # why no backend was checked (no reference)

    @classmethod
    def read(cls, correctness: Any) -> "Correctness":
        c = _dict(correctness)
        ref = _dict(c.get("reference"))
        checks = {str(label): found for label, check in _dict(c.get("backends")).items()
                  for found in [Check.read(check)] if found is not None}
        thresholds = c.get("thresholds")
        return cls(ref.get("kind"), ref.get("model"), ref.get("why"), checks, bool(ref), ref.get("sha256"),
                   ref.get("runtime"), thresholds if isinstance(thresholds, dict) else None, c.get("why"))

    def to_dict(self) -> Dict[str, Any]:
        """The section as result.json keeps it (schema edgeq.correctness)."""
        ref: Dict[str, Any] = {"kind": self.reference_kind, "model": self.reference_model}
        for key, value in (("sha256", self.reference_sha256), ("runtime", self.reference_runtime),
                           ("why", self.reference_why)):
            if value is not None:
                ref[key] = value
        out: Dict[str, Any] = {"schema": CORRECTNESS.tag, "reference": ref}
        if self.why is not None:
            out["why"] = self.why
        out.update(thresholds=self.thresholds, backends={label: c.to_dict() for label, c in self.checks.items()})
        return out


@dataclass(frozen=True)
class BoardSection:
    """Which board ran the job (`board`)."""

    name: str = "?"
    emulated: bool = False
    description: Optional[str] = None

    @classmethod
    def read(cls, board: Any) -> "BoardSection":
        b = _dict(board)
        return cls(str(b.get("name", "?")), bool(b.get("emulated")), b.get("description"))


@dataclass(frozen=True)
class ModelSection:
    """The model that ran (`model`): its name, where it came from, its size, and the first input's dtype."""

    name: str = "?"
    path: Optional[str] = None
    size_bytes: Optional[int] = None
    quantization: Optional[str] = None
    input_dtype: Optional[str] = None

    @classmethod
    def read(cls, model: Any) -> "ModelSection":
        m = _dict(model)
        inputs = m.get("inputs") or [{}]
        dtype = inputs[0].get("dtype") if isinstance(inputs[0], dict) else None
        return cls(str(m.get("name", "?")), m.get("path"), m.get("size_bytes"), m.get("quantization"), dtype)


@dataclass(frozen=True)
class Facts:
    """What the agent found on the board (`facts`) that a report shows; '?' where it found nothing."""

    arch: str = "?"
    distro: str = "?"
    kernel: str = "?"
    cpu_model: str = "?"
    cpu_count: Any = "?"
    python_version: str = "?"
    numpy: str = "?"
    runtimes: Dict[str, Any] = field(default_factory=dict)
    governors: List[str] = field(default_factory=list)  # one per cpufreq policy

    @classmethod
    def read(cls, facts: Any) -> "Facts":
        f = _dict(facts)
        cpu = _dict(f.get("cpu"))
        policies = [p for p in f.get("cpufreq") or [] if isinstance(p, dict)]
        return cls(str(f.get("arch", "?")), str(f.get("distro", "?")), str(f.get("kernel", "?")),
                   str(cpu.get("model", "?")), cpu.get("count", "?"), str(_dict(f.get("python")).get("version", "?")),
                   str(f.get("numpy", "?")), _dict(f.get("runtimes")), [str(p.get("governor") or "?") for p in policies])


@dataclass(frozen=True)
class RunTelemetry:
    """The run's board telemetry (`telemetry`): governors, power source, temperatures (°C by zone), throttling."""

    source: str = "none"
    power_error: Optional[str] = None
    start_governors: List[str] = field(default_factory=list)  # sampled at the start, one per policy
    governor_requested: Optional[str] = None
    governor_refused: Dict[str, str] = field(default_factory=dict)  # policy: why the requested one did not take
    thermal_start_c: Dict[str, Any] = field(default_factory=dict)
    thermal_end_c: Dict[str, Any] = field(default_factory=dict)
    thermal_max_c: Dict[str, Any] = field(default_factory=dict)
    throttling: Dict[str, bool] = field(default_factory=dict)

    @classmethod
    def read(cls, telemetry: Any) -> "RunTelemetry":
        t = _dict(telemetry)
        sampled = _dict(_dict(t.get("start")).get("cpufreq"))
        starts = [str(p.get("governor") or "?") for p in sampled.values() if isinstance(p, dict)]
        asked = _dict(t.get("governor"))
        refused = {str(n): str(p["reason"]) for n, p in _dict(asked.get("policies")).items()
                   if isinstance(p, dict) and p.get("reason")}
        thermal = _dict(t.get("thermal"))
        flags = {str(k): v for k, v in _dict(t.get("throttling")).items() if isinstance(v, bool)}
        return cls(str(t.get("source") or "none"), t.get("power_error") or None, starts,
                   asked.get("requested") or None, refused, _dict(thermal.get("start_c")),
                   _dict(thermal.get("end_c")), _dict(thermal.get("max_c")), flags)
