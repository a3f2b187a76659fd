"""edgeq/live.py and the recipe's matrix line, written to a stream that is no terminal (a log)."""

from __future__ import annotations

import io
import re

from edgeq.live import Live
from edgeq.recipe.progress import MatrixLine

STAMP = re.compile(r"^\d\d:\d\d:\d\dZ ")


def test_a_log_gets_one_timestamped_line_per_change() -> None:
    out = io.StringIO()
    with Live(stream=out) as live:
        assert live.mode == "log"
        live.update("rpi5", "tflite-cpu loading")
        live.update("rpi5", "tflite-cpu loading")  # no change, no line
        live.phases("rpi4")({"armnn:backends=CpuAcc": "measuring"})
        send = live.transfer("rpi4")
        send(0, 3_000_000)
        send(1_500_000, 3_000_000)  # mid-file: a log waits for the ticker rather than a line per chunk
        send(3_000_000, 3_000_000)
        live.done("rpi5", "done")
    lines = out.getvalue().splitlines()
    assert all(STAMP.match(line) for line in lines), lines
    texts = [STAMP.sub("", line) for line in lines]
    assert texts[0] == "rpi5: tflite-cpu loading"
    assert "rpi4: armnn:backends=CpuAcc measuring" in texts
    assert not any("sending" in t for t in texts)  # a log line per file sent, not per chunk
    assert any(t.startswith("rpi4: sent 3.0 MB") for t in texts)
    assert texts[-1] == "rpi5: done" and len(texts) == 4


def test_quiet_writes_nothing() -> None:
    out = io.StringIO()
    with Live(quiet=True, stream=out) as live:
        live.update("x", "working")
        live.note("a note")
    assert out.getvalue() == ""


def test_the_matrix_line_counts_done_and_left_and_gives_an_eta() -> None:
    out = io.StringIO()
    with Live(stream=out) as live:
        line = MatrixLine(4, live)
        line.advance(1, ran=False)  # a cached cell
        line.step("m/int8/rpi5", "profiling")
        line.advance()
        line.step("m/fp32/rpi5", "profiling")
        line.close()
    texts = [STAMP.sub("", line) for line in out.getvalue().splitlines()]
    assert "matrix: 1 done, 3 left; m/int8/rpi5: profiling" in texts
    assert any(t.startswith("matrix: 2 done, 2 left, ETA ") and t.endswith("m/fp32/rpi5: profiling") for t in texts)
    assert texts[-1] == "matrix: 2 of 4 cells done"
