"""Fixtures for tests that talk to a real OpenSSH server on 127.0.0.1.

Import them explicitly (`from .ssh_fixtures import sshd_server, ...`). Without
/usr/sbin/sshd the tests fail, saying what to install: they must not pass by skipping.
"""

from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from edgeq.boards.catalog import load_board_file
from edgeq.boards.schema import Board
from edgeq.testing.sshd import SshServer, board_yaml, start_sshd


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    try:
        server = start_sshd(tmp_path_factory.mktemp("sshd"))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def known_hosts(tmp_path: Path, sshd_server: SshServer) -> Path:
    """A private known_hosts that trusts the test server, so ~/.ssh is never read or written."""
    path = tmp_path / "known_hosts"
    path.write_text(sshd_server.known_hosts_line() + "\n")
    return path



@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME: ~/.ssh/known_hosts is the test's, never the user's."""
    path = tmp_path / "home"
    (path / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(path))
    return path


@contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections while this lasts: bound, never listening, so nothing
    else can take it. (A port found free and closed again could be handed to the next server a test
    starts, and the "refused" board would reach it.)"""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


@pytest.fixture
def refused_port() -> Iterator[int]:
    with refusing_port() as port:
        yield port


def trust(home: Path, server: SshServer) -> None:
    """Record the loopback server's host key in `home`'s known_hosts."""
    with (home / ".ssh" / "known_hosts").open("a") as handle:
        handle.write(server.known_hosts_line() + "\n")


def ssh_board(folder: Path, server: SshServer, name: str = "loopback", **connection: Any) -> Board:
    """A board record for the test server; `connection` keys replace those board_yaml writes."""
    folder.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load(board_yaml(name, server, folder / "work"))
    if connection:
        data["connection"] = {"kind": "ssh", **connection}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_board_file(path)


def gone(argv: list[str], within: float = 5.0) -> bool:
    """True once no process on this host runs exactly `argv`: a timed-out or orphaned command was stopped."""
    wanted = "\0".join(argv).encode() + b"\0"
    deadline = time.monotonic() + within
    while True:
        running = False
        for entry in os.listdir("/proc"):
            try:
                running = running or (entry.isdigit() and Path(f"/proc/{entry}/cmdline").read_bytes() == wanted)
            except OSError:
                continue
        if not running or time.monotonic() > deadline:
            return not running
        time.sleep(0.05)
