"""The contract between the host and the board, defined once.

Everything that crosses from the host to a board and back is spelled here: the
schema strings and their versions, the agent's exit codes, the board's folder
layout and the phase record a running job leaves for whoever watches. The agent uses this module; the host
imports it (host -> agent is the allowed direction, never the reverse).

The typed job and result records are in records.py, beside it (dataclasses cost a
deploy step's start-up, and a deploy step needs only the names here). Standard
library only, Python >= 3.9: both ship inside the agent.
"""

from __future__ import annotations

import posixpath
from typing import Any, Dict, NamedTuple, Optional, Tuple

AGENT_VERSION = "0.1.0"


class SchemaError(ValueError):
    """A record carries a schema this side does not read; the message says which and why."""


class Schema(NamedTuple):
    """A versioned record kind: writers write `tag`; readers accept versions `oldest`..`version`."""

    name: str
    version: int
    what: str  # for messages: "an edgeq result"
    oldest: int = 1

    @property
    def tag(self) -> str:
        return f"{self.name}/{self.version}"

    def check(self, found: Any) -> int:
        """The version of `found` if this side reads it; SchemaError (one line) if not."""
        if not isinstance(found, str) or "/" not in found:
            raise SchemaError(f"no schema version (expected {self.tag!r}); not {self.what}")
        name, _, version = found.rpartition("/")
        if name != self.name:
            raise SchemaError(f"schema {found!r} is not {self.what} (expected {self.tag!r})")
        if not version.isdigit():
            raise SchemaError(f"unknown schema version {found!r} (this edgeq reads {self.tag!r})")
        if int(version) > self.version:
            raise SchemaError(f"schema {found!r} is newer than this edgeq reads ({self.tag!r}); upgrade edgeq")
        if int(version) < self.oldest:
            raise SchemaError(f"unknown schema version {found!r} (this edgeq reads {self.tag!r})")
        return int(version)


JOB = Schema("edgeq.job", 1, "an edgeq job")
RESULT = Schema("edgeq.result", 1, "an edgeq result")
CORRECTNESS = Schema("edgeq.correctness", 1, "an edgeq correctness section")
BUNDLE = Schema("edgeq.bundle", 1, "an edgeq bundle manifest")
NATIVE = Schema("edgeq.native", 1, "an edgeq native-parts manifest")
# Files that never reach a board are named here too, so that every schema edgeq writes is in one place.
VARIANT = Schema("edgeq.variant", 1, "an edgeq variant sidecar")
ANALYSIS = Schema("edgeq.analysis", 1, "an edgeq analysis table")
REPORT = Schema("edgeq.report", 1, "an edgeq report")
RECIPE_RUN = Schema("edgeq.recipe-run", 1, "an edgeq recipe run summary")
RECIPE_CELLS = Schema("edgeq.recipe-cells", 1, "an edgeq recipe's cell state")
ADVICE = Schema("edgeq.advice", 1, "an edgeq advise answer")
SENSITIVITY = Schema("edgeq.sensitivity", 2, "an edgeq per-layer sensitivity table")
MODEL_CARD = Schema("edgeq.model-card", 1, "an edgeq model card")

DEFAULT_TIMEOUT_S = 600.0
"""Seconds a backend may take before it is killed; the host's settings and the agent share it."""
COOLDOWN_TIMEOUT_S = 300.0
"""The agent waits this long for a cooldown target, then runs anyway and says so."""
POWER_SAMPLE_HZ = 10.0
"""Telemetry rate on a board with a power source when nobody asked for one."""


# The agent's exit codes: what the host's agent client turns into error types.
EXIT_OK = 0
EXIT_BAD_JOB = 2  # the job or request was wrong: the host's fault, or the user's input
EXIT_FAILED = 3  # the board could not do it (a full disk, no fork, a damaged upload)


class Layout:
    """The board's work dir, the only folder edgeq writes on a board (posix paths).

        agent/<agent-<hash>.pyz>    the agent, named by its content
        store/<sha256>              every file ever sent, named by its content
        models/<sha16>-<name>       hard links into the store: what jobs refer to
        deployments/<id>/           manifest.json, venv/ (wheels), native/{lib,bin}
        current -> deployments/<id>
        deploy.lock                 who is deploying, JSON
        runs/<run>/                 one profile: job.json, inputs, result.json (RunFiles)
        warm/                       the warm agents' sockets and locks
    """

    DEPLOY_DIRS = ("store", "models", "deployments")
    """Created by a deploy's first step."""
    VENV = "venv"
    NATIVE = "native"
    """Inside a deployment: the venv its wheels install into, and its native lib/ and bin/."""

    def __init__(self, work: str) -> None:
        self.work = str(work)

    def _at(self, *parts: str) -> str:
        return posixpath.join(self.work, *parts)

    def agent(self, name: str) -> str:
        return self._at("agent", name)

    @property
    def store(self) -> str:
        return self._at("store")

    def stored(self, sha256: str) -> str:
        return self._at("store", sha256)

    @property
    def models(self) -> str:
        return self._at("models")

    def model(self, name: str) -> str:
        return self._at("models", name)

    @property
    def deployments(self) -> str:
        return self._at("deployments")

    def deployment(self, deployment: str) -> str:
        return self._at("deployments", deployment)

    def venv_python(self, deployment: str) -> str:
        """The python jobs run with when a deployment brings wheels."""
        return self.python_in(self.deployment(deployment))

    @classmethod
    def python_in(cls, deployment_dir: str) -> str:
        return posixpath.join(deployment_dir, cls.VENV, "bin", "python")

    def native(self, deployment: str) -> str:
        return self._at("deployments", deployment, self.NATIVE)

    @property
    def current(self) -> str:
        return self._at("current")

    @property
    def lock(self) -> str:
        return self._at("deploy.lock")

    @property
    def runs(self) -> str:
        return self._at("runs")

    def run(self, run_id: str) -> str:
        return self._at("runs", run_id)

    @property
    def warm(self) -> str:
        return self._at("warm")

    @staticmethod
    def model_from_run(name: str) -> str:
        """A model as a job names it: relative to the job file, which sits in runs/<run>/."""
        return posixpath.join("..", "..", "models", name)


