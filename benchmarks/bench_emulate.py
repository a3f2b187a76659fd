"""`edgeq emulate up` to SSH and `down`, user and system mode, against the bare QEMU commands.

    .venv/bin/python benchmarks/bench_emulate.py [--trials 3] [--cold] [--boards NAME,...]

Boards (default all three): qemu-aarch64 (user mode, Debian 12 bookworm),
qemu-aarch64-trixie (user mode, Debian 13 trixie) and qemu-aarch64-system.

Needs root and what `edgeq emulate` needs (mmdebstrap, qemu-user-static,
qemu-system-arm, e2fsprogs). Everything runs on private copies of the two
boards (ports 2232, 2235 and 2233, board files in a temp folder on $EDGEQ_BOARDS,
$EDGEQ_EMULATE_DIR and $HOME in the same temp folder), so the real boards on
2222, 2224 and 2223 and ~/.ssh are left alone. While a user-mode copy runs, the
real user-mode boards' locks are held: all share the one binfmt_misc handler,
and a concurrent up or down of a real board waits instead of racing.

Without --cold, the cached rootfs is copied in (through a non-recursive bind
mount, so a running board's mounts are not copied) and the first system-mode up
fetches the kernel and builds the disk image; later ups are warm. With --cold,
the temp folder starts empty and the first user-mode up builds the rootfs too
(minutes). Compared in the same run:
  - user mode: `edgeq emulate up` (board down, rootfs cached) to an SSH banner,
    against `chroot ROOT /bin/true` run through qemu-user (the bare cost of one
    emulated process);
  - system mode: `edgeq emulate up` to an SSH banner, against the same
    qemu-system-aarch64 command line started by hand and polled for the banner
    every 0.1 s with 1 s probes (no state file, no checks, initrd reused).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from edgeq import emulate
from edgeq.boards.catalog import load_board
from edgeq.emulate import kernel, rootfs, state, systemmode
from edgeq.emulate.mounts import mounted_under
from edgeq.emulate.usermode import banner, port_free

PORTS = {emulate.DEFAULT_NAME: 2232, emulate.TRIXIE_NAME: 2235, emulate.SYSTEM_NAME: 2233}
PLAIN_PORT = 2234


class RealBoardLock:
    """The real user-mode boards' lock files (what `state.locked` takes), on folders fixed up front."""

    def __init__(self, folders: list[Path]) -> None:
        self.folders = folders

    def __enter__(self) -> None:
        self.handles = []
        for folder in self.folders:
            folder.mkdir(parents=True, exist_ok=True)
            handle = open(folder / "lock", "w")
            fcntl.flock(handle, fcntl.LOCK_EX)
            self.handles.append(handle)

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.close()


def _generation(name: str) -> rootfs.Generation:
    record = load_board(name)
    return rootfs.generation_for(record.os.codename if record.os else None)


def _seconds(since: int) -> float:
    return (time.perf_counter_ns() - since) / 1e9


def _private_boards(tmp: Path, names: list[str]) -> None:
    """Copies of the board files with their own ports and keys, found first on $EDGEQ_BOARDS."""
    boards = tmp / "boards"
    boards.mkdir()
    for name, port in PORTS.items():
        if name not in names:
            continue
        text = load_board(name).source.read_text()
        text = re.sub(r"(?m)^(\s*port:\s*)\d+", rf"\g<1>{port}", text)
        text = re.sub(r"(?m)^(\s*key_file:\s*).*$", rf"\g<1>{tmp / 'keys' / name / 'id_ed25519'}", text)
        (boards / f"{name}.yaml").write_text(text)
        if not port_free(port):
            raise SystemExit(f"127.0.0.1:{port} is in use; this benchmark needs it free")
    os.environ["EDGEQ_BOARDS"] = str(boards)


def _copy_rootfs(source_dir: Path, target_dir: Path, generation: rootfs.Generation) -> None:
    source = rootfs.path_for(source_dir, generation)
    if not rootfs.is_built(source_dir, generation):
        raise SystemExit(f"no cached rootfs at {source}; run `edgeq emulate up` once, or pass --cold")
    target = rootfs.path_for(target_dir, generation)
    target.mkdir(parents=True)
    stage = target_dir / ".stage"
    stage.mkdir()
    script = f"mount --bind '{source}' '{stage}' && cp -a '{stage}/.' '{target}/'"
    subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], check=True)
    stage.rmdir()


