"""The emulated board's root filesystem: an arm64 Debian userland built by mmdebstrap.

The definition below (suite, architecture, variant, packages, customize hooks) is
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
from pathlib import Path
from typing import Any

from edgeq.emulate import host
from edgeq.emulate.mounts import mounted_under
from edgeq.errors import BoardError

SUITE = "bookworm"
ARCH = "arm64"
VARIANT = "minbase"
USER = "edgeq"
HOME = f"/home/{USER}"
PACKAGES = (
    "python3",
    "python3-numpy",
    "python3-pip",
    "python3-venv",
    "passwd",
    "openssh-server",
    "openssh-sftp-server",  # a Recommends of openssh-server; SFTP transports need it
    "python3-pyarmnn",
    "libarmnn-cpuacc-backend22",
    "libarmnn-cpuref-backend22",
    "libarmnntfliteparser22",
)
# Shell run by mmdebstrap with $1 = the new root. The password '*' means "no password,
# not locked": sshd without PAM refuses key logins to a locked ('!') account.
CUSTOMIZE = (
    f'chroot "$1" useradd --create-home --home-dir {HOME} --shell /bin/bash --password "*" {USER}',
    'test -s "$1/etc/ssh/ssh_host_ed25519_key" || ssh-keygen -q -t ed25519 -N "" '
    '-C edgeq-emulated-board -f "$1/etc/ssh/ssh_host_ed25519_key"',
    'mkdir -p "$1/run/sshd"',
)
MARKER = "etc/edgeq-rootfs.json"


def definition() -> dict[str, Any]:
    return {
        "suite": SUITE,
        "arch": ARCH,
        "variant": VARIANT,
        "packages": sorted(PACKAGES),
        "customize": list(CUSTOMIZE),
    }


def definition_hash() -> str:
    return host.definition_digest(definition())


def path_for(folder: Path) -> Path:
    return folder / f"rootfs-{definition_hash()}"


def is_built(folder: Path) -> bool:
    return (path_for(folder) / MARKER).is_file()


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


def build(folder: Path, log: Path) -> Path:
    """Build the tree if this definition has none yet; returns its path."""
    final = path_for(folder)
    if is_built(folder):
        return final
    host.require_tools(host.BUILD_TOOLS)
    mirror = host.debian_mirror(SUITE)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{final.name}.partial-{os.getpid()}"
    if partial.exists() and not _remove(partial):
        raise BoardError(f"{partial} has mounts inside; unmount them, then retry")
    command = [
        "unshare", "--mount", "--propagation", "private",
        "mmdebstrap", f"--arch={ARCH}", f"--variant={VARIANT}",
        f"--include={','.join(PACKAGES)}",
        *[f"--customize-hook={hook}" for hook in CUSTOMIZE],
        SUITE, str(partial), f"deb {mirror} {SUITE} main",
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
    record = {**definition(), "mirror": mirror, "build_seconds": round(seconds, 1)}
    (partial / MARKER).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.rename(partial, final)
    prune(folder, keep=final)
    return final