class RunFiles:
    """The names inside one run folder, on the board and (pulled) on the host."""

    JOB = "job.json"
    INPUTS = "inputs.npz"
    EVAL = "eval.npz"
    RESULT = "result.json"
    PID = "agent.pid"
    LOG = "agent.log"
    CLAIM = "agent.claim"  # created by whoever starts the run: a job runs once
    OUTPUTS = "outputs"
    LOGS = "logs"
    WORK = "work"
    PHASE = "work/phase"
    CUSTOM_OPS = "custom_ops.so"  # the user's --custom-op-library, for tflite-cpu on tflite_runtime
    UPLOADS = (INPUTS, EVAL, CUSTOM_OPS, JOB)
    """What the host sends into a run folder, in this order (the job last: its arrival means ready)."""


def stem(index: int, label: str) -> str:
    """A backend's file names within a run, from labels such as `armnn:backends=CpuRef`:
    safe, and unique by position."""
    import re  # here: a deploy step, which imports this module too, never needs it

    return f"{index:02d}-" + re.sub(r"[^A-Za-z0-9._-]+", "_", label)


class Phase(NamedTuple):
    """Where a job is: which backend (by position and file stem) and what it does.

    One line in the run's work/phase file, `<stem> <phase>`, rewritten as the job goes on.
    """

    stem: str
    phase: str

    @property
    def index(self) -> int:
        return int(self.stem[:2])

    @property
    def label(self) -> str:
        """The backend's label as it appears in file names (unsafe characters made `_`)."""
        return self.stem[3:]

    def line(self) -> str:
        return f"{self.stem} {self.phase}"

    @classmethod
    def parse(cls, text: str) -> Optional["Phase"]:
        """The phase in a work/phase file's text; None for an empty or foreign one."""
        head, _, what = text.strip().partition(" ")
        if len(head) < 3 or not head[:2].isdigit() or head[2] != "-" or not what:
            return None
        return cls(head, what)


# ---- Backends the host may ask for: names, options and the allowed values of each -------------
# Contract data: the host checks a --backend before anything is sent, the agent checks the job it
# gets, both against this table. A backend module (agent/backends/<name>.py) registers under a name
# listed here; an option whose values are None takes any text.

ON_OFF = (True, False)
TFLITE_RUNTIMES = ("auto", "ai_edge_litert", "tflite_runtime", "tensorflow")
ARMNN_BACKENDS = ("CpuAcc", "GpuAcc", "CpuRef")

BACKEND_OPTIONS: Dict[str, Dict[str, Optional[Tuple[Any, ...]]]] = {
    "tflite-cpu": {"runtime": TFLITE_RUNTIMES, "xnnpack": ON_OFF, "signature": None,
                   "custom_op_library": None, "custom_op_registerers": None},
    "tflite-gpu": {"delegate_library": None, "fallback": ON_OFF, "runtime": TFLITE_RUNTIMES},
    "armnn": {"backends": ARMNN_BACKENDS, "delegate": ON_OFF, "delegate_library": None,
              "runtime": TFLITE_RUNTIMES},
    "tflite-benchmark": {"delegate": ("none", "gpu", "xnnpack", "armnn"), "backends": ARMNN_BACKENDS,
                         "op_profiling": ON_OFF},
}


def backend_problem(name: Any, options: Dict[str, Any]) -> Optional[str]:
    """Why backend `name` with `options` cannot be asked for (one line), or None when it can.

    A list value (`backends=CpuAcc+CpuRef`) must hold allowed values only; 1 is not True here.
    """
    if name not in BACKEND_OPTIONS:
        return f"unknown backend {name!r}. Choose from: {', '.join(sorted(BACKEND_OPTIONS))}"
    allowed = BACKEND_OPTIONS[name]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        return f"backend '{name}' has no option '{unknown[0]}'. Choose from: {', '.join(allowed) or '(none)'}"
    for option, choices in allowed.items():
        if choices is None or option not in options:
            continue
        given = options[option]
        items = given if isinstance(given, list) and all(isinstance(c, str) for c in choices) else [given]
        wrong = [v for v in items if isinstance(v, (list, dict))
                 or not any(type(v) is type(c) and v == c for c in choices)]
        if wrong or not items:
            words = ", ".join(_word(c) for c in choices)
            return (f"backend '{name}' option {option}={_word(given)}: expected "
                    f"{'one of ' if len(choices) > 1 else ''}{words}")
    return None


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "+".join(_word(v) for v in value)
    return str(value)


ELF_MACHINES = {3: "i686", 40: "armv7l", 62: "x86_64", 183: "aarch64"}


def elf_machine(path: str) -> Optional[str]:
    """The architecture an ELF file is built for (e_machine), as platform.machine() names it: how the
    host picks the build of a custom op library for a board, and how the board checks the one it got."""
    with open(path, "rb") as handle:
        head = handle.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    return ELF_MACHINES.get(int.from_bytes(head[18:20], "little" if head[5] == 1 else "big"))
