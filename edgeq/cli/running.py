"""Commands that put things on boards and run them: deploy, bundle, profile, cross."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import EXIT_OK, ConfigError
from .common import (Once, board_option, break_lock_flag, command, fleet_exit, group, help_of, host_key_flag, live,
                     native_flag, out_option, print_table)


def settings_from_args(args: argparse.Namespace) -> Any:
    """The profile flags as a Settings (their defaults are Settings' own: see _profile_parser)."""
    from edgeq.settings import Settings

    return Settings(
        runs=args.runs, min_seconds=args.min_seconds, warmup=args.warmup, warmup_seconds=args.warmup_seconds,
        threads=args.threads, pin=args.pin, timeout_s=args.timeout, seed=args.seed,
        input_file=Path(args.inputs) if args.inputs else None,
        reference=Path(args.reference) if args.reference else None, strict=args.strict,
        require_full_delegation=args.require_full_delegation, telemetry_hz=args.telemetry_hz,
        cooldown_to=args.cooldown_to, governor=args.governor)


def cmd_profile(args: argparse.Namespace) -> int:
    from edgeq.boards.fleet import board_records, run_on_boards, summary_table
    from edgeq.profile.run import profile, resume
    from edgeq.settings import exit_decision

    from ..report.terminal import profile_table

    if args.resume:
        with live(args) as progress:
            run = resume(Path(args.resume), args.accept_new_host_key, progress.phases(Path(args.resume).name))
        print_table(profile_table(run.record))
        print(f"\nrun directory: {run.run_dir}")
        return EXIT_OK
    if not args.model:
        raise ConfigError("profile: --model is required (or --resume a partial run directory)")
    settings = settings_from_args(args)

    records = board_records(args.board, args.count, args.place_wait)
    from edgeq.model.shapes import parse as parse_shapes

    input_shapes = parse_shapes(args.input_shape)
    from edgeq.profile.customops import parse as parse_custom_ops

    custom_ops = parse_custom_ops(args.custom_op_library) if args.custom_op_library else None
    with live(args) as progress:
        def one(board: str) -> Any:
            run = profile(
                Path(args.model), records[board], args.backend, settings, runs_dir=Path(args.runs_dir),
                accept_new_host_key=args.accept_new_host_key, progress=progress.transfer(board),
                watch=progress.phases(board), native=Path(args.native) if args.native else None,
                eval_data=Path(args.eval) if args.eval else None, force_threads=args.force_threads,
                break_lock=args.break_lock, input_shapes=input_shapes, signature=args.signature,
                custom_ops=custom_ops,
            )
            progress.done(board, "done")
            return run

        boards = list(records)
        outcomes = run_on_boards(boards, one, describe=lambda run: f"run directory {run.run_dir}")
    # the live lines are gone: the tables stand alone
    for outcome in outcomes:
        if outcome.value is None:
            continue
        if args.json:
            print(json.dumps(outcome.value.result, indent=1))
        else:
            print_table(profile_table(outcome.value.record))
            print(f"\nrun directory: {outcome.value.run_dir}\n")
    if len(boards) > 1 and not args.json:
        rows = []
        for o in outcomes:
            if o.error:
                rows.append([o.board, "FAILED", "-", o.error])
                continue
            entries = o.value.record.backends
            ok = [e for e in entries if e.ok]
            best = min((e.p50_ms for e in ok if e.p50_ms is not None), default=None)
            rows.append([o.board, f"{len(ok)}/{len(entries)} backends ok",
                         f"{best:.3f}" if best is not None else "-", str(o.value.run_dir)])
        print_table(summary_table(rows, ["board", "status", "best p50 ms", "run directory / error"]))
    _notes(outcomes, records, args)
    for o in outcomes:
        found = exit_decision(o.value.result, settings, o.board) if o.value is not None else None
        if found is not None:
            o.error, o.exit_code = found.message, found.exit_code
    return fleet_exit(outcomes)


def _notes(outcomes: list[Any], records: dict[str, Any], args: argparse.Namespace) -> None:
    """On stderr, after the tables: the run's warnings, unavailable backends, and the warm agents left running."""
    from edgeq.profile.run import WARM_AGENT_ENV, warm_agent_s

    for o in outcomes:
        if o.value is None:
            continue
        # What the run says about itself (a dynamic input run at its default shape, a backend
        # predicted to fall back, the board's OS not the record's); the table already says
        # the correctness ones.
        where = f"board {o.board}: " if len(outcomes) > 1 else ""
        for warning in o.value.result.get("warnings") or []:
            if not str(warning).startswith(("outputs do not match", "no reference:")):
                print(f"edgeq: warning: {where}{' '.join(str(warning).split())}", file=sys.stderr)
        governor = ((o.value.result.get("telemetry") or {}).get("governor")) or {}
        if governor.get("reason"):  # the run went on under the board's own governor
            print(f"edgeq: warning: {where}--governor {governor.get('requested')} was not set: {governor['reason']}",
                  file=sys.stderr)
        for entry in o.value.result["backends"] if o.value.ok else []:  # else the error says it
            if entry["status"] == "unavailable":
                print(f"edgeq: warning: {entry['label']} is UNAVAILABLE on board {o.board}: "
                      f"{' '.join(str(entry.get('reason')).split())[:200]}", file=sys.stderr)
        if str(o.value.result.get("warm_agent", "")) in ("started", "reused") and not args.json:
            minutes = warm_agent_s(records[o.board].connection.kind == "local") / 60
            print(f"edgeq: a warm agent stays on board {o.board} for {minutes:g} min after its last job, so the "
                  f"next profile starts faster; stop it now with `edgeq boards stop-agents --board {o.board}` "
                  f"({WARM_AGENT_ENV}=0 turns it off)", file=sys.stderr)


def cmd_deploy(args: argparse.Namespace) -> int:
    from edgeq.boards.fleet import board_records, run_on_boards, summary_table
    from edgeq.deploy.plan import deploy

    records = board_records(args.board, args.count, args.place_wait)
    with live(args) as progress:
        def one(board: str) -> Any:
            done = deploy(records[board], [Path(m) for m in args.model or []],
                          accept_new_host_key=args.accept_new_host_key, progress=progress.transfer(board),
                          native=Path(args.native) if args.native else None, break_lock=args.break_lock)
            progress.done(board, "deployed")
            return done

        outcomes = run_on_boards(list(records), one, describe=lambda done: f"deployment {done.deployment}")
    rows = []
    for o in outcomes:
        if o.error:
            rows.append([o.board, "FAILED", "-", "-", o.error])
            continue
        d = o.value
        rows.append([o.board, d.deployment, f"{d.files_sent} sent, {d.files_unchanged} unchanged",
                     f"{d.bytes_sent / 1024:.1f} KB", f"{d.seconds:.2f} s"])
        for note in d.notes:
            print(f"{o.board}: {note}")
    print_table(summary_table(rows, ["board", "deployment", "files", "sent", "time / error"]))
    return fleet_exit(outcomes)


def cmd_bundle(args: argparse.Namespace) -> int:
    from edgeq.bundle.build import write_bundle

    out = write_bundle(args.board, [Path(m) for m in args.model or []], Path(args.out),
                       accept_new_host_key=args.accept_new_host_key,
                       native=Path(args.native) if args.native else None)
    print(out)
    return EXIT_OK


def cmd_cross_build(args: argparse.Namespace) -> int:
    from edgeq.bundle.cross import cross_build

    print(cross_build(target=args.target, out=Path(args.out)))
    return EXIT_OK


def farm_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, metavar="N", help="labgrid: use the first N matching free places; "
                                                                 "default: all of them")
    parser.add_argument("--place-wait", type=float, metavar="SECONDS",
                        help="labgrid: wait this long for a place someone else holds (default: the record's "
                             "wait_s, else refuse at once, naming the holder)")


