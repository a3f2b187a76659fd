"""Deploy and profile over real SSH to loopback boards: interruptions, hostile names, host keys, fleets."""

from __future__ import annotations

import os
import shutil
import signal
import stat
from pathlib import Path

import pytest

from edgeq.deploy.plan import deploy
from edgeq.errors import TransportError
from edgeq.profile.run import profile, resume
from edgeq.testing.sshd import SshServer, start_sshd

from .conftest import assert_one_line_error, run_cli
from .ssh_fixtures import home, ssh_board, sshd_server, trust  # noqa: F401  (fixtures)


@pytest.fixture
def loopback(tmp_path: Path, home: Path, sshd_server: SshServer, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    trust(home, sshd_server)
    record = ssh_board(tmp_path / "boards", sshd_server)
    monkeypatch.setenv("EDGEQ_BOARDS", str(tmp_path / "boards"))
    return record


def _padded(model: Path, out: Path, extra: int) -> Path:
    """A valid model with `extra` trailing bytes: big enough to interrupt mid-upload."""
    shutil.copyfile(model, out)
    with out.open("ab") as handle:
        handle.write(os.urandom(extra))
    return out


def test_killing_the_connection_mid_upload_keeps_the_old_deployment(
        loopback, sshd_server: SshServer, models: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    deploy(loopback.name, [models["float"]])
    work = Path(loopback.work_dir).expanduser()
    before = os.readlink(work / "current")
    big = _padded(models["float"], tmp_path / "big.tflite", 24 * 2**20)
    killed: list[int] = []

    def cut(done: int, total: int) -> None:
        if not killed and done > total // 3:
            for pid in sshd_server.connection_pids():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    with pytest.raises(TransportError, match="lost"):
        deploy(loopback.name, [big], progress=cut)
    assert killed
    assert os.readlink(work / "current") == before
    run = profile(models["float"], board=loopback.name, runs=2, warmup=0, runs_dir=tmp_path / "runs")
    assert run.result["backends"][0]["status"] == "ok"  # the old deployment still works

    again = deploy(loopback.name, [big])
    assert again.files_sent == 1 and again.bytes_sent == big.stat().st_size
    assert (work / "models" / next(p.name for p in (work / "models").iterdir() if "big" in p.name)).stat().st_size \
        == big.stat().st_size
    assert not (work / "deploy.lock").exists()
    assert not [p for p in (work / "store").iterdir() if ".part" in p.name]


def test_a_hostile_model_name_deploys_profiles_and_runs_nothing(
        loopback, models: dict[str, Path], tmp_path: Path) -> None:
    odd = tmp_path / "odd"
    odd.mkdir()
    hostile = odd / "a b;touch pwned.tflite"
    shutil.copyfile(models["float"], hostile)
    ran = run_cli("profile", "--board", loopback.name, "--model", str(hostile), "--runs", "2",
                  "--runs-dir", str(tmp_path / "runs"), cwd=odd)
    assert ran.returncode == 0, ran.stderr
    assert "a b;touch pwned" in ran.stdout
    work = Path(loopback.work_dir)
    for root in (tmp_path, work, Path.home(), Path.cwd(), Path("/root"), Path("/tmp")):
        assert not list(root.glob("pwned*")), root
    assert not [p for p in work.rglob("*pwned*") if p.name.startswith("pwned")]


def test_everything_on_the_board_is_owner_only(loopback, models: dict[str, Path]) -> None:
    deploy(loopback.name, [models["float"]])
    work = Path(loopback.work_dir)
    for path in [work / "store", work / "models", work / "agent", work / "deployments"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for path in (work / "store").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_an_unknown_host_key_is_refused_with_its_fingerprint(
        tmp_path: Path, home: Path, sshd_server: SshServer, models: dict[str, Path],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    ssh_board(tmp_path / "boards", sshd_server, name="stranger")
    env = {"EDGEQ_BOARDS": str(tmp_path / "boards"), "HOME": str(home)}
    ran = run_cli("deploy", "--board", "stranger", env=env)
    line = assert_one_line_error(ran, 3, "SHA256:", "--accept-new-host-key")
    assert "ED25519" in line.upper()
    ran = run_cli("deploy", "--board", "stranger", "--accept-new-host-key", env=env)
    assert ran.returncode == 0, ran.stderr
    assert f"[127.0.0.1]:{sshd_server.port}" in (home / ".ssh" / "known_hosts").read_text()
    assert run_cli("deploy", "--board", "stranger", env=env).returncode == 0


def test_a_connection_lost_mid_run_keeps_a_partial_run_that_resumes(
        loopback, sshd_server: SshServer, models: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    cut: list[int] = []

    def watch(phases: dict[str, str]) -> None:
        if not cut and "measuring" in phases.values():
            for pid in sshd_server.connection_pids():
                os.kill(pid, signal.SIGKILL)
                cut.append(pid)

    runs = tmp_path / "runs"
    with pytest.raises(TransportError) as caught:
        profile(models["float"], board=loopback.name, runs=1, warmup=0, min_seconds=2.0, runs_dir=runs,
                watch=watch)
    assert cut
    (partial,) = runs.glob("*.partial")
    assert f"edgeq profile --resume {partial}" in str(caught.value)
    assert (partial / "job.json").exists() and (partial / "inputs.npz").exists()
    run = resume(partial)
    assert not partial.exists() and run.run_dir.exists()
    entry = run.result["backends"][0]
    assert entry["status"] == "ok" and entry["stats"]["count"] > 10
    assert (run.run_dir / "outputs" / entry["outputs"]).exists()


def test_a_fleet_reports_the_dead_board_and_completes_the_others(
        tmp_path: Path, home: Path, sshd_server: SshServer, models: dict[str, Path],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    second = start_sshd(tmp_path / "sshd2")
    dead = start_sshd(tmp_path / "sshd3")
    try:
        for name, server in (("pia", sshd_server), ("pib", second), ("pidead", dead)):
            trust(home, server)
            ssh_board(tmp_path / "boards", server, name=name)
        dead.stop()
        env = {"EDGEQ_BOARDS": str(tmp_path / "boards"), "HOME": str(home)}
        ran = run_cli("profile", "--board", "pia,pib,pidead", "--model", str(models["float"]), "--runs", "3",
                      "--runs-dir", str(tmp_path / "runs"), env=env)
        assert ran.returncode == 3, ran.stderr
        assert "1 of 3 boards failed" in ran.stderr
        summary = ran.stdout[ran.stdout.index("board  "):]
        assert "pia" in summary and "pib" in summary and "1/1 backends ok" in summary
        dead_row = next(line for line in summary.splitlines() if line.startswith("pidead"))
        assert "FAILED" in dead_row and "cannot connect to board pidead" in dead_row
        assert len(list((tmp_path / "runs").iterdir())) == 2
    finally:
        second.stop()
