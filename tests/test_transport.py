"""One test body for every transport: the local board and SSH to a real sshd on loopback.

Both run on this host, so a "remote" path is a path under the test's tmp folder and
the test can look at the result directly.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path
from typing import Iterator

import pytest

from edgeq.boards.catalog import load_board_file
from edgeq.errors import TransportError
from edgeq.testing.sshd import SshServer
from edgeq.link.transport import Completed, Transport, connect

from .conftest import write_board
from .ssh_fixtures import gone, known_hosts, ssh_board, sshd_server  # noqa: F401  (fixtures)

NASTY = "a b;touch pwned"


@pytest.fixture(params=["local", "ssh"])
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Transport]:
    if request.param == "local":
        record = write_board(tmp_path / "boards", "testhost", tmp_path / "work")
        opened = connect(load_board_file(record.boards_dir / "testhost.yaml"))
    else:
        from edgeq.link.transport.ssh import SshTransport

        server: SshServer = request.getfixturevalue("sshd_server")
        trusted: Path = request.getfixturevalue("known_hosts")
        opened = SshTransport(ssh_board(tmp_path / "boards", server), known_hosts=trusted)
    yield opened
    opened.close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _no_pwned(*folders: Path) -> None:
    for folder in folders:
        assert not list(folder.rglob("pwned*")), f"a shell ran a quoted word in {folder}"


def test_run_passes_every_word_literally(transport: Transport, tmp_path: Path) -> None:
    words = [NASTY, "$(touch pwned2)", "`touch pwned3`", "*", "~", "$HOME", "'", '"', "x\ny", ""]
    done = transport.run(["printf", r"%s\0", *words])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\0")[:-1] == words
    _no_pwned(tmp_path)
    for folder in (Path.cwd(), Path.home()):
        assert not any((folder / name).exists() for name in ("pwned", "pwned2", "pwned3"))


def test_nonzero_exit_and_stderr_come_back(transport: Transport) -> None:
    done = transport.run(["sh", "-c", 'echo out; echo "err $1" >&2; exit 3', "sh", "one"])
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err one\n")


def test_put_get_round_trip(transport: Transport, tmp_path: Path) -> None:
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(3 * 1024 * 1024))
    folder = tmp_path / "remote" / NASTY
    target = folder / f"{NASTY}.tflite"
    calls: list[tuple[int, int]] = []
    transport.put(payload, str(target), progress=lambda done, total: calls.append((done, total)))
    assert _sha256(target) == _sha256(payload)
    assert calls[-1] == (payload.stat().st_size, payload.stat().st_size)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert transport.bytes_sent == payload.stat().st_size
    assert sorted(p.name for p in folder.iterdir()) == [target.name], "a .part file was left behind"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    _no_pwned(tmp_path / "remote")

    back = tmp_path / "back.bin"
    transport.get(str(target), back)
    assert _sha256(back) == _sha256(payload)
    assert sorted(p.name for p in tmp_path.iterdir() if ".part" in p.name) == []


def test_put_replaces_and_keeps_exec_bit(transport: Transport, tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    target = tmp_path / "remote" / "run.sh"
    target.parent.mkdir()
    target.write_text("old")
    transport.put(script, str(target))
    transport.put(script, str(target))
    assert target.read_text() == script.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert transport.bytes_sent == 2 * script.stat().st_size
    assert transport.run([str(target)]).stdout == "hi\n"


def test_exists_and_expand(transport: Transport, tmp_path: Path) -> None:
    (tmp_path / "here").write_text("x")
    assert transport.exists(str(tmp_path / "here"))
    assert not transport.exists(str(tmp_path / "not-here"))
    home = transport.expand("~")
    assert os.path.isabs(home) and os.path.isdir(home)
    assert transport.expand("~/x") == f"{home.rstrip('/')}/x"
    assert transport.expand("/a/./b/../c") == "/a/c"


def test_get_of_missing_file_is_one_line_error(transport: Transport, tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="No such file") as caught:
        transport.get(str(tmp_path / "missing"), tmp_path / "local")
    assert "\n" not in str(caught.value)
    assert not list(tmp_path.glob("*local*"))


def test_timeout_raises_and_stops_the_command(transport: Transport) -> None:
    sleep = ["sleep", f"{29 + os.getpid() % 1000 / 1000:.3f}"]  # a command no other process runs
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"timed out after 0\.5 s") as caught:
        transport.run(sleep, timeout=0.5)
    assert "\n" not in str(caught.value)
    assert time.monotonic() - started < 10
    assert gone(sleep), "the timed-out command is still running"
    assert transport.run(["echo", "still usable"]).stdout == "still usable\n"


def test_stdin_is_empty(transport: Transport) -> None:
    """A command that reads stdin must not wait for input that never comes."""
    assert transport.run(["cat"], timeout=10) == Completed(0, "", "")
