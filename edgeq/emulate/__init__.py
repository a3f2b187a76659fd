"""Bring an emulated aarch64 board up and down: `edgeq emulate up|down|status`.

The board is an arm64 Debian userland (see `rootfs`) of the generation its record's
`os.codename` names: `qemu-aarch64` is bookworm (Debian 12), `qemu-aarch64-trixie`
is trixie (Debian 13); each has its own folder, rootfs cache and port, so both can
be up at once. Its own sshd
answers on 127.0.0.1:PORT with key authentication for user `edgeq`; the board
record (`boards/<name>.yaml`) gives port, user and key file. A board has one
mode, fixed by its name (`mode_of`): `qemu-aarch64` runs in user mode (qemu-user
through binfmt_misc, in a chroot; needs root), `qemu-aarch64-system` (any name
ending in `-system`) in system mode, a qemu-system-aarch64 VM booted from an
image of the same rootfs (see `systemmode`, which lists what that mode changes
on the host). What follows is user mode.

What `up` changes on the host, all of it recorded in `<emulate dir>/state.json`
(`$XDG_CACHE_HOME/edgeq/emulate/<name>`, or `$EDGEQ_EMULATE_DIR/<name>`) as it
happens, and undone by `down` (or by a failing `up` before it raises):
- binfmt_misc (see `binfmt`): mounts /proc/sys/fs/binfmt_misc if it was not
  mounted, and registers the `qemu-aarch64` handler if there was none. `down`
  removes only what `up` added; a handler that was already there stays. The
  handler is shared by every user-mode board: when another one is still up,
  `down` hands its binfmt changes over to that board's record instead of undoing
  them, and the last board down undoes them.
- mounts inside the rootfs, in this order (`usermode.MOUNTS`): proc on /proc, a
  fake Arm /proc/cpuinfo (4 x Cortex-A72, part 0xd08) bound read-only over it,
  sysfs read-only on /sys, a tmpfs on /sys/firmware with a fake device tree
  model, /dev bound from the host, a tmpfs on /dev/shm, /dev/pts bound from the
  host, a tmpfs on /run. `down` ends every process whose root is the rootfs,
  then unmounts everything below the rootfs, deepest first.
- one process: `chroot ROOT /usr/sbin/sshd -D` with QEMU_CPU=cortex-a72, its log in
  `<emulate dir>/sshd.log`.
Files `up` writes and keeps (not undone by `down`): the rootfs cache, the client
key pair at the board record's key_file (made if missing), and the board's host
key in `<emulate dir>/known_hosts` and in ~/.ssh/known_hosts (see `knownhosts`):
edgeq made that host key itself, so it can vouch for it, and strict host key
checking then accepts the board.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.boards.catalog import load_board
from edgeq.boards.schema import Board
from edgeq.emulate import binfmt, host, image, knownhosts, rootfs, state, systemmode, usermode
from edgeq.emulate.host import HostToolMissing
from edgeq.emulate.mounts import unmount_all_under
from edgeq.errors import BoardError, ConfigError

__all__ = [
    "DEFAULT_NAME", "MODES", "SYSTEM_NAME", "TRIXIE_NAME", "USER_BOARDS", "HostToolMissing", "Status", "down", "mode_of", "status", "up",
]

DEFAULT_NAME = "qemu-aarch64"
TRIXIE_NAME = "qemu-aarch64-trixie"
USER_BOARDS = (DEFAULT_NAME, TRIXIE_NAME)
"""The user-mode boards edgeq ships, one per OS generation (bookworm, trixie)."""
SYSTEM_NAME = "qemu-aarch64-system"
MODES = ("user", "system")


@dataclass
class Status:
    """What is true about an emulated board right now (read from the host, not assumed)."""

    name: str
    running: bool
    """sshd's pid is alive in the rootfs AND the port answers with an SSH banner."""
    pid: int | None = None
    port: int | None = None
    rootfs: Path | None = None
    mounts: list[str] = field(default_factory=list)
    """Mount points below the rootfs, from /proc/mounts."""
    binfmt: list[str] = field(default_factory=list)
    """binfmt_misc changes made by `up` that `down` will undo (see `binfmt`)."""
    mode: str | None = None
    detail: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent by the call that returned this: rootfs build, sshd ready, ..."""
    disk: Path | None = None
    """System mode: the disk image the VM boots from (opened as a snapshot)."""


def mode_of(name: str) -> str:
    """The mode a board runs in: `system` for a name ending in `-system`, else `user`."""
    return "system" if name.endswith("-system") else "user"


def _board(name: str) -> Board:
    board = load_board(name)
    conn = board.connection
    if conn.kind != "ssh" or not conn.key_file or not conn.user:
        raise ConfigError(f"{board.source}: connection: an emulated board needs kind ssh with user and key_file")
    if conn.host not in ("127.0.0.1", "localhost"):
        raise ConfigError(f"{board.source}: connection.host: expected 127.0.0.1 (the board's sshd listens "
                          f"on loopback), found {conn.host!r}")
    if conn.user != rootfs.USER:
        raise ConfigError(f"{board.source}: connection.user: expected {rootfs.USER!r} (the user the rootfs "
                          f"has), found {conn.user!r}")
    return board


def _generation(board: Board) -> rootfs.Generation:
    return rootfs.generation_for(board.os.codename if board.os else None)


def _binfmt_claims(record: dict[str, Any]) -> list[str]:
    """The binfmt_misc changes `record` may undo: none when it was written before the host's
    last reboot (or by an edgeq that did not note the boot), since whatever handler is there now
    was made by someone else, e.g. the qemu-user-static package or systemd-binfmt at boot."""
    if not record.get("binfmt") or record.get("boot") != state.boot_id():
        return []
    return list(record["binfmt"])


def _pid_alive(record: dict[str, Any]) -> bool:
    pid, started = record.get("pid"), record.get("pid_start")
    return bool(pid) and usermode.start_time(pid) == started


def _system_status(name: str, board: Board) -> Status:
    record = state.load(name)
    port = board.connection.port
    running, notes = systemmode.describe(record, port)
    disk = Path(record["disk"]) if record.get("disk") else image.path_for(state.emulate_dir(name))
    return Status(name=name, running=running, pid=record["pid"] if systemmode.is_ours(record) else None,
                  port=port, mode="system", detail="; ".join(notes), disk=disk if disk.exists() else None)


def status(name: str = DEFAULT_NAME) -> Status:
    """Whether the board is up: checks the process and the port, not just the state file."""
    board = _board(name)
    if mode_of(name) == "system":
        return _system_status(name, board)
    record = state.load(name)
    folder = state.emulate_dir(name)
    port = board.connection.port
    generation = _generation(board)
    root = Path(record["rootfs"]) if record.get("rootfs") else rootfs.path_for(folder, generation)
    mounts = usermode.mounts(root)
    alive = _pid_alive(record)
    answer = usermode.banner(port) if alive else None
    notes = []
    if alive and answer:
        notes.append(f"sshd pid {record['pid']} answers on 127.0.0.1:{port} ({answer})")
        if root != rootfs.path_for(folder, generation):
            notes.append("the rootfs definition changed since this board started; down and up rebuild it")
    elif alive:
        notes.append(f"sshd pid {record['pid']} is alive but 127.0.0.1:{port} gives no SSH banner")
    else:
        notes.append("not running")
        if record.get("pid"):
            notes.append(f"sshd pid {record['pid']} recorded by up is gone")
        if mounts or _binfmt_claims(record):
            notes.append("leftovers of an earlier up remain; `edgeq emulate down` removes them")
        if not rootfs.is_built(folder, generation):
            notes.append("rootfs not built yet; the first up builds it (about 5 minutes)")
    return Status(
        name=name, running=bool(alive and answer), pid=record.get("pid") if alive else None, port=port,
        rootfs=root if root.exists() else None, mounts=mounts, binfmt=_binfmt_claims(record),
        mode=record.get("mode"), detail="; ".join(notes),
    )


def _hand_over_binfmt(name: str, changes: list[str]) -> str | None:
    """Give `changes` to another user-mode board that is still up (it needs the handler);
    returns that board's name, or None when no other board is up."""
    base = state.emulate_dir(name).parent
    if not changes or not base.is_dir():
        return None
    for folder in sorted(base.iterdir()):
        other = folder.name
        if other == name or not folder.is_dir():
            continue
        record = state.load(other)
        if record.get("mode") == "user" and _pid_alive(record):
            # Alive, so up in this boot: what it recorded is its own, and now so is `changes`.
            record["binfmt"] = sorted(set(record.get("binfmt", [])) | set(changes))
            record["boot"] = state.boot_id()
            state.save(other, record)
            return other
    return None


