"""One set of measurement settings: the CLI, a recipe and the Python API make the same job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import edgeq.api
import edgeq.cli
from edgeq.boards.schema import Board
from edgeq.errors import EXIT_BOARD_FAILURE, EXIT_CHECK_FAILED, ConfigError
from edgeq.profile.run import profile
from edgeq.recipe import run_recipe
from edgeq.recipe.schema import Profiling
from edgeq.settings import DEFAULTS, Settings, exit_decision

RECIPE = """\
models:
  - zoo: tiny-cnn
    modes: [fp32]
boards: [testhost]
backends: [tflite-cpu]
report: {{formats: [md]}}
work_dir: {work}
runs_dir: {runs}
"""


def _job(run_dir: Path) -> dict:
    """A run's job, less what names this run's files (the model is the same file each time)."""
    job = json.loads((run_dir / "job.json").read_text())
    assert job["model"].endswith(".tflite")
    return job


def test_cli_recipe_and_api_profile_a_model_with_the_same_job(board: Board, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(work=tmp_path / "work", runs=tmp_path / "recipe-runs"))
    ran = run_recipe(recipe)
    (cell,) = ran.plan.cells
    from_recipe = _job(Path(cell.cached["run_dir"]))
    (variant,) = (tmp_path / "work" / "variants").glob("*/*.tflite")

    code = edgeq.cli.main(["profile", "--model", str(variant), "--board", board.name,
                           "--runs-dir", str(tmp_path / "cli-runs")])
    capsys.readouterr()
    assert code == 0
    (cli_run,) = (tmp_path / "cli-runs").iterdir()
    from_api = _job(edgeq.api.profile(variant, board=board.name, runs_dir=tmp_path / "api-runs").run_dir)
    from_run = _job(profile(variant, board=board.name, runs_dir=tmp_path / "run-runs").run_dir)

    assert _job(cli_run) == from_api == from_run == from_recipe
    assert (from_api["measure"]["runs"], from_api["warmup"]["runs"]) == (DEFAULTS.runs, DEFAULTS.warmup) == (50, 5)


def test_the_recipe_section_and_the_cli_flags_default_to_the_settings() -> None:
    assert Profiling().settings(threads=DEFAULTS.threads) == DEFAULTS
    args = edgeq.cli.build_parser().parse_args(["profile", "--model", "m.tflite"])
    from edgeq.cli.running import settings_from_args

    assert settings_from_args(args) == DEFAULTS


def test_a_setting_out_of_range_or_unknown_is_one_config_error() -> None:
    with pytest.raises(ConfigError, match="--runs 0: expected a whole number >= 1"):
        DEFAULTS.but(runs=0)
    with pytest.raises(ConfigError, match="unknown setting 'run'. Choose from: runs"):
        DEFAULTS.but(run=3)


def _result(status: str = "ok", fully: bool = True, passed: bool = True) -> dict:
    entry = {"label": "armnn", "status": status, "reason": None if status == "ok" else "it crashed",
             "coverage": {"fully_delegated": fully, "fallback_ops": [] if fully else [{"op": "ADD", "reason": "x"}]}}
    return {"backends": [entry], "correctness": {"backends": {"armnn": {"passed": passed, "why": "max error 9"}}}}


@pytest.mark.parametrize("result, settings, expected", [
    (_result(), Settings(strict=True, require_full_delegation=True), None),
    (_result("failed"), DEFAULTS, ("no backend completed on board b: armnn: it crashed", EXIT_BOARD_FAILURE)),
    (_result(fully=False), DEFAULTS, None),
    (_result(fully=False), Settings(require_full_delegation=True),
     ("not fully delegated on board b: armnn: ADD (x)", EXIT_CHECK_FAILED)),
    (_result(passed=False), DEFAULTS, None),
    (_result(passed=False), Settings(strict=True),
     ("outputs do not match the reference on board b: armnn: max error 9", EXIT_CHECK_FAILED)),
])
def test_the_exit_decision_rules(result: dict, settings: Settings, expected: tuple[str, int] | None) -> None:
    found = exit_decision(result, settings, "b")
    assert (None if found is None else (found.message, found.exit_code)) == expected
