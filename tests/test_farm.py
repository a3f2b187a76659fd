"""Boards from a shared labgrid farm: a real coordinator, two real exporters, two real sshd boards.

Each exporter exports a NetworkService that points at its own OpenSSH server on 127.0.0.1; the
places are made with labgrid-client exactly as docs/farm.md shows. Nothing of labgrid is mocked.
After every test, and after the module, the coordinator must hold no acquired place and no
reservation: a place edgeq forgot to give back would block a whole lab.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from edgeq.boards import farm as farm_api
from edgeq.boards.fleet import board_records, run_on_boards
from edgeq.errors import TransportError
from edgeq.profile.run import profile
from edgeq.testing.farm import Daemon, start_coordinator, start_exporter
from edgeq.testing.sshd import SshServer, board_yaml, start_sshd
from edgeq.testing.warm import stop_warm_agents

FACTS = {"farm-a": "farm-one", "farm-b": "farm-two"}
"""place -> the board record its `board` tag names."""
EXPORTER = {"farm-a": "exp-a", "farm-b": "exp-b"}
QUICK = {"runs": 3, "warmup": 1}
MID = {"runs": 3, "warmup": 1, "min_seconds": 5.0}
"""Long enough for the host to see the run's phase at least once."""
LONG = {"runs": 3, "warmup": 1, "min_seconds": 30.0}
"""Long enough to be interrupted mid-run; the test stops the board's job itself afterwards."""


@dataclass
class Farm:
    root: Path
    address: str
    boards: Path
    home: Path
    servers: dict[str, SshServer]
    exporters: dict[str, Daemon]

    def client(self, *args: str, user: str | None = None, check: bool = True) -> str:
        """labgrid-client as a person (or, with `user`, another person) types it."""
        env = {**os.environ, **({"LG_USERNAME": user} if user else {})}
        done = subprocess.run([farm_api.client(), "-x", self.address, *args], capture_output=True, text=True,
                              env=env, timeout=60)
        if check:
            assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    def held(self) -> tuple[str, str]:
        """(acquired places, open reservations) as labgrid-client prints them: both empty when all is given back."""
        return self.client("places", "--acquired").strip(), self.client("reservations").strip()


def _board(boards: Path, name: str, server: SshServer, work: Path, connection: dict | None = None) -> None:
    data = yaml.safe_load(board_yaml(name, server, work))
    if connection is not None:
        data["connection"] = connection
    (boards / f"{name}.yaml").write_text(yaml.safe_dump(data))


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("farm")
    started: list[Daemon] = []
    servers: dict[str, SshServer] = {}
    try:
        for place in FACTS:
            servers[place] = start_sshd(root / f"sshd-{place}")
        coordinator, address = start_coordinator(root / "coordinator")
        started.append(coordinator)
        exporters = {}
        for place, name in EXPORTER.items():
            service = {"address": "127.0.0.1", "port": servers[place].port, "username": servers[place].user}
            exporters[place] = start_exporter(root, address, name, {"board": {"NetworkService": service}})
            started.append(exporters[place])
    except RuntimeError as exc:
        for daemon in started:
            daemon.stop()
        for server in servers.values():
            server.stop()
        pytest.fail(str(exc), pytrace=False)
    boards, home = root / "boards", root / "home"
    boards.mkdir()
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text("".join(s.known_hosts_line() + "\n" for s in servers.values()))
    here = Farm(root, address, boards, home, servers, exporters)
    for place, facts in FACTS.items():
        _board(boards, facts, servers[place], root / "work")
        # the commands of docs/farm.md, "Making places"
        here.client("-p", place, "create")
        here.client("-p", place, "add-match", f"{EXPORTER[place]}/board/NetworkService")
        here.client("-p", place, "set-tags", f"board={facts}", "lab=edgeq-test")
    _board(boards, "farm-a-board", servers["farm-a"], root / "work",
           {"kind": "labgrid", "place": "farm-a", "key_file": str(servers["farm-a"].user_key_path)})
    try:
        yield here
        left = here.held()
    finally:
        stop_warm_agents(root)
        for daemon in reversed(started):
            daemon.stop()
        for server in servers.values():
            server.stop()
    assert left == ("", ""), f"the farm tests left places acquired or reservations open: {left}"


