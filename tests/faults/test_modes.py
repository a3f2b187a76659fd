"""Fault 8: everything edgeq writes on a board is the board user's alone; `work_dir: ~/..` is refused."""

from __future__ import annotations

import stat
from pathlib import Path

from edgeq.boards.schema import Board
from edgeq.profile.run import profile

from ..conftest import assert_one_line_error, run_cli, write_board
from .conftest import cli_env, home, loopback, sshd_server  # noqa: F401  (fixtures)


def test_every_file_and_folder_under_work_dir_is_owner_only(
        loopback: Board, models: dict[str, Path], tmp_path: Path) -> None:
    run = profile(models["float"], board=loopback.name, runs=2, warmup=0, runs_dir=tmp_path / "runs")
    assert run.result["backends"][0]["status"] == "ok"
    work = Path(loopback.work_dir)
    seen = {p.relative_to(work).parts[0] for p in work.rglob("*")}
    assert {"agent", "runs", "warm", "store", "models", "deployments"} <= seen
    assert list(work.glob("agent/*.pyz.d")) and list(work.glob("warm/*.pid")) and list(work.glob("warm/*.lock"))
    assert list(work.glob("runs/*/result.json")) and list(work.glob("runs/*/logs/*"))
    loose = [f"{oct(stat.S_IMODE(p.lstat().st_mode))} {p}" for p in [work, *work.rglob("*")]
             if not p.is_symlink() and stat.S_IMODE(p.lstat().st_mode) & 0o077]
    assert not loose, loose[:10]


def test_a_work_dir_above_home_is_refused(tmp_path: Path) -> None:
    boards = write_board(tmp_path / "boards", "up", Path("~/..")).boards_dir
    ran = run_cli("boards", "show", "up", env={"EDGEQ_BOARDS": str(boards)})
    assert_one_line_error(ran, 2, "work_dir: expected a folder edgeq may own", "'~/..'")
