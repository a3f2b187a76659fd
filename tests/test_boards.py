"""The board catalog: search path, shadowing, names, groups and the text the CLI shows."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import pytest

from edgeq.boards import catalog as boards
from edgeq.errors import ConfigError

SHIPPED = ["local", "odroid-n2plus", "qemu-aarch64", "qemu-aarch64-system", "qemu-aarch64-trixie", "rock5b", "rpi4", "rpi5"]

BOARD = """\
name: {name}
description: {description}
arch: aarch64
connection: {{kind: ssh, host: {name}.lab, user: lab}}
cpu:
  model: test SoC
  clusters:
    - {{name: big, core: cortex-a76, cores: [4, 5, 6, 7], max_mhz: 2400}}
    - {{name: little, core: cortex-a55, cores: [0, 1, 2, 3]}}
backends: [tflite-cpu]
python: /usr/bin/python3
groups: {groups}
"""


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the user's own board folder and EDGEQ_BOARDS out of every test."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv(boards.ENV_VAR, raising=False)
    return home


def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *names: str, groups: str = "[]") -> Path:
    """Board files in tmp_path/lab, which EDGEQ_BOARDS then names."""
    root = tmp_path / "lab"
    root.mkdir(exist_ok=True)
    for name in names:
        (root / f"{name}.yaml").write_text(BOARD.format(name=name, description=f"lab {name}", groups=groups))
    monkeypatch.setenv(boards.ENV_VAR, str(root))
    return root


def test_search_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv(boards.ENV_VAR, f"{first}{os.pathsep}{second}")
    project = Path(boards.__file__).resolve().parents[2] / "boards"
    assert boards.search_path() == [first, second, isolated_home / ".config" / "edgeq" / "boards", project]


def test_xdg_config_home_is_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert tmp_path / "xdg" / "edgeq" / "boards" in boards.search_path()


def test_every_shipped_board_loads() -> None:
    loaded = boards.list_boards()
    assert [b.name for b in loaded] == SHIPPED
    for board in loaded:
        assert board.source is not None and board.source.stem == board.name
        assert boards.describe(board).startswith(board.name)


def test_records_say_which_os_generation_they_assume() -> None:
    generations = {b.name: (b.os.debian, b.os.codename) for b in boards.list_boards() if b.os is not None}
    assert generations["rpi5"] == (13, "trixie") and generations["qemu-aarch64-trixie"] == (13, "trixie")
    assert generations["qemu-aarch64"] == (12, "bookworm")
    assert {"rock5b", "odroid-n2plus", "rpi4"} <= set(generations)


def test_shipped_groups() -> None:
    assert boards.groups() == {
        "emulated": ["qemu-aarch64", "qemu-aarch64-system", "qemu-aarch64-trixie"],
        "mali": ["odroid-n2plus", "rock5b"],
        "pi": ["rpi4", "rpi5"],
    }


def test_local_board_arch_is_this_host() -> None:
    local = boards.load_board("local")
    assert local.arch == "auto"
    machine = platform.machine().lower()
    assert boards.target_arch(local) == {"arm64": "aarch64", "amd64": "x86_64"}.get(machine, machine)
    assert local.python is None and local.cpu.clusters == []


def test_env_board_shadows_project_board(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lab(tmp_path, monkeypatch, "rpi4")
    board = boards.load_board("rpi4")
    assert board.description == "lab rpi4"
    assert board.source == tmp_path / "lab" / "rpi4.yaml"
    assert [b.name for b in boards.list_boards()] == SHIPPED  # shadowed, not doubled


def test_user_folder_shadows_project_but_not_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    user = isolated_home / ".config" / "edgeq" / "boards"
    user.mkdir(parents=True)
    (user / "rpi5.yaml").write_text(BOARD.format(name="rpi5", description="user rpi5", groups="[]"))
    assert boards.load_board("rpi5").description == "user rpi5"
    lab(tmp_path, monkeypatch, "rpi5")
    assert boards.load_board("rpi5").description == "lab rpi5"


def test_name_must_match_file_stem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = lab(tmp_path, monkeypatch)
    (root / "bench.yaml").write_text(BOARD.format(name="bench2", description="x", groups="[]"))
    with pytest.raises(ConfigError) as caught:
        boards.load_board("bench")
    expected = "name: expected 'bench' (the file name without .yaml), found 'bench2'"
    assert str(caught.value) == f"{root / 'bench.yaml'}: {expected}"


def test_bad_file_is_reported_by_list_not_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = lab(tmp_path, monkeypatch)
    (root / "broken.yaml").write_text("name: broken\narch: arm64\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: .*arch: unknown value 'arm64'"):
        boards.list_boards()


def test_yml_file_is_not_silently_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = lab(tmp_path, monkeypatch)
    (root / "bench.yml").write_text("name: bench\n")
    with pytest.raises(ConfigError, match=r"bench\.yml: board files end in \.yaml; rename it to bench\.yaml"):
        boards.list_boards()


def test_missing_env_folder_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(boards.ENV_VAR, str(tmp_path / "typo"))
    with pytest.raises(ConfigError, match=r"EDGEQ_BOARDS names .*typo, which is not a folder"):
        boards.load_board("rpi4")


def test_unknown_board_suggests_and_lists() -> None:
    with pytest.raises(ConfigError) as caught:
        boards.load_board("rpi6")
    message = str(caught.value)
    assert message.startswith("unknown board 'rpi6'; did you mean 'rpi")
    assert message.endswith("Choose from: " + ", ".join(SHIPPED))


def test_unknown_board_without_close_match() -> None:
    with pytest.raises(ConfigError, match=r"^unknown board 'zzzz'\. Choose from: local, "):
        boards.load_board("zzzz")


def test_resolve_names_and_groups_in_order_without_repeats() -> None:
    assert [b.name for b in boards.resolve_boards("rpi5,rpi4")] == ["rpi5", "rpi4"]
    assert [b.name for b in boards.resolve_boards("pi")] == ["rpi4", "rpi5"]
    assert [b.name for b in boards.resolve_boards("rpi5, mali ,pi")] == ["rpi5", "odroid-n2plus", "rock5b", "rpi4"]
    assert [b.name for b in boards.resolve_boards(["local", "qemu-aarch64,local"])] == ["local", "qemu-aarch64"]


def test_resolve_groups_from_env_boards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lab(tmp_path, monkeypatch, "bench-a", "bench-b", groups="[bench]")
    assert [b.name for b in boards.resolve_boards("bench")] == ["bench-a", "bench-b"]


def test_resolve_unknown_name_mentions_groups() -> None:
    with pytest.raises(ConfigError) as caught:
        boards.resolve_boards("mailo")
    message = str(caught.value)
    assert message.startswith("unknown board or group 'mailo'; did you mean 'mali'?")
    assert message.endswith("groups emulated, mali, pi")


def test_resolve_empty_spec() -> None:
    with pytest.raises(ConfigError, match="no boards given"):
        boards.resolve_boards(" , ")


def test_group_named_like_a_board_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lab(tmp_path, monkeypatch, "bench", groups="[rpi4]")
    with pytest.raises(ConfigError, match=r"bench\.yaml: groups: 'rpi4' is also a board name"):
        boards.list_boards()


def test_describe_mentions_clusters_and_core_ids() -> None:
    text = boards.describe(boards.load_board("odroid-n2plus"))
    assert "big" in text and "4x cortex-a73, cores 2-5, up to 2400 MHz" in text
    assert "little" in text and "2x cortex-a53, cores 0-1" in text
    assert "Mali-G52 (opencl)" in text
    assert "GpuAcc, CpuAcc, CpuRef" in text
    assert "ssh odroid@odroid-n2plus.local:22" in text


def test_describe_of_emulated_board_says_so() -> None:
    text = boards.describe(boards.load_board("qemu-aarch64"))
    assert "emulated" in text and "not hardware figures" in text
    assert "ssh edgeq@127.0.0.1:2222, key ~/.cache/edgeq/emulate/qemu-aarch64/id_ed25519" in text


def test_core_ranges() -> None:
    assert boards.core_ranges([3, 0, 1, 2, 6, 8, 9]) == "0-3,6,8-9"
    assert boards.core_ranges([]) == ""


def test_table_has_a_row_per_board() -> None:
    text = boards.table(boards.list_boards())
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "ARCH", "CPU", "GPU", "BACKENDS", "GROUPS", "ORIGIN", "CONNECTION"]
    assert [line.split()[0] for line in lines[1:]] == SHIPPED
    rock = next(line for line in lines if line.startswith("rock5b"))
    assert "4x cortex-a76 + 4x cortex-a55" in rock and "Mali-G610" in rock and "ssh rock@rock5b.local:22" in rock


def test_facts_win_over_the_records_os_generation_with_a_warning() -> None:
    from edgeq.link.probe import os_disagreement

    rpi5 = boards.load_board("rpi5")  # assumes Raspberry Pi OS 13 (trixie)
    bookworm = {"os": {"codename": "bookworm", "pretty": "Debian GNU/Linux 12 (bookworm)"}}
    warning = os_disagreement(rpi5, bookworm)
    assert warning is not None
    assert "assumes Raspberry Pi OS 13 (trixie)" in warning and "runs Debian GNU/Linux 12 (bookworm)" in warning
    assert "uses what the board reports" in warning
    assert os_disagreement(rpi5, {"os": {"codename": "trixie"}}) is None
    assert os_disagreement(boards.load_board("local"), bookworm) is None  # a record without os: nothing to say


FARM_BOARD = BOARD.replace("connection: {{kind: ssh, host: {name}.lab, user: lab}}", "connection: {connection}")


@pytest.mark.parametrize(("connection", "message"), [
    ("{kind: labgrid}", "a labgrid connection needs 'place' or 'tags'"),
    ("{kind: labgrid, place: farm-a, host: x.lab}", "kind 'labgrid' takes no host: the place's NetworkService gives them"),
    ("{kind: ssh, host: x.lab, place: farm-a}", "kind 'ssh' takes no place: those keys are for labgrid only"),
    ("{kind: labgrid, tags: {Board: rpi5}}", "expected tags such as board: rpi5"),
    ("{kind: labgrid, place: farm-a, wait_s: -1}", "wait_s"),
])
def test_a_labgrid_connection_is_checked_like_any_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        connection: str, message: str) -> None:
    root = lab(tmp_path, monkeypatch)
    (root / "farmed.yaml").write_text(FARM_BOARD.format(name="farmed", description="d", groups="[]",
                                                        connection=connection))
    with pytest.raises(ConfigError, match=re.escape(message)):
        boards.load_board("farmed")


def test_describe_says_which_place_or_tags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = lab(tmp_path, monkeypatch)
    for name, connection in (("one", "{kind: labgrid, place: farm-a, coordinator: 'lab:20408'}"),
                             ("any", "{kind: labgrid, tags: {board: rpi5, lab: north}, wait_s: 60}")):
        (root / f"{name}.yaml").write_text(FARM_BOARD.format(name=name, description="d", groups="[]",
                                                            connection=connection))
    assert "labgrid place farm-a on lab:20408" in boards.describe(boards.load_board("one"))
    assert "labgrid any free place with board=rpi5 lab=north on $LG_COORDINATOR, waits up to 60 s" in \
        boards.table([boards.load_board("any")])


def test_without_labgrid_a_labgrid_board_says_what_to_install(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from .conftest import assert_one_line_error, run_cli

    root = lab(tmp_path, monkeypatch)
    (root / "farmed.yaml").write_text(FARM_BOARD.format(name="farmed", description="d", groups="[]",
                                                        connection="{kind: labgrid, place: farm-a}"))
    blocker = tmp_path / "no-labgrid"
    blocker.mkdir()
    # Python's own way to make a package unimportable: None in sys.modules, set before edgeq starts.
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['labgrid'] = None\n")
    repo = Path(__file__).resolve().parent.parent
    ran = run_cli("facts", "--board", "farmed", env={"PYTHONPATH": f"{blocker}{os.pathsep}{repo}",
                                                     "LG_COORDINATOR": "127.0.0.1:9"})
    assert_one_line_error(ran, 2, "a labgrid board", "needs labgrid", "pip install 'edgeq[farm]'")
