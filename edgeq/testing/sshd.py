"""A real OpenSSH server on 127.0.0.1 for tests and fleet benchmarks.

The SSH transport is tested against the real thing, not a mock of paramiko: host
key checking, SFTP renames and dropped connections behave as they do on a board.
The server is private to one folder: its own host key, its own authorized key,
its own config; it never touches /etc/ssh or ~/.ssh.
"""

from __future__ import annotations

import getpass
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SSHD", "SshServer", "board_yaml", "start_sshd"]

SSHD = Path("/usr/sbin/sshd")
_PRIVSEP_DIR = Path("/run/sshd")
"""sshd refuses to start without its privilege separation folder (a tmpfs on boot)."""


@dataclass
class SshServer:
    """One running sshd; `stop()` ends it. Per-connection sshd processes are its children."""

    port: int
    host_key_path: Path
    host_public_key: str
    """The host key's public line, `ssh-ed25519 AAAA...` (without comment)."""
    user_key_path: Path
    user: str
    pid: int
    config_path: Path
    log_path: Path
    _process: subprocess.Popen[bytes] = field(repr=False)

    def known_hosts_line(self) -> str:
        """The line OpenSSH writes for this server: non-default ports go in brackets."""
        return f"[127.0.0.1]:{self.port} {self.host_public_key}"

    def connection_pids(self) -> list[int]:
        """Pids of the per-connection sshd processes, to kill one and drop a connection."""
        return _children(self.pid)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def start_sshd(workdir: Path, port: int | None = None, user: str | None = None) -> SshServer:
    """Generate keys and a config in `workdir`, start sshd, return once it accepts.

    With `port` None a free port is picked; should another process grab it first,
    sshd exits at once and another port is tried. `user` (default: whoever runs this)
    is the account the key logs in to; sshd reads its authorized_keys as that user.
    """
    if not SSHD.exists():
        raise RuntimeError(f"{SSHD} not found: the SSH tests need a real server; apt-get install openssh-server")
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        _PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    except PermissionError:
        pass  # not root: sshd runs without privilege separation chroot then
    host_key = _keygen(workdir / "ssh_host_ed25519_key")
    user_key = _keygen(workdir / "user_ed25519_key")
    authorized = workdir / "authorized_keys"
    authorized.write_text(Path(f"{user_key}.pub").read_text())
    authorized.chmod(0o600)
    if user is not None:
        shutil.chown(authorized, user)
    host_public = " ".join(Path(f"{host_key}.pub").read_text().split()[:2])
    for _attempt in range(5):
        chosen = port or _free_port()
        config = _write_config(workdir, chosen, host_key, authorized)
        log = workdir / "sshd.log"
        with open(log, "ab") as log_file:
            process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
            )
        if _wait_for_port(chosen, process):
            return SshServer(chosen, host_key, host_public, user_key, user or getpass.getuser(), process.pid,
                             config, log, process)
        if port is not None:
            break
    tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
    raise RuntimeError(f"sshd did not start (see {log}): {tail}")


def board_yaml(name: str, server: SshServer, work_dir: Path) -> str:
    """Board YAML for the loopback server; the board's work_dir is `work_dir/name`.

    The board is this host, so its python is the interpreter running this code and
    its arch is this machine's.
    """
    machine = platform.machine().lower()
    arch = {"arm64": "aarch64", "amd64": "x86_64"}.get(machine, machine)
    lines = [
        f"name: {name}",
        "description: this host over SSH on loopback, for tests",
        f"arch: {arch}",
        "connection:",
        "  kind: ssh",
        "  host: 127.0.0.1",
        f"  port: {server.port}",
        f"  user: {server.user}",
        f"  key_file: {server.user_key_path}",
        "cpu:",
        "  model: auto",
        "  clusters:",
        "    - {name: first, core: host, cores: [0]}",
        "backends: [tflite-cpu, armnn]",
        f"python: {sys.executable}",
        f"work_dir: {work_dir / name}",
    ]
    return "\n".join(lines) + "\n"


def _keygen(path: Path) -> Path:
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
                       check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return path


def _write_config(workdir: Path, port: int, host_key: Path, authorized: Path) -> Path:
    settings = {
        "ListenAddress": f"127.0.0.1:{port}",
        "HostKey": host_key,
        "PidFile": workdir / "sshd.pid",
        "AuthorizedKeysFile": authorized,
        "PubkeyAuthentication": "yes",
        "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no",
        "PermitRootLogin": "prohibit-password",  # tests run as root
        "StrictModes": "no",  # the workdir is a pytest tmp folder, not a 0700 ~/.ssh
        "UsePAM": "no",
        "UseDNS": "no",
        "PrintMotd": "no",
        "PrintLastLog": "no",
        "X11Forwarding": "no",
        "MaxStartups": "100:30:200",  # fleet benchmarks open many connections at once
        "MaxSessions": "64",
        "LogLevel": "VERBOSE",
        "Subsystem": "sftp internal-sftp",
    }
    config = workdir / "sshd_config"
    config.write_text("".join(f"{key} {value}\n" for key, value in settings.items()))
    return config


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], limit: float = 10.0) -> bool:
    """True once sshd accepts; False if it exited (port taken, bad config) or never did."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    process.kill()
    process.wait()
    return False


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, read from /proc (Linux only, like the boards)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            # The command name may hold spaces and parentheses; fields resume after the last ')'.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return sorted(found)
