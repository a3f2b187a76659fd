"""Commands about boards themselves: the catalog, adding a board, facts, warm agents, the emulated board."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import EXIT_CHECK_FAILED, EXIT_OK, ConfigError
from .common import board_option, command, group, host_key_flag


def cmd_boards_list(args: argparse.Namespace) -> int:
    from edgeq.boards.catalog import as_json, groups, list_boards, search_path, table

    boards = list_boards()
    if args.json:
        print(json.dumps({"boards": [as_json(b) for b in boards], "groups": groups(boards),
                          "search_path": [str(p) for p in search_path()]}, indent=1))
        return EXIT_OK
    print(table(boards))
    found = groups(boards)
    if found:
        print("\ngroups: " + "; ".join(f"{name} = {', '.join(members)}" for name, members in found.items()))
    print("searched: " + ", ".join(str(p) for p in search_path()))
    return EXIT_OK


def cmd_boards_show(args: argparse.Namespace) -> int:
    from edgeq.boards.catalog import as_json, describe, groups, list_boards, load_board

    try:
        boards = [load_board(args.name)]
        title = None
    except ConfigError:
        members = groups().get(args.name)
        if members is None:
            raise
        catalog = {b.name: b for b in list_boards()}
        boards = [catalog[name] for name in members]
        title = f"group {args.name}: {', '.join(members)}"
    if args.json:
        data: Any = [as_json(b) for b in boards]
        print(json.dumps(data[0] if title is None else {"group": args.name, "boards": data}, indent=1))
        return EXIT_OK
    if title:
        print(title + "\n")
    print("\n\n".join(describe(b) for b in boards))
    return EXIT_OK


def _generation(found: dict) -> str:
    if not found.get("codename"):
        return found.get("pretty") or "unknown"
    debian = f", Debian {found['debian']}" if found.get("debian") else ""
    return f"{found.get('name') or found.get('id')} {found.get('version_id') or ''} ({found['codename']}{debian})"


def cmd_boards_add(args: argparse.Namespace) -> int:
    from edgeq.boards.add import add_board

    added = add_board(args.name, args.host, user=args.user, port=args.port, like=args.like, key_file=args.key_file,
                      python=args.python, work_dir=args.work_dir, check=not args.no_check,
                      accept_new_host_key=args.accept_new_host_key, replace=args.replace)
    if added.host_key:
        print(f"reached {added.board.name}: host key {added.host_key}"
              + (f", arch {added.arch_seen}" if added.arch_seen else ""))
    else:
        print(f"not checked (--no-check): {added.board.name} was not contacted")
    print(f"wrote {added.path}")
    print(f"next: edgeq facts --board {added.board.name}")
    return EXIT_OK


def cmd_stop_agents(args: argparse.Namespace) -> int:
    from edgeq.boards.catalog import list_boards, resolve_boards
    from edgeq.boards.fleet import run_on_boards
    from edgeq.link.warmstop import stop_agents

    from .common import fleet_exit

    boards = resolve_boards(args.board) if args.board else [b for b in list_boards() if b.connection.kind == "local"]
    by_name = {b.name: b for b in boards}
    outcomes = run_on_boards(list(by_name), lambda name: stop_agents(by_name[name], args.accept_new_host_key))
    for outcome in outcomes:
        if outcome.error:
            print(f"{outcome.board}: FAILED {outcome.error}")
        else:
            pids = outcome.value or []
            print(f"{outcome.board}: stopped {len(pids)} warm agent{'s' if len(pids) != 1 else ''}"
                  + (f" (pid {', '.join(map(str, pids))})" if pids else ""))
    return fleet_exit(outcomes)


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
    if getattr(args, "json", False):
        print(json.dumps({"name": state.name, "running": state.running, "port": state.port, "pid": state.pid,
                          "mode": state.mode, "detail": state.detail}, indent=1))
    else:
        print(f"{state.name}: {'running' if state.running else 'not running'}"
              + (f" on 127.0.0.1:{state.port} (pid {state.pid}, {state.mode} mode)" if state.running else ""))
        if state.detail:
            print(state.detail)
    if args.action == "status" and not state.running:
        print(f"edgeq: {state.name} is not running (exit {EXIT_CHECK_FAILED}); start it with "
              f"`edgeq emulate up --name {state.name}`", file=sys.stderr)
        return EXIT_CHECK_FAILED
    return EXIT_OK


def register(sub: Any) -> None:
    boards = group(sub, "boards", "the board catalog: list, show, add boards; stop their warm agents")
    ls = command(boards, "list", "list the boards and groups edgeq knows, and where each record came from",
                 ["edgeq boards list", "edgeq boards list --json | jq '.groups'"])
    ls.add_argument("--json", action="store_true", help="print the records, groups and search path as JSON")
    ls.set_defaults(func=cmd_boards_list)

    show = command(boards, "show", "show one board's record, or every record of a group",
                   ["edgeq boards show rpi5", "edgeq boards show pi --json"])
    show.add_argument("name", metavar="BOARD|GROUP", help="a board or a group name from `edgeq boards list`")
    show.add_argument("--json", action="store_true", help="print the record(s) as JSON")
    show.set_defaults(func=cmd_boards_show)

    add = command(boards, "add", "write a new board record to your board folder, after checking the connection",
                  ["edgeq boards add mypi --host mypi --like rpi5   # mypi may be a Host of ~/.ssh/config",
                   "edgeq boards add lab3 --host 10.0.0.13 --user pi --port 2222 --accept-new-host-key"],
                  description="Write ~/.config/edgeq/boards/NAME.yaml. The host name goes through ~/.ssh/config "
                              "as with ssh; what you give here wins over it. The board is reached first (host key "
                              "fingerprint printed, `uname -m` read) unless --no-check.")
    add.add_argument("name", metavar="NAME", help="the new board's name (lower case letters, digits, . _ -)")
    add.add_argument("--host", required=True, help="host name, address, or a Host of ~/.ssh/config; required")
    add.add_argument("--user", help="login user; default: ~/.ssh/config's User, else your user name")
    add.add_argument("--port", type=int, help="SSH port; default: ~/.ssh/config's Port, else 22")
    add.add_argument("--key-file", metavar="KEY", help="private key; default: ~/.ssh/config's IdentityFile, "
                                                        "else ssh-agent and ~/.ssh/id_*")
    add.add_argument("--like", metavar="BOARD", help="copy CPU, GPU, backends and groups from this board "
                                                     "(e.g. rpi5); default: a plain aarch64 board")
    add.add_argument("--python", metavar="PATH", help="the board's python3; default: the template's, else "
                                                      "/usr/bin/python3")
    add.add_argument("--work-dir", metavar="DIR", help="the one folder edgeq writes to on the board; default: "
                                                       "the template's, else ~/edgeq")
    add.add_argument("--no-check", action="store_true", help="write the record without contacting the board")
    add.add_argument("--replace", action="store_true", help="overwrite your record of the same name")
    host_key_flag(add)
    add.set_defaults(func=cmd_boards_add)

    stop = command(boards, "stop-agents", "stop the warm agents that profiles leave on boards (idle ones exit "
                                          "by themselves after EDGEQ_WARM_AGENT_S seconds, 300 by default)",
                   ["edgeq boards stop-agents --board rpi5", "edgeq boards stop-agents --board pi"])
    stop.add_argument("-b", "--board", help="board, comma-separated boards, or a group; default: the local boards")
    host_key_flag(stop)
    stop.set_defaults(func=cmd_stop_agents)

    f = command(sub, "facts", "what a board is and has (runs the agent there)",
                ["edgeq facts --board rpi4", "edgeq facts -b local --json"])
    board_option(f, fleet=False)
    f.add_argument("--json", action="store_true", help="print the agent's facts as JSON")
    host_key_flag(f)
    f.set_defaults(func=cmd_facts)

    em = group(sub, "emulate", "an emulated aarch64 board under QEMU, reachable over SSH")
    helps = {"up": ("start the emulated board (the first time builds its root filesystem, ~4 min)",
                    ["edgeq emulate up", "edgeq emulate up --name qemu-aarch64-system"]),
             "down": ("stop it, leaving no process, mount or binfmt entry that up added",
                      ["edgeq emulate down", "edgeq emulate down --name qemu-aarch64-system"]),
             "status": ("is it running? exit 0 if it is, 1 if not",
                        ["edgeq emulate status", "edgeq emulate status --json"])}
    for action, (text, examples) in helps.items():
        p = command(em, action, text, examples)
        p.add_argument("--name", default="qemu-aarch64", help="the emulated board's name")
        if action == "up":
            p.add_argument("--mode", choices=("user", "system"),
                           help="qemu-user chroot or a qemu-system VM (default: from the board; names ending "
                                "-system are VMs)")
        else:
            p.set_defaults(mode=None)
        if action == "status":
            p.add_argument("--json", action="store_true", help="print the state as JSON")
        p.set_defaults(func=cmd_emulate)
