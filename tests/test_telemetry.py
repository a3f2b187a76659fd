"""Telemetry: power sources, throttle bits, samples placed in windows, energy, cooldown, governor.

The sensors are doubles at the hardware boundary only (edgeq.testing.fakesys): a fake
sysfs tree under the agent's `root` prefix and a fake vcgencmd first on PATH. Everything
above them (sources, sampler, derivation, the agent's runner, the host) is the real code.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeq.agent import jobspec, timing
from edgeq.agent.telemetry import TelemetryError, derive, governor, vcgencmd
from edgeq.agent.telemetry.observer import Observer
from edgeq.agent.telemetry.power import open_source
from edgeq.agent.telemetry.probe import Probe
from edgeq.agent.telemetry.sampler import Sampler
from edgeq.boards.catalog import load_board
from edgeq.profile.run import profile
from edgeq.testing.fakesys import FakeSys, FakeVcgencmd, microwatts, millicelsius
from edgeq.link.transport import connect

from .conftest import write_board

MS = 1_000_000


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeSys]:
    with FakeSys(tmp_path / "fakesys") as tree:
        yield tree


def _hwmon(tree: FakeSys, name: str = "ina226") -> Probe:
    return Probe(str(tree.root), [], open_source({"source": "hwmon", "hwmon_name": name}, str(tree.root)))


def _local_board(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> str:
    """A private local board whose YAML says `extra` (its power source, say)."""
    record = write_board(tmp_path / "boards", "telemetry-host", tmp_path / "board-work")
    path = record.boards_dir / f"{record.name}.yaml"
    path.write_text(path.read_text() + "".join(f"{line}\n" for line in extra))
    monkeypatch.setenv("EDGEQ_BOARDS", str(record.boards_dir))
    return record.name


# --- throttling -------------------------------------------------------------------------

@pytest.mark.parametrize("value, now, since_boot", [
    (0x0, set(), set()),
    (0x50005, {"under_voltage", "throttled"}, {"under_voltage", "throttled"}),
    (0x80008, {"soft_temp_limit"}, {"soft_temp_limit"}),
])
def test_throttle_bits_decode_as_the_raspberry_pi_documents(value: int, now: set, since_boot: set, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fake_vc = FakeVcgencmd(tmp_path / "bin")
    fake_vc.set(throttled=value)
    monkeypatch.setenv("PATH", fake_vc.path())
    command = vcgencmd.find()
    assert command == str(tmp_path / "bin" / "vcgencmd")
    raw = vcgencmd.read_throttled(command)
    assert raw == value
    decoded = vcgencmd.decode_throttled(raw)
    assert decoded["raw"] == hex(value)
    assert {name for name, on in decoded["now"].items() if on} == now
    assert {name for name, on in decoded["since_boot"].items() if on} == since_boot


# --- power sources ----------------------------------------------------------------------

def test_hwmon_reads_power_or_else_volts_times_amps(fake: FakeSys) -> None:
    fake.hwmon("ina260", power_w=1.25)
    fake.hwmon("ina226", in1_mv=5000, curr1_ma=400)
    root = str(fake.root)
    assert open_source({"source": "hwmon", "hwmon_name": "ina260"}, root).read() == {"w": pytest.approx(1.25)}
    assert open_source({"source": "hwmon", "hwmon_name": "ina226"}, root).read() == {"w": pytest.approx(2.0)}
    with pytest.raises(TelemetryError, match=r"no hwmon device named 'ina219' .*hwmon0=ina260, hwmon1=ina226"):
        open_source({"source": "hwmon", "hwmon_name": "ina219"}, root)


def test_rpi5_pmic_sums_volts_times_amps_over_the_rails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_vc = FakeVcgencmd(tmp_path / "bin")
    fake_vc.set(rails={"VDD_CORE": (0.72, 2.1644), "DDR_VDD2": (1.1, 0.5), "EXT5V": (5.14, None)})
    monkeypatch.setenv("PATH", fake_vc.path())
    reading = open_source({"source": "rpi5-pmic"}, "/").read()
    assert reading == {"w": pytest.approx(0.72 * 2.1644 + 0.55),
                       "rails": {"DDR_VDD2": pytest.approx(0.55), "VDD_CORE": pytest.approx(0.72 * 2.1644)}}
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(TelemetryError, match="needs vcgencmd on PATH"):
        open_source({"source": "rpi5-pmic"}, "/")


def test_command_source_keeps_its_process_and_reads_its_lines(tmp_path: Path) -> None:
    meter = tmp_path / "meter.py"
    meter.write_text(f"import os, time\nopen({str(tmp_path / 'pid')!r}, 'w').write(str(os.getpid()))\n"
                     "print('USB meter v1', flush=True)\nfor w in (1.5, 2.5):\n    print(w, 'W', flush=True)\n"
                     "time.sleep(60)\n")
    source = open_source({"source": "command", "command": f"{sys.executable} {meter}"}, "/")
    deadline = time.monotonic() + 5
    while source.read() != {"w": 2.5} and time.monotonic() < deadline:
        time.sleep(0.01)
    assert source.read() == {"w": 2.5}
    source.close()
    with pytest.raises(ProcessLookupError):  # stopped and reaped
        os.kill(int((tmp_path / "pid").read_text()), 0)
    with pytest.raises(TelemetryError, match="printed no watts.*exited with code 3: no meter"):
        open_source({"source": "command", "command": "sh -c 'echo no meter >&2; exit 3'"}, "/")


# --- the job keys -----------------------------------------------------------------------

def _job(tmp_path: Path, **extra: object) -> str:
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"schema": "edgeq.job/1", "model": "m.tflite", "inputs": "i.npz", "out_dir": ".",
                                "backends": [{"name": "tflite-cpu"}], **extra}))
    return str(path)


def test_unknown_power_source_says_choose_from(tmp_path: Path) -> None:
    with pytest.raises(jobspec.JobError, match=r"^telemetry\.power\.source: unknown power source 'ina226'\. "
                                               r"Choose from: command, hwmon, none, rpi5-pmic$"):
        jobspec.load_job(_job(tmp_path, telemetry={"power": {"source": "ina226"}}))


@pytest.mark.parametrize("extra, message", [
    ({"telemetry": {"rate": 5}}, "telemetry: unknown key 'rate'. Choose from: power, rate_hz"),
    ({"telemetry": {"power": {"source": "hwmon", "name": "x"}}}, "telemetry.power: unknown key 'name'"),
    ({"telemetry": {"power": {"source": "hwmon"}}}, "telemetry.power.hwmon_name: source 'hwmon' needs"),
    ({"telemetry": {"rate_hz": -1}}, "telemetry.rate_hz: expected a non-negative number"),
    ({"telemetry": {"rate_hz": 5000}}, "telemetry.rate_hz: expected at most 1000"),
    ({"telemetry": {"thermal_zones": "thermal_zone0"}}, "telemetry.thermal_zones: expected names"),
    ({"cooldown_to_c": "cool"}, "cooldown_to_c: expected degrees Celsius"),
    ({"governor": "performance; reboot"}, "governor: expected a cpufreq governor"),
])
def test_bad_telemetry_keys_are_refused_by_name(extra: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(jobspec.JobError, match="^" + message.replace(".", r"\.").replace("(", r"\(")):
        jobspec.load_job(_job(tmp_path, **extra))


def test_a_power_source_turns_sampling_and_the_idle_window_on(tmp_path: Path) -> None:
    quiet = jobspec.load_job(_job(tmp_path))
    assert (quiet["telemetry"]["rate_hz"], quiet["telemetry"]["idle_seconds"], quiet["governor"]) == (0, 0, None)
    powered = jobspec.load_job(_job(tmp_path, telemetry={"power": {"source": "hwmon", "hwmon_name": "ina226"}}))
    assert (powered["telemetry"]["rate_hz"], powered["telemetry"]["idle_seconds"]) == (10, 1.0)


# --- samples in windows -----------------------------------------------------------------

def test_two_watts_and_5ms_inferences_give_10mj_per_inference(fake: FakeSys, tmp_path: Path) -> None:
    fake.hwmon("ina226", power_w=2.0)
    sampler = Sampler(_hwmon(fake), 100, str(tmp_path / "telemetry.jsonl"))
    runs, clock = 200, time.perf_counter_ns
    ends = iter(range(5 * MS, (runs + 1) * 5 * MS, 5 * MS))

    def inference() -> None:
        """Busy on a core (no sleep) until its 5 ms slot ends: back to back, 5 ms each on average,
        however often the sampler thread or a busy machine takes the core for a moment."""
        end = t0 + next(ends)
        while clock() < end:
            pass

    sampler.begin()
    try:
        t0 = clock()
        samples = timing.run_loop(inference, runs, 0)  # the agent's own timing loop
        window = [t0, clock()]
    finally:
        sampler.finish()
    found = derive.backend(sampler.samples, window, len(samples), idle_w=None)
    assert found["energy"]["avg_power_w"] == pytest.approx(2.0)
    assert found["energy"]["energy_mj_per_inference"] == pytest.approx(2.0 * (window[1] - window[0]) / runs / 1e6)
    assert found["energy"]["energy_mj_per_inference"] == pytest.approx(10.0, rel=0.02)
    assert found["samples"] >= 50
    lines = (tmp_path / "telemetry.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == sampler.samples


def test_a_power_step_lands_in_its_window(fake: FakeSys, tmp_path: Path) -> None:
    """Idle at 1 W, backend A at 3 W, backend B at 2 W with its clock dropping half-way."""
    hwmon = fake.hwmon("ina226", power_w=1.0)
    policy = fake.cpufreq_policy(cur_khz=1_800_000, min_khz=600_000, max_khz=1_800_000)
    start = time.perf_counter_ns()
    idle, a, b = [start, start + 250 * MS], [start + 350 * MS, start + 550 * MS], [start + 650 * MS, start + 850 * MS]
    fake.play(lambda t: {
        f"{hwmon}/power1_input": microwatts(1.0 if t < start + 300 * MS else 3.0 if t < start + 600 * MS else 2.0),
        f"{policy}/scaling_cur_freq": 1_800_000 if t < start + 750 * MS else 1_200_000,
    })
    sampler = Sampler(_hwmon(fake), 200, str(tmp_path / "telemetry.jsonl"))
    sampler.begin()
    time.sleep(max(0.0, (b[1] + 50 * MS - time.perf_counter_ns()) / 1e9))
    sampler.finish()
    idle_w = derive.average_power(sampler.samples, *idle)
    assert idle_w == pytest.approx(1.0, rel=0.02)
    first, second = (derive.backend(sampler.samples, window, 40, idle_w) for window in (a, b))
    assert first["energy"]["avg_power_w"] == pytest.approx(3.0, rel=0.02)
    assert first["energy"]["avg_power_above_idle_w"] == pytest.approx(2.0, rel=0.02)
    assert first["energy"]["energy_mj_per_inference_above_idle"] == pytest.approx(2.0 * 200 / 40, rel=0.02)
    assert second["energy"]["avg_power_w"] == pytest.approx(2.0, rel=0.02)
    assert (first["throttling"]["clock_dropped"], second["throttling"]["clock_dropped"]) == (False, True)
    assert (first["flagged"], second["flagged"]) == (False, True)
    assert second["cpufreq"]["policy0"] == {"min_khz": 1_200_000, "max_khz": 1_800_000}


# --- conditions: cooldown and governor --------------------------------------------------

def _observer_job(tree: FakeSys, tmp_path: Path, **conditions: object) -> dict:
    job = jobspec.load_job(_job(tmp_path, telemetry={"root": str(tree.root)}, **conditions))
    job["out_dir"] = str(tmp_path)
    return job


def test_cooldown_gives_up_at_its_timeout_and_says_so(fake: FakeSys, tmp_path: Path) -> None:
    fake.thermal_zone("cpu-thermal", 70.0)
    with Observer(_observer_job(fake, tmp_path, cooldown_to_c=50, cooldown_timeout_s=0.3)) as observer:
        waited = observer.cool_down()
    assert waited is not None
    assert (waited["reached"], waited["start_c"], waited["end_c"]) == (False, 70.0, 70.0)
    assert waited["waited_s"] >= 0.3


def test_governor_is_restored_when_the_run_raises(fake: FakeSys, tmp_path: Path) -> None:
    policy = fake.cpufreq_policy(cur_khz=1_000_000, min_khz=600_000, max_khz=1_800_000, governor="ondemand")
    with pytest.raises(RuntimeError, match="runtime crashed"):
        with governor.governed(str(fake.root), "performance") as record:
            assert fake.read(f"{policy}/scaling_governor") == "performance"
            raise RuntimeError("runtime crashed")
    assert fake.read(f"{policy}/scaling_governor") == "ondemand"
    assert record is not None and record["restored"] is True


def test_cooldown_waits_until_the_board_is_cool(fake: FakeSys, models: dict[str, Path], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    zone = fake.thermal_zone("cpu-thermal", 70.0)
    name = _local_board(tmp_path, monkeypatch)
    # Hot until 2 s after the agent made its run folder (then it reads facts and the zone, in well under
    # that), then cool. Not 2 s after the test began: deploying and starting the job took 1.25 of those
    # on this VM, and a slower CI machine would have read the zone cool already.
    cool_at: list[int] = []
    agent_folders = tmp_path / "board-work"

    def trace(t: int) -> dict[str, int]:
        if not cool_at and any(agent_folders.glob("runs/*/work")):
            cool_at.append(t + 2000 * MS)
        return {f"{zone}/temp": millicelsius(70.0 if not cool_at or t < cool_at[0] else 40.0)}

    fake.play(trace)
    run = profile(models["float"], board=name, runs=5, warmup=1, cooldown_to=46, telemetry_root=str(fake.root),
                  runs_dir=tmp_path / "runs")
    (entry,) = run.result["backends"]
    waited = entry["telemetry"]["cooldown"]
    assert (waited["reached"], waited["start_c"], waited["end_c"]) == (True, 70.0, 40.0)
    assert entry["windows"]["load"][0] > cool_at[0]  # the backend started only once the board was cool
    assert run.result["settings"]["cooldown_to_c"] == 46


def test_governor_is_set_for_the_run_and_restored_when_the_backend_fails(
        fake: FakeSys, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = fake.cpufreq_policy(cur_khz=1_000_000, min_khz=600_000, max_khz=2_400_000)
    little = fake.cpufreq_policy(cur_khz=800_000, min_khz=400_000, max_khz=1_800_000, governor="ondemand",
                                 available=("ondemand", "powersave"))
    name = _local_board(tmp_path, monkeypatch)
    # 30 s of measuring against a 0.5 s timeout: killed for time however fast the child starts
    run = profile(models["float"], board=name, runs=5, min_seconds=30, governor="performance", timeout_s=0.5,
                  telemetry_root=str(fake.root), runs_dir=tmp_path / "runs")
    (entry,) = run.result["backends"]
    assert entry["status"] == "failed" and "timed out" in entry["reason"]
    record = run.result["telemetry"]["governor"]
    assert record["policies"]["policy0"] == {"was": "schedutil", "set": True}
    assert record["policies"]["policy1"]["set"] is False
    assert "not available here (choose from: ondemand, powersave)" in record["policies"]["policy1"]["reason"]
    assert record["restored"] is True
    assert run.result["telemetry"]["start"]["cpufreq"]["policy0"]["governor"] == "performance"
    assert (fake.read(f"{big}/scaling_governor"), fake.read(f"{little}/scaling_governor")) == ("schedutil", "ondemand")


# --- end to end: the figures flow into result.json --------------------------------------

def _emulated_board(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tree: FakeSys,
                    request: pytest.FixtureRequest, board: str) -> tuple[str, str]:
    """The emulated board with an INA226 in its record, and the fake tree copied onto it for this test."""
    shipped = load_board(board).source.read_text()
    boards = tmp_path / "boards"
    boards.mkdir()
    (boards / "qemu-telemetry.yaml").write_text(
        shipped.replace(f"name: {board}\n", "name: qemu-telemetry\n")
        .replace("  source: none", "  source: hwmon\n  hwmon_name: ina226"))
    monkeypatch.setenv("EDGEQ_BOARDS", str(boards))
    record = load_board("qemu-telemetry")
    transport = connect(record)
    try:
        root = f"{transport.expand(record.work_dir)}/fakesys-{uuid.uuid4().hex[:8]}"
        for rel, local in tree.files():
            transport.put(local, f"{root}/{rel}")
    finally:
        transport.close()

    def remove() -> None:
        board = connect(record)
        try:
            board.run(["rm", "-rf", root])
        finally:
            board.close()

    request.addfinalizer(remove)
    return record.name, root


def test_two_watts_flow_into_the_result(fake: FakeSys, models: dict[str, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    fake.hwmon("ina226", power_w=2.0)
    fake.thermal_zone("cpu-thermal", 48.5)
    fake.cpufreq_policy(cur_khz=1_500_000, min_khz=600_000, max_khz=1_800_000)
    name = _local_board(tmp_path, monkeypatch, "power: {source: hwmon, hwmon_name: ina226}")
    _two_watts(name, str(fake.root), models, tmp_path)


@pytest.mark.emulated
def test_two_watts_flow_into_the_result_on_the_emulated_board(
        emulated_board: dict, fake: FakeSys, models: dict[str, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    fake.hwmon("ina226", power_w=2.0)
    fake.thermal_zone("cpu-thermal", 48.5)
    fake.cpufreq_policy(cur_khz=1_500_000, min_khz=600_000, max_khz=1_800_000)
    name, root = _emulated_board(tmp_path, monkeypatch, fake, request, emulated_board["name"])
    _two_watts(name, root, models, tmp_path)


def _two_watts(name: str, root: str, models: dict[str, Path], tmp_path: Path) -> None:
    run = profile(models["float"], board=name, runs=5, warmup=1, min_seconds=0.3, telemetry_hz=50,
                  telemetry_root=root, runs_dir=tmp_path / "runs", timeout_s=300)
    (entry,) = run.result["backends"]
    assert entry["status"] == "ok", entry.get("reason")
    found = entry["telemetry"]
    runs = entry["stats"]["count"]
    assert found["runs"] == runs and found["samples"] >= 5
    energy = found["energy"]
    assert energy["avg_power_w"] == pytest.approx(2.0) and energy["idle_power_w"] == pytest.approx(2.0)
    assert energy["energy_mj_per_inference"] == pytest.approx(2.0 * found["measured_s"] / runs * 1e3)
    assert energy["energy_mj_per_inference_above_idle"] == pytest.approx(0.0, abs=1e-9)
    assert found["thermal"] == {"max_c": {"thermal_zone0": 48.5}}
    assert found["throttling"] == {"throttled": None, "clock_dropped": False} and found["flagged"] is False
    summary = run.result["telemetry"]
    assert (summary["source"], summary["rate_hz"], summary["power_error"]) == ("hwmon", 50, None)
    assert summary["idle_s"] >= 1.0 and summary["idle_w"] == pytest.approx(2.0)
    assert summary["start"]["temps"] == {"thermal_zone0": {"type": "cpu-thermal", "c": 48.5}}
    lines = (run.run_dir / summary["file"]).read_text().splitlines()
    assert len(lines) == summary["samples"] > found["samples"]
    t0, t1 = entry["windows"]["measure"]
    inside = [s for s in map(json.loads, lines) if t0 <= s["t_ns"] <= t1]
    assert len(inside) == found["samples"] and all(s["w"] == 2.0 for s in inside)


def test_pmic_rails_and_throttling_flow_into_the_result(models: dict[str, Path], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    fake_vc = FakeVcgencmd(tmp_path / "bin")
    fake_vc.set(throttled=0x50005, rails={"VDD_CORE": (0.8, 2.5), "DDR_VDD2": (1.1, 0.5)})
    monkeypatch.setenv("PATH", fake_vc.path())
    name = _local_board(tmp_path, monkeypatch, "power: {source: rpi5-pmic}")
    run = profile(models["float"], board=name, runs=5, warmup=1, min_seconds=0.2,
                  telemetry_root=str(tmp_path / "no-sysfs"), runs_dir=tmp_path / "runs")
    (entry,) = run.result["backends"]
    found = entry["telemetry"]
    assert found["energy"]["avg_power_w"] == pytest.approx(0.8 * 2.5 + 1.1 * 0.5)
    assert found["rails_w"] == {"DDR_VDD2": pytest.approx(0.55), "VDD_CORE": pytest.approx(2.0)}
    assert found["throttling"]["throttled"] is True and found["flagged"] is True
    summary = run.result["telemetry"]
    assert summary["rate_hz"] == 10 and summary["throttling"]["throttled"] is True
    assert summary["start"]["throttled"]["now"]["under_voltage"] is True
