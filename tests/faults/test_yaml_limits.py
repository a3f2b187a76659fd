"""Fault 2: a YAML bomb under a valid key, a huge file, a huge value in an error message."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeq.config.loader import MAX_YAML_BYTES, MAX_YAML_NODES

from ..conftest import assert_one_line_error, run_cli


def _bomb(depth: int = 9) -> str:
    """`[&a0 [x x9], &a1 [*a0 x9], ...]`: 9^depth values from a few hundred bytes."""
    levels = ["&a0 [" + ", ".join(["lol"] * 9) + "]"]
    levels += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, depth)]
    return "[" + ", ".join(levels) + "]"


def _board(folder: Path, extra: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "bomb.yaml"
    path.write_text("name: bomb\narch: x86_64\nconnection: {kind: ssh, host: 127.0.0.1}\npython: /usr/bin/python3\n"
                    + extra)
    return path


@pytest.mark.parametrize("where", ["description", "groups", "unknown_key"])
def test_a_yaml_bomb_under_any_key_is_refused_before_it_expands(tmp_path: Path, where: str) -> None:
    _board(tmp_path / "boards", f"{where}: {_bomb()}\n")
    ran = run_cli("boards", "show", "bomb", env={"EDGEQ_BOARDS": str(tmp_path / "boards")})
    assert_one_line_error(ran, 2, "bomb.yaml", f"more than {MAX_YAML_NODES:,} values")


def test_a_recipe_bomb_is_refused_too(tmp_path: Path) -> None:
    recipe = tmp_path / "bomb.yaml"
    recipe.write_text(f"name: bomb\nboards: {_bomb()}\n")
    ran = run_cli("run", str(recipe), cwd=tmp_path)
    assert_one_line_error(ran, 2, "bomb.yaml", "YAML bomb")


def test_a_huge_board_file_is_refused_unread(tmp_path: Path) -> None:
    path = _board(tmp_path / "boards", "description: |\n")
    with path.open("a") as handle:
        handle.write(("  " + "x" * 1000 + "\n") * (MAX_YAML_BYTES // 1000 + 10))
    ran = run_cli("boards", "show", "bomb", env={"EDGEQ_BOARDS": str(tmp_path / "boards")})
    assert_one_line_error(ran, 2, "bomb.yaml", "larger than 1 MB")


def test_a_big_but_bounded_value_is_shown_short(tmp_path: Path) -> None:
    """Within the bounds, a wrong value's message shows a bounded excerpt, never the whole value."""
    _board(tmp_path / "boards", "cpu: [" + ", ".join(str(i) for i in range(20000)) + "]\n")
    ran = run_cli("boards", "show", "bomb", env={"EDGEQ_BOARDS": str(tmp_path / "boards")})
    line = assert_one_line_error(ran, 2, "bomb.yaml", "cpu: expected a mapping", "[0, 1, 2, 3, ...]")
    assert len(line) < 400
