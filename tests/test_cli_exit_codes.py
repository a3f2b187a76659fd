"""Each command's exit codes as the README documents them: 0 done, 1 a check failed, 2 bad input,
3 the board failed, 4 a bug, 130 interrupted. One real invocation per (command, code) it can give."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from edgeq import cli, zoo
from edgeq.errors import EXIT_INTERNAL
from edgeq.profile.handle import RunHandle

from .conftest import PROGRESS_LINE, REPO, write_board
from .ssh_fixtures import refusing_port


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, models: dict[str, Path]) -> Iterator[dict[str, object]]:
    """A local board, an unreachable ssh board, an emulated record that is not up, and one real run."""
    with refusing_port() as closed:  # refused for the whole module, and taken by nothing else
        yield _lab(tmp_path_factory, models, closed)


def _lab(tmp_path_factory: pytest.TempPathFactory, models: dict[str, Path], closed: int) -> dict[str, object]:
    root = tmp_path_factory.mktemp("exit-codes")
    boards = root / "boards"
    write_board(boards, "here", root / "work")
    record = yaml.safe_load((REPO / "boards" / "rpi4.yaml").read_text())
    record.update(name="gone", groups=[], connection={"kind": "ssh", "host": "127.0.0.1", "port": closed})
    (boards / "gone.yaml").write_text(yaml.safe_dump(record))
    env = {"EDGEQ_BOARDS": str(boards), "HOME": str(root / "home"), "XDG_CONFIG_HOME": str(root / "home" / ".config")}
    (root / "home").mkdir()
    runs = root / "runs"
    other = zoo.build("tiny-cnn", root / "other.tflite", seed=1)  # same shapes, other weights: outputs differ
    done = _cli(env, "profile", "-b", "here", "-m", str(models["float"]), "--runs", "30", "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    slower = runs.parent / "slower" / run.name
    shutil.copytree(run, slower)
    result = json.loads((slower / "result.json").read_text())
    for entry in result["backends"]:
        entry["samples_ns"] = [3 * s for s in entry["samples_ns"]]  # a 3x slowdown: a regression by any gate
    (slower / "result.json").write_text(json.dumps(result))
    return {"env": env, "root": root, "run": run, "slower": slower, "closed": closed, "other": other}


def _cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "edgeq", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **env}, timeout=300)


def _cases(models: dict[str, Path], lab: dict) -> list[tuple[int, list[str]]]:  # type: ignore[type-arg]
    root, run, slower = lab["root"], str(lab["run"]), str(lab["slower"])
    model, missing = str(models["float"]), str(root / "missing.tflite")
    return [
        (0, ["boards", "list", "--json"]), (2, ["boards", "show", "nosuch"]), (0, ["boards", "show", "here"]),
        (0, ["boards", "add", "added", "--host", "127.0.0.1", "--no-check"]),
        (2, ["boards", "add", "Bad Name", "--host", "x", "--no-check"]),
        (3, ["boards", "add", "unreached", "--host", "127.0.0.1", "--port", str(lab["closed"])]),
        (0, ["boards", "stop-agents", "--board", "here"]), (2, ["boards", "stop-agents", "--board", "nosuch"]),
        (3, ["boards", "stop-agents", "--board", "gone"]),
        (0, ["facts", "-b", "here", "--json"]), (2, ["facts", "-b", "nosuch"]), (3, ["facts", "-b", "gone"]),
        (0, ["deploy", "-b", "here", "-m", model]), (2, ["deploy", "-b", "here", "-m", missing]),
        (3, ["deploy", "-b", "gone"]),
        (0, ["bundle", "-b", "here", "-m", model, "-o", str(root / "bundle")]),
        (2, ["bundle", "-b", "here", "-m", missing]), (3, ["bundle", "-b", "gone"]),
        (2, ["profile", "-b", "here", "-m", missing]), (2, ["profile", "-b", "here", "-m", model, "--backend", "npu"]),
        (3, ["profile", "-b", "gone", "-m", model]),
        (1, ["profile", "-b", "here", "-m", model, "--reference", str(lab["other"]), "--strict", "--runs", "2",
             "--runs-dir", str(root / "runs-1")]),
        (0, ["zoo", "build", "tiny-cnn", "-o", str(root)]), (2, ["zoo", "build", "nosuch"]),
        (2, ["quantize", missing, "--mode", "int8"]), (2, ["analyze", missing]),
        (0, ["report", run, "-o", "-"]), (2, ["report", missing]),
        (0, ["compare", run, run]), (1, ["compare", run, slower]), (2, ["compare", run, missing]),
        (0, ["run", str(REPO / "recipes" / "quickstart.yaml"), "--dry-run"]), (2, ["run", missing]),
        (2, ["cross", "build", "--target", "sparc"]),
        (0, ["completion", "bash"]), (2, ["completion", "tcsh"]),
        (0, ["inspect", model, "--json"]), (2, ["inspect", missing]),
        (2, ["advise", "-m", missing, "--calib", "random", "-b", "here"]),
    ]


def test_every_command_exits_as_documented(models: dict[str, Path], lab: dict) -> None:  # type: ignore[type-arg]
    seen: dict[str, set[int]] = {}
    for code, args in _cases(models, lab):
        ran = _cli(lab["env"], *args, cwd=lab["root"])
        assert ran.returncode == code, (args, ran.returncode, ran.stderr[-500:])
        if code:
            errors = [line for line in ran.stderr.splitlines() if line.strip() and not PROGRESS_LINE.match(line)]
            assert errors and "Traceback" not in ran.stderr, (args, ran.stderr)
        seen.setdefault(args[0], set()).add(code)
    assert seen["profile"] == {1, 2, 3} and seen["compare"] == {0, 1, 2}
    assert not (lab["root"] / "-").exists()  # `report -o -` printed instead of writing a file named "-"


def test_emulate_status_is_1_when_the_board_is_not_running(lab: dict) -> None:  # type: ignore[type-arg]
    record = yaml.safe_load((REPO / "boards" / "qemu-aarch64.yaml").read_text())
    record["name"] = "qemu-aarch64-exitcodes"
    folder = Path(lab["env"]["EDGEQ_BOARDS"])
    (folder / "qemu-aarch64-exitcodes.yaml").write_text(yaml.safe_dump(record))
    ran = _cli(lab["env"], "emulate", "status", "--name", "qemu-aarch64-exitcodes")
    assert ran.returncode == 1, ran.stderr
    assert "not running" in ran.stdout


def test_a_bug_is_exit_4_with_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(_args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr("edgeq.cli.boards.cmd_boards_list", broken)
    assert cli.main(["boards", "list"]) == EXIT_INTERNAL
    assert capsys.readouterr().err.strip() == ("edgeq: internal error: RuntimeError: a bug "
                                               "(run with --debug for the traceback)")


def test_ctrl_c_is_130(models: dict[str, Path], lab: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    import os

    process = subprocess.Popen([sys.executable, "-m", "edgeq", "profile", "-b", "here", "-m", str(models["float"]),
                                "--min-seconds", "60", "--runs-dir", str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **lab["env"]})
    assert process.stderr is not None
    for line in process.stderr:  # wait until it is measuring, then interrupt it as Ctrl-C would
        if "measuring" in line:
            break
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    (partial,) = tmp_path.glob("*.partial")  # the run goes on on the board, kept to resume
    # Stop it as the host's deadline does (its whole process group): else it measures on for its
    # 60 s, a busy core under the tests that follow on a 2-core CI machine.
    os.killpg(RunHandle.load(partial).pid, signal.SIGKILL)
    assert process.returncode == 130, err
    assert "edgeq: interrupted" in err and "Traceback" not in err


def test_an_unavailable_backend_beside_one_that_ran_is_a_row_and_a_warning(models: dict[str, Path],
                                                                          lab: dict) -> None:  # type: ignore[type-arg]
    # GpuAcc needs a Mali GPU with ArmNN's GPU backend, which a test host does not have
    ran = _cli(lab["env"], "profile", "-b", "here", "-m", str(models["float"]), "--runs", "3",
               "--backend", "tflite-cpu,armnn:backends=GpuAcc", "--runs-dir", str(lab["root"] / "runs-unavailable"))
    assert ran.returncode == 0, ran.stderr
    assert "UNAVAILABLE" in ran.stdout
    assert "edgeq: warning: armnn:backends=GpuAcc is UNAVAILABLE on board here" in ran.stderr
    alone = _cli(lab["env"], "profile", "-b", "here", "-m", str(models["float"]), "--runs", "3",
                 "--backend", "armnn:backends=GpuAcc", "--runs-dir", str(lab["root"] / "runs-unavailable"))
    assert alone.returncode == 3, alone.stderr  # nothing ran: the board failed the job
