"""Backend requests as users write them: `NAME[:key=value[:key=value]]`.

`armnn:backends=CpuAcc+CpuRef`, `tflite-cpu:runtime=tflite_runtime:xnnpack=false`.
Several go comma-separated or in repeated --backend options. Board facts fill
in what the user did not say (ArmNN's backend preference, delegate libraries).
"""

from __future__ import annotations

from typing import Any

from edgeq.boards.schema import Board
from edgeq.agent.wire import backend_problem
from edgeq.errors import ConfigError


def _value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if "+" in text:
        return [part for part in text.split("+") if part]
    try:
        return int(text)
    except ValueError:
        return text


def parse(spec: str, where: str = "--backend") -> dict[str, Any]:
    """One request; `where` starts an error (the option, or "" when the caller says where: a recipe's backends[2])."""
    where = f"{where} {spec.strip()!r}: " if where else ""
    name, *pairs = spec.strip().split(":")
    if not name:
        raise ConfigError(f"{where}expected NAME[:key=value], found no name")
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{where}expected key=value after ':', found {pair!r}")
        options[key] = _value(raw)
    # The agent's own check, here on the host: a typo (`tflite-cpuu`, `armnn:backend=CpuRef`) is
    # the user's --backend, said before anything is sent, not the board's failure.
    problem = backend_problem(name, options)
    if problem:
        raise ConfigError(f"{where}{problem}")
    return {"name": name, "label": spec.strip(), "options": options}


def parse_all(specs: list[str]) -> list[dict[str, Any]]:
    parsed = [parse(s) for group in specs for s in group.split(",") if s.strip()]
    if not parsed:
        raise ConfigError("--backend: expected at least one backend")
    return parsed


def with_board_defaults(request: dict[str, Any], board: Board) -> dict[str, Any]:
    """Options the board's record implies, under the ones the user gave."""
    implied: dict[str, Any] = {}
    if request["name"] == "armnn" and board.armnn is not None:
        implied["backends"] = list(board.armnn.preferred_backends)
        if board.armnn.delegate_library:
            implied["delegate_library"] = board.armnn.delegate_library
    if request["name"] == "tflite-gpu" and board.libraries is not None and board.libraries.gpu_delegate:
        implied["delegate_library"] = board.libraries.gpu_delegate
    return dict(request, options={**implied, **request["options"]})
