"""Fault 4: the board's disk fills up during a profile (a small tmpfs as the board's work dir).
A full disk during deploy is tests/test_deploy.py::test_a_full_disk_is_refused_before_upload_and_loses_nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgeq.boards.schema import Board
from edgeq.errors import BoardError
from edgeq.profile.run import profile

from .conftest import home, loopback, sshd_server  # noqa: F401  (fixtures)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB file system of its own (tmpfs with size=), unmounted at the end."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"the full-disk test mounts a small tmpfs and needs root (CAP_SYS_ADMIN): {done.stderr.strip()}",
                    pytrace=False)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(folder: Path, leave: int) -> Path:
    """A filler file that leaves about `leave` bytes free."""
    filler = folder / "filler"
    free = shutil.disk_usage(folder).free
    with filler.open("wb") as handle:
        handle.truncate(0)
        handle.write(b"\0" * max(0, free - leave))
    return filler


def test_a_full_disk_during_profile_is_reported_as_a_full_disk_and_loses_nothing(
        loopback: Board, models: dict[str, Path], tmp_path: Path, small_disk: Path) -> None:
    source = Path(str(loopback.source))
    data = yaml.safe_load(source.read_text())
    data["work_dir"] = str(small_disk / "edgeq")
    source.write_text(yaml.safe_dump(data))
    runs = tmp_path / "runs"
    first = profile(models["float"], board=loopback.name, runs=2, warmup=0, runs_dir=runs)
    assert first.result["backends"][0]["status"] == "ok"

    labelled = tmp_path / "eval.npz"  # labelled data bigger than what the disk has left
    shape = [int(d) for d in first.result["model"]["inputs"][0]["shape"][1:]]
    count = (2 << 20) // (4 * int(np.prod(shape))) + 1
    np.savez(labelled, x=np.random.default_rng(0).standard_normal([count, *shape]).astype(np.float32),
             y=np.zeros(count, dtype=np.int64))
    filler = _fill(small_disk, leave=1 << 20)
    with pytest.raises(BoardError) as caught:
        profile(models["float"], board=loopback.name, runs=2, warmup=0, runs_dir=runs, eval_data=labelled)
    message = str(caught.value)
    assert "no space left on the disk of" in message and "eval.npz" in message and "\n" not in message
    assert not list(runs.glob(".staging-*")) and not list(runs.glob("*.partial"))
    assert not [p for p in small_disk.rglob("*") if ".part" in p.name]

    filler.unlink()
    again = profile(models["float"], board=loopback.name, runs=2, warmup=0, runs_dir=runs)
    assert again.result["backends"][0]["status"] == "ok"  # the deployment before still works
    assert not (small_disk / "edgeq" / "deploy.lock").exists()
