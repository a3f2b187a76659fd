"""The system-mode emulated board: a qemu-system-aarch64 VM up, real SSH into it, down leaves no QEMU.

Needs root (once, to build the disk image), mmdebstrap, qemu-user-static (the
shared rootfs), qemu-system-arm and e2fsprogs; a missing one FAILS with the
apt-get command, it never skips. The VM boots once for this module (TCG: about
6 s on a quiet 2-core host, once the kernel and image are cached; the first run
also fetches the kernel, ~10 s, builds the image, ~5 s, and, if the user-mode
board never ran here, the rootfs, ~4 min). It uses the real cache folder, not
conftest's private one, and port 2223, so it never touches the user-mode board.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeq import emulate
from edgeq.boards.catalog import load_board
from edgeq.emulate import host, state, systemmode
from edgeq.errors import ConfigError

pytestmark = pytest.mark.emulated

NAME = emulate.SYSTEM_NAME
# Read at import, before conftest's session fixture points XDG_CACHE_HOME at a temp dir.
REAL_EMULATE_DIR = os.environ.get(state.DIR_ENV) or str(
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeq" / "emulate"
)


def _ssh(board: dict, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-i", str(board["key"]), "-p", str(board["port"]), "-o", "BatchMode=yes",
         "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={board['known_hosts']}",
         "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=30", "edgeq@127.0.0.1", command],
        capture_output=True, text=True, timeout=120,
    )


def _qemu_processes(folder: Path) -> list[int]:
    """Live (non-zombie) qemu-system-aarch64 processes started for this board's folder."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (argv and os.path.basename(argv[0].decode(errors="replace")) == "qemu-system-aarch64"
                and str(folder).encode() in b" ".join(argv)
                and systemmode.start_time(int(entry.name)) is not None):
            found.append(int(entry.name))
    return found


def test_missing_qemu_system_names_the_apt_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda tool: None if tool == "qemu-system-aarch64" else f"/usr/bin/{tool}")
    with pytest.raises(host.HostToolMissing, match=r"`apt-get install -y qemu-system-arm`"):
        emulate.up(NAME, mode="system")


def test_missing_mke2fs_names_the_apt_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda tool: None if tool == "mke2fs" else f"/usr/bin/{tool}")
    with pytest.raises(host.HostToolMissing, match=r"`apt-get install -y e2fsprogs`"):
        host.require_tools(systemmode.BUILD_TOOLS)


def test_a_board_runs_in_one_mode() -> None:
    assert emulate.mode_of(NAME) == "system" and emulate.mode_of(emulate.DEFAULT_NAME) == "user"
    with pytest.raises(ConfigError, match=f"--name {NAME} --mode system"):
        emulate.up(emulate.DEFAULT_NAME, mode="system")
    with pytest.raises(ConfigError, match=f"--name {emulate.DEFAULT_NAME} --mode user"):
        emulate.up(NAME, mode="user")


@pytest.fixture(scope="module")
def system_board() -> Iterator[dict]:
    """The VM up for this module, down at its end; yields what the up reported."""
    try:
        host.require_tools({**systemmode.RUN_TOOLS, **systemmode.BUILD_TOOLS, **host.RUN_TOOLS,
                            "ssh": "openssh-client"})
        host.require_root()
    except host.HostToolMissing as error:
        pytest.fail(str(error), pytrace=False)
    saved = os.environ.get(state.DIR_ENV)
    os.environ[state.DIR_ENV] = REAL_EMULATE_DIR
    try:
        first = emulate.up(NAME, mode="system")
        board = load_board(NAME)
        yield {
            "status": first,
            "folder": state.emulate_dir(NAME),
            "key": Path(board.connection.key_file or "").expanduser(),
            "known_hosts": state.emulate_dir(NAME) / "known_hosts",
            "port": board.connection.port,
        }
    finally:
        emulate.down(NAME)
        if saved is None:
            os.environ.pop(state.DIR_ENV, None)
        else:
            os.environ[state.DIR_ENV] = saved


def test_vm_is_up_and_status_agrees(system_board: dict) -> None:
    up = system_board["status"]
    assert up.running and up.mode == "system", up.detail
    assert up.pid and up.port == 2223 and up.disk is not None and up.disk.is_file()
    now = emulate.status(NAME)
    assert now.running and now.pid == up.pid, now.detail
    assert _qemu_processes(system_board["folder"]) == [up.pid]


def test_guest_is_an_aarch64_cortex_a72(system_board: dict) -> None:
    done = _ssh(system_board, "uname -m; nproc; cat /proc/cpuinfo")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "aarch64"
    assert lines[1] == str(systemmode.CPUS)
    assert done.stdout.count("CPU part\t: 0xd08") == systemmode.CPUS
    assert "CPU implementer\t: 0x41" in done.stdout


def test_guest_has_numpy_and_pyarmnn_backends(system_board: dict) -> None:
    script = (
        "import numpy, pyarmnn as ann; "
        "rt = ann.IRuntime(ann.CreationOptions()); "
        "print(numpy.__version__); "
        "print(' '.join(str(b) for b in rt.GetDeviceSpec().GetSupportedBackends()))"
    )
    done = _ssh(system_board, f'python3 -c "{script}"')
    assert done.returncode == 0, done.stderr
    backends = done.stdout.split()
    assert "CpuAcc" in backends and "CpuRef" in backends, done.stdout


def test_up_again_is_idempotent(system_board: dict) -> None:
    again = emulate.up(NAME, mode="system")
    assert again.running and again.pid == system_board["status"].pid
    assert "already running" in again.detail


def test_down_leaves_no_qemu_behind(system_board: dict) -> None:
    """Runs last in this file; the fixture's own down then finds nothing to do."""
    pid = emulate.status(NAME).pid
    assert pid
    gone = emulate.down(NAME)
    assert not gone.running and gone.pid is None
    deadline = time.monotonic() + 5
    while _qemu_processes(system_board["folder"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _qemu_processes(system_board["folder"]) == []
    assert systemmode.start_time(pid) is None
    after = emulate.status(NAME)
    assert not after.running and after.pid is None and "not running" in after.detail
    assert not state.state_path(NAME).exists()
    assert emulate.down(NAME).detail.startswith("was not running")
