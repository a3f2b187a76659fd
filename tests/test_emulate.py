"""The emulated aarch64 boards (user mode), bookworm and trixie: up, SSH into real arm64 Debian,
both up at once, down leaves nothing.

Needs root, mmdebstrap and qemu-user-static; a missing one FAILS with the apt-get
command, it never skips. The first run builds the rootfs (about 5 minutes); later
runs reuse it from the real cache, not conftest's private one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeq import emulate
from edgeq.boards.catalog import load_board
from edgeq.emulate import binfmt, host, knownhosts, state, usermode
from edgeq.errors import ConfigError

from .conftest import bring_up

pytestmark = pytest.mark.emulated

NAME = emulate.DEFAULT_NAME


def _ssh(board_key: Path, known_hosts: Path, port: int, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-i", str(board_key), "-p", str(port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
         "-o", f"UserKnownHostsFile={known_hosts}", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=30",
         "edgeq@127.0.0.1", command],
        capture_output=True, text=True, timeout=300,
    )


def test_missing_tool_names_the_apt_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda tool: None if tool == "mmdebstrap" else f"/usr/bin/{tool}")
    with pytest.raises(host.HostToolMissing, match=r"`apt-get install -y mmdebstrap`"):
        host.require_tools(host.BUILD_TOOLS)


def test_a_user_mode_board_refuses_system_mode() -> None:
    with pytest.raises(ConfigError, match="runs in user mode, not system"):
        emulate.up(NAME, mode="system")


def test_mirror_comes_from_the_host_apt_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(host.MIRROR_ENV, raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://mirror.invalid/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n"
    )
    assert host.debian_mirror("bookworm", tmp_path) == "http://mirror.invalid/debian"
    (tmp_path / "sources.list.d" / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://other.invalid/debian bookworm main\n")
    assert host.debian_mirror("bookworm", tmp_path) == "http://other.invalid/debian"


def test_known_hosts_line_is_replaced_not_duplicated(tmp_path: Path) -> None:
    salt = b"0123456789abcdefghij"
    digest = hmac.new(salt, b"[127.0.0.1]:2222", hashlib.sha1).digest()
    hashed = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()} ssh-rsa OLD1"
    path = tmp_path / "known_hosts"
    path.write_text(f"# mine\n{hashed}\n[127.0.0.1]:2222,[localhost]:2222 ssh-ed25519 OLD2\nother ssh-ed25519 KEEP\n")
    assert knownhosts.replace_line(path, "[127.0.0.1]:2222", "ssh-ed25519 NEW")
    assert path.read_text() == (
        "# mine\n[localhost]:2222 ssh-ed25519 OLD2\nother ssh-ed25519 KEEP\n[127.0.0.1]:2222 ssh-ed25519 NEW\n"
    )
    assert not knownhosts.replace_line(path, "[127.0.0.1]:2222", "ssh-ed25519 NEW")
    assert path.stat().st_mode & 0o777 == 0o600


def _stale_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, boot: str | None) -> None:
    """A record left by an up whose sshd is gone, claiming the binfmt handler and its mount."""
    monkeypatch.setenv(state.DIR_ENV, str(tmp_path))
    record = {"name": NAME, "mode": "user", "port": 1, "pid": 999_999_999, "pid_start": "0", "mounts": [],
              "binfmt": [binfmt.MOUNTED, binfmt.REGISTERED]}
    if boot is not None:
        record["boot"] = boot
    state.save(NAME, record)


@pytest.mark.parametrize("boot", ["an earlier boot", None])
def test_binfmt_claims_from_before_a_reboot_are_void(boot: str | None, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """After a reboot (or from an edgeq that did not note the boot) the handler that is there was made by
    someone else (the package, systemd-binfmt): a stale record must not make `down` remove it."""
    _stale_record(tmp_path, monkeypatch, boot)
    was_active = binfmt.active()
    assert emulate.status(NAME).binfmt == []
    gone = emulate.down(NAME)
    assert "not this board's to undo" in gone.detail
    assert binfmt.active() == was_active and not state.load(NAME)


def test_binfmt_claims_from_this_boot_stand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _stale_record(tmp_path, monkeypatch, state.boot_id())
    assert state.boot_id()  # the kernel gives one; without it every claim would be void
    now = emulate.status(NAME)
    assert now.binfmt == [binfmt.MOUNTED, binfmt.REGISTERED] and "leftovers of an earlier up" in now.detail


def test_board_answers_ssh_as_aarch64(emulated_board: dict) -> None:
    up = emulated_board["status"]
    assert up.running, up.detail
    assert up.pid and up.port == emulated_board["port"]
    now = emulate.status(emulated_board["name"])
    assert now.running and now.pid == up.pid, now.detail
    done = _ssh(emulated_board["key"], emulated_board["known_hosts"], up.port, "uname -m")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "aarch64"


def test_board_has_numpy_and_pyarmnn_backends(emulated_board: dict) -> None:
    # ArmNN 33 (Debian 13) loads its backends from armnn33/ only when told where; 22 has them built in.
    script = (
        "import glob, numpy, pyarmnn as ann; "
        "o = ann.CreationOptions(); "
        "o.m_DynamicBackendsPath = (glob.glob('/usr/lib/*/armnn' + ann.ARMNN_VERSION.split('.')[0]) + [''])[0]; "
        "rt = ann.IRuntime(o); "
        "print('VERSIONS', numpy.__version__, ann.ARMNN_VERSION); "
        "print('BACKENDS', *[str(b) for b in rt.GetDeviceSpec().GetSupportedBackends()])"
    )
    done = _ssh(emulated_board["key"], emulated_board["known_hosts"], emulated_board["port"],
                f'python3 -c "{script}"')
    assert done.returncode == 0, done.stderr
    # pyarmnn prints notices on stdout when imported (23.08: a deprecation warning): read our lines only.
    ours = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()
            if line.startswith(("VERSIONS ", "BACKENDS "))}
    (numpy_version, armnn_version), backends = ours["VERSIONS"], ours["BACKENDS"]
    expected = emulated_board["expected"]
    assert numpy_version.split(".")[0] == expected["numpy"] and armnn_version.split(".")[0] == expected["armnn"]
    assert "CpuAcc" in backends and "CpuRef" in backends, done.stdout


def test_board_shows_a_cortex_a72(emulated_board: dict) -> None:
    done = _ssh(emulated_board["key"], emulated_board["known_hosts"], emulated_board["port"],
                "cat /proc/cpuinfo; echo; tr -d '\\0' < /sys/firmware/devicetree/base/model; echo; "
                "echo QEMU_CPU=$QEMU_CPU")
    assert done.returncode == 0, done.stderr
    assert "CPU part\t: 0xd08" in done.stdout
    assert "CPU implementer\t: 0x41" in done.stdout
    assert "Cortex-A72" in done.stdout
    assert f"QEMU_CPU={usermode.QEMU_CPU}" in done.stdout


def test_up_again_is_idempotent(emulated_board: dict) -> None:
    first = emulated_board["status"]
    again = emulate.up(emulated_board["name"])
    assert again.running and again.pid == first.pid
    assert "already running" in again.detail
    assert again.mounts == emulate.status(emulated_board["name"]).mounts


def _answers(board: dict) -> bool:
    done = _ssh(board["key"], board["known_hosts"], board["port"], "uname -m")
    return done.returncode == 0 and done.stdout.strip() == "aarch64"


def test_both_generations_up_at_once_share_the_binfmt_handler(emulated_board: dict) -> None:
    """The other generation's board comes up beside this one; whichever goes down first leaves
    the shared qemu-aarch64 handler to the one still up, and the last down removes it."""
    name = emulated_board["name"]
    other_name = next(n for n in emulate.USER_BOARDS if n != name)
    other = bring_up(other_name)
    # Measured after the other's up: that up first clears any leftovers of an earlier up of the other
    # board (a killed run) and hands their binfmt claims to this board, still up.
    owned = set(emulate.status(name).binfmt)
    try:
        assert other["status"].running and _answers(other) and _answers(emulated_board)
        assert emulate.status(other_name).binfmt == []  # the handler was there: not the other's to remove
        gone = emulate.down(name)  # this board first: what it added passes to the other, still up
        assert not gone.running
        if owned:
            assert set(emulate.status(other_name).binfmt) == owned, gone.detail
        assert binfmt.active() and _answers(other)
        assert emulate.up(name).running and _answers(emulated_board)
    finally:
        emulate.down(other_name)
    assert binfmt.active() and _answers(emulated_board)  # handed back to this board, still up
    assert set(emulate.status(name).binfmt) == owned
    assert not emulate.status(other_name).running


def test_down_leaves_nothing_behind(emulated_board: dict) -> None:
    """Runs last in this file: it takes the session board down and checks the host is clean."""
    name = emulated_board["name"]
    up = emulate.status(name)
    assert up.running and up.rootfs is not None
    root = up.rootfs
    added_binfmt = list(up.binfmt)
    if emulated_board["binfmt_before"]:
        assert added_binfmt == []  # a handler that was there before is not ours to remove
    else:
        assert binfmt.REGISTERED in added_binfmt

    gone = emulate.down(name)
    assert not gone.running
    assert usermode.processes_in(root) == []
    with open("/proc/mounts", encoding="utf-8") as mounts:
        assert [line for line in mounts if str(root) in line] == []
    assert binfmt.active() == emulated_board["binfmt_before"]
    if not emulated_board["binfmt_before"]:
        assert not (binfmt.MISC / binfmt.ENTRY).exists()
    after = emulate.status(name)
    assert not after.running and after.pid is None and after.mounts == []
    assert "not running" in after.detail
    assert emulate.down(name).detail.startswith("was not running")
    # Bring it back for the emulated tests of other modules that share the session board.
    assert emulate.up(name).running
