"""Commands about boards themselves: the catalog, facts, the emulated board."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import EXIT_CHECK_FAILED, EXIT_OK
from .common import host_key_flag


def cmd_boards_list(args: argparse.Namespace) -> int:
    from edgeq.boards.catalog import list_boards, table

    print(table(list_boards()))
    return EXIT_OK


def cmd_boards_show(args: argparse.Namespace) -> int:
    from edgeq.boards.catalog import describe, load_board

    print(describe(load_board(args.name)))
    return EXIT_OK


def _generation(found: dict) -> str:
    if not found.get("codename"):
        return found.get("pretty") or "unknown"
    debian = f", Debian {found['debian']}" if found.get("debian") else ""
    return f"{found.get('name') or found.get('id')} {found.get('version_id') or ''} ({found['codename']}{debian})"


def cmd_facts(args: argparse.Namespace) -> int:
    from edgeq.link.probe import facts

    found = facts(args.board, accept_new_host_key=args.accept_new_host_key)
    for warning in found.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(found, indent=1))
        return EXIT_OK
    cpu = found["cpu"]
    runtimes = ", ".join(f"{k} {v}" for k, v in found["runtimes"].items()) or "none"
    armnn = found.get("pyarmnn", {})
    lines = [
        f"board      {args.board}",
        f"arch       {found['arch']}  ({found['distro']}, kernel {found['kernel']}, glibc {found['glibc']})",
        f"os         {_generation(found.get('os') or {})}",
        f"cpu        {cpu['model']} x{cpu['count']}" + (f"  [{cpu['board_model']}]" if cpu.get("board_model") else ""),
        f"python     {found['python']['version']} ({found['python']['executable']}), numpy {found['numpy']}",
        f"runtimes   {runtimes}",
        "pyarmnn    " + (f"{armnn.get('version')} (ArmNN {armnn.get('armnn_version', '?')}) backends "
                         f"{', '.join(armnn.get('backends', []))}"
                         if armnn.get("version") else armnn.get("error", "not installed")),
        f"governors  {', '.join(sorted({p['governor'] or '?' for p in found['cpufreq']})) or 'no cpufreq'}",
        f"vulkan     {', '.join(found['gpu']['vulkan_icds']) or 'no ICD'}",
        f"opencl     {', '.join(found['gpu']['opencl_icds']) or 'no ICD'}",
    ]
    print("\n".join(lines))
    return EXIT_OK


def cmd_emulate(args: argparse.Namespace) -> int:
    from .. import emulate

    action = {"up": lambda: emulate.up(args.name, args.mode), "down": lambda: emulate.down(args.name),
              "status": lambda: emulate.status(args.name)}[args.action]
    state = action()
    print(f"{state.name}: {'running' if state.running else 'not running'}"
          + (f" on 127.0.0.1:{state.port} (pid {state.pid}, {state.mode} mode)" if state.running else ""))
    if state.detail:
        print(state.detail)
    if args.action == "status" and not state.running:
        return EXIT_CHECK_FAILED
    return EXIT_OK


def register(sub: Any) -> None:
    boards = sub.add_parser("boards", help="the board catalog").add_subparsers(dest="action", required=True)
    boards.add_parser("list", help="list the boards edgeq knows").set_defaults(func=cmd_boards_list)
    show = boards.add_parser("show", help="show one board's record")
    show.add_argument("name")
    show.set_defaults(func=cmd_boards_show)

    f = sub.add_parser("facts", help="what a board is and has (runs the agent there)")
    f.add_argument("--board", "-b", default="local")
    f.add_argument("--json", action="store_true")
    host_key_flag(f)
    f.set_defaults(func=cmd_facts)


    em = sub.add_parser("emulate", help="an emulated aarch64 board under QEMU, reachable over SSH")
    em.add_argument("action", choices=("up", "down", "status"))
    em.add_argument("--name", default="qemu-aarch64", help="board name (default: qemu-aarch64)")
    em.add_argument("--mode", choices=("user", "system"),
                    help="qemu-user chroot or a qemu-system VM (default: what the board is; names ending -system are VMs)")
    em.set_defaults(func=cmd_emulate)
