"""The YAML loader: every bad input becomes one ConfigError line a person can act on."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import ValidationError

from edgeq.config import FileRecord, Record, load_model, load_yaml, validate
from edgeq.boards.schema import Board
from edgeq.errors import ConfigError

GOOD_BOARD = """\
name: {name}
arch: aarch64
connection:
  kind: ssh
  host: board.local
  user: pi
cpu:
  model: Broadcom BCM2711
  clusters:
    - {{name: main, core: cortex-a72, cores: [0, 1, 2, 3]}}
backends: [tflite-cpu, armnn]
python: /usr/bin/python3
"""


def write(tmp_path: Path, text: str, name: str = "board.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def board_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_model(path, Board)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


def test_good_board_loads_and_remembers_its_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_BOARD.format(name="board"))
    board = load_model(path, Board)
    assert board.name == "board"
    assert board.connection.port == 22
    assert board.work_dir == "~/edgeq"
    assert board.source == path


def test_duplicate_key_names_key_and_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "name: a\ncpu:\n  model: x\n  model: y\n")
    with pytest.raises(ConfigError) as caught:
        load_yaml(path)
    assert str(caught.value) == f"{path}:4: duplicate key 'model' (first given at line 3)"


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    path = write(tmp_path, "base: &b {a: 1, b: 2}\nx: &x\n  <<: *b\n  a: 3\ny: *x\nz:\n  <<: *x\n")
    data = load_yaml(path)
    assert data["x"] == data["y"] == data["z"] == {"a": 3, "b": 2}


def test_yaml_syntax_error_gives_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: a\narch: [aarch64\nbackends: []\n")
    with pytest.raises(ConfigError) as caught:
        load_yaml(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:")
    assert "invalid YAML" in message
    assert ":3: " in message or ":4: " in message


def test_tab_indentation_is_a_syntax_error_with_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: a\n\tarch: aarch64\n")
    with pytest.raises(ConfigError, match=r":2: invalid YAML: found character '\\t'"):
        load_yaml(path)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file$"):
        load_model(tmp_path / "nope.yaml", Board)


def test_top_level_list_is_refused(tmp_path: Path) -> None:
    message = board_error(tmp_path, "- rpi4\n- rpi5\n")
    assert message.endswith("expected a mapping of keys to values at the top level, found ['rpi4', 'rpi5']")


def test_empty_file_is_refused(tmp_path: Path) -> None:
    assert "file is empty" in board_error(tmp_path, "# only a comment\n")


def test_unknown_key_suggests_closest(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace("connection:", "conection:")
    message = board_error(tmp_path, text)
    # The typo also leaves `connection` missing; the typo is what gets reported.
    assert message.endswith(": unknown key 'conection'; did you mean 'connection'? (and 1 more problem)")


def test_nested_unknown_key_names_its_parent(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace("  user: pi", "  user: pi\n  prot: 2222")
    assert board_error(tmp_path, text).endswith(": connection: unknown key 'prot'; did you mean 'port'?")


def test_unknown_key_without_close_match_lists_valid_keys(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace("  user: pi", "  user: pi\n  zzzzzz: 1")
    message = board_error(tmp_path, text)
    assert message.endswith(
        "connection: unknown key 'zzzzzz'. Valid keys: kind, host, port, user, key_file, ssh_alias, password_env, "
        "place, tags, coordinator, wait_s"
    )


def test_bad_literal_lists_choices(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace("arch: aarch64", "arch: arm64")
    message = board_error(tmp_path, text)
    assert message.endswith(
        "arch: unknown value 'arm64'; did you mean 'aarch64'? Choose from: aarch64, armv7l, x86_64, auto"
    )


def test_bad_literal_inside_a_list_has_index_in_path(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace("[tflite-cpu, armnn]", "[tflite-cpu, arm-nn]")
    message = board_error(tmp_path, text)
    assert "backends[1]: unknown value 'arm-nn'; did you mean 'armnn'?" in message
    assert message.endswith("Choose from: tflite-cpu, tflite-gpu, armnn")


def test_wrong_type_names_path_expected_and_found(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace("cores: [0, 1, 2, 3]", "cores: [0, one, 2, 3]")
    message = board_error(tmp_path, text)
    assert message.endswith("cpu.clusters[0].cores[1]: expected a whole number, found 'one'")


def test_port_out_of_range(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace("  user: pi", "  user: pi\n  port: 70000")
    assert board_error(tmp_path, text).endswith("connection.port: expected a number <= 65535, found 70000")


def test_missing_required_key(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace("arch: aarch64\n", "")
    assert board_error(tmp_path, text).endswith(": missing required key 'arch'")


def test_several_errors_report_first_and_count(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace("arch: aarch64", "arch: 7")
    text = text.replace("model: Broadcom BCM2711", "model: 3")
    message = board_error(tmp_path, text)
    assert "arch: unknown value 7" in message
    assert message.endswith("(and 1 more problem)")


def test_ssh_without_host_or_alias(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace("  host: board.local\n", "")
    assert board_error(tmp_path, text).endswith(": connection: an ssh connection needs 'host' or 'ssh_alias'")


def test_ssh_alias_is_enough(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace("host: board.local", "ssh_alias: lab-pi")
    assert load_model(write(tmp_path, text), Board).connection.ssh_alias == "lab-pi"


def test_local_connection_refuses_ssh_keys(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace("kind: ssh", "kind: local")
    message = board_error(tmp_path, text)
    assert message.endswith("connection: kind 'local' takes no host, user: those keys are for ssh only")


def test_core_listed_in_two_clusters(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace(
        "    - {name: main, core: cortex-a72, cores: [0, 1, 2, 3]}",
        "    - {name: big, core: cortex-a73, cores: [2, 3]}\n    - {name: little, core: cortex-a53, cores: [0, 2]}",
    )
    assert board_error(tmp_path, text).endswith("cpu: core 2 is listed in both clusters 'big' and 'little'")


def test_negative_core_id(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace("cores: [0, 1, 2, 3]", "cores: [-1]")
    assert board_error(tmp_path, text).endswith("cpu.clusters[0].cores[0]: expected a number >= 0, found -1")


@pytest.mark.parametrize("work_dir", ["/", "''", "'~'", "//", "~/", "~/..", "/home/..", "~/a/../.."])
def test_work_dir_must_be_a_folder_of_its_own(tmp_path: Path, work_dir: str) -> None:
    text = GOOD_BOARD.format(name="board") + f"work_dir: {work_dir}\n"
    assert "work_dir: expected a folder edgeq may own" in board_error(tmp_path, text)


def test_bare_tilde_is_null_and_the_message_says_so(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board") + "work_dir: ~\n"
    assert board_error(tmp_path, text).endswith(
        "work_dir: expected text, found null (YAML reads an empty value and a bare ~ as null; quote text)"
    )


def test_password_env_is_not_echoed(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace("  user: pi", "  user: pi\n  password_env: 's3cret pass!'")
    message = board_error(tmp_path, text)
    assert "connection.password_env: expected the NAME of an environment variable" in message
    assert "s3cret" not in message


def test_auto_arch_only_for_local(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace("arch: aarch64", "arch: auto")
    assert "arch 'auto' fits only a local board" in board_error(tmp_path, text)


def test_gpu_backend_needs_compute_gpu(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board").replace("[tflite-cpu, armnn]", "[tflite-gpu]")
    text += "gpu: {model: VideoCore VI, compute: false}\n"
    assert board_error(tmp_path, text).endswith("backends: tflite-gpu needs a gpu with 'compute: true'")


def test_source_cannot_be_set_from_yaml(tmp_path: Path) -> None:
    text = GOOD_BOARD.format(name="board") + "source: /etc/passwd\n"
    assert ": unknown key 'source'" in board_error(tmp_path, text)


class Step(Record):
    kind: Literal["quantize", "profile"]
    repeat: int = 1


class Plan(FileRecord):
    steps: list[Step]


def test_validate_reuses_the_same_messages_for_other_schemas() -> None:
    with pytest.raises(ConfigError) as caught:
        validate({"steps": [{"kind": "profile"}, {"kind": "quantise"}]}, Plan, "recipe.yaml")
    assert str(caught.value) == (
        "recipe.yaml: steps[1].kind: unknown value 'quantise'; did you mean 'quantize'? Choose from: quantize, profile"
    )
    plan = validate({"steps": [{"kind": "profile", "repeat": 3}]}, Plan, "inline")
    assert plan.steps[0].repeat == 3 and plan.source is None


def test_validate_refuses_non_mapping_without_traceback() -> None:
    with pytest.raises(ConfigError, match=r"^x: expected a mapping, found \[1, 2\]$"):
        validate([1, 2], Plan, "x")


def test_records_are_read_only(tmp_path: Path) -> None:
    board = load_model(write(tmp_path, GOOD_BOARD.format(name="board")), Board)
    with pytest.raises(ValidationError, match="frozen"):
        board.name = "other"
