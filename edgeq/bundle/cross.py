"""Native components for ARM boards: built by `Dockerfile.cross`, read back and checked here.

Some of what a board needs (TFLite's OpenCL GPU delegate, the C++ `benchmark_model`,
the ArmNN TFLite delegate) is on neither PyPI nor the board's distribution. Users
build them once per architecture with Docker; the export is a folder holding
`lib/`, `bin/` and `manifest.json` (schema wire.NATIVE), which bundle/deploy
take with `--native DIR`. The manifest is checked (schema, sha256 of every file,
one architecture, the board's) before a byte is uploaded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edgeq.agent.wire import NATIVE
from edgeq.model.digest import file_sha256
from edgeq.errors import ConfigError, EdgeqError

NATIVE_SCHEMA = NATIVE.tag
DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile.cross"
# target name -> (docker platform, architecture as the board's `uname -m` says it)
TARGETS = {"aarch64": ("linux/arm64", "aarch64"), "armhf": ("linux/arm/v7", "armv7l")}
ARCH_ALIASES = {"arm64": "aarch64", "armhf": "armv7l", "armv7": "armv7l"}
KIND_DIRS = {"library": "lib", "program": "bin"}
# What the agent looks for by name; the Dockerfile's manifest script must export these.
GPU_DELEGATE = "lib/libtensorflowlite_gpu_delegate.so"
ARMNN_DELEGATE = "lib/libarmnnDelegate.so"
BENCHMARK_MODEL = "bin/benchmark_model"


class CrossError(EdgeqError):
    """A cross build cannot start (no Docker) or failed; bad input, exit 2."""


@dataclass(frozen=True)
class NativeFile:
    path: str  # lib/<name> or bin/<name>, relative to the export folder
    kind: str  # library | program
    arch: str
    sha256: str
    size: int
    local: Path


@dataclass(frozen=True)
class NativeManifest:
    root: Path
    arch: str
    files: tuple[NativeFile, ...]


def normalize_arch(arch: str) -> str:
    return ARCH_ALIASES.get(arch, arch)


def _entry(root: Path, where: str, raw: object) -> NativeFile:
    if not isinstance(raw, dict) or not {"path", "kind", "arch", "sha256", "size"} <= set(raw):
        raise ConfigError(f"{where}: expected path, kind, arch, sha256 and size, found {raw!r}")
    path, kind = str(raw["path"]), str(raw["kind"])
    if kind not in KIND_DIRS:
        raise ConfigError(f"{where}.kind: expected one of {', '.join(KIND_DIRS)}, found {kind!r}")
    parts = PurePosixPath(path).parts
    if len(parts) != 2 or parts[0] != KIND_DIRS[kind] or parts[1] in ("..", "."):
        raise ConfigError(f"{where}.path: a {kind} must be {KIND_DIRS[kind]}/<file name>, found {path!r}")
    local = root / path
    if not local.is_file():
        raise ConfigError(f"{where}: {local} is missing")
    if file_sha256(local) != raw["sha256"]:
        raise ConfigError(f"{where}: {local} does not match its sha256 in the manifest (damaged or replaced)")
    return NativeFile(path, kind, normalize_arch(str(raw["arch"])), str(raw["sha256"]), local.stat().st_size, local)


def read_native(root: Path) -> NativeManifest:
    """Read and verify `root/manifest.json`; every failure names the file and what is wrong."""
    manifest_path = root / "manifest.json"
    try:
        data = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--native {root}: cannot read manifest.json ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != NATIVE_SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ConfigError(f"{manifest_path}: schema: expected {NATIVE_SCHEMA!r}, found {found!r}")
    entries = data.get("files")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{manifest_path}: files: expected a non-empty list, found {entries!r}")
    files = tuple(_entry(root, f"{manifest_path}: files[{i}]", raw) for i, raw in enumerate(entries))
    arches = sorted({f.arch for f in files})
    if len(arches) != 1:
        raise ConfigError(f"{manifest_path}: files for several architectures ({', '.join(arches)}); build one per target")
    return NativeManifest(root, arches[0], files)


def check_arch(manifest: NativeManifest, board_arch: str, board: str = "the board") -> None:
    """Refuse natives built for another architecture: they would fail only at load time, on the board."""
    if manifest.arch != normalize_arch(board_arch):
        raise ConfigError(f"--native {manifest.root} holds {manifest.arch} files but {board} is {board_arch}; "
                          f"build them with `edgeq cross build --target {_target_for(board_arch)}`")


def _target_for(arch: str) -> str:
    wanted = normalize_arch(arch)
    return next((name for name, (_, a) in TARGETS.items() if a == wanted), arch)


def buildx_argv(target: str, out: Path, build_args: dict[str, str] | None = None,
                dockerfile: Path = DOCKERFILE) -> list[str]:
    """The `docker buildx build` command line for one target (kept apart so it can be shown and tested)."""
    if target not in TARGETS:
        raise CrossError(f"unknown cross target '{target}'. Choose from: {', '.join(TARGETS)}")
    # --platform sets TARGETPLATFORM; the builder stages pin $BUILDPLATFORM, so compilers run natively.
    argv = ["docker", "buildx", "build", "--platform", TARGETS[target][0], "--build-arg", f"TARGET_ARCH={target}"]
    for key, value in sorted((build_args or {}).items()):
        argv += ["--build-arg", f"{key}={value}"]
    return argv + ["--target", "export", "--output", f"type=local,dest={out}", "-f", str(dockerfile),
                   str(dockerfile.parent)]


def _require_buildx() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "buildx", "version"], capture_output=True).returncode != 0:
        missing = "docker" if docker is None else "the buildx plugin"
        raise CrossError(f"edgeq cross build needs Docker with buildx ({missing} not found); "
                         "install Docker Engine and docker-buildx-plugin, or build on a machine that has them")


def cross_build(target: str = "aarch64", out: Path = Path("native"), build_args: dict[str, str] | None = None,
                dockerfile: Path = DOCKERFILE) -> NativeManifest:
    """Cross-compile the GPU delegate, benchmark_model and the ArmNN delegate for TARGET into OUT."""
    argv = buildx_argv(target, out, build_args, dockerfile)
    _require_buildx()
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        last = (done.stdout.strip().splitlines() or ["no output"])[-1]
        raise CrossError(f"docker buildx build for {target} failed: {last}")
    manifest = read_native(out)
    check_arch(manifest, TARGETS[target][1], f"target {target}")
    return manifest
