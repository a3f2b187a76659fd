"""What several command groups share: flags and the fleet's exit code."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from ..errors import EXIT_OK, EdgeqError


def help_of(func: Callable[..., Any]) -> str:
    """A command's help is the first line of its API function's docstring."""
    return (func.__doc__ or "").strip().splitlines()[0]


def native_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--native", metavar="DIR",
                        help="native parts built by `edgeq cross build` (GPU delegate, benchmark_model, ArmNN delegate)")


def host_key_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--accept-new-host-key", action="store_true",
                        help="trust an SSH host key seen for the first time (a changed key is always refused)")


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
