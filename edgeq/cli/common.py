"""What every command shares: help layout, the options every command takes, output, fleets' exit code.

One spelling per idea across commands: `-b/--board`, `-m/--model`, `-o/--out` (with `-`
meaning stdout for text formats), `--json` on listings, `--debug` and `--quiet` anywhere.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn

from ..errors import EXIT_OK, EdgeqError
from ..errors import ConfigError
from ..outpaths import make_folder, refuse_overwriting_inputs  # noqa: F401  (the commands' -o check)

STDOUT = "-"
"""`-o -`: write a text format to stdout instead of a file."""


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' layout and shows every option's default where its help does not."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (argparse.SUPPRESS, None) or not action.option_strings:
            return text
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._VersionAction)):
            return text  # a flag is off unless given
        if isinstance(action, argparse._HelpAction):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse with edgeq's error contract: a typo in an option is one line on stderr, exit 2.

    argparse prints the whole usage block (a dozen lines for `profile`) above the error, which
    buries the one line that says what was wrong; that line now names `--help` instead, and an
    unknown option gets the closest one this command has.
    """

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")

    def unknown(self, extra: list[str]) -> "NoReturn":
        """Options no parser took: say so for this (sub)command, with a suggestion for a typo."""
        import difflib

        known = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
        hints = []
        for word in extra:
            if word.startswith("-"):
                close = difflib.get_close_matches(word.split("=", 1)[0], known, n=1, cutoff=0.6)
                if close:
                    hints.append(f"{word}: did you mean {close[0]}?")
        self.error(f"unrecognized arguments: {' '.join(extra)}" + (f"; {'; '.join(hints)}" if hints else ""))


def common_options() -> argparse.ArgumentParser:
    """--debug and --quiet, accepted after the command as well as before it."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show a traceback instead of the one-line error (or set EDGEQ_DEBUG=1)")
    parent.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no live progress on stderr; results and errors still print")
    return parent


COMMON = common_options()


def command(sub: Any, name: str, help: str, examples: list[str], description: str | None = None,
            ) -> argparse.ArgumentParser:
    """A subcommand with the shared options, its help line, and examples under its --help."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    parser = sub.add_parser(name, help=help, description=description or help, epilog=epilog,
                            formatter_class=Formatter, parents=[COMMON])
    parser.set_defaults(parser_of_command=parser)  # where a leftover option is reported (Parser.unknown)
    return parser


def group(sub: Any, name: str, help: str) -> Any:
    """A command with subcommands of its own (`boards list`, `zoo build`)."""
    parser = sub.add_parser(name, help=help, description=help, formatter_class=Formatter, parents=[COMMON])
    return parser.add_subparsers(dest="action", required=True, metavar="ACTION")


def help_of(func: Callable[..., Any]) -> str:
    """A command's help is the first line of its API function's docstring."""
    return (func.__doc__ or "").strip().splitlines()[0]


def debug_wanted(args: argparse.Namespace | None = None) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get("EDGEQ_DEBUG", "") not in ("", "0")


def quiet(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "quiet", False))


def live(args: argparse.Namespace) -> Any:
    """The live progress for this command (edgeq/live.py): terminal lines, log lines or nothing."""
    from ..live import Live

    return Live(quiet=quiet(args))


class Once(argparse.Action):
    """An option that takes one value: given twice, argparse would keep the last and drop the first unsaid."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        before = getattr(namespace, self.dest, None)
        if before is not None and before != self.default:
            raise argparse.ArgumentError(self, f"given twice ({before}, {values}); it takes one: run one command "
                                               "per value, or a recipe (`edgeq run`) for several")
        setattr(namespace, self.dest, values)


def native_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--native", metavar="DIR",
                        help="native parts built by `edgeq cross build` (GPU delegate, benchmark_model, ArmNN "
                             "delegate); default: none")


def host_key_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--accept-new-host-key", action="store_true",
                        help="trust an SSH host key seen for the first time (a changed key is always refused)")


def board_option(parser: argparse.ArgumentParser, default: str | None = "local", fleet: bool = True) -> None:
    what = ("board, comma-separated boards, a group (see `edgeq boards list`), or labgrid:TAG=VALUE[+...] "
            "(docs/farm.md)") if fleet else "board name"
    if default is None:
        parser.add_argument("-b", "--board", required=True, help=f"{what}; required")
    else:
        parser.add_argument("-b", "--board", default=default, help=what)


def out_option(parser: argparse.ArgumentParser, default: str | None, what: str) -> None:
    parser.add_argument("-o", "--out", default=default, metavar="PATH", help=what)


def emit(text: str, out: str | None) -> Path | None:
    """Print `text` when out is None or `-`; else write it to the file (its folder made) and return it."""
    if out is None or out == STDOUT:
        print(text)
        return None
    path = Path(out)
    if path.is_dir():
        raise ConfigError(f"-o {out}: is a folder; give a file name (or - for stdout)")
    make_folder(path.parent)
    path.write_text(text if text.endswith("\n") else text + "\n")
    return path


HIGHLIGHT = {"FAILED": "bold red", "MISMATCH": "bold red", "UNAVAILABLE": "yellow", "noisy": "yellow",
             "REGRESSION": "bold red"}


def print_table(text: str) -> None:
    """Print a result table; in a terminal (and without NO_COLOR) the words that need a look are coloured."""
    if not sys.stdout.isatty() or os.environ.get("NO_COLOR"):
        print(text)
        return
    from rich.console import Console
    from rich.text import Text

    styled = Text(text)
    for word, style in HIGHLIGHT.items():
        styled.highlight_words([word], style=style)
    Console(highlight=False, soft_wrap=True).print(styled)


def break_lock_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--break-lock", action="store_true",
                        help="take the board's deploy lock from its holder when that holder is gone "
                             "(another host's crashed deploy); the holder broken is named")


def fleet_exit(outcomes: list[Any]) -> int:
    """One board: its error as any error. Several: a count on stderr and the worst exit code."""
    failed = [o for o in outcomes if o.error]
    if not failed:
        return EXIT_OK
    if len(outcomes) == 1:
        error = EdgeqError(failed[0].error)
        error.exit_code = failed[0].exit_code
        raise error
    print(f"edgeq: error: {len(failed)} of {len(outcomes)} boards failed", file=sys.stderr)
    return max(o.exit_code for o in failed)
