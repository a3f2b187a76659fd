"""`edgeq completion bash|zsh`: shell completion through argcomplete."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import EXIT_OK
from .common import command


def cmd_completion(args: argparse.Namespace) -> int:
    import argcomplete

    print(argcomplete.shellcode(["edgeq"], shell=args.shell))
    return EXIT_OK


def register(sub: Any) -> None:
    c = command(sub, "completion", "print the shell code that completes edgeq's commands and options",
                ['eval "$(edgeq completion bash)"   # in ~/.bashrc',
                 'eval "$(edgeq completion zsh)"    # in ~/.zshrc'])
    c.add_argument("shell", choices=("bash", "zsh", "fish"), help="your shell")
    c.set_defaults(func=cmd_completion)
