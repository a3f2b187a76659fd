"""The fault matrix's fixtures: a loopback SSH board per test, and the check that nothing edgeq
started outlives the test, on the host or on the board (which is this host, over sshd).

docs/faults.md lists every fault with the test that drives it; faults that other test files
already drive are referenced there rather than repeated here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeq.boards.schema import Board
from edgeq.cli import main
from edgeq.testing.sshd import SshServer
from edgeq.testing.warm import stop_warm_agents

from ..ssh_fixtures import home, trust  # noqa: F401  (fixture)

from ..conftest import Ran
from ..ssh_fixtures import ssh_board, sshd_server  # noqa: F401  (fixture)


def processes_under(folder: Path) -> dict[int, str]:
    """Live processes (not this one, not zombies) whose command line names a path under `folder`:
    an agent, a detached job, a backend child or a warm agent of a board whose work dir is there."""
    found, mark = {}, str(folder).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if mark in argv and state != "Z" and not argv.startswith(b"/usr/sbin/sshd"):
            found[int(entry)] = argv.replace(b"\0", b" ").decode(errors="replace")
    return found


@pytest.fixture(autouse=True)
def nothing_left_running(tmp_path: Path) -> Iterator[None]:
    """After each fault: no process edgeq started remains (warm agents, which outlive a profile
    by design, are stopped first, as the suite does for every test)."""
    yield
    stop_warm_agents(tmp_path)
    deadline = time.monotonic() + 10
    while (left := processes_under(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"left running after the test: {left}"


@pytest.fixture
def loopback(tmp_path: Path, home: Path, sshd_server: SshServer,  # noqa: F811
             monkeypatch: pytest.MonkeyPatch) -> Board:
    """An SSH board on 127.0.0.1 whose host key is trusted and whose work dir is the test's."""
    trust(home, sshd_server)
    record = ssh_board(tmp_path / "boards", sshd_server)
    monkeypatch.setenv("EDGEQ_BOARDS", str(tmp_path / "boards"))
    return record


def cli_env(tmp_path: Path, home: Path) -> dict[str, str]:
    """What a CLI subprocess needs to see the test's boards and known_hosts."""
    return {"EDGEQ_BOARDS": str(tmp_path / "boards"), "HOME": str(home)}


def in_process(capsys: pytest.CaptureFixture[str], *argv: str) -> Ran:
    """edgeq's own main(), as `python -m edgeq` calls it, without paying a new interpreter's start."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return Ran(code, out, err)
