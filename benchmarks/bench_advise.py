"""`edgeq advise`'s racing rounds against measuring every candidate in every round, same candidates.

    .venv/bin/python benchmarks/bench_advise.py [--board local] [--rounds 4] [--round-seconds 0.2]

Both runs quantize the digits CNN the same way and enumerate the same candidates (every
mode, the mixed variants, the board's backends, thread counts up to its cores). Fixed:
every candidate is measured in every round, so each gets the seconds the adaptive race
gives only its finalists. Adaptive: the racing rule (edgeq/advise/racing.py) stops a
candidate once it cannot win. Board-seconds are the backends' own wall time on the board
(`wall_s` of every backend child), which is what the board spent; host time is printed too.
Goal: the same recommendation with at least 3x fewer board-seconds.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from edgeq import zoo
from edgeq.advise import advise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="local")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--round-seconds", type=float, default=0.2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-advise-") as tmp:
        files = zoo.build_keras("digits-cnn", Path(tmp) / "digits.keras")
        results = {}
        for name, adaptive in (("fixed", False), ("adaptive", True)):
            started = time.perf_counter()
            advice = advise(files["model"], board=args.board, calib=str(files["train"]), eval_data=files["eval"],
                            max_accuracy_drop=1.0, work_dir=Path(tmp) / name, round_seconds=args.round_seconds,
                            max_rounds=args.rounds, adaptive=adaptive)
            results[name] = (advice.answer, time.perf_counter() - started)
    fixed, adaptive = results["fixed"][0], results["adaptive"][0]
    measured = [c for c in fixed["candidates"] if c["runs"]]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}; board {args.board}")
    print(f"candidates: {len(fixed['candidates'])} measured ({len(measured)} ran), {len(fixed['pruned'])} pruned; "
          f"{args.rounds} rounds from {args.round_seconds:g} s, doubling")
    for name in ("fixed", "adaptive"):
        answer, host_s = results[name]
        rec = answer["recommendation"]
        calls = sum(len(r["measured"]) for r in answer["rounds"])
        print(f"{name:8}: recommendation {rec['id'] if rec else None} (p50 {rec['p50_ms'] if rec else None} ms), "
              f"{answer['board_seconds']:.1f} board-s, {calls} candidate-rounds, {host_s:.0f} s host")
    same = (fixed["recommendation"] or {}).get("id") == (adaptive["recommendation"] or {}).get("id")
    ratio = fixed["board_seconds"] / adaptive["board_seconds"]
    print(f"same recommendation: {same}; board-seconds fixed/adaptive = {ratio:.2f}x")
    runner = adaptive["runner_up"] or {}
    if runner.get("margin"):
        m = runner["margin"]
        print(f"adaptive runner-up {runner['id']}: {m['ratio']:.3f}x (95% CI {m['ci'][0]:.3f}..{m['ci'][1]:.3f})")


if __name__ == "__main__":
    main()
