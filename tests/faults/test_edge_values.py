"""Fault 5: every CLI value and every result field is checked at the edge: exit 2, one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from edgeq.boards.schema import Board

from ..conftest import Board as LocalBoard, assert_one_line_error, board, run_cli, write_board  # noqa: F401
from .conftest import cli_env, home, in_process, loopback, sshd_server  # noqa: F401  (fixtures)


def _profile(model: Path, board_name: str, tmp_path: Path, *extra: str) -> object:
    return run_cli("profile", "--board", board_name, "--model", str(model), "--runs", "2", "--warmup", "0",
                   "--runs-dir", str(tmp_path / "runs"), *extra)


def test_analyze_of_a_missing_model_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ran = in_process(capsys, "analyze", str(tmp_path / "missing.tflite"))
    assert_one_line_error(ran, 2, "missing.tflite: no such model file")


@pytest.mark.parametrize("flag, value, words", [
    ("--seed", "-1", "--seed -1: expected a whole number from 0"),
    ("--min-seconds", "nan", "--min-seconds nan: expected a finite number >= 0"),
    ("--min-seconds", "inf", "--min-seconds inf: expected a finite number >= 0"),
    ("--warmup-seconds", "-inf", "--warmup-seconds -inf"),
    ("--timeout", "nan", "--timeout nan: expected a finite number > 0"),
    ("--threads", "10000", "--threads 10000: expected a whole number from 1 to 1024"),
    ("--backend", "tflite-cpu:xnnpack=maybe", "option xnnpack=maybe: expected one of true, false"),
    ("--backend", "armnn:backends=CpuAcc+Fast", "option backends=CpuAcc+Fast: expected one of CpuAcc"),
])
def test_bad_profile_values_are_refused_before_any_run(
        flag: str, value: str, words: str, models: dict[str, Path], board: LocalBoard,  # noqa: F811
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ran = in_process(capsys, "profile", "--board", board.name, "--model", str(models["float"]),
                     "--runs-dir", str(tmp_path / "runs"), f"{flag}={value}")
    assert_one_line_error(ran, 2, words)
    assert not list((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else True


def test_pins_and_threads_are_checked_against_the_cores_the_board_reports(
        loopback: Board, models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The record claims 128 cores; the board's facts (this host's /proc/cpuinfo) say how many it has."""
    data = yaml.safe_load(Path(str(loopback.source)).read_text())
    data["cpu"]["clusters"][0]["cores"] = list(range(128))
    Path(str(loopback.source)).write_text(yaml.safe_dump(data))
    base = ["profile", "--board", loopback.name, "--model", str(models["float"]), "--runs", "2", "--warmup", "0",
            "--runs-dir", str(tmp_path / "runs")]
    assert_one_line_error(in_process(capsys, *base, "--pin", "99"), 2, "--pin: board loopback has no core 99",
                          "its cores: 0")
    assert_one_line_error(in_process(capsys, *base, "--threads", "1000"), 2, "--threads 1000: board loopback has",
                          "cores", "--force-threads")
    assert not list(Path(loopback.work_dir).glob("runs/*")), "nothing reached the board's runs"
    ran = in_process(capsys, *base, "--threads", "1000", "--force-threads")
    assert ran.returncode == 0, ran.stderr
    assert list((tmp_path / "runs").glob("*/result.json"))


@pytest.fixture(scope="module")
def good_run(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run directory (local board, no warm agent) that the damaged copies start from."""
    folder = tmp_path_factory.mktemp("good-run")
    record = write_board(folder / "boards", "host", folder / "work")
    ran = run_cli("profile", "--board", record.name, "--model", str(models["float"]), "--runs", "5",
                  "--runs-dir", str(folder / "runs"),
                  env={"EDGEQ_BOARDS": str(record.boards_dir), "EDGEQ_WARM_AGENT_S": "0"})
    assert ran.returncode == 0, ran.stderr
    (run,) = (folder / "runs").iterdir()
    return run


@pytest.mark.parametrize("samples, words", [
    (["a", "b"], "samples_ns[0]' is 'a'; expected nanoseconds >= 0"),
    ([1000, -100], "samples_ns[1]' is -100"),
    ([], "is ok but its samples_ns is empty"),
    ([1000, True], "samples_ns[1]' is True"),
])
def test_damaged_samples_are_refused_by_report_and_compare(
        samples: list, words: str, good_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = good_run
    bad = tmp_path / "bad" / good.name
    shutil.copytree(good, bad)
    result = json.loads((bad / "result.json").read_text())
    result["backends"][0]["samples_ns"] = samples
    (bad / "result.json").write_text(json.dumps(result))
    for argv in (["report", str(bad), "-o", str(tmp_path / "r.md")], ["compare", str(good), str(bad)],
                 ["compare", str(bad), str(good)]):
        assert_one_line_error(in_process(capsys, *argv), 2, words)
    assert not (tmp_path / "r.md").exists()