def _profile_parser(sub: Any) -> None:
    from edgeq.profile.run import profile
    from edgeq.settings import DEFAULTS as D

    p = command(sub, "profile", help_of(profile),
                ["edgeq profile -m model.tflite --backend tflite-cpu,armnn:backends=CpuRef --runs 20",
                 "edgeq profile -b pi -m model.tflite --backend tflite-cpu --strict --json > result.json"])
    p.add_argument("-m", "--model", action=Once, help="a .tflite file; required (no default) unless --resume")
    p.add_argument("--resume", metavar="RUN.partial", help="finish a run whose connection was lost; default: none")
    board_option(p)
    farm_flags(p)
    p.add_argument("--backend", action="append", metavar="NAME[:k=v]",
                   help="tflite-cpu, tflite-gpu, armnn, tflite-benchmark, with options such as "
                        "armnn:backends=CpuAcc; repeat or comma-separate (default: tflite-cpu)")
    p.add_argument("--threads", type=int, default=D.threads, help="inference threads (at most the board's cores)")
    p.add_argument("--force-threads", action="store_true", help="allow more --threads than the board has cores")
    p.add_argument("--runs", type=int, default=D.runs, help="measured runs, at least")
    p.add_argument("--min-seconds", type=float, default=D.min_seconds, help="keep measuring at least this long")
    p.add_argument("--warmup", type=int, default=D.warmup, help="warm-up runs")
    p.add_argument("--warmup-seconds", type=float, default=D.warmup_seconds,
                   help="keep warming up at least this long")
    p.add_argument("--inputs", help="a .npy or .npz of inputs (default: fixed-seed random data)")
    p.add_argument("--seed", type=int, default=D.seed, help="seed for generated inputs")
    p.add_argument("--signature", metavar="NAME", help="run this signature of a model with several (tflite-cpu "
                                                        "only; default: the first, the main subgraph)")
    p.add_argument("--custom-op-library", action="append", metavar="PATH.so:REGISTERER",
                   help="a library of custom ops and its registerer function(s), for tflite-cpu on tflite_runtime; "
                        "repeat it with one build per architecture: the board gets the build for its arch, the "
                        "host's reference the host's (default: none)")
    p.add_argument("--input-shape", action="append", metavar="NAME=1,224,224,3",
                   help="shape of an input with dynamic dims (repeatable; default: the model's own defaults)")
    p.add_argument("--pin", help="pin to a CPU cluster of the board record (big, little) or core ids (0,1); "
                                 "default: no pinning")
    p.add_argument("--timeout", type=float, default=D.timeout_s, help="seconds allowed per backend")
    p.add_argument("--runs-dir", default="runs", help="where run directories go")
    p.add_argument("--reference", metavar="FLOAT.tflite",
                   help="check outputs against this (float) model on the host (default: the same model)")
    p.add_argument("--eval", metavar="DATA.npz", help="labelled data (x, y): top-1 accuracy per backend, on the "
                                                      "board; default: none")
    p.add_argument("--strict", action="store_true", help="exit 1 when any backend's outputs do not match")
    p.add_argument("--require-full-delegation", action="store_true",
                   help="exit 1 when any backend ran part of the model on the CPU instead of its accelerator")
    p.add_argument("--telemetry-hz", type=float, default=D.telemetry_hz,
                   help="sample power, temperatures and clocks this often (default: 10 Hz when the board "
                        "names a power source, else off)")
    p.add_argument("--cooldown-to", type=float, metavar="CELSIUS",
                   help="wait before each backend until this cool; default: no wait")
    p.add_argument("--governor", help="set this cpufreq governor for the run (e.g. performance), then restore; "
                                      "default: leave it")
    p.add_argument("--json", action="store_true", help="print result.json instead of the table")
    native_flag(p)
    host_key_flag(p)
    break_lock_flag(p)
    p.set_defaults(func=cmd_profile)


