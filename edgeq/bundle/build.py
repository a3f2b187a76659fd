"""What a board needs, resolved on the host for the board's platform.

Lab boards are often offline, so wheels are downloaded here (pip download with
the board's manylinux tags, Python version and ABI) and pushed with the models.
The board's own facts decide what goes in: a runtime it already has is not sent,
and its numpy pins what the wheels must work with: Debian 12's 1.24 (then ml_dtypes
stays below 0.6, which needs numpy 2) or Debian 13's 2.2. The board's numpy is never
sent, so nothing in the venv shadows or downgrades it. A runtime that has no wheel
for the board is listed in `Bundle.unavailable` with the reason, which a profile
reports for the backends that ask for it (a missing wheel is not a failed install).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.agent.wire import BUNDLE
from edgeq.link.agentpack import cache_dir
from edgeq.boards.schema import Board
from edgeq.bundle.cross import check_arch, read_native
from edgeq.model.digest import file_sha256
from edgeq.errors import BoardError, ConfigError
from edgeq.model.reader import ModelInfo
from edgeq.model.naming import model_file_name

BUNDLE_SCHEMA = BUNDLE.tag
LITERT = "ai-edge-litert==2.3.0"
TFLITE_RUNTIME = "tflite-runtime==2.14.0"
MANYLINUX_LEGACY = {"x86_64": ["manylinux2014", "manylinux2010", "manylinux1"], "aarch64": ["manylinux2014"],
                    "armv7l": ["manylinux2014"]}
_DOWNLOADING = threading.Lock()


@dataclass(frozen=True)
class Platform:
    """The facts about a board that decide which wheels fit it."""

    arch: str
    python: str  # major.minor
    glibc: str | None
    numpy: str | None

    @classmethod
    def from_facts(cls, facts: dict[str, Any]) -> "Platform":
        major_minor = ".".join(facts["python"]["version"].split(".")[:2])
        return cls(facts["arch"], major_minor, facts.get("glibc"), facts.get("numpy"))

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    def pip_platforms(self) -> list[str]:
        """Every manylinux tag this glibc can load, newest first, as pip wants them spelled out."""
        minor = int(self.glibc.split(".")[1]) if self.glibc else 17
        tags = [f"manylinux_2_{m}_{self.arch}" for m in range(minor, 16, -1)]
        return tags + [f"{legacy}_{self.arch}" for legacy in MANYLINUX_LEGACY.get(self.arch, [])]

    def tflite_runtime_fits(self) -> bool:
        """tflite-runtime 2.14 has cp39-cp311 wheels; on aarch64 only manylinux_2_34."""
        return self.tflite_runtime_gap() is None

    def tflite_runtime_gap(self) -> str | None:
        """Why tflite-runtime 2.14.0 (its last release) has no wheel for this board, or None."""
        minor = int(self.python.split(".")[1])
        if self.python.split(".")[0] != "3" or not 9 <= minor <= 11:
            return f"no wheel for Python {self.python} (tflite-runtime 2.14.0, its last release, has cp39-cp311)"
        if self.arch == "aarch64" and int((self.glibc or "2.17").split(".")[1]) < 34:
            return f"no wheel for aarch64 glibc {self.glibc} (tflite-runtime 2.14.0 needs glibc >= 2.34)"
        return None


@dataclass
class BundleFile:
    kind: str  # wheel | model | native (name: lib/<file> or bin/<file>)
    name: str
    sha256: str
    size: int
    local: Path = field(compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "sha256": self.sha256, "size": self.size}


@dataclass
class Bundle:
    board: str
    platform: Platform
    requirements: list[str]
    files: list[BundleFile]
    deployment: str
    notes: list[str]
    unavailable: dict[str, str] = field(default_factory=dict)
    """Runtime module -> why it is neither on the board nor sendable (see runtime_gaps)."""

    def manifest(self) -> dict[str, Any]:
        return {
            "schema": BUNDLE_SCHEMA,
            "board": self.board,
            "platform": vars(self.platform),
            "requirements": self.requirements,
            "deployment": self.deployment,
            "files": [f.to_dict() for f in self.files],
        }


def runtime_gaps(board: Board, platform: Platform, runtimes: dict[str, str]) -> dict[str, str]:
    """The TFLite runtimes this board lacks and no wheel can bring, each with the reason."""
    if not {"tflite-cpu", "tflite-gpu"} & set(board.backends):
        return {}
    gaps: dict[str, str] = {}
    if "ai_edge_litert" not in runtimes and platform.python not in ("3.10", "3.11", "3.12", "3.13"):
        gaps["ai_edge_litert"] = f"ai-edge-litert 2.3.0 has no wheel for Python {platform.python}"
    gap = platform.tflite_runtime_gap()
    if "tflite_runtime" not in runtimes and gap:
        gaps["tflite_runtime"] = f"tflite-runtime: {gap}"
    return gaps


def plan_requirements(board: Board, platform: Platform, runtimes: dict[str, str]) -> tuple[list[str], list[str]]:
    """(requirements to install, notes on what was left out and why)."""
    wanted: list[str] = []
    notes: list[str] = []
    if board.connection.kind == "local" and board.python is None:
        # edgeq's own interpreter, whose packages the user manages with pip; a venv made on top
        # of a venv would not even see them.
        return wanted, ["the local board runs edgeq's own Python environment as it is"]
    if not {"tflite-cpu", "tflite-gpu"} & set(board.backends):
        return wanted, notes
    gaps = runtime_gaps(board, platform, runtimes)
    if "ai_edge_litert" in runtimes:
        notes.append(f"ai-edge-litert {runtimes['ai_edge_litert']} is already on the board")
    elif "ai_edge_litert" in gaps:
        notes.append(gaps["ai_edge_litert"])
    else:
        wanted.append(LITERT)
        if platform.numpy and platform.numpy.split(".")[0] == "1":
            wanted.append("ml_dtypes<0.6")  # 0.6 needs numpy 2; with the board's numpy 2 it is left free
    if "tflite_runtime" in runtimes:
        notes.append(f"tflite-runtime {runtimes['tflite_runtime']} is already on the board")
    elif "tflite_runtime" in gaps:
        notes.append(f"{gaps['tflite_runtime']}; tflite_runtime is unavailable on this board")
    else:
        wanted.append(TFLITE_RUNTIME)
    return wanted, notes


def download_wheels(platform: Platform, requirements: list[str]) -> list[Path]:
    """pip download for the board's platform, cached on the host by platform and requirements."""
    if not requirements:
        return []
    if platform.numpy:
        pins = list(requirements) + [f"numpy=={platform.numpy}"]
    else:  # tflite-runtime 2.14 and ml_dtypes < 0.6 were built against numpy 1.x
        pins = list(requirements) + ["numpy<2"]
    key = hashlib.sha256(json.dumps([vars(platform), pins]).encode()).hexdigest()[:16]
    target = cache_dir() / "wheels" / f"{platform.arch}-{platform.abi}-{key}"
    done_marker = target / ".complete"
    with _DOWNLOADING:  # a fleet's boards of one platform share the download instead of racing into it
        if not done_marker.exists():
            _pip_download(platform, pins, target)
            done_marker.write_text(json.dumps(pins))
    return sorted(target.glob("*.whl"))


