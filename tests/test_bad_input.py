"""Every bad input gets one clear line and a documented exit code; nothing is left behind."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import Board, assert_one_line_error, run_cli, write_board


def _profile(board: Board, model: Path, tmp_path: Path, *extra: str):
    return run_cli("profile", "--board", board.name, "--model", str(model), "--runs", "2",
                   "--runs-dir", str(tmp_path / "runs"), *extra)


def _no_run_dir(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir()), list(runs.iterdir())


def test_a_file_that_is_not_tflite(board: Board, tmp_path: Path) -> None:
    fake = tmp_path / "notes.tflite"
    fake.write_text("this is a text file pretending to be a model\n")
    line = assert_one_line_error(_profile(board, fake, tmp_path), 2, str(fake), "not a TFLite model")
    assert "TFL3" in line
    _no_run_dir(tmp_path)


@pytest.mark.parametrize("keep", [0.5, 0.9, 12])
def test_a_truncated_model(keep: float, models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    data = models["float"].read_bytes()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[: int(len(data) * keep)] if keep < 1 else data[:keep])
    assert_one_line_error(_profile(board, cut, tmp_path), 2, str(cut), "truncated")
    _no_run_dir(tmp_path)


def test_a_missing_model_and_a_folder(board: Board, tmp_path: Path) -> None:
    assert_one_line_error(_profile(board, tmp_path / "nope.tflite", tmp_path), 2, "no such model file")
    assert_one_line_error(_profile(board, tmp_path, tmp_path), 2, "is a folder")


def test_an_unknown_backend_lists_the_choices(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    ran = _profile(board, models["float"], tmp_path, "--backend", "tflite-cpu,tflite-npu")
    assert_one_line_error(ran, 2, "unknown backend 'tflite-npu'. Choose from: armnn, tflite-benchmark, tflite-cpu, tflite-gpu")
    _no_run_dir(tmp_path)


def test_an_unknown_backend_option_lists_the_choices(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    ran = _profile(board, models["float"], tmp_path, "--backend", "tflite-cpu:thread=2")
    assert_one_line_error(ran, 2, "no option 'thread'", "Choose from: runtime, xnnpack")
    ran = _profile(board, models["float"], tmp_path, "--backend", "tflite-cpu:runtime")
    assert_one_line_error(ran, 2, "expected key=value")


def test_an_unknown_board(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    ran = run_cli("profile", "--board", "rpi44", "--model", str(models["float"]))
    assert_one_line_error(ran, 2, "unknown board or group 'rpi44'; did you mean 'rpi4'?")


def test_bad_numbers_and_pins(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    assert_one_line_error(_profile(board, models["float"], tmp_path, "--threads", "0"), 2, "--threads")
    assert_one_line_error(_profile(board, models["float"], tmp_path, "--pin", "big"), 2,
                          "--pin 'big'", "Choose from: first")
    assert_one_line_error(_profile(board, models["float"], tmp_path, "--pin", "0,7"), 2, "has no core 7")


def test_inputs_of_the_wrong_shape_or_kind(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    np.save(tmp_path / "wrong.npy", np.zeros((1, 8, 8, 3), np.float32))
    assert_one_line_error(_profile(board, models["float"], tmp_path, "--inputs", str(tmp_path / "wrong.npy")), 2,
                          "needs shape [1, 16, 16, 3], found [1, 8, 8, 3]")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    assert_one_line_error(_profile(board, models["float"], tmp_path, "--inputs", str(tmp_path / "junk.npz")), 2,
                          "not a readable .npy/.npz")
    np.save(tmp_path / "text.npy", np.array(["a"] * 768).reshape(1, 16, 16, 3))
    assert_one_line_error(_profile(board, models["float"], tmp_path, "--inputs", str(tmp_path / "text.npy")), 2,
                          "needs float32, found")
    _no_run_dir(tmp_path)


def test_a_missing_tflite_runtime_says_what_to_install(models: dict[str, Path], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian's own python3 has numpy and pyarmnn but neither TFLite runtime, and this board
    record lists only armnn, so deploy sends no TFLite wheels."""
    bare = write_board(tmp_path / "boards", "debianpy", tmp_path / "work", python="/usr/bin/python3",
                       backends="[armnn]")
    monkeypatch.setenv("EDGEQ_BOARDS", str(bare.boards_dir))
    ran = _profile(bare, models["float"], tmp_path, "--backend", "tflite-cpu")
    line = assert_one_line_error(ran, 3, "no backend completed", "no TFLite runtime found")
    assert "pip install ai-edge-litert" in line and "pip install tflite-runtime" in line
    assert "UNAVAILABLE" in ran.stdout


def _python_with_numpy_only(tmp_path: Path) -> str:
    """A venv without system packages, given numpy (and nothing else) from Debian's dist-packages."""
    import numpy

    venv = tmp_path / "numpy-only"
    os.system(f"{sys.executable} -m venv --without-pip {venv}")
    site = next((venv / "lib").glob("python3*/site-packages"))
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "numpy").symlink_to(Path(numpy.__file__).parent)
    (site / "shelf.pth").write_text(str(shelf) + "\n")
    return str(venv / "bin" / "python")


def test_a_missing_pyarmnn_says_what_to_install(models: dict[str, Path], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    python = _python_with_numpy_only(tmp_path)
    bare = write_board(tmp_path / "boards", "nopyarmnn", tmp_path / "work", python=python, backends="[armnn]")
    monkeypatch.setenv("EDGEQ_BOARDS", str(bare.boards_dir))
    ran = _profile(bare, models["float"], tmp_path, "--backend", "armnn")
    assert_one_line_error(ran, 3, "pyarmnn is not importable", "apt-get install python3-pyarmnn",
                          "--system-site-packages")


def test_a_board_python_without_numpy_is_refused(models: dict[str, Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    venv = tmp_path / "empty"
    os.system(f"{sys.executable} -m venv --without-pip {venv}")
    bare = write_board(tmp_path / "boards", "nonumpy", tmp_path / "work", python=str(venv / "bin" / "python"),
                       backends="[armnn]")
    monkeypatch.setenv("EDGEQ_BOARDS", str(bare.boards_dir))
    assert_one_line_error(_profile(bare, models["float"], tmp_path), 2, "numpy is not installed",
                          "python3-numpy")
    _no_run_dir(tmp_path)


def test_a_board_python_that_does_not_exist(models: dict[str, Path], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    bare = write_board(tmp_path / "boards", "nopython", tmp_path / "work", python="/nonexistent/python3")
    monkeypatch.setenv("EDGEQ_BOARDS", str(bare.boards_dir))
    assert_one_line_error(_profile(bare, models["float"], tmp_path), 3, "/nonexistent/python3")


def test_debug_shows_the_traceback(board: Board, tmp_path: Path) -> None:
    ran = run_cli("--debug", "profile", "--board", board.name, "--model", str(tmp_path / "nope.tflite"))
    assert ran.returncode != 0 and "Traceback" in ran.stderr and "ModelError" in ran.stderr