def _ssh_true(name: str) -> float:
    board = load_board(name)
    started = time.perf_counter_ns()
    subprocess.run(["ssh", "-i", os.path.expanduser(board.connection.key_file or ""), "-p",
                    str(board.connection.port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                    "-o", f"UserKnownHostsFile={state.emulate_dir(name) / 'known_hosts'}",
                    "edgeq@127.0.0.1", "true"], check=True, capture_output=True, timeout=120)
    return _seconds(started)


def _plain_qemu(name: str) -> tuple[float, float]:
    """(seconds to an SSH banner, seconds to stop) for the bare qemu-system command line."""
    folder = state.emulate_dir(name)
    command = systemmode.qemu_command(kernel.path_for(folder), folder / "initrd.cpio",
                                      systemmode.image.path_for(folder), PLAIN_PORT, folder / "plain-console.log")
    started = time.perf_counter_ns()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        # Short probes: until the guest's network is up, QEMU accepts and then holds the
        # connection silent, so a long probe timeout would be paid in full (edgeq waits for
        # sshd's "Server listening" on the console instead).
        while not banner(PLAIN_PORT, timeout=1.0):
            if process.poll() is not None:
                raise SystemExit(f"plain QEMU exited with {process.returncode}")
            time.sleep(0.1)
        ready = _seconds(started)
    finally:
        stopping = time.perf_counter_ns()
        process.terminate()
        process.wait(timeout=30)
    return ready, _seconds(stopping)


def _plain_chroot(name: str) -> float:
    root = rootfs.path_for(state.emulate_dir(name), _generation(name))
    started = time.perf_counter_ns()
    env = {"QEMU_CPU": "cortex-a72", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["chroot", str(root), "/bin/true"], check=True, env=env)
    return _seconds(started)


def _cycle(name: str, mode: str, rows: dict[str, list[float]]) -> None:
    up = emulate.up(name, mode)
    assert up.running, up.detail
    tag = f"{mode} {_generation(name).suite}" if mode == "user" else mode
    rows[f"{tag}: edgeq up to SSH banner"].append(up.timings["up_s"])
    rows[f"{tag}: first `ssh true` after up"].append(_ssh_true(name))
    if mode == "user":
        rows[f"{tag}: plain `chroot ROOT /bin/true` (qemu-user)"].append(_plain_chroot(name))
    down = emulate.down(name)
    assert not down.running, down.detail
    rows[f"{tag}: edgeq down"].append(down.timings["down_s"])
    if mode == "system":
        ready, stop = _plain_qemu(name)
        rows["system: plain qemu-system-aarch64 to SSH banner"].append(ready)
        rows["system: plain QEMU SIGTERM to exit"].append(stop)


def _first_up(name: str, mode: str, label: str, firsts: list[tuple[str, float, dict[str, float]]]) -> None:
    up = emulate.up(name, mode)
    assert up.running, up.detail
    firsts.append((label, up.timings["up_s"], up.timings))
    emulate.down(name)


def _remove(tmp: Path) -> None:
    left = mounted_under(tmp)
    if left:
        raise SystemExit(f"not removing {tmp}: still mounted there: {left}")
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="start from an empty cache (builds the rootfs)")
    parser.add_argument("--boards", default=",".join(PORTS), help=f"comma-separated, from: {', '.join(PORTS)}")
    args = parser.parse_args()
    names = [n for n in args.boards.split(",") if n]
    unknown = sorted(set(names) - set(PORTS))
    if unknown:
        raise SystemExit(f"unknown board {', '.join(unknown)}; choose from: {', '.join(PORTS)}")
    users = [n for n in names if emulate.mode_of(n) == "user"]
    real_dirs = [state.emulate_dir(n) for n in emulate.USER_BOARDS]
    generations = {n: _generation(n) for n in users}
    tmp = Path(tempfile.mkdtemp(prefix="edgeq-bench-emulate-"))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, /dev/kvm "
          f"{'present (unused: aarch64 guest on x86)' if Path('/dev/kvm').exists() else 'absent'}, "
          f"python {platform.python_version()}, trials {args.trials}, {'cold' if args.cold else 'warm'} cache, "
          f"boards {', '.join(names)}")
    _private_boards(tmp, names)
    os.environ[state.DIR_ENV] = str(tmp / "emulate")
    os.environ["HOME"] = str(tmp / "home")
    rows: dict[str, list[float]] = defaultdict(list)
    firsts: list[tuple[str, float, dict[str, float]]] = []
    try:
        for name in users:
            suite = generations[name].suite
            if not args.cold:
                _copy_rootfs(real_dirs[emulate.USER_BOARDS.index(name)], state.emulate_dir(name), generations[name])
            with RealBoardLock(real_dirs):
                _first_up(name, "user", f"user {suite}: first up (rootfs build)" if args.cold
                          else f"user {suite}: first up (rootfs copied in)", firsts)
        if emulate.SYSTEM_NAME in names:
            _first_up(emulate.SYSTEM_NAME, "system", "system: first up (kernel fetch + image build)", firsts)
        for _ in range(args.trials):
            for name in users:
                with RealBoardLock(real_dirs):
                    _cycle(name, "user", rows)
            if emulate.SYSTEM_NAME in names:
                _cycle(emulate.SYSTEM_NAME, "system", rows)
    finally:
        if emulate.SYSTEM_NAME in names:
            emulate.down(emulate.SYSTEM_NAME)
        with RealBoardLock(real_dirs):
            for name in users:
                emulate.down(name)
        _remove(tmp)
    print("\n| first up | s | breakdown |\n| --- | --- | --- |")
    for label, seconds, timings in firsts:
        parts = ", ".join(f"{key} {value:.1f}" for key, value in timings.items() if key != "up_s")
        print(f"| {label} | {seconds:.1f} | {parts} |")
    print(f"\n| step (warm cache, {args.trials} trials) | median s | min s | max s |\n| --- | --- | --- | --- |")
    for label, values in rows.items():
        print(f"| {label} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")
    medians = {label: statistics.median(values) for label, values in rows.items()}
    if "system: plain qemu-system-aarch64 to SSH banner" in medians:
        ratio = medians["system: edgeq up to SSH banner"] / medians["system: plain qemu-system-aarch64 to SSH banner"]
        print(f"\nsystem mode, edgeq up / plain QEMU to banner: {ratio:.2f}")


if __name__ == "__main__":
    main()
