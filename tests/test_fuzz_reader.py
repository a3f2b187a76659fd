"""The model reader, fuzzed: a mutated model is read or refused cleanly, never anything else.

Mutations of valid models (the odd-model corpus and the zoo's int8 CNN): bytes
overwritten, 32-bit fields set to extreme values, truncation, inserted garbage. The
reader (`read_card`, `inspect_model`) and profile's pre-flight (inputs made, backends
checked against their rule tables) may only succeed or raise EdgeqError, whose CLI
form is exit 2 with one line. Bounded for CI: a fixed number of examples, no deadline
per example; a longer run: EDGEQ_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz_reader.py.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeq.cli import main
from edgeq.errors import EdgeqError
from edgeq.model.inputs import make_inputs
from edgeq.model.reader import inspect_model, read_card
from edgeq.model.rules import predict_all
from edgeq.profile import backendspec, preflight

EXAMPLES = int(os.environ.get("EDGEQ_FUZZ_EXAMPLES", "1000"))
_BACKENDS = backendspec.parse_all(["tflite-cpu,tflite-gpu,armnn"])


@pytest.fixture(scope="module")
def seeds(odd_models: dict[str, Path], models: dict[str, Path]) -> list[bytes]:
    return [p.read_bytes() for p in [*odd_models.values(), models["int8"]]]


def _mutate(data: bytes, draw: st.DrawFn) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["byte", "int32", "truncate", "insert"]))
        at = draw(st.integers(8, max(8, len(out) - 1)))  # keep the TFL3 header: the deep reader is the target
        if kind == "byte" and at < len(out):
            out[at] = draw(st.integers(0, 255))
        elif kind == "int32" and at + 4 <= len(out):
            value = draw(st.sampled_from([0, 1, -1, 0x7FFFFFFF, -0x80000000, 0xFFFF, len(out), len(out) + 4]))
            out[at:at + 4] = struct.pack("<i", value)
        elif kind == "truncate":
            del out[at:]
        else:
            out[at:at] = bytes(draw(st.lists(st.integers(0, 255), min_size=1, max_size=16)))
    return bytes(out)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    return _mutate(draw(st.sampled_from(seeds)), draw)


def _preflight(path: Path) -> None:
    card = read_card(path)
    predict_all(card)
    info, _ = preflight.prepare(inspect_model(path), [dict(r) for r in _BACKENDS], {})  # as profile() does
    make_inputs(info)


def test_mutated_models_are_read_or_refused_cleanly(seeds: list[bytes], tmp_path: Path) -> None:
    path = tmp_path / "mutant.tflite"
    outcomes = {"read": 0, "refused": 0}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.data())
    def check(data: st.DataObject) -> None:
        path.write_bytes(data.draw(mutated(seeds)))
        try:
            _preflight(path)
            outcomes["read"] += 1
        except EdgeqError as exc:
            assert str(exc) and "\n" not in str(exc)
            outcomes["refused"] += 1

    check()
    assert outcomes["refused"] > 0 and outcomes["read"] > 0, outcomes  # the mutations reached both ends


def test_the_cli_refuses_a_damaged_model_in_one_line(seeds: list[bytes], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    damaged = tmp_path / "damaged.tflite"
    damaged.write_bytes(seeds[-1][: len(seeds[-1]) // 3])
    assert main(["inspect", str(damaged)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("edgeq: error: ") and "damaged" in err
