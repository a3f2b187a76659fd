"""`advise()`: the measured best way to run a model on a board, within an accuracy budget.

Quantize every mode, measure per-layer sensitivity and build mixed variants, prune the
combinations a rule refuses, then race the rest on the board in growing rounds
(edgeq/advise/racing.py) and write the answer (JSON, terminal, HTML, a recipe).
Everything lands in a work folder keyed by the inputs, so a second call resumes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeq.advise import answer, candidates, racing, render, sensitivity
from edgeq.advise.layers import KINDS
from edgeq.advise.measure import Cell, RoundPlan, Setup, Store, measure_round
from edgeq.boards.catalog import load_board
from edgeq.errors import ConfigError
from edgeq.link.probe import facts as board_facts
from edgeq.model.reader import inspect_model
from edgeq.quantize import calibration
from edgeq.quantize.analysis import run_tflite
from edgeq.quantize.api import quantize
from edgeq.quantize.engines import check_modes, source_kind
from edgeq.quantize.sidecar import file_sha256
from edgeq.recipe.cache import data_sha256, digest, tool_versions

ROUND_SECONDS = 0.25
"""The first round measures each candidate for this long; each next round twice as long."""
MAX_ROUNDS = 4


@dataclass
class Advice:
    """What advise() returns: the answer (schema wire.ADVICE) and the files it wrote."""

    answer: dict[str, Any]
    folder: Path

    @property
    def recommendation(self) -> dict[str, Any] | None:
        return self.answer["recommendation"]


def _variants(model: Path, modes: list[str], calib: str, train: Path | None, work: Path,
              per_tensor_dense: bool) -> dict[str, Path]:
    key = digest(file_sha256(model), modes, data_sha256(calib), data_sha256(str(train)) if train else None,
                 per_tensor_dense, tool_versions())[:16]
    out = work / "variants" / key
    done = out / "done.json"
    if done.exists():
        return {m: Path(p) for m, p in json.loads(done.read_text()).items()}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # compat warnings become pruned candidates, with their reason
        made = quantize(model, modes, calib, out, train=train, per_tensor_dense=per_tensor_dense)
    paths = {v.mode: v.path for v in made}
    done.write_text(json.dumps({m: str(p) for m, p in paths.items()}))
    return paths


def _eval_set(eval_data: Path | None, calib: str, fp32: Path, work: Path) -> tuple[Path, str, float]:
    """The labelled set the board scores, what its score means, and the float model's score on it.

    Without labels, the labels are the float model's own answers on the calibration data:
    the board's top-1 is then agreement with the float model.
    """
    if eval_data is not None:
        x, y = calibration.load_arrays(Path(eval_data))
        if y is None:
            raise ConfigError(f"--eval {eval_data}: needs labels (an array y); leave --eval out to score "
                              "agreement with the float model on the calibration data")
        kind = "accuracy"
        path = Path(eval_data)
    else:
        x, y, kind, path = _calib_rows(calib, fp32), None, "top1_agreement", work / "agreement.npz"
    x = x.astype(np.float32)
    predicted = np.argmax(run_tflite(fp32, x).reshape(len(x), -1), axis=1)
    if y is None:
        y = predicted
        np.savez(path, x=x, y=y)
    return path, kind, float(np.mean(predicted == np.asarray(y).reshape(-1)))


def _calib_rows(calib: str, fp32: Path) -> np.ndarray:
    """Calibration samples shaped like the model's input (a folder of images is read and resized)."""
    shape = tuple(inspect_model(fp32).inputs[0].shape)
    return calibration.load(calib, shape).astype(np.float32)


def _modes(given: list[str] | None, train: Path | None) -> list[str]:
    modes = list(given) if given else list(candidates.BASE_MODES)
    if train is not None and "qat" not in modes and not given:
        modes.append("qat")
    if "fp32" not in modes:
        modes.insert(0, "fp32")  # the float reference every other variant is checked against
    return modes


