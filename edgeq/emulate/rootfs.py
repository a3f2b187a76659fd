"""The emulated board's root filesystem: an arm64 Debian userland built by mmdebstrap.

Two OS generations are defined (`GENERATIONS`): Debian 12 bookworm (Python 3.11,
numpy 1.24, pyarmnn 20.08 / ArmNN 22) and Debian 13 trixie (Python 3.13, numpy 2.2,
pyarmnn 23.08 / ArmNN 33), the userlands of Raspberry Pi OS before and after
October 2025. A board record's `os.codename` picks one (see `generation_for`).

A generation's definition (suite, architecture, variant, packages, customize hooks) is
hashed, and the tree is cached as `<emulate dir>/rootfs-<hash>`. It is built into
a `.partial` folder that is renamed only when mmdebstrap succeeded, so an
interrupted build is never used; a changed definition gets a new folder, and old
ones are removed once the new one is in place. The mirror is not part of the
definition: it is taken from the host's apt sources (see `host.debian_mirror`).

mmdebstrap runs in a private mount namespace (`unshare --mount`), so the /proc,
/sys and /dev it mounts while installing vanish with it even if it is killed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeq.emulate import host
from edgeq.emulate.mounts import mounted_under
from edgeq.errors import BoardError, ConfigError

ARCH = "arm64"
VARIANT = "minbase"
USER = "edgeq"
HOME = f"/home/{USER}"
BASE_PACKAGES = (
    "python3",
    "python3-numpy",
    "python3-pip",
    "python3-venv",
    "passwd",
    "openssh-server",
    "openssh-sftp-server",  # a Recommends of openssh-server; SFTP transports need it
    "python3-pyarmnn",
)


@dataclass(frozen=True)
class Generation:
    """One Debian release as an emulated board's userland."""

    suite: str
    debian: int
    packages: tuple[str, ...]


BOOKWORM = Generation("bookworm", 12, BASE_PACKAGES + (
    "libarmnn-cpuacc-backend22", "libarmnn-cpuref-backend22", "libarmnntfliteparser22"))
# ArmNN 23.08 (so-version 33) loads its backends at run time from /usr/lib/<triplet>/armnn33;
# python3-pyarmnn pulls in libarmnn33 and the TfLite parser.
TRIXIE = Generation("trixie", 13, BASE_PACKAGES + ("libarmnn-cpuacc-backend33", "libarmnn-cpuref-backend33"))
GENERATIONS = {g.suite: g for g in (BOOKWORM, TRIXIE)}
SUITE = BOOKWORM.suite
PACKAGES = BOOKWORM.packages
# Shell run by mmdebstrap with $1 = the new root. The password '*' means "no password,
# not locked": sshd without PAM refuses key logins to a locked ('!') account.
CUSTOMIZE = (
    f'chroot "$1" useradd --create-home --home-dir {HOME} --shell /bin/bash --password "*" {USER}',
    'test -s "$1/etc/ssh/ssh_host_ed25519_key" || ssh-keygen -q -t ed25519 -N "" '
    '-C edgeq-emulated-board -f "$1/etc/ssh/ssh_host_ed25519_key"',
    'mkdir -p "$1/run/sshd"',
)
MARKER = "etc/edgeq-rootfs.json"


def generation_for(codename: str | None) -> Generation:
    """The generation a board record names (`os.codename`); bookworm when it names none."""
    if codename is None:
        return BOOKWORM
    try:
        return GENERATIONS[codename]
    except KeyError:
        raise ConfigError(f"os.codename: no emulated userland for {codename!r}; "
                          f"choose from: {', '.join(GENERATIONS)}") from None


def definition(generation: Generation = BOOKWORM) -> dict[str, Any]:
    return {
        "suite": generation.suite,
        "arch": ARCH,
        "variant": VARIANT,
        "packages": sorted(generation.packages),
        "customize": list(CUSTOMIZE),
    }


def definition_hash(generation: Generation = BOOKWORM) -> str:
    return host.definition_digest(definition(generation))


def path_for(folder: Path, generation: Generation = BOOKWORM) -> Path:
    return folder / f"rootfs-{definition_hash(generation)}"


def is_built(folder: Path, generation: Generation = BOOKWORM) -> bool:
    return (path_for(folder, generation) / MARKER).is_file()


def _remove(path: Path) -> bool:
    """Delete a stale tree, but never one with anything mounted inside (think /dev)."""
    if mounted_under(path):
        return False
    shutil.rmtree(path, ignore_errors=True)
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune(folder: Path, keep: Path | None = None) -> None:
    """Remove rootfs trees of old definitions and partial builds of dead processes."""
    for path in folder.glob("rootfs-*"):
        if path != keep and path.is_dir():
            _remove(path)
    for path in folder.glob(".rootfs-*.partial-*"):
        pid = path.name.rsplit("-", 1)[-1]
        if not (pid.isdigit() and _pid_alive(int(pid))):
            _remove(path)


def build(folder: Path, log: Path, generation: Generation = BOOKWORM) -> Path:
    """Build the tree if this definition has none yet; returns its path."""
    final = path_for(folder, generation)
    if is_built(folder, generation):
        return final
    host.require_tools(host.BUILD_TOOLS)
    suite = generation.suite
    mirror = host.debian_mirror(suite)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{final.name}.partial-{os.getpid()}"
    if partial.exists() and not _remove(partial):
        raise BoardError(f"{partial} has mounts inside; unmount them, then retry")
    command = [
        "unshare", "--mount", "--propagation", "private",
        "mmdebstrap", f"--arch={ARCH}", f"--variant={VARIANT}",
        f"--include={','.join(generation.packages)}",
        *[f"--customize-hook={hook}" for hook in CUSTOMIZE],
        suite, str(partial), f"deb {mirror} {suite} main",
    ]
    started = time.perf_counter_ns()
    with open(log, "w") as out:
        out.write(f"# {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    seconds = (time.perf_counter_ns() - started) / 1e9
    if done.returncode != 0:
        _remove(partial)
        raise BoardError(f"building the board's root filesystem failed (mmdebstrap exit "
                         f"{done.returncode} after {seconds:.0f} s); see {log}")
    record = {**definition(generation), "mirror": mirror, "build_seconds": round(seconds, 1)}
    (partial / MARKER).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.rename(partial, final)
    prune(folder, keep=final)
    return final
