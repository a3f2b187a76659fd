"""`python3 agent.pyz facts | profile JOB.json`; `child` is internal.

Runtimes and their loggers print to stdout; the agent's stdout is reserved for
its one JSON answer, so fd 1 is pointed at stderr for everything else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, List, Optional

from .wire import EXIT_BAD_JOB, EXIT_FAILED, EXIT_OK, RunFiles


def _claim_stdout() -> Any:
    sys.stdout.flush()
    answer = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    return answer


def _refuse(answer: Any, message: str, code: int = EXIT_BAD_JOB) -> int:
    json.dump({"error": message}, answer)
    answer.write("\n")
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent.pyz", description="edgeq's on-board agent")
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("facts", help="print what this machine is and has, as JSON")
    f.add_argument("--root", default="/", help="read /proc, /sys and /etc under this folder")
    f.add_argument("--library-dir", action="append", default=[], help="also look for delegate libraries here")
    f.add_argument("--quick", action="store_true", help="skip the slow probes (pyarmnn, GPU libraries)")
    d = sub.add_parser("deploy", help="one step of a deploy (the host drives these)")
    d.add_argument("step", choices=("begin", "commit", "release"))
    d.add_argument("work")
    d.add_argument("plan", help="the step's plan, as JSON")
    p = sub.add_parser("profile", help="run a job (JSON) and write its result.json")
    p.add_argument("job")
    p.add_argument("--detach", action="store_true", help="run in the background, safe from a dropped session")
    p.add_argument("--warm", metavar="DIR", help="with --detach: hand the job to the warm agent whose socket is "
                                                 "in DIR, starting it if none runs (see warm.py)")
    p.add_argument("--warm-python", metavar="PYTHON",
                   help="the board's python as the host names it (a wrapper, a symlink): one warm agent per name, "
                        "whichever way the job is started")
    p.add_argument("--warm-idle", type=float, default=300.0, metavar="S",
                   help="a warm agent started now exits after S seconds without a job")
    w = sub.add_parser("warm-serve")
    w.add_argument("folder")
    w.add_argument("name")
    w.add_argument("idle_s", type=float)
    c = sub.add_parser("child")
    c.add_argument("spec")
    return parser


def main(argv: List[str], self_cmd: Optional[List[str]] = None) -> int:
    os.umask(0o077)  # what the agent writes on a board (runs, logs, outputs, warm files) is the user's alone
    args = _parser().parse_args(argv)
    if args.command == "child":
        from . import child

        return child.main(args.spec)
    if args.command == "warm-serve":
        from . import warm

        return warm.serve(args.folder, args.name, args.idle_s, (self_cmd or [sys.executable, sys.argv[0]])[-1])
    answer = _claim_stdout()
    if args.command == "facts":
        from . import facts  # imported per command: a deploy step should not pay for package metadata

        found = facts.quick_facts(args.root) if args.quick else facts.all_facts(args.root, args.library_dir)
        json.dump(found, answer)
        answer.write("\n")
        return EXIT_OK
    if args.command == "deploy":
        from . import deploy

        try:
            done = deploy.main(args.step, args.work, args.plan)
        except (deploy.DeployError, OSError) as exc:
            return _refuse(answer, str(exc), EXIT_FAILED)
        then = json.loads(args.plan).get("then") if args.step == "begin" else None
        if then and done.get("committed"):  # nothing was missing: start the profile that asked, now
            done["started"] = _then_profile(then, (self_cmd or [sys.executable, sys.argv[0]])[-1])
        json.dump(done, answer)
        answer.write("\n")
        return EXIT_OK
    from importlib.util import find_spec

    # Every backend needs numpy: say so before anything runs. Found, not imported: the
    # backend children import it, and importing it here too would double a profile's start-up.
    if find_spec("numpy") is None:
        return _refuse(answer, f"numpy is not installed for {sys.executable}; "
                               "install it (apt-get install python3-numpy, or pip install 'numpy<2')")
    from . import jobspec, runner

    try:
        job = jobspec.load_job(args.job)
    except jobspec.JobError as exc:
        return _refuse(answer, str(exc))
    command = self_cmd or [sys.executable, sys.argv[0]]
    result_path = os.path.join(job["out_dir"], RunFiles.RESULT)
    if args.detach:
        answer.flush()
        try:
            json.dump(_start_detached(job, args, command), answer)
        except OSError as exc:  # cannot fork, a full disk: one line for the host
            return _refuse(answer, f"cannot start the run: {exc}", EXIT_FAILED)
        answer.write("\n")
        return EXIT_OK
    result = runner.run_job(job, command)
    summary = [{"label": b["label"], "status": b["status"]} for b in result["backends"]]
    json.dump({"result": result_path, "backends": summary}, answer)
    answer.write("\n")
    answer.flush()
    return EXIT_OK


def _start_detached(job: Any, args: argparse.Namespace, command: List[str]) -> Any:
    """The job in the background: forked by the warm agent when asked for, else started cold."""
    result_path = os.path.join(job["out_dir"], RunFiles.RESULT)
    cold_because = "not asked for"
    if args.warm and args.warm_idle > 0 and len(command) == 2:
        from . import warm

        try:
            return warm.submit(args.warm, args.job, args.warm_idle, command[1], python=args.warm_python)
        except warm.WarmError as exc:  # the job still runs, cold; the answer says why
            cold_because = str(exc)
    from . import detach, runner  # imported only here: a warm agent has them already

    try:
        pid = detach.start(job["out_dir"], lambda: runner.run_job(job, command))
    except detach.AlreadyStarted as exc:  # the warm agent took it after all (its answer came too late)
        if exc.pid is None:
            raise OSError(f"{job['out_dir']}: the job was claimed but never started") from None
        return {"started": exc.pid, "result": result_path, "warm": "reused"}
    return {"started": pid, "result": result_path, "warm": f"off: {cold_because}"}


def _then_profile(then: Any, agent: str) -> Any:
    """A deploy's `then`: hand the job to the warm agent of the deployment's python. Anything in the
    way (no warm agent, a bad job) is left to the host's own `profile --detach`, which reports it."""
    from . import warm

    try:
        python = then["python"]
        if os.sep not in python:  # "python3": the same server whatever asks, by its full path
            import shutil

            python = shutil.which(python) or python
        return warm.submit(then["warm"], then["job"], float(then["idle_s"]), agent, python=python)
    except (warm.WarmError, OSError, KeyError, TypeError, ValueError) as exc:
        return {"cold": str(exc)}