def _teardown(name: str, record: dict[str, Any], generation: rootfs.Generation) -> list[str]:
    """Undo everything a (possibly half-finished) up recorded; returns notes."""
    notes: list[str] = []
    roots = {Path(record["rootfs"])} if record.get("rootfs") else set()
    roots.add(rootfs.path_for(state.emulate_dir(name), generation))
    for root in roots:
        if root.exists():
            notes += usermode.stop(root)
            notes += unmount_all_under(root)
    changes = _binfmt_claims(record)
    if record.get("binfmt") and not changes:
        notes.append("binfmt_misc changes recorded before the host's last reboot (or by an older edgeq) "
                     "are not this board's to undo; left in place")
    heir = _hand_over_binfmt(name, changes)
    if heir:
        notes.append(f"left the binfmt_misc changes ({', '.join(changes)}) to {heir}, which is still up")
    else:
        notes += binfmt.undo(changes)
    state.clear(name)
    return notes


def _check_mode(name: str, mode: str | None) -> str:
    if mode is not None and mode not in MODES:
        raise ConfigError(f"unknown emulation mode {mode!r}. Choose from: {', '.join(MODES)}")
    wanted = mode_of(name)
    if mode is not None and mode != wanted:
        other = SYSTEM_NAME if mode == "system" else DEFAULT_NAME
        raise ConfigError(f"board {name} runs in {wanted} mode, not {mode}; for {mode} mode use "
                          f"`edgeq emulate up --name {other} --mode {mode}`")
    return wanted


