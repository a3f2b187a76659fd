"""The system-mode guest's kernel, the modules its initrd loads, and a static busybox.

Debian's arm64 kernel builds virtio_blk, virtio_net, virtio_pci and ext4 as
modules, so the guest needs an initrd; running `update-initramfs` under
emulation takes minutes, so edgeq assembles a tiny one on the host instead (see
`initrd`). This module fetches what that initrd needs: `mmdebstrap
--variant=extract` unpacks the packages below (no maintainer scripts, so nothing
runs under emulation, about 7 s) into a scratch tree, from which only the
kernel image, busybox and the module closure of `MODULES` are kept, in
`<emulate dir>/kernel-<hash>/` (about 35 MB). The hash covers this definition
only, so the user-mode rootfs and its cache are untouched by it.

ext4 and jbd2 name crc32c only as a soft dependency, which no module loader in a
busybox initrd follows: crc32c_generic is listed explicitly, before ext4, or the
mount of a metadata_csum file system fails.
"""

from __future__ import annotations

import json
import os
import re
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
PACKAGES = ("linux-image-arm64", "busybox-static")
MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "virtio_rng", "crc32c_generic", "ext4")
"""Loaded by the initrd, with their dependencies first (virtio_mmio is not needed:
the guest's disk, NIC and RNG are virtio PCI devices)."""
MARKER = "kernel.json"
_DEPENDS = re.compile(rb"(?:^|\0)depends=([^\0]*)\0")


def definition() -> dict[str, Any]:
    return {"suite": SUITE, "arch": ARCH, "variant": "extract", "packages": sorted(PACKAGES),
            "modules": list(MODULES)}


def definition_hash() -> str:
    return host.definition_digest(definition())


def path_for(folder: Path) -> Path:
    return folder / f"kernel-{definition_hash()}"


def is_built(folder: Path) -> bool:
    return (path_for(folder) / MARKER).is_file()


def info(folder: Path) -> dict[str, Any]:
    """The record written by `build`: kernel version and module load order (`load_order`)."""
    return json.loads((path_for(folder) / MARKER).read_text())


def _module_name(path: Path) -> str:
    return path.name.split(".ko", 1)[0].replace("-", "_")


def load_order(modules_dir: Path, wanted: tuple[str, ...] = MODULES) -> list[Path]:
    """The .ko files of `wanted` and everything they depend on, dependencies first.

    Read from each module's `depends=` modinfo string, since `depmod` never ran in
    an extracted tree. Modules built into the kernel (modules.builtin) are skipped.
    """
    files = {_module_name(path): path for path in modules_dir.rglob("*.ko")}
    builtin_list = modules_dir / "modules.builtin"
    builtin = set()
    if builtin_list.is_file():
        builtin = {_module_name(Path(line)) for line in builtin_list.read_text().split()}
    order: list[Path] = []
    seen: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        name = name.replace("-", "_")
        if name in seen or name in builtin:
            return
        if name not in files:
            raise BoardError(f"kernel module {name} (needed by {' <- '.join(chain) or 'the initrd'}) "
                             f"is neither in {modules_dir} nor built in")
        seen.add(name)
        found = _DEPENDS.search(files[name].read_bytes())
        for dep in (found.group(1).decode().split(",") if found else []):
            if dep:
                visit(dep, (*chain, name))
        order.append(files[name])

    for name in wanted:
        visit(name, ())
    return order


def prune_partials(folder: Path, pattern: str) -> None:
    """Remove leftovers (`NAME.partial-PID`) of builds whose process died, e.g. killed mid-way.

    Such trees are built inside a private mount namespace, so nothing should be mounted
    in them; one that has a mount anyway (think a bind of a rootfs) is left alone.
    """
    for path in folder.glob(pattern):
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and not mounted_under(path):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _slim(tree: Path, target: Path) -> dict[str, Any]:
    """Copy the kernel image, busybox and the module closure from `tree` into `target`."""
    images = sorted((tree / "boot").glob("vmlinuz-*"))
    if len(images) != 1:
        raise BoardError(f"expected one kernel image in {tree / 'boot'}, found {[p.name for p in images]}")
    version = images[0].name.removeprefix("vmlinuz-")
    modules_dir = next((p for p in (tree / "lib" / "modules" / version, tree / "usr" / "lib" / "modules" / version)
                        if p.is_dir()), None)
    if modules_dir is None:
        raise BoardError(f"no modules folder for kernel {version} in {tree}")
    busybox = next((p for p in (tree / "bin" / "busybox", tree / "usr" / "bin" / "busybox") if p.is_file()), None)
    if busybox is None:
        raise BoardError(f"busybox-static left no bin/busybox in {tree}")
    (target / "modules").mkdir(parents=True)
    shutil.copy2(images[0], target / "vmlinuz")
    shutil.copy2(busybox, target / "busybox")
    order = []
    for path in load_order(modules_dir):
        shutil.copy2(path, target / "modules" / path.name)
        order.append(path.name)
    return {"version": version, "load_order": order}


def build(folder: Path, log: Path) -> Path:
    """Fetch and slim the kernel if this definition has none yet; returns its folder."""
    final = path_for(folder)
    if is_built(folder):
        return final
    host.require_tools(host.BUILD_TOOLS)
    mirror = host.debian_mirror(SUITE)
    folder.mkdir(parents=True, exist_ok=True)
    prune_partials(folder, ".kernel-*.partial-*")
    partial = folder / f".{final.name}.partial-{os.getpid()}"
    scratch = folder / f".kernel-extract.partial-{os.getpid()}"
    for path in (partial, scratch):
        shutil.rmtree(path, ignore_errors=True)
    command = [
        "unshare", "--mount", "--propagation", "private",
        "mmdebstrap", f"--arch={ARCH}", "--variant=extract", f"--include={','.join(PACKAGES)}",
        SUITE, str(scratch), f"deb {mirror} {SUITE} main",
    ]
    started = time.perf_counter_ns()
    try:
        with open(log, "a") as out:
            out.write(f"# {' '.join(command)}\n")
            out.flush()
            done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise BoardError(f"fetching the guest kernel failed (mmdebstrap exit {done.returncode}); see {log}")
        record = _slim(scratch, partial)
        record.update(definition(), mirror=mirror,
                      build_seconds=round((time.perf_counter_ns() - started) / 1e9, 1))
        (partial / MARKER).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        os.rename(partial, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(partial, ignore_errors=True)
    for old in folder.glob("kernel-*"):
        if old != final and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return final