@pytest.fixture(autouse=True)
def in_farm(farm: Farm, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LG_COORDINATOR", farm.address)
    monkeypatch.setenv("EDGEQ_BOARDS", str(farm.boards))
    monkeypatch.setenv("HOME", str(farm.home))
    yield
    assert farm.held() == ("", ""), "this test left a place acquired or a reservation open"


def _stop_board_jobs(root: Path) -> None:
    """End what an interrupted run left going on the (loopback) board: processes started under `root`."""
    stop_warm_agents(root)
    for entry in os.listdir("/proc"):
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if entry.isdigit() and int(entry) != os.getpid() and b"agent.pyz" in argv and str(root).encode() in argv:
            try:
                os.kill(int(entry), signal.SIGTERM)
            except ProcessLookupError:
                pass


def test_profile_through_a_place_holds_it_during_the_run_and_releases_it(
        farm: Farm, models: dict[str, Path], tmp_path: Path) -> None:
    seen: list[str] = []

    def watch(phases: dict[str, str]) -> None:
        if not seen:
            seen.append(farm.client("who"))

    run = profile(models["float"], board="farm-a-board", runs_dir=tmp_path / "runs", watch=watch, **MID)
    assert run.ok and run.result["backends"][0]["status"] == "ok"
    assert seen and "farm-a" in seen[0] and farm_api.me().split("/")[1] in seen[0], seen
    assert "acquired: None" in farm.client("-p", "farm-a", "show")


def test_a_place_held_by_someone_else_is_refused_naming_the_holder(
        farm: Farm, models: dict[str, Path], tmp_path: Path) -> None:
    farm.client("-p", "farm-a", "acquire", user="alice")
    try:
        with pytest.raises(TransportError, match=r"farm-a held by [^ ]+/alice\b.*not waiting"):
            profile(models["float"], board="farm-a-board", runs_dir=tmp_path / "runs", **QUICK)
        assert "/alice" in farm.client("-p", "farm-a", "show")  # still hers: nothing was taken from her
        assert farm.client("reservations").strip() == ""
    finally:
        farm.client("-p", "farm-a", "release", user="alice")


def test_waiting_for_a_held_place_says_for_whom_then_runs_when_it_is_released(
        farm: Farm, models: dict[str, Path], tmp_path: Path) -> None:
    farm.client("-p", "farm-a", "acquire", user="alice")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    edgeq = subprocess.Popen([sys.executable, "-m", "edgeq", "profile", "--model", str(models["float"]),
                              "--board", "farm-a-board", "--place-wait", "300", "--runs", "3", "--warmup", "1",
                              "--runs-dir", str(tmp_path / "runs")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert edgeq.stderr is not None
        said = ""
        while "waiting" not in said and edgeq.poll() is None:
            said = edgeq.stderr.readline()
        assert "held by" in said and "/alice" in said and "waiting up to 300 s" in said, said
    finally:
        farm.client("-p", "farm-a", "release", user="alice")
    out, err = edgeq.communicate(timeout=300)
    assert edgeq.returncode == 0, err
    assert "run directory:" in out


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_mid_profile_releases_the_place(farm: Farm, models: dict[str, Path], tmp_path: Path,
                                               stop: signal.Signals) -> None:
    work = farm.root / "work" / "farm-a-board"
    earlier = set(work.rglob("work/phase"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    edgeq = subprocess.Popen([sys.executable, "-m", "edgeq", "profile", "--model", str(models["float"]),
                              "--board", "farm-a-board", "--runs", "3", "--min-seconds", "30",
                              "--runs-dir", str(tmp_path / "runs")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        while not set(work.rglob("work/phase")) - earlier:  # this run's job has started on the board
            assert edgeq.poll() is None, edgeq.communicate()
            time.sleep(0.2)
        assert "farm-a" in farm.client("places", "--acquired")  # mid-run: held
        edgeq.send_signal(stop)
        out, err = edgeq.communicate(timeout=120)
    finally:
        if edgeq.poll() is None:
            edgeq.kill()
        _stop_board_jobs(farm.root / "work")
    assert edgeq.returncode == 128 + stop, err  # 130 for Ctrl-C, 143 for SIGTERM, as shells report them
    assert "Traceback" not in err, err
    assert "acquired: None" in farm.client("-p", "farm-a", "show")


def test_a_tag_filter_runs_on_every_matching_free_place_in_parallel(
        farm: Farm, models: dict[str, Path], tmp_path: Path) -> None:
    records = board_records("labgrid:lab=edgeq-test")
    assert sorted(records) == ["farm-one@farm-a", "farm-two@farm-b"]
    both_running = threading.Barrier(2, timeout=240)  # a serial fleet never gets two runs here at once
    held: list[str] = []

    def step(name: str):
        met: list[bool] = []

        def watch(phases: dict[str, str]) -> None:
            if not met:
                met.append(True)
                if both_running.wait() == 0:
                    held.append(farm.client("places", "--acquired"))
        return profile(models["float"], board=records[name], runs_dir=tmp_path / "runs", watch=watch, **MID)

    outcomes = run_on_boards(list(records), step)
    assert [o.error for o in outcomes] == [None, None]
    assert all(o.value.ok for o in outcomes)
    assert held and "farm-a" in held[0] and "farm-b" in held[0], held


def test_the_cli_takes_a_tag_filter_and_count(farm: Farm, models: dict[str, Path], tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    # the command of docs/farm.md, "A CI job"
    done = subprocess.run([sys.executable, "-m", "edgeq", "profile", "--model", str(models["float"]),
                           "--board", "labgrid:lab=edgeq-test", "--count", "1", "--place-wait", "120",
                           "--runs", "3", "--warmup", "1", "--runs-dir", str(tmp_path / "runs")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "farm-one@farm-a" in done.stdout or "farm-one@farm-a" in str(list((tmp_path / "runs").iterdir()))
    assert len(list((tmp_path / "runs").iterdir())) == 1


def test_the_exporter_dying_mid_run_is_a_clear_error_and_the_place_is_released(
        farm: Farm, models: dict[str, Path], tmp_path: Path) -> None:
    killed: list[int] = []

    def watch(phases: dict[str, str]) -> None:
        if not killed:
            killed.append(1)
            farm.exporters["farm-b"].kill()

    records = board_records("labgrid:farm-b")
    try:
        with pytest.raises(TransportError, match=r"place farm-b lost mid-run: exporter exp-b went away"):
            profile(models["float"], board=records["farm-two@farm-b"], runs_dir=tmp_path / "runs", watch=watch,
                    **LONG)
    finally:
        _stop_board_jobs(farm.root / "work")
        farm.exporters["farm-b"].start()  # the next test (or the module's check) finds the farm whole
    assert killed
    assert "acquired: None" in farm.client("-p", "farm-b", "show")


def test_without_a_coordinator_or_a_place_the_error_is_one_line(farm: Farm, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(Exception, match="no place matches board=nonesuch"):
        board_records("labgrid:board=nonesuch")
    monkeypatch.delenv("LG_COORDINATOR")
    with pytest.raises(Exception, match="set LG_COORDINATOR"):
        board_records("labgrid:board=farm-one")


def test_a_recipe_names_a_board_by_its_labgrid_tags(farm: Farm, tmp_path: Path) -> None:
    from edgeq.recipe import run_recipe

    recipe = tmp_path / "farm.yaml"
    recipe.write_text(f"""\
models:
  - zoo: tiny-cnn
    modes: [fp32]
boards: [labgrid:board=farm-one+lab=edgeq-test]
backends: [tflite-cpu]
profile: {{runs: 3, warmup: 1}}
report: {{formats: [md]}}
work_dir: {tmp_path / "work"}
runs_dir: {tmp_path / "runs"}
""")
    run = run_recipe(recipe, place_wait_s=120)
    assert [c.id for c in run.plan.cells] == ["tiny-cnn/fp32/farm-one@lab=edgeq-test/tflite-cpu/t1"]
    assert not run.failed, [c.cached for c in run.failed]
    assert run.counters["cells_profiled"] == 1


def test_a_lost_ssh_connection_mid_run_releases_the_place(farm: Farm, models: dict[str, Path], tmp_path: Path) -> None:
    cut: list[int] = []

    def watch(phases: dict[str, str]) -> None:
        if not cut:
            cut.extend(farm.servers["farm-a"].connection_pids())
            for pid in cut:
                os.kill(pid, signal.SIGKILL)

    try:
        with pytest.raises(TransportError, match="farm-a-board"):
            profile(models["float"], board="farm-a-board", runs_dir=tmp_path / "runs", watch=watch, **LONG)
    finally:
        _stop_board_jobs(farm.root / "work")
    assert cut
    assert "acquired: None" in farm.client("-p", "farm-a", "show")