def _pip_download(platform: Platform, pins: list[str], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--only-binary=:all:", "--implementation", "cp", "--python-version", platform.python,
            "--abi", platform.abi, "--dest", str(target)]
    for tag in platform.pip_platforms():
        argv += ["--platform", tag]
    done = subprocess.run(argv + pins, capture_output=True, text=True)
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")] or ["no output"]
        raise BoardError(f"cannot resolve wheels for {platform.arch} Python {platform.python} "
                         f"glibc {platform.glibc}: {errors[-1]}")


def build_bundle(board: Board, facts: dict[str, Any], models: list[ModelInfo], python: str,
                 native: Path | None = None) -> Bundle:
    platform = Platform.from_facts(facts)
    if board.arch not in ("auto", platform.arch):
        raise ConfigError(f"board {board.name} says arch {board.arch} but the board reports {platform.arch}")
    requirements, notes = plan_requirements(board, platform, facts.get("runtimes", {}))
    wheels = download_wheels(platform, requirements)
    if platform.numpy:  # the board's numpy stays; the venv sees it through --system-site-packages
        wheels = [w for w in wheels if not w.name.startswith("numpy-")]
    files = [BundleFile("wheel", w.name, file_sha256(w), w.stat().st_size, w) for w in wheels]
    files += [BundleFile("model", model_file_name(m), m.sha256, m.size_bytes, m.path) for m in models]
    identity_parts: list[Any] = [python, requirements, sorted(f.sha256 for f in files if f.kind == "wheel")]
    if native is not None:
        natives = read_native(native)
        check_arch(natives, platform.arch, f"board {board.name}")
        files += [BundleFile("native", n.path, n.sha256, n.size, n.local) for n in natives.files]
        identity_parts.append(sorted((n.path, n.sha256) for n in natives.files))
    identity = json.dumps(identity_parts)
    deployment = hashlib.sha256(identity.encode()).hexdigest()[:16]
    gaps = runtime_gaps(board, platform, facts.get("runtimes", {}))
    return Bundle(board.name, platform, requirements, files, deployment, notes, gaps)


def write_bundle(board: str, models: list[Path], out: Path, accept_new_host_key: bool = False,
                 native: Path | None = None) -> Path:
    """Probe the board, resolve its bundle and lay it out in `out` for inspection or offline carry."""
    import shutil

    from edgeq.link.agentpack import build_agent
    from edgeq.boards.catalog import load_board
    from edgeq.model.reader import inspect_model
    from edgeq.link.probe import board_python, quick_facts
    from edgeq.link.transport import connect

    record = load_board(board)
    infos = [inspect_model(m) for m in models]
    with connect(record, accept_new_host_key=accept_new_host_key) as transport:
        _, _, facts = quick_facts(record, transport)
    bundle = build_bundle(record, facts, infos, board_python(record), native)
    for sub in ("wheels", "models"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for entry in bundle.files:
        target = out / f"{entry.kind}s" / entry.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(entry.local, target)
    shutil.copyfile(build_agent(), out / "agent.pyz")
    manifest = dict(bundle.manifest(), notes=bundle.notes)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return out
