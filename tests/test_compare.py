"""`edgeq compare`: an injected slowdown is flagged, repeated unchanged runs raise no alarm."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeq.errors import EXIT_CHECK_FAILED, CheckFailed, ConfigError
from edgeq.profile.run import WARM_AGENT_ENV, profile
from edgeq.report import compare_runs, parse_regression
from edgeq.report.compare import MIN_RUN_SD, _blocks, _boot_medians, level_sd, median_ratio_ci, wander

from .conftest import Board

BACKENDS = ["tflite-cpu", "armnn:backends=CpuRef"]
RUNS = 200
# A gate's runs should each span seconds: a 200-iteration run of a 4 µs model is a
# millisecond-long snapshot of whatever else the machine was doing then.
GATE_SECONDS = 2.0
# This machine's speed wanders 2-3% between runs (the CpuRef cell: 761-831 µs over ten 5 s runs),
# so a 5% gate on it is decided on repeated runs per side, as the README's "Regression gates" says.
PER_SIDE = 2
REPEATS = 10
# Detecting 10% against a 5% limit needs the level known to ~2.5% (95%): eight short runs a side here.
INJECTED_RUNS = 8
INJECTED_SECONDS = 0.5


def profile_tiny(models: dict[str, Path], board: Board, runs_dir: Path, min_seconds: float = 0.0) -> Path:
    # A run id names its second; two runs of one model in one second would share a run directory on the board.
    time.sleep(1.01 - time.time() % 1)
    return profile(models["float"], board=board.name, backends=BACKENDS, runs=RUNS, warmup=10,
                   min_seconds=min_seconds, runs_dir=runs_dir).run_dir


def edited_copy(run_dir: Path, to: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of a real run directory whose backend entries went through `edit`: an injected, known change."""
    return edited_result(run_dir, to, lambda result: [edit(entry) for entry in result["backends"]])


def edited_result(run_dir: Path, to: Path, edit: Callable[[dict[str, Any]], object]) -> Path:
    shutil.copytree(run_dir, to)
    result = json.loads((to / "result.json").read_text())
    edit(result)
    (to / "result.json").write_text(json.dumps(result))
    return to


def slow_down(factor: float) -> Callable[[dict[str, Any]], None]:
    """Every iteration takes `factor` times as long: samples and the statistics derived from them."""
    def edit(entry: dict[str, Any]) -> None:
        if entry["status"] != "ok":
            return
        entry["samples_ns"] = [round(s * factor) for s in entry["samples_ns"]]
        entry["stats"] = {k: v * factor if k.endswith("_ms") else v for k, v in entry["stats"].items()}
    return edit


@pytest.fixture(autouse=True)
def warm_on_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate tests were sized on a local board with a warm agent (forked backends), as a lab board runs.
    With every run cold (the local default since the warm agent is off there), the 6 us cell's runs
    spread -31%..+78% between runs and CpuRef's median rose from ~0.8 to ~2 ms: see the closing note."""
    monkeypatch.setenv(WARM_AGENT_ENV, "300")


@pytest.fixture
def baseline(models: dict[str, Path], board: Board, tmp_path: Path) -> Path:
    return profile_tiny(models, board, tmp_path / "runs")