def register(sub: Any) -> None:
    d = command(sub, "deploy", "send runtimes (offline wheels), the agent and models to boards",
                ["edgeq deploy --board rpi4 -m model.tflite", "edgeq deploy -b pi -m a.tflite -m b.tflite"])
    board_option(d, default=None)
    farm_flags(d)
    d.add_argument("-m", "--model", action="append", help="a .tflite to send too (repeatable); default: none")
    native_flag(d)
    host_key_flag(d)
    break_lock_flag(d)
    d.set_defaults(func=cmd_deploy)

    bd = command(sub, "bundle", "resolve what a board needs into a folder, with its manifest",
                 ["edgeq bundle --board rpi4 -m model.tflite -o bundle-rpi4", "edgeq bundle -b rock5b --native native"])
    board_option(bd, default=None, fleet=False)
    bd.add_argument("-m", "--model", action="append", help="a .tflite to include (repeatable); default: none")
    out_option(bd, "bundle", "output folder")
    native_flag(bd)
    host_key_flag(bd)
    bd.set_defaults(func=cmd_bundle)

    _profile_parser(sub)

    cross = group(sub, "cross", "native parts for ARM boards, built with Dockerfile.cross (needs Docker buildx)")
    cb = command(cross, "build", "cross-build the GPU delegate, benchmark_model and the ArmNN delegate",
                 ["edgeq cross build --target aarch64 -o native", "edgeq cross build --target armhf -o native-armhf"])
    cb.add_argument("--target", default="aarch64", choices=("aarch64", "armhf"), help="the boards' architecture")
    out_option(cb, "native", "output folder")
    cb.set_defaults(func=cmd_cross_build)