def _system_up(name: str, board: Board) -> Status:
    folder = state.emulate_dir(name)
    with state.locked(name):
        current = _system_status(name, board)
        if current.running:
            current.detail = "already running; " + current.detail
            return current
        systemmode.stop(state.load(name))
        record: dict[str, Any] = {"name": name, "mode": "system", "port": board.connection.port}
        state.save(name, record)
        timings: dict[str, float] = {}
        clock = time.perf_counter_ns()
        try:
            key = systemmode.boot(name, board, folder, record, lambda: state.save(name, record), timings)
            knownhosts.trust(folder / "known_hosts", board.connection.host or "127.0.0.1", board.connection.port,
                             key)
        except BaseException:
            systemmode.stop(record)
            state.clear(name)
            raise
        timings["up_s"] = (time.perf_counter_ns() - clock) / 1e9
    result = _system_status(name, board)
    result.timings = timings
    return result


def _system_down(name: str, board: Board) -> Status:
    with state.locked(name):
        record = state.load(name)
        clock = time.perf_counter_ns()
        was_up = systemmode.is_ours(record)
        notes = systemmode.stop(record)
        state.clear(name)
        seconds = (time.perf_counter_ns() - clock) / 1e9
    result = _system_status(name, board)
    notes.insert(0, f"stopped QEMU pid {record['pid']}" if was_up else "was not running")
    result.detail = "; ".join([*notes, result.detail])
    result.timings = {"down_s": seconds}
    return result


def up(name: str = DEFAULT_NAME, mode: str | None = None) -> Status:
    """Start the emulated board and return once it answers SSH; a no-op when it already does."""
    mode = _check_mode(name, mode)
    board = _board(name)
    if mode == "system":
        host.require_tools(systemmode.RUN_TOOLS)
        return _system_up(name, board)
    host.require_root()
    host.require_tools(host.RUN_TOOLS)
    folder = state.emulate_dir(name)
    port = board.connection.port
    generation = _generation(board)
    with state.locked(name):
        current = status(name)
        if current.running:
            current.detail = "already running; " + current.detail
            return current
        _teardown(name, state.load(name), generation)
        record: dict[str, Any] = {"name": name, "mode": mode, "port": port, "binfmt": [], "mounts": [],
                                  "boot": state.boot_id()}
        state.save(name, record)
        timings: dict[str, float] = {}
        clock = time.perf_counter_ns()
        try:
            record["binfmt"] = binfmt.ensure()
            state.save(name, record)
            built_before = rootfs.is_built(folder, generation)
            root = rootfs.build(folder, folder / "build.log", generation)
            record["rootfs"] = str(root)
            state.save(name, record)
            if not built_before:
                timings["rootfs_build_s"] = (time.perf_counter_ns() - clock) / 1e9
            if not usermode.port_free(port):
                raise BoardError(f"127.0.0.1:{port} is already in use by another program; stop it or change "
                                 f"connection.port in {board.source}")
            key_file = Path(board.connection.key_file or "").expanduser()
            usermode.authorize(root, usermode.ensure_key_pair(key_file, f"edgeq@{name}"))
            usermode.write_sshd_config(root)
            host_key = usermode.host_public_key(root)

            def mounted(target: str) -> None:
                record["mounts"].append(target)
                state.save(name, record)

            usermode.mount_board(root, folder / "cpuinfo", mounted)
            started = time.perf_counter_ns()
            pid = usermode.start_sshd(root, port, folder / "sshd.log")
            record.update(pid=pid, pid_start=usermode.start_time(pid))
            state.save(name, record)
            usermode.wait_ready(pid, port, folder / "sshd.log")
            timings["sshd_ready_s"] = (time.perf_counter_ns() - started) / 1e9
            knownhosts.trust(folder / "known_hosts", board.connection.host or "127.0.0.1", port, host_key)
        except BaseException:
            _teardown(name, record, generation)
            raise
        timings["up_s"] = (time.perf_counter_ns() - clock) / 1e9
    result = status(name)
    result.timings = timings
    return result


def down(name: str = DEFAULT_NAME) -> Status:
    """Stop the board: end its processes, unmount, undo up's binfmt changes. Safe to repeat."""
    board = _board(name)
    if mode_of(name) == "system":
        return _system_down(name, board)
    generation = _generation(board)
    with state.locked(name):
        record = state.load(name)
        if record or usermode.mounts(rootfs.path_for(state.emulate_dir(name), generation)):
            host.require_root()
        clock = time.perf_counter_ns()
        notes = _teardown(name, record, generation)
        seconds = (time.perf_counter_ns() - clock) / 1e9
    result = status(name)
    if not record:
        notes.insert(0, "was not running")
    if notes:
        result.detail = "; ".join([*notes, result.detail])
    result.timings = {"down_s": seconds}
    return result
