"""A missing optional extra is named in one line before anything is done or written.

The shared test environment has every extra installed, so each test hides modules the
way a plain `pip install edgeq` lacks them: `sys.modules[name] = None` makes Python's
finder report them absent, exactly what `importlib.util.find_spec` sees without them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import REPO, Ran, assert_one_line_error

HIDE = ("tensorflow", "tf_keras", "ai_edge_quantizer", "tensorflow_model_optimization", "sklearn")


def _without_quantize(*args: str, cwd: Path) -> Ran:
    code = (f"import sys\nfor name in {HIDE!r}: sys.modules[name] = None\n"
            f"from edgeq.cli import main\nsys.exit(main({list(args)!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120)
    return Ran(done.returncode, done.stdout, done.stderr)


def test_quantize_names_the_extra_and_leaves_no_folder(models: dict[str, Path], tmp_path: Path) -> None:
    ran = _without_quantize("quantize", str(models["float"]), "--mode", "int8", "--calib", "random",
                            "-o", str(tmp_path / "variants"), cwd=tmp_path)
    assert_one_line_error(ran, 2, "ai_edge_quantizer", "pip install 'edgeq[quantize]'")
    assert not (tmp_path / "variants").exists()


def test_zoo_build_of_a_keras_model_names_the_extra(tmp_path: Path) -> None:
    ran = _without_quantize("zoo", "build", "digits-cnn", "-o", str(tmp_path / "d" / "digits.keras"), cwd=tmp_path)
    assert_one_line_error(ran, 2, "zoo model digits-cnn needs tensorflow", "'edgeq[quantize]'")
    assert not (tmp_path / "d").exists()


def test_run_dry_run_lists_what_is_missing_and_the_run_refuses_up_front(tmp_path: Path) -> None:
    recipe = str(REPO / "recipes" / "quickstart.yaml")
    dry = _without_quantize("run", recipe, "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    needs = [line for line in dry.stdout.splitlines() if line.startswith("needs: ")]
    assert needs and all("MISSING" in line and "'edgeq[quantize]'" in line for line in needs), dry.stdout
    ran = _without_quantize("run", recipe, cwd=tmp_path)
    assert_one_line_error(ran, 2, "needs tensorflow", "pip install 'edgeq[quantize]'")
    assert not (tmp_path / ".edgeq").exists() and not (tmp_path / "runs").exists()


def test_advise_names_the_extra(models: dict[str, Path], tmp_path: Path) -> None:
    ran = _without_quantize("advise", "-m", str(models["float"]), "--calib", "random", cwd=tmp_path)
    assert_one_line_error(ran, 2, "advise (it quantizes the candidates) needs tensorflow", "'edgeq[quantize]'")
