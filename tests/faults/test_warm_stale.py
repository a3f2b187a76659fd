"""Fault 7: a warm agent started before the board's Python environment changed must not fork
backends from the old one. The board's python is a wrapper that puts a folder on sys.path (as a
.pth file or PYTHONPATH would); installing a package there must retire the running warm agent."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import yaml

from edgeq.boards.schema import Board
from edgeq.profile.run import profile
from edgeq.testing.warm import running_warm_agents

from .conftest import home, loopback, sshd_server  # noqa: F401  (fixtures)


def test_a_package_installed_on_sys_path_retires_the_warm_agent(
        loopback: Board, models: dict[str, Path], tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    wrapper = tmp_path / "python3"
    wrapper.write_text(f"#!/bin/sh\nPYTHONPATH={site} exec {sys.executable} \"$@\"\n")
    wrapper.chmod(stat.S_IRWXU)
    source = Path(str(loopback.source))
    data = yaml.safe_load(source.read_text())
    data["python"] = str(wrapper)
    source.write_text(yaml.safe_dump(data))
    work = Path(loopback.work_dir)

    def run() -> str:
        done = profile(models["float"], board=loopback.name, runs=2, warmup=0, runs_dir=tmp_path / "runs")
        assert done.result["backends"][0]["status"] == "ok"
        return str(done.result["warm_agent"])

    assert [run(), run()] == ["started", "reused"]
    (old,) = running_warm_agents(work)
    (site / "numpy_shadow").mkdir()  # a package installed where the agent's python looks first
    (site / "numpy_shadow" / "__init__.py").write_text("")
    assert run() == "started"
    (new,) = running_warm_agents(work)
    assert new != old
    assert old not in running_warm_agents(work)  # the stale one exited (its pid file names the new one)
    assert "changed since it started" in "".join(p.read_text() for p in (work / "warm").glob("*.log"))
    assert run() == "reused"
