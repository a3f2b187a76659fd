"""Typed records of the contract: the job the host sends and the result it reads back.

Part of the contract with wire.py (which names the schemas these records carry); kept
apart because dataclasses cost a deploy step's start-up on a slow board, and deploy
steps need only wire.py's names. Standard library only, Python >= 3.9.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional

from .sections import (Accuracy, BoardSection, Correctness, Coverage, Energy, Facts, Layer, LayerProfile,
                       ModelSection, RunTelemetry, RuntimeInfo, StartTimes, Timing)
from .wire import COOLDOWN_TIMEOUT_S, DEFAULT_TIMEOUT_S, JOB, RESULT, RunFiles

def _known(cls: Any, data: Dict[str, Any]) -> Dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class BackendRequest:
    """One backend a job asks for: its registry name, options, and the label results carry."""

    name: str
    options: Dict[str, Any] = field(default_factory=dict)
    label: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"name": self.name, "options": dict(self.options)}
        if self.label is not None:
            out["label"] = self.label
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "BackendRequest":
        return cls(str(data["name"]), dict(data.get("options") or {}), data.get("label"))


@dataclass
class Warmup:
    runs: int = 5
    seconds: float = 0.0


@dataclass
class Measure:
    runs: int = 50
    min_seconds: float = 0.0


@dataclass
class Power:
    source: str = "none"
    hwmon_name: Optional[str] = None
    command: Optional[str] = None


@dataclass
class Telemetry:
    power: Power = field(default_factory=Power)
    rate_hz: float = 0.0
    thermal_zones: List[str] = field(default_factory=list)
    root: str = "/"


@dataclass
class Job:
    """What the host asks the agent to run (schema edgeq.job). Paths are relative to the job file."""

    model: str
    backends: List[BackendRequest]
    inputs: str = RunFiles.INPUTS
    eval: Optional[str] = None
    out_dir: str = "."
    threads: int = 1
    cores: Optional[List[int]] = None
    warmup: Warmup = field(default_factory=Warmup)
    measure: Measure = field(default_factory=Measure)
    timeout_s: float = DEFAULT_TIMEOUT_S
    library_path: List[str] = field(default_factory=list)
    telemetry: Telemetry = field(default_factory=Telemetry)
    cooldown_to_c: Optional[float] = None
    cooldown_timeout_s: float = COOLDOWN_TIMEOUT_S
    governor: Optional[str] = None
    native_dir: Optional[str] = None  # the deployment's native parts, when it has any
    keep_runs: Optional[Dict[str, float]] = None  # the board's retention of run folders (retention.py)

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "schema": JOB.tag, "model": self.model, "inputs": self.inputs, "eval": self.eval,
            "out_dir": self.out_dir, "threads": self.threads, "cores": self.cores,
            "warmup": {"runs": self.warmup.runs, "seconds": self.warmup.seconds},
            "measure": {"runs": self.measure.runs, "min_seconds": self.measure.min_seconds},
            "timeout_s": self.timeout_s, "library_path": list(self.library_path),
            "backends": [b.to_dict() for b in self.backends],
            "telemetry": {
                "power": {"source": self.telemetry.power.source, "hwmon_name": self.telemetry.power.hwmon_name,
                          "command": self.telemetry.power.command},
                "rate_hz": self.telemetry.rate_hz,
                "thermal_zones": list(self.telemetry.thermal_zones),
                "root": self.telemetry.root,
            },
            "cooldown_to_c": self.cooldown_to_c,
            "cooldown_timeout_s": self.cooldown_timeout_s,
            "governor": self.governor,
        }
        if self.native_dir is not None:
            out["native_dir"] = self.native_dir
        if self.keep_runs is not None:
            out["keep_runs"] = dict(self.keep_runs)
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Job":
        """A job as written by to_dict (of this or an older version); SchemaError for an unknown one.
        The agent checks every value of a job it runs (jobspec.py); this reads, it does not judge."""
        JOB.check(data.get("schema"))
        tele = dict(data.get("telemetry") or {})
        return cls(
            model=data["model"], backends=[BackendRequest.from_dict(b) for b in data.get("backends") or []],
            **_known(cls, {k: v for k, v in data.items()
                           if k not in ("model", "backends", "warmup", "measure", "telemetry")}),
            warmup=Warmup(**_known(Warmup, data.get("warmup") or {})),
            measure=Measure(**_known(Measure, data.get("measure") or {})),
            telemetry=Telemetry(power=Power(**_known(Power, tele.get("power") or {})),
                                **_known(Telemetry, {k: v for k, v in tele.items() if k != "power"})),
        )


@dataclass
class BackendResult:
    """One backend's entry in a result. The keys every reader relies on are fields; the rest
    (stats, telemetry, coverage, start, ... which grow with the agent) stay in `more`, kept as sent."""

    backend: str
    label: str
    status: str  # ok | failed | unavailable
    options: Dict[str, Any] = field(default_factory=dict)
    reason: Optional[str] = None
    outputs: Optional[str] = None  # file name under outputs/
    log: Optional[str] = None  # path relative to the run folder
    more: Dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def stats(self) -> Dict[str, Any]:
        return self.more.get("stats") or {}

    @property
    def p50_ms(self) -> Optional[float]:
        return self.stats.get("p50_ms")

    # Typed views of the sections in `more` (sections.py); readers use these, not the keys.
    @property
    def timing(self) -> Timing:
        return Timing.read(self.more.get("stats"))

    @property
    def samples_ns(self) -> List[float]:
        """Every measured run's latency in ns, in order; [] for an external tool's summary or a failed backend."""
        return list(self.more.get("samples_ns") or [])

    @property
    def info(self) -> RuntimeInfo:
        return RuntimeInfo.read(self.more.get("info"))

    @property
    def coverage(self) -> Optional[Coverage]:
        return Coverage.read(self.more.get("coverage"))

    @property
    def energy(self) -> Optional[Energy]:
        return Energy.read(self.more.get("telemetry"))

    @property
    def throttled(self) -> bool:
        """The latency was taken slowed down: throttling or a clock drop in the measured window."""
        return (self.more.get("telemetry") or {}).get("flagged") is True

    @property
    def accuracy(self) -> Optional[Accuracy]:
        return Accuracy.read(self.more.get("accuracy"))

    @property
    def layers(self) -> List[Layer]:
        """The slowest layers its runtime's profiler saw, slowest first; [] when it has none."""
        profile = self.layer_profile
        return profile.top if profile else []

    @property
    def layer_profile(self) -> Optional[LayerProfile]:
        return LayerProfile.read(self.more.get("layers"))

    @property
    def start(self) -> Optional[StartTimes]:
        return StartTimes.read(self.more.get("start"))

    @property
    def load_ms(self) -> Optional[float]:
        return self.more.get("load_ms")

    @property
    def first_inference_ms(self) -> Optional[float]:
        return self.more.get("first_inference_ms")

    @property
    def peak_rss_kb(self) -> Optional[float]:
        return self.more.get("peak_rss_kb")

    @property
    def wall_s(self) -> float:
        """Board-seconds the backend took, start to finish (0 when not recorded)."""
        return float(self.more.get("wall_s") or 0.0)

    def overrule(self, reason: str) -> None:
        """The host's reason in place of the board's, which stays beside it (`board_reason`)."""
        self.more["board_reason"] = self.reason
        self.reason = reason

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"backend": self.backend, "label": self.label, "options": self.options}
        out.update(self.more)
        out["status"] = self.status
        for key in ("reason", "outputs", "log"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "BackendResult":
        named = ("backend", "label", "status", "options", "reason", "outputs", "log")
        return cls(backend=str(data.get("backend") or data.get("label")), label=str(data["label"]),
                   status=str(data["status"]), options=dict(data.get("options") or {}),
                   reason=data.get("reason"), outputs=data.get("outputs"), log=data.get("log"),
                   more={k: v for k, v in data.items() if k not in named})


RESULT_SECTIONS = ("schema", "agent_version", "started_utc", "finished_utc", "facts", "settings", "backends",
                   "telemetry", "run_id", "board", "model", "inputs", "warnings", "correctness", "warm_agent")


@dataclass
class Result:
    """A run's result (schema edgeq.result): the agent's sections, then the host's
    (run_id, board, model, inputs, warnings, correctness). Unknown keys stay in `more`."""

    backends: List[BackendResult]
    settings: Dict[str, Any] = field(default_factory=dict)
    facts: Dict[str, Any] = field(default_factory=dict)
    telemetry: Optional[Dict[str, Any]] = None
    agent_version: Optional[str] = None
    started_utc: Optional[str] = None
    finished_utc: Optional[str] = None
    run_id: Optional[str] = None
    board: Dict[str, Any] = field(default_factory=dict)
    model: Dict[str, Any] = field(default_factory=dict)
    inputs: Optional[Dict[str, Any]] = None
    warnings: List[str] = field(default_factory=list)
    correctness: Optional[Dict[str, Any]] = None
    warm_agent: Optional[str] = None
    more: Dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """At least one backend completed."""
        return any(b.ok for b in self.backends)

    @property
    def board_name(self) -> str:
        return str(self.board.get("name", "?"))

    def backend(self, label: str) -> Optional[BackendResult]:
        return next((b for b in self.backends if b.label == label), None)

    # Typed views of the dict sections (sections.py); readers use these, not the keys.
    @property
    def board_section(self) -> BoardSection:
        return BoardSection.read(self.board)

    @property
    def model_section(self) -> ModelSection:
        return ModelSection.read(self.model)

    @property
    def facts_section(self) -> Facts:
        return Facts.read(self.facts)

    @property
    def telemetry_section(self) -> RunTelemetry:
        return RunTelemetry.read(self.telemetry)

    @property
    def checks(self) -> Correctness:
        """The outputs check: its reference and one Check per backend label (empty when none ran)."""
        return Correctness.read(self.correctness)

    @property
    def threads(self) -> Any:
        return self.settings.get("threads", "?")

    @property
    def cores(self) -> List[int]:
        """The cores the job was pinned to; [] when not pinned."""
        return list(self.settings.get("cores") or [])

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"schema": RESULT.tag}
        for key in RESULT_SECTIONS[1:]:
            value = getattr(self, key)
            if key == "backends":
                value = [b.to_dict() for b in value]
            if value is not None or key in ("telemetry",):
                out[key] = value
        out.update(self.more)
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Result":
        """A result of this or an older version; SchemaError for one this side does not read."""
        RESULT.check(data.get("schema"))
        values = {k: data[k] for k in RESULT_SECTIONS[1:] if k in data and k != "backends"}
        return cls(backends=[BackendResult.from_dict(b) for b in data.get("backends") or []], **values,
                   more={k: v for k, v in data.items() if k not in RESULT_SECTIONS})
