# PYTHON_ARGCOMPLETE_OK
"""The `edgeq` command: parse arguments, call one API function, print.

This is the one place that maps EdgeqError to exit codes (see errors.py and the
README's table). A traceback reaches the user only with --debug (or EDGEQ_DEBUG=1).
Each command group lives in its own module with a `register(subparsers)`; the API
functions they call are the same ones Python users call (edgeq/api.py).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any, Sequence

from .. import __version__
from ..errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED, EdgeqError
from . import advising, boards, models, recipes, reports, running, shell
from .common import COMMON, Formatter, Parser, debug_wanted

GROUPS = (boards, running, models, recipes, reports, advising, shell)

DESCRIPTION = """\
edgeq: quantize models, push them to ARM boards, measure how they really run there.

exit codes: 0 done; 1 a check you asked for failed; 2 bad input (options, files, an
unknown backend name); 3 the board failed; 4 a bug in edgeq; 130 interrupted (143 on
SIGTERM).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="edgeq", description=DESCRIPTION, formatter_class=Formatter,
                    parents=[COMMON],
                    epilog="examples:\n  edgeq profile -m model.tflite --backend tflite-cpu,armnn\n"
                           "  edgeq boards add mypi --host mypi --like rpi5\n"
                           "  edgeq COMMAND --help")
    parser.add_argument("--version", action="version", version=f"edgeq {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled), raised where the program is, so that cleanup runs as for Ctrl-C:
    leased labgrid places are given back, no staging folder is left, a run on a board is kept to resume."""


def _terminated(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        import argcomplete

        argcomplete.autocomplete(parser)  # returns at once unless the shell is asking for completions
    except ImportError:  # pragma: no cover - a core dependency
        pass
    args, extra = parser.parse_known_args(argv)
    if extra:
        getattr(args, "parser_of_command", parser).unknown(extra)
    debug = debug_wanted(args)
    main_thread = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
    try:
        return args.func(args)
    except EdgeqError as exc:
        if debug:
            raise
        print(f"edgeq: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `edgeq ... | head`: the reader left, which is not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt as exc:
        if debug:
            raise
        terminated = isinstance(exc, Terminated)
        word = "terminated" if terminated else "interrupted"
        boards = str(exc).splitlines()  # a fleet says one line per board (edgeq.boards.fleet)
        if len(boards) > 1:
            print(f"edgeq: {word}", file=sys.stderr)
            for line in boards:
                print(f"edgeq: {line}", file=sys.stderr)
        else:
            said = " ".join(str(exc).split())
            print(f"edgeq: {word}{'; ' + said if said else ''}", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except Exception as exc:  # a bug: still one line, with the way to see more
        if debug:
            raise
        print(f"edgeq: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, before)  # in-process callers (tests, notebooks) keep their own


if __name__ == "__main__":
    sys.exit(main())
