"""User mode: the board's own sshd runs in a chroot of the rootfs, under qemu-user.

No kernel or VM: each aarch64 process is a qemu-aarch64 process on the host,
started by binfmt_misc. `mount_board` prepares the chroot (the list of mounts is
in `MOUNTS`), `start_sshd` runs `chroot ROOT /usr/sbin/sshd -D` on 127.0.0.1, and
`stop` ends every process whose root is the rootfs, then unmounts.

QEMU_CPU=cortex-a72 is set for sshd and, through `SetEnv` in its config, for every
session: with QEMU's default `max` CPU, XNNPACK's int8 kernels gave wrong results.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from edgeq.emulate.mounts import mounted_under
from edgeq.emulate.rootfs import USER
from edgeq.emulate.sshdconf import AUTHORIZED_DIR, HOST_KEY, SSHD_CONFIG, sshd_config
from edgeq.errors import BoardError

QEMU_CPU = "cortex-a72"
CORES = 4
BOARD_MODEL = "QEMU aarch64 virt (edgeq emulated Cortex-A72)"
READY_TIMEOUT_S = 60.0

# (what, mount arguments, mount point inside the rootfs), mounted in this order.
# {cpuinfo} is a file in the board's emulate folder: ai-edge-litert 2.2/2.3 crash in
# Interpreter() when /proc/cpuinfo shows the x86 host. The host's /dev is bound
# read-only (device nodes still open for writing), so that a careless recursive delete
# of a rootfs left mounted cannot remove the host's device nodes.
MOUNTS: tuple[tuple[str, list[str], str], ...] = (
    ("proc", ["-t", "proc", "-o", "nosuid,nodev,noexec", "proc"], "proc"),
    ("cpuinfo", ["--bind", "-o", "ro", "{cpuinfo}"], "proc/cpuinfo"),
    ("sysfs", ["-t", "sysfs", "-o", "ro,nosuid,nodev,noexec", "sysfs"], "sys"),
    ("firmware", ["-t", "tmpfs", "-o", "size=64k,mode=0755,nosuid,nodev,noexec", "edgeq-firmware"],
     "sys/firmware"),
    ("dev", ["--bind", "-o", "ro", "/dev"], "dev"),
    ("shm", ["-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "edgeq-shm"], "dev/shm"),
    ("devpts", ["--bind", "-o", "ro", "/dev/pts"], "dev/pts"),
    ("run", ["-t", "tmpfs", "-o", "size=16m,mode=0755,nosuid,nodev", "edgeq-run"], "run"),
)


def cpuinfo_text() -> str:
    core = (
        "processor\t: {n}\n"
        "BogoMIPS\t: 108.00\n"
        "Features\t: fp asimd evtstrm crc32 cpuid\n"
        "CPU implementer\t: 0x41\n"
        "CPU architecture: 8\n"
        "CPU variant\t: 0x0\n"
        "CPU part\t: 0xd08\n"
        "CPU revision\t: 3\n\n"
    )
    return "".join(core.format(n=n) for n in range(CORES))


def _after_mount(what: str, target: Path) -> None:
    if what == "firmware":  # a fake device tree, as an Arm board has
        base = target / "devicetree" / "base"
        base.mkdir(parents=True)
        (base / "model").write_bytes(BOARD_MODEL.encode() + b"\0")
        (base / "compatible").write_bytes(b"linux,dummy-virt\0")
        subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True, capture_output=True)
    elif what == "run":
        (target / "sshd").mkdir(mode=0o755)
        (target / "lock").mkdir(mode=0o1777)


def mount_board(root: Path, cpuinfo: Path, record: Callable[[str], None]) -> None:
    """Mount everything in MOUNTS; `record` is called after each, before the next."""
    cpuinfo.write_text(cpuinfo_text())
    for what, args, inside in MOUNTS:
        target = root / inside
        if not target.exists():
            raise BoardError(f"cannot mount {what}: {target} does not exist in the rootfs")
        command = ["mount", *[arg.format(cpuinfo=cpuinfo) for arg in args], str(target)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise BoardError(f"`{' '.join(command)}` failed: {done.stderr.strip()}")
        record(str(target))
        _after_mount(what, target)


def write_sshd_config(root: Path) -> None:
    # Port and ListenAddress are on sshd's command line (naming them in both binds twice).
    text = sshd_config("Written by `edgeq emulate up` at every start; edits are lost.", f"SetEnv QEMU_CPU={QEMU_CPU}")
    (root / SSHD_CONFIG.lstrip("/")).write_text(text)


def ensure_key_pair(key_file: Path, comment: str) -> str:
    """The client key pair named by the board record; returns its public line."""
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key_file)],
                       check=True, capture_output=True)
    public = Path(f"{key_file}.pub")
    if public.is_file():
        return public.read_text().strip()
    done = subprocess.run(["ssh-keygen", "-y", "-f", str(key_file)], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def authorize(root: Path, public_line: str) -> None:
    folder = root / AUTHORIZED_DIR.lstrip("/")
    folder.mkdir(mode=0o755, exist_ok=True)
    path = folder / USER
    path.write_text(public_line + "\n")
    path.chmod(0o644)


def host_public_key(root: Path) -> str:
    """`type base64` of the board's host key; made once per rootfs, kept across ups."""
    private = root / HOST_KEY.lstrip("/")
    if not private.is_file():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgeq-emulated-board",
                        "-f", str(private)], check=True, capture_output=True)
    fields = Path(f"{private}.pub").read_text().split()
    return f"{fields[0]} {fields[1]}"


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def banner(port: int, timeout: float = 10.0) -> str | None:
    """The SSH identification line the port answers with, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            data = b""
            while b"\n" not in data and len(data) < 512:
                chunk = conn.recv(256)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    line = data.split(b"\n", 1)[0].decode("ascii", "replace").strip()
    return line if line.startswith("SSH-") else None


def start_time(pid: int) -> int | None:
    """Kernel start time of a live, non-zombie process (guards against pid reuse)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def start_sshd(root: Path, port: int, log: Path) -> int:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "QEMU_CPU": QEMU_CPU}
    command = ["chroot", str(root), "/usr/sbin/sshd", "-D", "-e", "-f", SSHD_CONFIG,
               "-p", str(port), "-o", "ListenAddress=127.0.0.1"]
    with open(log, "a") as out:
        out.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n")
        out.flush()
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    return process.pid


def wait_ready(pid: int, port: int, log: Path, timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if start_time(pid) is None:
            _reap(pid)
            tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
            raise BoardError(f"the board's sshd exited at start: {tail} (log: {log})")
        if banner(port, timeout=5.0):
            return
        time.sleep(0.1)
    raise BoardError(f"the board's sshd did not answer on 127.0.0.1:{port} within {timeout:.0f} s (log: {log})")


def processes_in(root: Path) -> list[int]:
    """Pids of every process whose root directory is the rootfs (sshd, sessions, leftovers)."""
    wanted = os.path.realpath(root)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") == wanted and start_time(int(entry.name)) is not None:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(root: Path, timeout: float = 5.0) -> list[str]:
    """SIGTERM, then SIGKILL, every process in the chroot; returns notes on survivors."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        pids = processes_in(root)
        if not pids:
            return []
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for pid in pids:
                _reap(pid)
            if not processes_in(root):
                return []
            time.sleep(0.05)
    left = processes_in(root)
    return [f"processes {', '.join(map(str, left))} in {root} survived SIGKILL"] if left else []


def mounts(root: Path) -> list[str]:
    return mounted_under(root)
