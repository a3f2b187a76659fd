"""The system-mode guest's disk: an ext4 image of the user-mode rootfs, made without loop mounts.

The rootfs tree (`rootfs`, shared with the user-mode board, so it is built once
for both) is bound, non-recursively, onto a staging folder inside a private
mount namespace (`unshare --mount`): the proc, sys and dev mounts of a running
user-mode board stay out of the copy, and nothing leaks to the host if the
build is killed. The places a running user-mode board writes to (its work dir,
caches, tmp, authorized keys; `MASKED`) are covered there with empty tmpfs
folders of the same owner and mode, so the image does not inherit that board's
deploys. `mke2fs -d STAGE` then writes the image, sparse, at
`<emulate dir>/disk-<hash>.img`; the hash covers the rootfs definition and
`definition()` here. QEMU opens it with `snapshot=on`: every boot starts from the
same pristine disk, and the cached image is never written.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

from edgeq.emulate import host, rootfs
from edgeq.emulate.kernel import prune_partials
from edgeq.errors import BoardError

FREE_MB = 1536
"""Room left on the guest's disk for bundles, wheels and results (the file is sparse)."""
LABEL = "edgeq-root"
MASKED = ("home/edgeq/edgeq", "home/edgeq/.cache", "tmp", "var/tmp", "etc/ssh/edgeq_authorized_keys")
"""Folders of the rootfs left empty in the image (see the module docstring)."""
TOOLS = {"mke2fs": "e2fsprogs", "unshare": "util-linux", "mount": "mount"}


def definition() -> dict[str, Any]:
    return {"rootfs": rootfs.definition_hash(), "fs": "ext4", "label": LABEL, "free_mb": FREE_MB,
            "masked": list(MASKED)}


def definition_hash() -> str:
    return host.definition_digest(definition())


def path_for(folder: Path) -> Path:
    return folder / f"disk-{definition_hash()}.img"


def is_built(folder: Path) -> bool:
    return path_for(folder).is_file()


def _size_mb(tree: Path) -> int:
    done = subprocess.run(["du", "-sx", "--block-size=1M", str(tree)], capture_output=True, text=True)
    if done.returncode != 0:
        raise BoardError(f"cannot size {tree}: {done.stderr.strip()}")
    used = int(done.stdout.split()[0])
    return int(used * 1.15) + FREE_MB


def _script(tree: Path, stage: Path, image: Path, size_mb: int) -> str:
    """Shell run inside the private mount namespace."""
    lines = ["set -e", f"mount --bind {shlex.quote(str(tree))} {shlex.quote(str(stage))}"]
    for inside in MASKED:
        source = tree / inside
        if not source.is_dir() or source.is_symlink():
            continue
        info = source.stat()
        options = f"mode={info.st_mode & 0o7777:o},uid={info.st_uid},gid={info.st_gid},size=1m"
        lines.append(f"mount -t tmpfs -o {options} edgeq-mask {shlex.quote(str(stage / inside))}")
    lines.append(f"mke2fs -q -F -t ext4 -L {LABEL} -E root_owner=0:0 -d {shlex.quote(str(stage))} "
                 f"{shlex.quote(str(image))} {size_mb}M")
    return "\n".join(lines)


def build(folder: Path, tree: Path, log: Path) -> Path:
    """Write the disk image of `tree` if this definition has none yet; returns its path."""
    final = path_for(folder)
    if final.is_file():
        return final
    folder.mkdir(parents=True, exist_ok=True)
    prune_partials(folder, ".disk-*.img.partial-*")
    prune_partials(folder, ".stage-*")
    partial = folder / f".{final.name}.partial-{os.getpid()}"
    stage = folder / f".stage-{os.getpid()}"
    stage.mkdir(exist_ok=True)
    partial.unlink(missing_ok=True)
    script = _script(tree, stage, partial, _size_mb(tree))
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
    started = time.perf_counter_ns()
    try:
        with open(log, "a") as out:
            out.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} disk image of {tree}\n{script}\n")
            out.flush()
            done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise BoardError(f"building the guest's disk image failed (exit {done.returncode}); see {log}")
        with open(log, "a") as out:
            out.write(f"# image built in {(time.perf_counter_ns() - started) / 1e9:.1f} s\n")
        os.rename(partial, final)
    finally:
        partial.unlink(missing_ok=True)
        try:
            stage.rmdir()
        except OSError:
            pass  # left for the next build; the mounts on it died with the namespace
    for old in folder.glob("disk-*.img"):
        if old != final:
            old.unlink(missing_ok=True)
    return final
