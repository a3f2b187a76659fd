"""The Python API: the session in docs/api.md runs as written, and results are typed."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

import edgeq
from edgeq.agent.records import Result
from edgeq.errors import ConfigError

from .conftest import REPO, Board


def _session() -> str:
    text = (REPO / "docs" / "api.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return code


def test_the_session_in_docs_api_md_runs(board: Board, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    scope: dict[str, object] = {}
    with contextlib.redirect_stdout(out):
        exec(compile(_session(), "docs/api.md", "exec"), scope)  # noqa: S102 - our own documentation
    run = scope["run"]
    assert isinstance(run, edgeq.RunResult) and isinstance(run.result, Result)
    assert (tmp_path / "report.md").exists()
    printed = out.getvalue()
    assert "tflite-cpu p50" in printed and "armnn:backends=CpuRef" in printed
    refused = next(line for line in printed.splitlines() if line.startswith("refused:"))
    assert "runs" in refused and "--" not in refused  # names the parameter, not a CLI flag


def test_paths_may_be_strings_and_errors_name_parameters(models: dict[str, Path], board: Board,
                                                         tmp_path: Path) -> None:
    run = edgeq.profile(str(models["float"]), board=board.name, runs=3, warmup=0, runs_dir=str(tmp_path / "api"),
                        reference=str(models["float"]))
    assert run.run_dir.parent == tmp_path / "api" and run.ok
    assert Result.from_dict(run.to_dict()).to_dict() == run.to_dict()
    with pytest.raises(ConfigError) as caught:
        edgeq.profile(str(models["float"]), board=board.name, backends="tflite-cpu", pin="nosuch",
                      runs_dir=str(tmp_path / "api"))
    assert "--" not in str(caught.value)


def test_api_names_coexist_with_the_packages_of_the_same_name() -> None:
    import edgeq.profile.run  # the package is imported ...
    import edgeq.report.api

    assert callable(edgeq.profile) and callable(edgeq.report)  # ... and the names are still the API
    assert edgeq.profile.run.profile is not None
    assert {"profile", "deploy", "quantize", "analyze", "inspect", "report", "compare", "run_recipe",
            "load_run", "list_boards", "load_board"} <= set(dir(edgeq))