@pytest.mark.slow
def test_injected_ten_percent_slowdown_is_flagged(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    # Real run folders from a real profile, their samples replaced by a steady board's: each iteration at
    # the real median with 2% lognormal jitter (seeded). The gate's power on a steady board is what is
    # tested here; this VM's own speed on some days wanders by tens of percent within and between runs
    # (CpuRef 0.8 -> 1.6-2 ms, tflite-cpu's CI -35%..+87% inside one run, seen at this commit and at the
    # one before this session's work), and then compare rightly calls a 10% change "unchanged".
    # The no-alarm test below still runs on the machine as it is.
    real = profile_tiny(models, board, tmp_path / "runs", INJECTED_SECONDS)
    rng = np.random.default_rng(7)

    def steady(entry: dict[str, Any]) -> None:
        if entry["status"] == "ok":
            median = float(np.median(entry["samples_ns"]))
            entry["samples_ns"] = [max(1, round(v)) for v in median * rng.lognormal(0.0, 0.02, len(entry["samples_ns"]))]
    runs = [edited_copy(real, tmp_path / f"base-{i}", steady) for i in range(INJECTED_RUNS)]
    slower = [edited_copy(run, tmp_path / f"slower-{i}", slow_down(1.10)) for i, run in enumerate(runs)]
    compared = compare_runs(runs, slower, "5%")
    assert compared.verdict == "regression", compared.markdown
    assert [c.key[3] for c in compared.regressions] == BACKENDS
    for change in compared.regressions:
        assert change.ratio == pytest.approx(1.10, abs=0.002)
        assert 1.05 < change.ci[0] <= change.ratio <= change.ci[1]
    assert "## edgeq compare: REGRESSION (2 of 2 cells beyond +5%)" in compared.markdown
    assert compared.markdown.count("**REGRESSION**") == 2
    with pytest.raises(CheckFailed) as caught:
        compared.check()
    assert caught.value.exit_code == EXIT_CHECK_FAILED
    assert "\n" not in str(caught.value) and "2 of 2 cells regressed beyond +5%" in str(caught.value)
    # The other way round it is faster, and nothing fails.
    back = compare_runs(slower, runs, "5%")
    assert back.verdict == "ok" and {c.verdict for c in back.changes} == {"faster"}
    back.check()


@pytest.mark.slow
def test_no_alarm_across_repeated_unchanged_runs(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    runs = [profile_tiny(models, board, tmp_path / "runs", GATE_SECONDS) for _ in range(REPEATS)]
    samples = {json.dumps([e["samples_ns"] for e in json.loads((r / "result.json").read_text())["backends"]])
               for r in runs}
    assert len(samples) == REPEATS, "each run must be a new measurement"
    sides = [runs[i:i + PER_SIDE] for i in range(0, REPEATS, PER_SIDE)]
    for later in sides[1:]:
        compared = compare_runs(sides[0], later, "5%")
        assert [c.verdict for c in compared.changes if c.regressed] == [], compared.markdown
        assert len(compared.changes) == len(BACKENDS)
        compared.check()


def test_backend_that_stops_running_is_a_regression(baseline: Path, tmp_path: Path) -> None:
    def break_armnn(entry: dict[str, Any]) -> None:
        if entry["backend"] == "armnn":
            entry.update(status="failed", reason="killed by SIGSEGV")
            for key in ("stats", "samples_ns", "outputs"):
                entry.pop(key, None)
    broken = edited_copy(baseline, tmp_path / "broken", break_armnn)
    compared = compare_runs(baseline, broken, 0.05)
    assert {c.key[3]: c.verdict for c in compared.changes} == {"tflite-cpu": "unchanged",
                                                                "armnn:backends=CpuRef": "broken"}
    assert "armnn:backends=CpuRef" in compared.summary
    assert compare_runs(broken, baseline).verdict == "ok"  # a fixed backend is good news


def test_energy_and_accuracy_deltas(baseline: Path, tmp_path: Path) -> None:
    """Energy as the telemetry writes it; agreement as the output check writes it against a float reference."""
    def with_figures(mj: float, agreement: float) -> Callable[[dict[str, Any]], None]:
        def edit(result: dict[str, Any]) -> None:
            for entry in result["backends"]:
                entry["telemetry"] = {"energy": {"energy_mj_per_inference": mj, "avg_power_w": 2.0}}
            result["correctness"] = {"reference": {"kind": "float-model"}, "backends": {
                e["label"]: {"passed": True, "top1_agree": agreement} for e in result["backends"]}}
        return edit
    before = edited_result(baseline, tmp_path / "before", with_figures(2.0, 1.0))
    after = edited_result(baseline, tmp_path / "after", with_figures(2.5, 0.75))
    compared = compare_runs(before, after)
    for change in compared.changes:
        assert change.energy_delta_mj == pytest.approx(0.5)
        assert change.accuracy_delta == pytest.approx(-0.25)
        assert change.verdict == "unchanged"
    assert "+0.500" in compared.markdown and "-0.2500" in compared.markdown


def test_bootstrap_interval_is_reproducible_and_covers_the_truth() -> None:
    rng = np.random.default_rng(7)
    base = rng.lognormal(0.0, 0.3, 400)
    same = rng.lognormal(0.0, 0.3, 400)
    first = median_ratio_ci([base], [same])
    assert first == median_ratio_ci([base], [same])  # fixed seed: the same verdict on every machine
    assert first[1] < 1.0 < first[2]
    ratio, low, high = median_ratio_ci([base], [same * 1.2])
    assert low < 1.2 < high and low > 1.05


def test_drift_within_a_run_widens_the_block_bootstrap() -> None:
    """A run whose first 30% was slowed (another process held the core) must not look precise.

    The robust wander ignores a step in a minority of blocks (the median barely moves);
    it is the block bootstrap that must see it.
    """
    rng = np.random.default_rng(3)
    drifting = np.concatenate([rng.normal(1.1e6, 1e4, 120), rng.normal(1.0e6, 1e4, 280)])
    shuffled = rng.permutation(drifting)  # the same values with the time order lost

    def spread(run: np.ndarray) -> float:
        medians = _boot_medians(_blocks([run]), 2000, np.random.default_rng(0))
        return float(np.subtract(*np.percentile(medians, [97.5, 2.5])))

    assert spread(drifting) > 3 * spread(shuffled)
    steady = rng.normal(1.0e6, 1e4, 400)
    _, low, high = median_ratio_ci([steady], [drifting])
    _, low_iid, high_iid = median_ratio_ci([steady], [shuffled])
    assert high - low > 1.1 * (high_iid - low_iid)


def wandering_run(rng: np.random.Generator, level_ns: float, wander: float, blocks: int = 20,
                  per_block: int = 500) -> np.ndarray:
    """A run whose speed wanders from block to block by `wander` (log SD), around `level_ns`."""
    return np.concatenate([rng.lognormal(np.log(level_ns) + rng.normal(0.0, wander), 0.05, per_block)
                           for _ in range(blocks)]).round()


def test_a_run_that_wanders_cannot_carry_a_verdict_on_its_own() -> None:
    """10% slower, each run wandering 3% inside: not proven beyond +5%; the same 10% from steady runs is."""
    rng = np.random.default_rng(11)
    base, new = wandering_run(rng, 1e6, 0.03), wandering_run(rng, 1.1e6, 0.03)
    assert 0.015 < wander(base) < 0.05 and 0.015 < wander(new) < 0.05  # 20 blocks: a rough estimate
    ratio, low, high = median_ratio_ci([base], [new])
    assert 1.05 < ratio < 1.15 and low < 1.05 < high
    steady_base, steady_new = wandering_run(rng, 1e6, 0.001), wandering_run(rng, 1.1e6, 0.001)
    assert wander(steady_base) < MIN_RUN_SD
    _, steady_low, _ = median_ratio_ci([steady_base], [steady_new])
    assert steady_low > 1.05  # a board that holds its speed is believed


def test_a_run_too_short_to_show_its_wander_is_not_believed_blindly() -> None:
    """Single samples: no blocks to measure a wander on, so the floor alone sets the interval."""
    ratio, low, high = median_ratio_ci([np.array([1_000_000.0])], [np.array([1_100_000.0])])
    assert ratio == pytest.approx(1.1)
    assert low < 1.1 < high and high - low > 0.05


def test_repeated_runs_per_side_narrow_the_interval() -> None:
    rng = np.random.default_rng(12)
    base = [wandering_run(rng, 1e6, 0.02) for _ in range(4)]
    new = [wandering_run(rng, 1.1e6, 0.02) for _ in range(4)]
    _, low_one, high_one = median_ratio_ci(base[:1], new[:1])
    _, low_four, high_four = median_ratio_ci(base, new)
    assert (high_four - low_four) < 0.65 * (high_one - low_one)
    assert low_four > 1.05


def test_a_short_and_a_long_run_on_one_side() -> None:
    """Twenty blocks each, whatever their lengths; the pooled median still weighs every sample."""
    rng = np.random.default_rng(14)
    short, long = rng.normal(2e6, 1e4, 200), rng.normal(1e6, 1e4, 1_000_000)
    assert [b.size for b in _blocks([short, long])] == [10] * 20 + [50_000] * 20
    ratio, low, high = median_ratio_ci([short, long], [long * 1.2])
    assert ratio == pytest.approx(1.2, rel=0.01) and low < 1.2 < high


def test_runs_that_disagree_widen_their_side() -> None:
    """Three steady runs a side whose levels differ by a few percent: the spread between them counts."""
    rng = np.random.default_rng(13)
    base = [wandering_run(rng, 1e6 * f, 0.001) for f in (0.96, 1.0, 1.04)]
    agreeing = [wandering_run(rng, 1e6, 0.001) for _ in range(3)]
    new = [wandering_run(rng, 1e6, 0.001) for _ in range(3)]
    assert level_sd(base) > 2 * level_sd(agreeing)
    _, low_spread, high_spread = median_ratio_ci(base, new)
    _, low_agree, high_agree = median_ratio_ci(agreeing, new)
    assert high_spread - low_spread > 1.5 * (high_agree - low_agree)


@pytest.mark.parametrize("text, share", [("5%", 0.05), ("12.5%", 0.125), ("0.05", 0.05), (0.1, 0.1), ("0", 0.0)])
def test_max_regression_parsing(text: str | float, share: float) -> None:
    assert parse_regression(text) == pytest.approx(share)


@pytest.mark.parametrize("text", ["5", "abc", "-1%", "%"])
def test_max_regression_refuses_ambiguous_values(text: str) -> None:
    with pytest.raises(ConfigError, match="--max-regression"):
        parse_regression(text)
