"""SSH-only behaviour against a real sshd: host keys, ssh config aliases, failures as one line."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from edgeq.errors import TransportError
from edgeq.testing.sshd import SshServer
from edgeq.link.transport import connect
from edgeq.link.transport.ssh import SshTransport

from .ssh_fixtures import gone, known_hosts, refused_port, ssh_board, sshd_server  # noqa: F401  (fixtures)


def _keygen_fingerprint(public_key: Path) -> str:
    """Computed by OpenSSH itself, not by the code under test."""
    out = subprocess.run(["ssh-keygen", "-lf", str(public_key)], capture_output=True, text=True, check=True).stdout
    return out.split()[1]


def _one_line(exc: pytest.ExceptionInfo[TransportError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_unknown_host_key_is_refused_with_its_fingerprint(sshd_server: SshServer, tmp_path: Path) -> None:
    known = tmp_path / "ssh" / "known_hosts"
    with pytest.raises(TransportError) as caught:
        SshTransport(ssh_board(tmp_path, sshd_server), known_hosts=known)
    message = _one_line(caught)
    assert _keygen_fingerprint(Path(f"{sshd_server.host_key_path}.pub")) in message
    assert "ssh-ed25519" in message and "--accept-new-host-key" in message and "loopback" in message
    assert not known.exists()


def test_accept_new_host_key_records_it_once(sshd_server: SshServer, tmp_path: Path) -> None:
    known = tmp_path / "ssh" / "known_hosts"
    board = ssh_board(tmp_path, sshd_server)
    SshTransport(board, accept_new_host_key=True, known_hosts=known).close()
    assert known.read_text() == sshd_server.known_hosts_line() + "\n"
    assert stat.S_IMODE(known.stat().st_mode) == 0o600
    again = SshTransport(board, known_hosts=known)
    assert again.run(["echo", "ok"]).stdout == "ok\n"
    again.close()
    assert known.read_text() == sshd_server.known_hosts_line() + "\n"


def test_changed_host_key_is_refused_even_with_accept_new(sshd_server: SshServer, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known = tmp_path / "known_hosts"
    other_type, other_blob = Path(f"{other}.pub").read_text().split()[:2]
    known.write_text(f"[127.0.0.1]:{sshd_server.port} {other_type} {other_blob}\n")
    before = known.read_text()
    with pytest.raises(TransportError) as caught:
        SshTransport(ssh_board(tmp_path, sshd_server), accept_new_host_key=True, known_hosts=known)
    message = _one_line(caught)
    assert "CHANGED" in message
    assert _keygen_fingerprint(Path(f"{sshd_server.host_key_path}.pub")) in message
    assert _keygen_fingerprint(Path(f"{other}.pub")) in message
    assert known.read_text() == before


def test_ssh_config_alias_supplies_host_port_user_key_and_known_hosts(
    sshd_server: SshServer, known_hosts: Path, tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host loopbox\n"
        "    HostName 127.0.0.1\n"
        f"    Port {sshd_server.port}\n"
        f"    User {sshd_server.user}\n"
        f"    IdentityFile {sshd_server.user_key_path}\n"
        f"    UserKnownHostsFile {known_hosts}\n"
        "Host closedbox\n"
        "    HostName 127.0.0.1\n"
        f"    Port {_closed_port()}\n"
        f"    IdentityFile {sshd_server.user_key_path}\n"
        f"    UserKnownHostsFile {known_hosts}\n"
    )
    board = ssh_board(tmp_path / "a", sshd_server, ssh_alias="loopbox")
    transport = SshTransport(board, ssh_config=config)  # no known_hosts: the alias names it
    assert transport.run(["id", "-un"]).stdout == f"{sshd_server.user}\n"
    transport.close()
    # A port written in the board file wins over the alias's.
    board = ssh_board(tmp_path / "b", sshd_server, ssh_alias="closedbox", port=sshd_server.port)
    SshTransport(board, ssh_config=config).close()


def test_connection_refused_is_one_line(sshd_server: SshServer, tmp_path: Path, refused_port: int) -> None:
    port = refused_port
    board = ssh_board(tmp_path, sshd_server, host="127.0.0.1", port=port, key_file=str(sshd_server.user_key_path))
    with pytest.raises(TransportError) as caught:
        SshTransport(board, known_hosts=tmp_path / "known_hosts")
    message = _one_line(caught)
    assert message.startswith("cannot connect to board loopback (")
    assert f"127.0.0.1:{port}" in message and "Connection refused" in message


def test_connection_lost_mid_run(sshd_server: SshServer, known_hosts: Path, tmp_path: Path) -> None:
    before = set(sshd_server.connection_pids())
    transport = SshTransport(ssh_board(tmp_path, sshd_server), known_hosts=known_hosts)
    mine = set(sshd_server.connection_pids()) - before
    assert mine, "no per-connection sshd process found"

    def drop() -> None:
        time.sleep(0.5)
        for pid in mine:
            os.kill(pid, signal.SIGKILL)

    threading.Thread(target=drop, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        transport.run(["sleep", "20.25"])
    assert time.monotonic() - started < 10
    message = _one_line(caught)
    assert "board loopback" in message and "lost while running sleep" in message
    assert gone(["sleep", "20.25"]), "the command outlived its connection"
    with pytest.raises(TransportError, match="lost"):
        transport.put(Path(__file__), str(tmp_path / "after.py"))
    transport.close()


def test_connection_lost_mid_upload(sshd_server: SshServer, known_hosts: Path, tmp_path: Path) -> None:
    before = set(sshd_server.connection_pids())
    transport = SshTransport(ssh_board(tmp_path, sshd_server), known_hosts=known_hosts)
    mine = set(sshd_server.connection_pids()) - before
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(4 * 1024 * 1024))

    def drop(done: int, total: int) -> None:
        for pid in mine:
            os.kill(pid, signal.SIGKILL)

    with pytest.raises(TransportError) as caught:
        transport.put(payload, str(tmp_path / "remote" / "payload.bin"), progress=drop)
    message = _one_line(caught)
    assert message.startswith("connection to board loopback") and "lost during upload of payload.bin" in message
    assert transport.bytes_sent == 0
    transport.close()


def test_failed_upload_is_one_line_and_leaves_no_part_file(
    sshd_server: SshServer, known_hosts: Path, tmp_path: Path
) -> None:
    transport = SshTransport(ssh_board(tmp_path, sshd_server), known_hosts=known_hosts)
    (tmp_path / "remote").mkdir()
    (tmp_path / "remote" / "dir").write_text("a file where a folder should be")
    with pytest.raises(TransportError) as caught:
        transport.put(Path(__file__), str(tmp_path / "remote" / "dir" / "x.py"))
    assert _one_line(caught).startswith("cannot upload test_ssh_hostkeys.py to ")
    with pytest.raises(TransportError, match="on board loopback"):  # the rename onto a folder fails
        transport.put(Path(__file__), str(tmp_path / "remote"))
    assert sorted(p.name for p in tmp_path.rglob("*.part*")) == []
    assert transport.run(["true"]).returncode == 0, "the connection should survive a failed upload"
    transport.close()


def test_password_never_appears_in_the_error(
    sshd_server: SshServer, known_hosts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "hunter2-Tr0ub4dor&3"
    monkeypatch.setenv("EDGEQ_TEST_PASSWORD", secret)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/id_* keys to fall back on
    board = ssh_board(tmp_path, sshd_server, host="127.0.0.1", port=sshd_server.port, user=sshd_server.user,
                      password_env="EDGEQ_TEST_PASSWORD")
    with pytest.raises(TransportError) as caught:
        SshTransport(board, known_hosts=known_hosts)
    message = _one_line(caught)
    assert message.startswith("authentication to board loopback")
    assert secret not in message and secret not in repr(caught.value)


def test_connect_uses_the_users_known_hosts_by_default(
    sshd_server: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the registry, with no test hooks: ~/.ssh/known_hosts (here a private HOME) is the default."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    board = ssh_board(tmp_path, sshd_server)
    with pytest.raises(TransportError, match="--accept-new-host-key"):
        connect(board)
    transport = connect(board, accept_new_host_key=True)
    assert transport.run(["echo", "ok"]).stdout == "ok\n"
    transport.close()
    known = tmp_path / "home" / ".ssh" / "known_hosts"
    assert known.read_text() == sshd_server.known_hosts_line() + "\n"
    assert stat.S_IMODE(known.parent.stat().st_mode) == 0o700
    connect(board).close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_missing_sshd_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeq.testing import sshd

    monkeypatch.setattr(sshd, "SSHD", tmp_path / "no-sshd")
    with pytest.raises(RuntimeError, match="apt-get install openssh-server"):
        sshd.start_sshd(tmp_path / "server")