def _mixed_kinds(given: list[str] | None, modes: list[str]) -> list[str]:
    """The mixed families to build: every family whose base mode is a candidate, unless given."""
    if given is None:
        return [kind for kind, (base, _) in KINDS.items() if base in modes]
    for kind in given:
        if kind not in KINDS:
            raise ConfigError(f"--mixed-kinds {kind!r}. Choose from: {', '.join(KINDS)}")
        if KINDS[kind][0] not in modes:
            raise ConfigError(f"--mixed-kinds {kind}: its variants start from {KINDS[kind][0]}; "
                              f"add {KINDS[kind][0]} to --modes")
    return list(dict.fromkeys(given))


def advise(model: Path, board: str = "local", calib: str | None = None, eval_data: Path | None = None,
           train: Path | None = None, max_accuracy_drop: float = 1.0, objective: str = "latency",
           budget_minutes: float = 30.0, backends: list[str] | None = None, threads: list[int] | None = None,
           modes: list[str] | None = None, mixed_ks: list[int] | None = None, mixed_kinds: list[str] | None = None,
           work_dir: Path | None = None, round_seconds: float = ROUND_SECONDS, max_rounds: int = MAX_ROUNDS,
           adaptive: bool = True, accept_new_host_key: bool = False, telemetry_root: str = "/",
           progress: Callable[[str], None] | None = None) -> Advice:
    """Measure the candidates for MODEL on BOARD and recommend the best within the accuracy budget.

    calib: calibration data (required: int8 and the sensitivity need it). eval_data: labelled .npz
    (x, y); without it accuracy is agreement with the float model. adaptive=False measures every
    candidate in every round (the benchmark's baseline). mixed_kinds: families of mixed variants
    (edgeq.advise.layers.KINDS: float, int16, int8-weights); default every one whose base mode is
    a candidate. telemetry_root: the board's /sys prefix ("/" but in tests, as in profile()).
    """
    model, started = Path(model), time.monotonic()
    if objective not in racing.OBJECTIVES:
        raise ConfigError(f"--objective {objective!r}. Choose from: {', '.join(racing.OBJECTIVES)}")
    if max_accuracy_drop < 0 or budget_minutes <= 0 or round_seconds <= 0 or max_rounds < 1:
        raise ConfigError("--max-accuracy-drop must be >= 0, --budget-minutes and the rounds > 0")
    if calib is None:
        raise ConfigError("advise needs --calib DATA (.npy, .npz or an image folder): int8 variants and the "
                          "per-layer sensitivity are calibrated on it")
    kind = source_kind(model)
    record = load_board(board)
    say = progress or (lambda text: None)
    facts = board_facts(board, accept_new_host_key)
    if objective == "energy" and record.power.source == "none":
        raise ConfigError(f"--objective energy: board {board} has no power source (power.source: none)")
    wanted = _modes(modes, train)
    work = Path(work_dir) if work_dir else Path(".edgeq") / "advise" / f"{model.stem}-{board}"
    work.mkdir(parents=True, exist_ok=True)
    specs = list(backends) if backends else candidates.default_backends(record, facts)
    candidates.check_backends(specs)
    counts = candidates.thread_counts(record, facts, threads)
    check_modes(wanted)
    kinds = _mixed_kinds(mixed_kinds, wanted)
    per_tensor_dense = any(s.startswith("armnn") for s in specs)
    say(f"quantizing {model.name}: {', '.join(wanted)}")
    variants = _variants(model, wanted, calib, Path(train) if train else None, work, per_tensor_dense)
    fp32 = variants["fp32"]
    say("per-layer sensitivity and mixed-precision variants")
    ks = list(mixed_ks or candidates.MIXED_KS)
    layers_key = digest(file_sha256(fp32), data_sha256(calib), ks, per_tensor_dense, kinds)[:16]
    sens = sensitivity.measure(fp32, calib, work / "layers" / layers_key, model.stem, ks, per_tensor_dense, kinds)
    unbuilt = {}
    for mixed in sens["mixed"]:
        if "path" in mixed:
            variants[mixed["name"]] = Path(mixed["path"])
        else:
            unbuilt[mixed["name"]] = mixed["error"]
    eval_path, accuracy_kind, baseline = _eval_set(eval_data, calib, fp32, work)
    kept, pruned = candidates.enumerate_candidates(variants, specs, counts, facts, xnnpack_pairs=not backends)
    pruned += candidates.not_built(unbuilt, specs, counts)
    if not kept:
        reasons = "; ".join(f"{p.candidate.id}: {p.reason}" for p in pruned[:3])
        raise ConfigError(f"every candidate was pruned: {reasons}")
    input_file = work / "input.npy"
    np.save(input_file, _calib_rows(calib, fp32)[:1])
    setup = Setup(board, variants, fp32, input_file, eval_path, work / "runs", Store(work / "measured.json"),
                  accept_new_host_key=accept_new_host_key,
                  telemetry_hz=10.0 if objective == "energy" else 0.0, telemetry_root=telemetry_root)
    sizes = {name: path.stat().st_size for name, path in variants.items()}
    budget = racing.Budget(baseline, max_accuracy_drop)
    cells = [Cell(c) for c in kept]
    rounds, stopped = _race(setup, cells, budget, objective, sizes, budget_minutes, round_seconds,
                            1 if objective == "size" else max_rounds, adaptive, say, started)
    context = {"board": board, "model": str(model), "source_kind": kind, "accuracy_kind": accuracy_kind,
               "eval": str(eval_path), "calib": calib, "adaptive": adaptive, "rounds": rounds, "stopped": stopped,
               "board_seconds": round(sum(r["board_s"] for r in rounds), 4),
               "per_tensor_dense": per_tensor_dense, "sensitivity": sens}
    result = answer.build(cells, pruned, budget, objective, sizes, context)
    return Advice(result, render.write_all(result, work, variants, cells))


