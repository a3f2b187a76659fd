"""Every command's --help as a user reads it: help for each option, its default, examples; --debug anywhere."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeq.cli import build_parser
from edgeq.cli.common import Formatter

from .conftest import run_cli

SHARED = {"-h", "--debug", "--quiet", "--version"}


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...],
                                                                                          argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from _commands(child, (*path, name))


COMMANDS = list(_commands(build_parser()))


def test_the_walk_finds_every_command() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"profile", "deploy", "bundle", "facts", "boards list", "boards show", "boards add", "boards stop-agents",
            "emulate up", "emulate down", "emulate status", "zoo build", "quantize", "analyze", "report", "compare",
            "run", "cross build", "completion"} <= names


@pytest.mark.parametrize("path,parser", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_shows_every_default_and_examples(path: tuple[str, ...], parser: argparse.ArgumentParser) -> None:
    assert parser.formatter_class is Formatter
    text = parser.format_help()
    assert f"edgeq {' '.join(path)}" in text
    examples = text.split("examples:\n", 1)[1].splitlines() if "examples:\n" in text else []
    assert sum(f"edgeq {path[0]}" in line for line in examples) >= 1, text
    for action in parser._actions:
        if not action.option_strings or set(action.option_strings) & SHARED or action.help == argparse.SUPPRESS:
            continue
        assert action.help, f"{path}: {action.option_strings} has no help"
        shown = parser._get_formatter()._expand_help(action) if action.help else ""
        flag = isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))
        assert flag or action.required or "default" in shown, f"{path}: {action.option_strings}: {shown!r}"


def test_a_command_s_own_help_is_its_own() -> None:
    ran = run_cli("emulate", "up", "--help")
    assert ran.returncode == 0
    assert ran.stdout.startswith("usage: edgeq emulate up") and "--mode" in ran.stdout


def test_debug_is_accepted_after_the_command_and_from_the_environment(tmp_path) -> None:  # noqa: ANN001
    missing = str(tmp_path / "missing.tflite")
    plain = run_cli("profile", "-m", missing)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    for ran in (run_cli("profile", "-m", missing, "--debug"), run_cli("profile", "-m", missing,
                                                                    env={"EDGEQ_DEBUG": "1"})):
        assert ran.returncode != 0 and "Traceback" in ran.stderr


def test_deploy_needs_a_board() -> None:
    ran = run_cli("deploy")
    assert ran.returncode == 2 and "--board" in ran.stderr


def test_completion_completes_commands(tmp_path: Path) -> None:
    """As bash's hook asks: `_ARGCOMPLETE` set, the words in COMP_LINE, a fresh `edgeq` process. In a
    separate process because argcomplete opens fd 9 as its debug stream (os.fdopen(9, "w")): in pytest's
    own process that wrapped whatever fd 9 was, and closed it when collected (the suite's closing
    "ResourceWarning: unclosed file <... name=9 mode='w'>")."""
    answer = tmp_path / "completions"
    env = {"_ARGCOMPLETE": "1", "COMP_LINE": "edgeq boa", "COMP_POINT": "9", "_ARGCOMPLETE_IFS": " ",
           "_ARGCOMPLETE_STDOUT_FILENAME": str(answer)}
    done = run_cli(env=env)
    assert done.returncode == 0, done.stderr
    assert answer.read_text().split() == ["boards"]
    ran = run_cli("completion", "bash")
    assert ran.returncode == 0 and "complete" in ran.stdout and "edgeq" in ran.stdout
