"""Shared fixtures: generated models, a private local board, and the CLI as users run it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeq import emulate, zoo
from edgeq.boards.catalog import load_board
from edgeq.emulate import binfmt, host, state
from edgeq.testing.warm import stop_warm_agents

REPO = Path(__file__).resolve().parent.parent

# A shell without job control starts a background job (`.ci/run &`, a CI runner's step) with SIGINT
# ignored, and an ignored signal is inherited across exec: the CLI subprocesses the tests Ctrl-C
# would then ignore it, as `nohup` asks, and never stop. Ctrl-C reaches a user's edgeq with the
# default disposition; give the suite's children the same (a Python child then installs its own
# KeyboardInterrupt handler, as it does in a terminal).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep the agent cache and anything else edgeq writes out of the real home; at the end, stop
    the warm agents of boards that lived longer than one test (module and session fixtures)."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    yield cache
    stop_warm_agents(tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def no_warm_agent_left(tmp_path: Path) -> Iterator[None]:
    """A test's boards end with the test: so do the warm agents it started on them."""
    yield
    stop_warm_agents(tmp_path)


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small models built by hand from the TFLite schema: no TensorFlow, no download."""
    out = tmp_path_factory.mktemp("models")
    return {
        "float": zoo.build("tiny-cnn", out / "tiny_float.tflite", dtype="float32"),
        "int8": zoo.build("tiny-cnn", out / "tiny_int8.tflite", dtype="int8"),
    }


@pytest.fixture(scope="session")
def odd_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The corpus of odd models (edgeq/testing/oddmodels.py), built once per session."""
    from edgeq.testing.oddmodels import build_corpus

    return build_corpus(tmp_path_factory.mktemp("odd-models"))


@dataclass
class Board:
    name: str
    boards_dir: Path
    work_dir: Path


def write_board(boards_dir: Path, name: str, work_dir: Path, python: str | None = None,
                backends: str = "[tflite-cpu, armnn]") -> Board:
    boards_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        f"name: {name}",
        "description: the host, for tests",
        "arch: auto",
        "connection: {kind: local}",
        "cpu:",
        "  model: auto",
        "  clusters:",
        "    - {name: first, core: host, cores: [0]}",
        f"backends: {backends}",
        "armnn: {preferred_backends: [CpuAcc, CpuRef]}",
        f"python: {python}" if python else "python: null",
        f"work_dir: {work_dir}",
    ]
    (boards_dir / f"{name}.yaml").write_text("\n".join(lines) + "\n")
    return Board(name, boards_dir, work_dir)


@pytest.fixture
def board(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Board:
    """A local board whose work dir is private to the test."""
    record = write_board(tmp_path / "boards", "testhost", tmp_path / "board-work")
    monkeypatch.setenv("EDGEQ_BOARDS", str(record.boards_dir))
    return record


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


PROGRESS_LINE = re.compile(r"^\d\d:\d\d:\d\dZ ")
"""The live output's lines when stderr is no terminal (edgeq/live.py): a log, not the error."""


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300) -> Ran:
    """Run `python -m edgeq ...` as a user would, in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "edgeq", *args], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, **(env or {})}, timeout=timeout,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(ran: Ran, code: int, *fragments: str) -> str:
    """The contract for bad input: an exit code, one line on stderr, no traceback."""
    assert ran.returncode == code, (ran.returncode, ran.stdout, ran.stderr)
    lines = [line for line in ran.stderr.splitlines() if line.strip() and not PROGRESS_LINE.match(line)]
    assert len(lines) == 1, ran.stderr
    assert "Traceback" not in ran.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# --- the emulated aarch64 board (marker `emulated`) -------------------------------------
# Read at import, before conftest's session fixture points XDG_CACHE_HOME at a temp dir:
# the rootfs is too costly to rebuild for every session.
REAL_EMULATE_DIR = os.environ.get(state.DIR_ENV) or str(
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeq" / "emulate"
)


def _check_host() -> None:
    try:
        host.require_root()
        host.require_tools({**host.RUN_TOOLS, **host.BUILD_TOOLS, "ssh": "openssh-client"})
    except host.HostToolMissing as error:
        pytest.fail(str(error), pytrace=False)


# One emulated board per OS generation; every test that takes `emulated_board` runs on each.
# Expected facts per board: Python major.minor, numpy major, ArmNN library major (22 = pyarmnn
# 20.08 on Debian 12, 33 = pyarmnn 23.08 on Debian 13).
GENERATIONS = {
    emulate.DEFAULT_NAME: {"codename": "bookworm", "python": "3.11", "numpy": "1", "armnn": "22"},
    emulate.TRIXIE_NAME: {"codename": "trixie", "python": "3.13", "numpy": "2", "armnn": "33"},
}


def bring_up(name: str) -> dict:
    """Up `name` from the real emulate dir (callers set it); what the up reported, and the board's files."""
    binfmt_before = binfmt.active() and not _binfmt_owned_by_a_board()
    first = emulate.up(name)
    board = load_board(name)
    return {
        "name": name,
        "expected": GENERATIONS[name],
        "status": first,
        "binfmt_before": binfmt_before,
        "key": Path(board.connection.key_file or "").expanduser(),
        "known_hosts": state.emulate_dir(name) / "known_hosts",
        "port": board.connection.port,
    }


def _binfmt_owned_by_a_board() -> bool:
    """True when an earlier up (of any user-mode board) registered the handler, so it is edgeq's."""
    return any(binfmt.REGISTERED in emulate.status(name).binfmt for name in emulate.USER_BOARDS)


@pytest.fixture(scope="session", params=list(emulate.USER_BOARDS))
def emulated_board(request: pytest.FixtureRequest) -> Iterator[dict]:
    """Each generation's board up for its tests, torn down after them; yields what the up reported."""
    _check_host()
    saved = os.environ.get(state.DIR_ENV)
    os.environ[state.DIR_ENV] = REAL_EMULATE_DIR
    try:
        # A qemu-aarch64 handler that no earlier up added belongs to the host: keep it.
        yield bring_up(request.param)
    finally:
        emulate.down(request.param)
        if saved is None:
            os.environ.pop(state.DIR_ENV, None)
        else:
            os.environ[state.DIR_ENV] = saved