def _race(setup: Setup, cells: list[Cell], budget: racing.Budget, objective: str, sizes: dict[str, int],
          budget_minutes: float, round_seconds: float, max_rounds: int, adaptive: bool,
          say: Callable[[str], None], started: float) -> tuple[list[dict[str, Any]], str]:
    """Rounds until the racing rule, the round limit or the time budget (counted from advise's start) ends it.

    The first round always runs: without it there is no answer at all.
    """
    rounds: list[dict[str, Any]] = []
    stopped = f"the last round ({max_rounds}) was measured"
    for index in range(max_rounds):
        todo = ([c for c in cells if c.settled is None] if adaptive
                else [c for c in cells if c.status in ("ok", "pending")])
        if index > 0 and len(todo) <= (1 if adaptive else 0):
            stopped = f"{'one candidate' if todo else 'nothing'} left to measure after round {index}"
            break
        plan = RoundPlan(index, round_seconds * 2 ** index)
        elapsed = time.monotonic() - started
        if rounds and elapsed + _estimate(rounds, len(todo), plan) > budget_minutes * 60:
            stopped = f"--budget-minutes {budget_minutes:g}: round {index + 1} would not fit"
            break
        tick = time.monotonic()
        spent = measure_round(setup, todo, plan, say)
        leader = racing.settle(cells, budget, objective, sizes, index)
        rounds.append({"index": index, "min_seconds": plan.min_seconds, "measured": [c.candidate.id for c in todo],
                       "board_s": round(spent, 4), "host_s": round(time.monotonic() - tick, 3),
                       "leader": leader.candidate.id if leader else None})
        if leader is None:
            stopped = "no candidate met the accuracy budget"
            break
    return rounds, stopped


def _estimate(rounds: list[dict[str, Any]], count: int, plan: RoundPlan) -> float:
    """Host seconds the next round should take: the last round's time per candidate, scaled by its seconds."""
    last = rounds[-1]
    per = last["host_s"] / max(len(last["measured"]), 1)
    return count * (per + plan.min_seconds - last["min_seconds"])
