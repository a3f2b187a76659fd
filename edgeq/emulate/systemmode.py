"""System mode: the board is a qemu-system-aarch64 VM (`-M virt -cpu cortex-a72`, 4 vCPUs, TCG).

The guest runs Debian's arm64 kernel (`kernel`) with edgeq's own initrd
(`initrd`) on an ext4 image of the user-mode rootfs (`image`), opened with
`snapshot=on` so every boot starts pristine and a killed VM corrupts nothing
(what was deployed there is gone after `down`; deploy again).
QEMU's user network forwards 127.0.0.1:PORT to the guest's port 22; the guest's
/proc/cpuinfo, nproc and memory are the VM's own (4 Cortex-A72 cores, 2 GiB).

What `up` changes on the host: one process, QEMU, detached in its own session,
its pid (and start time, against pid reuse) in state.json and its serial console
in `<emulate dir>/console.log`. No mounts, no binfmt, no root needed to run it.
Building the image, once, needs root; if the user-mode rootfs is not built yet,
that build registers the binfmt handler for its duration (see `_base_rootfs`).
Cached and kept by `down`: the kernel
folder, the disk image, the initrd of the last boot, the guest's host key
(`<emulate dir>/ssh_host_ed25519_key`) and the client key pair.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeq.boards.schema import Board
from edgeq.emulate import binfmt, host, image, initrd, kernel, rootfs, state
from edgeq.emulate.usermode import banner, ensure_key_pair, port_free, start_time
from edgeq.errors import BoardError

CPU = "cortex-a72"
CPUS = 4
MEMORY_MB = 2048
BOOT_TIMEOUT_S = 240.0
"""TCG on a busy 2-core host; a quiet one boots to SSH in 6 to 8 s."""
LISTENING = b"Server listening on"
"""What the guest's sshd (run with -e, its log on the serial console) prints once it listens."""
BLIND_PROBE_S = 30.0
BASE_BOARD = "qemu-aarch64"
"""The user-mode board whose cached rootfs the disk image is made from."""
RUN_TOOLS = {"qemu-system-aarch64": "qemu-system-arm", "ssh-keygen": "openssh-client"}
BUILD_TOOLS = {**host.BUILD_TOOLS, **image.TOOLS, "qemu-aarch64-static": "qemu-user-static"}
"""qemu-user-static: the shared rootfs is built by running arm64 maintainer scripts under binfmt_misc."""


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise host.HostToolMissing(f"edgeq emulate --mode system needs root to {what} (once; later ups "
                                   f"reuse it); run it as root or with sudo")


def qemu_command(kernel_dir: Path, initrd_file: Path, disk: Path, port: int, console: Path) -> list[str]:
    return [
        "qemu-system-aarch64", "-M", "virt", "-cpu", CPU, "-smp", str(CPUS), "-m", str(MEMORY_MB),
        "-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none",
        "-kernel", str(kernel_dir / "vmlinuz"), "-initrd", str(initrd_file),
        "-append", "console=ttyAMA0 panic=-1 quiet loglevel=4",
        "-drive", f"file={disk},format=raw,if=none,id=disk0,snapshot=on",
        "-device", "virtio-blk-pci,drive=disk0",
        "-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device", "virtio-net-pci,netdev=net0",
        "-device", "virtio-rng-pci",
        "-serial", f"file:{console}",
    ]


def host_key(folder: Path) -> Path:
    """The guest's SSH host key, made once and kept, so known_hosts stays valid across boots."""
    path = folder / "ssh_host_ed25519_key"
    if not path.is_file() or not Path(f"{path}.pub").is_file():
        path.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgeq-emulated-board",
                        "-f", str(path)], check=True, capture_output=True)
    return path


def public_key(path: Path) -> str:
    fields = Path(f"{path}.pub").read_text().split()
    return f"{fields[0]} {fields[1]}"


def _base_rootfs(base: Path) -> Path:
    """The user-mode board's rootfs, built if missing; the caller holds that board's lock.

    mmdebstrap runs arm64 maintainer scripts, so the qemu-aarch64 binfmt handler must
    exist while it builds; one added here is removed again (a running user-mode board
    registered its own, which `binfmt.ensure` then leaves alone).
    """
    if rootfs.is_built(base):
        return rootfs.path_for(base)
    added = binfmt.ensure()
    try:
        return rootfs.build(base, base / "build.log")
    finally:
        binfmt.undo(added)


def prepare(name: str, board: Board, folder: Path, timings: dict[str, float]) -> tuple[Path, Path, Path]:
    """Kernel, disk image and this boot's initrd; builds what is missing. Returns their paths."""
    log = folder / "build.log"
    clock = time.perf_counter_ns()
    if not kernel.is_built(folder):
        _require_root("fetch the guest kernel")
        host.require_tools(BUILD_TOOLS)
        kernel.build(folder, log)
        timings["kernel_fetch_s"] = (time.perf_counter_ns() - clock) / 1e9
    if not image.is_built(folder):
        _require_root("build the guest's disk image")
        host.require_tools(BUILD_TOOLS)
        base = state.emulate_dir(BASE_BOARD)
        clock = time.perf_counter_ns()
        # That board's lock: one rootfs build at a time, and no rebuild or prune of the tree
        # while it is copied (a few seconds; that board's up or down waits).
        with state.locked(BASE_BOARD):
            built_before = rootfs.is_built(base)
            tree = _base_rootfs(base)
            if not built_before:
                timings["rootfs_build_s"] = (time.perf_counter_ns() - clock) / 1e9
            clock = time.perf_counter_ns()
            image.build(folder, tree, log)
            timings["image_build_s"] = (time.perf_counter_ns() - clock) / 1e9
    clock = time.perf_counter_ns()
    key_file = Path(board.connection.key_file or "").expanduser()
    client = ensure_key_pair(key_file, f"edgeq@{name}")
    boot = initrd.build(folder / "initrd.cpio", kernel.path_for(folder), kernel.info(folder)["load_order"],
                        name, host_key(folder), client)
    timings["initrd_s"] = (time.perf_counter_ns() - clock) / 1e9
    return kernel.path_for(folder), image.path_for(folder), boot


