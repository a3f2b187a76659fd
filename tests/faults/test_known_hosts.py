"""Fault 1: `@cert-authority` and `@revoked` lines in known_hosts, as OpenSSH reads them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from edgeq.boards.schema import Board
from edgeq.testing.sshd import SshServer

from ..conftest import assert_one_line_error, run_cli
from .conftest import cli_env, home, loopback, sshd_server  # noqa: F401  (fixtures)


def _ca_public_key(tmp_path: Path) -> str:
    key = tmp_path / "ca_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return " ".join((tmp_path / "ca_key.pub").read_text().split()[:2])


def _ssh_accepts(server: SshServer, known: Path) -> bool:
    """OpenSSH's own client with the same known_hosts file: the behaviour to match."""
    done = subprocess.run(["ssh", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={known}",
                           "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                           "-i", str(server.user_key_path), "-p", str(server.port), f"{server.user}@127.0.0.1",
                           "true"], capture_output=True, text=True, timeout=30)
    return done.returncode == 0


def test_marker_lines_for_other_hosts_do_not_block_a_board(
        loopback: Board, home: Path, sshd_server: SshServer, tmp_path: Path) -> None:  # noqa: F811
    known = home / ".ssh" / "known_hosts"
    ca = _ca_public_key(tmp_path)
    other = sshd_server.host_public_key.split()
    known.write_text(f"@cert-authority *.corp.example {ca}\n@revoked old.example {ca}\n"
                     f"garbage line with a bad key\n{other[0]} {other[1]}\n" + known.read_text())
    assert _ssh_accepts(sshd_server, known)
    ran = run_cli("facts", "--board", loopback.name, env=cli_env(tmp_path, home))
    assert ran.returncode == 0, ran.stderr
    assert "warning" not in ran.stderr and "internal error" not in ran.stderr


def test_a_revoked_host_key_is_refused_naming_its_line(
        loopback: Board, home: Path, sshd_server: SshServer, tmp_path: Path) -> None:  # noqa: F811
    known = home / ".ssh" / "known_hosts"
    known.write_text(known.read_text() + f"@revoked * {sshd_server.host_public_key}\n")
    assert not _ssh_accepts(sshd_server, known)
    ran = run_cli("facts", "--board", loopback.name, "--accept-new-host-key", env=cli_env(tmp_path, home))
    assert_one_line_error(ran, 3, "@revoked", f"{known} line 2", "SHA256:")


def test_a_cert_authority_for_the_board_is_ignored_with_a_warning(
        loopback: Board, home: Path, sshd_server: SshServer, tmp_path: Path) -> None:  # noqa: F811
    known = home / ".ssh" / "known_hosts"
    known.write_text(f"@cert-authority [127.0.0.1]:* {_ca_public_key(tmp_path)}\n" + known.read_text())
    ran = run_cli("facts", "--board", loopback.name, env=cli_env(tmp_path, home))
    assert ran.returncode == 0, ran.stderr
    assert f"{known} line 1: @cert-authority" in ran.stderr and "not supported" in ran.stderr
