"""The `edgeq` command: parse arguments, call one API function, print.

This is the one place that maps EdgeqError to exit codes (see errors.py and
the README). A traceback reaches the user only with --debug.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from . import __version__
from .errors import EXIT_CHECK_FAILED, EXIT_INTERNAL, EXIT_OK, BoardError, CheckFailed, ConfigError, EdgeqError


def _help(func: Callable[..., Any]) -> str:
    return (func.__doc__ or "").strip().splitlines()[0]


def cmd_boards_list(args: argparse.Namespace) -> int:
    from .boards import list_boards, table

    print(table(list_boards()))
    return EXIT_OK


def cmd_boards_show(args: argparse.Namespace) -> int:
    from .boards import describe, load_board

    print(describe(load_board(args.name)))
    return EXIT_OK


def cmd_facts(args: argparse.Namespace) -> int:
    from .probe import facts

    found = facts(args.board, accept_new_host_key=args.accept_new_host_key)
    if args.json:
        print(json.dumps(found, indent=1))
        return EXIT_OK
    cpu = found["cpu"]
    runtimes = ", ".join(f"{k} {v}" for k, v in found["runtimes"].items()) or "none"
    armnn = found.get("pyarmnn", {})
    lines = [
        f"board      {args.board}",
        f"arch       {found['arch']}  ({found['distro']}, kernel {found['kernel']}, glibc {found['glibc']})",
        f"cpu        {cpu['model']} x{cpu['count']}" + (f"  [{cpu['board_model']}]" if cpu.get("board_model") else ""),
        f"python     {found['python']['version']} ({found['python']['executable']}), numpy {found['numpy']}",
        f"runtimes   {runtimes}",
        "pyarmnn    " + (f"{armnn.get('version')} backends {', '.join(armnn.get('backends', []))}"
                         if armnn.get("version") else armnn.get("error", "not installed")),
        f"governors  {', '.join(sorted({p['governor'] or '?' for p in found['cpufreq']})) or 'no cpufreq'}",
        f"vulkan     {', '.join(found['gpu']['vulkan_icds']) or 'no ICD'}",
        f"opencl     {', '.join(found['gpu']['opencl_icds']) or 'no ICD'}",
    ]
    print("\n".join(lines))
    return EXIT_OK


def _fleet_exit(outcomes: list) -> int:
    failed = [o for o in outcomes if o.error]
    if not failed:
        return EXIT_OK
    if len(outcomes) == 1:
        raise_one(failed[0])
    print(f"edgeq: error: {len(failed)} of {len(outcomes)} boards failed", file=sys.stderr)
    return max(o.exit_code for o in failed)


def raise_one(outcome: Any) -> None:
    error = EdgeqError(outcome.error)
    error.exit_code = outcome.exit_code
    raise error


def cmd_profile(args: argparse.Namespace) -> int:
    from .correctness import mismatches
    from .report.terminal import fallbacks
    from .fleet import board_names, run_on_boards, summary_table
    from .profile import profile, resume
    from .progress import PhaseLine, TransferBar
    from .report.terminal import profile_table

    if args.resume:
        run = resume(Path(args.resume), args.accept_new_host_key, PhaseLine(Path(args.resume).name))
        print(profile_table(run.result))
        print(f"\nrun directory: {run.run_dir}")
        return EXIT_OK
    if not args.model:
        raise ConfigError("profile: --model is required (or --resume a partial run directory)")

    def one(board: str) -> Any:
        run = profile(
            model=Path(args.model), board=board, backends=args.backend, threads=args.threads, runs=args.runs,
            warmup=args.warmup, min_seconds=args.min_seconds, warmup_seconds=args.warmup_seconds,
            input_file=Path(args.inputs) if args.inputs else None, seed=args.seed, pin=args.pin,
            timeout_s=args.timeout, runs_dir=Path(args.runs_dir), accept_new_host_key=args.accept_new_host_key,
            progress=TransferBar(f"{board}: sending"), watch=PhaseLine(board),
            reference=Path(args.reference) if args.reference else None,
            native=Path(args.native) if args.native else None,
        )
        return run

    boards = board_names(args.board)
    outcomes = run_on_boards(boards, one)
    for outcome in outcomes:
        if outcome.value is None:
            continue
        if args.json:
            print(json.dumps(outcome.value.result, indent=1))
        else:
            print(profile_table(outcome.value.result))
            print(f"\nrun directory: {outcome.value.run_dir}\n")
    if len(boards) > 1 and not args.json:
        rows = []
        for o in outcomes:
            if o.error:
                rows.append([o.board, "FAILED", "-", o.error])
                continue
            entries = o.value.result["backends"]
            ok = [e for e in entries if e["status"] == "ok"]
            best = min((e["stats"]["p50_ms"] for e in ok), default=None)
            rows.append([o.board, f"{len(ok)}/{len(entries)} backends ok",
                         f"{best:.3f}" if best is not None else "-", str(o.value.run_dir)])
        print(summary_table(rows, ["board", "status", "best p50 ms", "run directory / error"]))
    for o in outcomes:
        if o.value is not None and not o.value.ok:
            reasons = "; ".join(f"{b['label']}: {b.get('reason')}" for b in o.value.result["backends"])
            o.error, o.exit_code = f"no backend completed on board {o.board}: {reasons}", BoardError.exit_code
        elif o.value is not None and args.require_full_delegation and fallbacks(o.value.result):
            o.error = f"not fully delegated on board {o.board}: " + "; ".join(fallbacks(o.value.result))
            o.exit_code = CheckFailed.exit_code
        elif o.value is not None and args.strict and mismatches(o.value.result["correctness"]):
            o.error = f"outputs do not match the reference on board {o.board}: " + "; ".join(
                mismatches(o.value.result["correctness"]))
            o.exit_code = CheckFailed.exit_code
    return _fleet_exit(outcomes)


def cmd_deploy(args: argparse.Namespace) -> int:
    from .deploy import deploy
    from .fleet import board_names, run_on_boards, summary_table
    from .progress import TransferBar

    def one(board: str) -> Any:
        return deploy(board, [Path(m) for m in args.model or []], accept_new_host_key=args.accept_new_host_key,
                      progress=TransferBar(f"{board}: sending"), native=Path(args.native) if args.native else None)

    outcomes = run_on_boards(board_names(args.board), one)
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
    print(summary_table(rows, ["board", "deployment", "files", "sent", "time / error"]))
    return _fleet_exit(outcomes)


def cmd_bundle(args: argparse.Namespace) -> int:
    from .bundle import write_bundle

    out = write_bundle(args.board, [Path(m) for m in args.model or []], Path(args.out),
                       accept_new_host_key=args.accept_new_host_key,
                       native=Path(args.native) if args.native else None)
    print(out)
    return EXIT_OK


def cmd_cross_build(args: argparse.Namespace) -> int:
    from .cross import cross_build

    print(cross_build(target=args.target, out=Path(args.out)))
    return EXIT_OK


def cmd_emulate(args: argparse.Namespace) -> int:
    from . import emulate

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


def cmd_zoo_build(args: argparse.Namespace) -> int:
    from . import zoo

    params = {k: v for k, v in (("alpha", args.alpha), ("resolution", args.resolution)) if v is not None}
    if args.name in zoo.KERAS_MODELS:
        out = Path(args.out) if args.out else Path("models") / f"{args.name}.keras"
        for role, path in zoo.build_keras(args.name, out, seed=args.seed, **params).items():
            print(f"{role}: {path}")
        return EXIT_OK
    if args.name not in zoo.MODELS:
        choices = ", ".join([*zoo.MODELS, *zoo.KERAS_MODELS])
        raise ConfigError(f"unknown zoo model '{args.name}'. Choose from: {choices}")
    out = Path(args.out) if args.out else Path("models") / f"{args.name}_{args.dtype}.tflite"
    print(zoo.build(args.name, out, dtype=args.dtype, seed=args.seed, **params))
    return EXIT_OK


def cmd_quantize(args: argparse.Namespace) -> int:
    import warnings

    from .quantize import quantize

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        variants = quantize(Path(args.model), args.mode, args.calib, Path(args.out), io=args.io,
                            train=Path(args.train) if args.train else None, targets=args.target or None)
    for warning in caught:
        print(f"edgeq: warning: {warning.message}", file=sys.stderr)
    for variant in variants:
        print(f"{variant.mode:14} {variant.size_bytes / 1024:10.1f} KB  {variant.path}")
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    from .quantize import analyze

    print(analyze([Path(v) for v in args.variants], Path(args.eval) if args.eval else None).render(args.format))
    return EXIT_OK


def _profile_parser(sub: Any) -> None:
    from .profile import profile

    p = sub.add_parser("profile", help=_help(profile), description=_help(profile))
    p.add_argument("--model", "-m", help="a .tflite file")
    p.add_argument("--resume", metavar="RUN.partial", help="finish a run whose connection was lost")
    p.add_argument("--board", "-b", default="local",
                   help="board, comma-separated boards, or a group from the catalog (default: local)")
    p.add_argument("--backend", action="append", metavar="NAME[:k=v]",
                   help="tflite-cpu, tflite-gpu, armnn; repeat or comma-separate (default: tflite-cpu)")
    p.add_argument("--threads", type=int, default=1, help="inference threads (default: 1)")
    p.add_argument("--runs", type=int, default=50, help="measured runs, at least (default: 50)")
    p.add_argument("--min-seconds", type=float, default=0.0, help="keep measuring at least this long")
    p.add_argument("--warmup", type=int, default=5, help="warm-up runs (default: 5)")
    p.add_argument("--warmup-seconds", type=float, default=0.0, help="keep warming up at least this long")
    p.add_argument("--inputs", help="a .npy or .npz of inputs (default: fixed-seed random data)")
    p.add_argument("--seed", type=int, default=0, help="seed for generated inputs")
    p.add_argument("--pin", help="pin to a CPU cluster (big, little) or core ids (0,1)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per backend (default: 600)")
    p.add_argument("--runs-dir", default="runs", help="where run directories go (default: ./runs)")
    p.add_argument("--reference", metavar="FLOAT.tflite",
                   help="check outputs against this (float) model on the host (default: the same model)")
    p.add_argument("--strict", action="store_true", help="exit 1 when any backend's outputs do not match")
    p.add_argument("--require-full-delegation", action="store_true",
                   help="exit 1 when any backend ran part of the model on the CPU instead of its accelerator")
    p.add_argument("--json", action="store_true", help="print result.json instead of the table")
    _native_flag(p)
    _host_key_flag(p)
    p.set_defaults(func=cmd_profile)


def _native_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--native", metavar="DIR",
                        help="native parts built by `edgeq cross build` (GPU delegate, benchmark_model, ArmNN delegate)")


def _host_key_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--accept-new-host-key", action="store_true",
                        help="trust an SSH host key seen for the first time (a changed key is always refused)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgeq", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"edgeq {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    boards = sub.add_parser("boards", help="the board catalog").add_subparsers(dest="action", required=True)
    boards.add_parser("list", help="list the boards edgeq knows").set_defaults(func=cmd_boards_list)
    show = boards.add_parser("show", help="show one board's record")
    show.add_argument("name")
    show.set_defaults(func=cmd_boards_show)

    f = sub.add_parser("facts", help="what a board is and has (runs the agent there)")
    f.add_argument("--board", "-b", default="local")
    f.add_argument("--json", action="store_true")
    _host_key_flag(f)
    f.set_defaults(func=cmd_facts)

    d = sub.add_parser("deploy", help="send runtimes (offline wheels), the agent and models to boards")
    d.add_argument("--board", "-b", default="local", help="board, comma-separated boards, or a group")
    d.add_argument("--model", "-m", action="append", help="a .tflite to send too (repeatable)")
    _native_flag(d)
    _host_key_flag(d)
    d.set_defaults(func=cmd_deploy)

    bd = sub.add_parser("bundle", help="resolve what a board needs into a folder, with its manifest")
    bd.add_argument("--board", "-b", required=True)
    bd.add_argument("--model", "-m", action="append", help="a .tflite to include (repeatable)")
    bd.add_argument("--out", "-o", default="bundle", help="output folder (default: ./bundle)")
    _native_flag(bd)
    _host_key_flag(bd)
    bd.set_defaults(func=cmd_bundle)

    _profile_parser(sub)

    cross = sub.add_parser("cross", help="native parts for ARM boards, built with Dockerfile.cross")
    cross_sub = cross.add_subparsers(dest="action", required=True)
    cb = cross_sub.add_parser("build", help="cross-build the GPU delegate, benchmark_model and the ArmNN delegate")
    cb.add_argument("--target", default="aarch64", choices=("aarch64", "armhf"))
    cb.add_argument("--out", default="native", help="output folder (default: ./native)")
    cb.set_defaults(func=cmd_cross_build)

    q = sub.add_parser("quantize", help="quantize a Keras/SavedModel/float .tflite model into variants")
    q.add_argument("model", help=".keras, .h5, a SavedModel folder, or a float .tflite")
    q.add_argument("--mode", action="append", required=True,
                   help="fp32, fp16, dynamic, int8, int16x8, int4-weights, qat (repeatable)")
    q.add_argument("--calib", help="calibration data: .npy/.npz, a folder of images, or 'random'")
    q.add_argument("--train", help="training data (.npz with x, y) for qat")
    q.add_argument("--io", default="float", help="int8 inputs/outputs: float, int8 or uint8 (default: float)")
    q.add_argument("--target", action="append", help="warn about variants known to fail on this runtime")
    q.add_argument("--out", default="variants", help="output folder (default: ./variants)")
    q.set_defaults(func=cmd_quantize)

    an = sub.add_parser("analyze", help="the quantization analysis table: size, accuracy, SQNR per variant")
    an.add_argument("variants", nargs="+", help="variant files (with their .json sidecars)")
    an.add_argument("--eval", help="labelled evaluation data (.npz with x, y)")
    an.add_argument("--format", default="table", choices=("table", "json", "csv"))
    an.set_defaults(func=cmd_analyze)

    em = sub.add_parser("emulate", help="an emulated aarch64 board under QEMU, reachable over SSH")
    em.add_argument("action", choices=("up", "down", "status"))
    em.add_argument("--name", default="qemu-aarch64", help="board name (default: qemu-aarch64)")
    em.add_argument("--mode", default="user", choices=("user", "system"), help="qemu-user chroot or a VM")
    em.set_defaults(func=cmd_emulate)

    zoo = sub.add_parser("zoo", help="reference models built locally").add_subparsers(dest="action", required=True)
    build = zoo.add_parser("build", help="build a reference model as .tflite")
    build.add_argument("name", help="tiny-cnn, tiny-cnn-fallback, mobilenet_v1 (no TensorFlow); "
                                    "keras-mobilenet_v1, digits-cnn (need edgeq[quantize])")
    build.add_argument("--dtype", default="float32", help="float32 or int8")
    build.add_argument("--alpha", type=float)
    build.add_argument("--resolution", type=int)
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--out", help="output file or folder (default: ./models/)")
    build.set_defaults(func=cmd_zoo_build)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except EdgeqError as exc:
        if args.debug:
            raise
        print(f"edgeq: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("edgeq: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, with the way to see more
        if args.debug:
            raise
        print(f"edgeq: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