def start(command: list[str], log: Path) -> int:
    with open(log, "w") as out:  # this boot only, like console.log
        out.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n")
        out.flush()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True, close_fds=True)
    return process.pid


def _tail(path: Path, lines: int = 4) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    text = [line.strip() for line in text if line.strip() and not line.startswith("# ")]
    return " | ".join(text[-lines:])


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _listening(console: Path) -> bool:
    try:
        return LISTENING in console.read_bytes()
    except OSError:
        return False


def wait_ready(pid: int, port: int, folder: Path, timeout: float = BOOT_TIMEOUT_S) -> None:
    """Until the guest's sshd answers through QEMU's port forward, or QEMU exits.

    The port is probed only once sshd says on the console that it listens (or after
    `BLIND_PROBE_S`): before the guest's network is up, QEMU accepts the connection
    and then holds it silent, and each such probe would cost its whole timeout.
    """
    started = time.monotonic()
    while time.monotonic() < started + timeout:
        if start_time(pid) is None:
            _reap(pid)
            said = _tail(folder / "qemu.log", 2)
            raise BoardError(f"QEMU exited while the guest booted: {said + '; ' if said else ''}console: "
                             f"{_tail(folder / 'console.log')} (logs: {folder}/qemu.log, console.log)")
        if (_listening(folder / "console.log") or time.monotonic() > started + BLIND_PROBE_S) \
                and banner(port, timeout=5.0):
            return
        time.sleep(0.1)
    raise BoardError(f"the guest did not answer SSH on 127.0.0.1:{port} within {timeout:.0f} s; console: "
                     f"{_tail(folder / 'console.log')} (log: {folder}/console.log)")


def is_ours(record: dict[str, Any]) -> bool:
    """The recorded pid is alive, is the same process (start time), and is QEMU."""
    pid = record.get("pid")
    if not pid or start_time(pid) != record.get("pid_start"):
        return False
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return False
    return os.path.basename(argv0.decode(errors="replace")) == "qemu-system-aarch64"


def stop(record: dict[str, Any], timeout: float = 10.0) -> list[str]:
    """SIGTERM, then SIGKILL, the recorded QEMU; the snapshot disk makes a hard stop safe."""
    if not is_ours(record):
        return []
    pid = record["pid"]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return []
        except PermissionError:
            raise BoardError(f"cannot stop QEMU pid {pid}: it belongs to another user; run down as that "
                             f"user (the one that ran up)") from None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _reap(pid)
            if start_time(pid) is None:
                return []
            time.sleep(0.05)
    return [f"QEMU pid {pid} survived SIGKILL"]


def boot(name: str, board: Board, folder: Path, record: dict[str, Any], save: Callable[[], None],
         timings: dict[str, float]) -> str:
    """Prepare and start the VM, record its pid, wait for SSH; returns the guest's host key line."""
    port = board.connection.port
    kernel_dir, disk, boot_initrd = prepare(name, board, folder, timings)
    record.update(disk=str(disk), kernel=str(kernel_dir))
    save()
    if not port_free(port):
        raise BoardError(f"127.0.0.1:{port} is already in use by another program; stop it or change "
                         f"connection.port in {board.source}")
    console = folder / "console.log"
    console.unlink(missing_ok=True)
    started = time.perf_counter_ns()
    pid = start(qemu_command(kernel_dir, boot_initrd, disk, port, console), folder / "qemu.log")
    record.update(pid=pid, pid_start=start_time(pid))
    save()
    wait_ready(pid, port, folder)
    timings["boot_s"] = (time.perf_counter_ns() - started) / 1e9
    return public_key(host_key(folder))


def describe(record: dict[str, Any], port: int) -> tuple[bool, list[str]]:
    """(running, notes) of a system-mode board, from its process and its port."""
    alive = is_ours(record)
    answer = banner(port) if alive else None
    if alive and answer:
        notes = [f"QEMU pid {record['pid']} answers on 127.0.0.1:{port} ({answer})"]
        if record.get("disk") and Path(record["disk"]).name != image.path_for(Path(record["disk"]).parent).name:
            notes.append("the disk image definition changed since this board started; down and up rebuild it")
        return True, notes
    if alive:
        return False, [f"QEMU pid {record['pid']} is alive but 127.0.0.1:{port} gives no SSH banner "
                       f"(booting, or see console.log)"]
    notes = ["not running"]
    if record.get("pid"):
        notes.append(f"QEMU pid {record['pid']} recorded by up is gone")
    return False, notes
