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

from . import facts

EXIT_OK, EXIT_BAD_JOB, EXIT_FAILED = 0, 2, 3


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
    c = sub.add_parser("child")
    c.add_argument("spec")
    return parser


def main(argv: List[str], self_cmd: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "child":
        from . import child

        return child.main(args.spec)
    answer = _claim_stdout()
    if args.command == "facts":
        found = facts.quick_facts(args.root) if args.quick else facts.all_facts(args.root, args.library_dir)
        json.dump(found, answer)
        answer.write("\n")
        return EXIT_OK
    if args.command == "deploy":
        from . import deploy

        try:
            json.dump(deploy.main(args.step, args.work, args.plan), answer)
        except (deploy.DeployError, OSError) as exc:
            return _refuse(answer, str(exc), EXIT_FAILED)
        answer.write("\n")
        return EXIT_OK
    try:
        import numpy  # noqa: F401  (every backend needs it; say so before anything runs)
    except ImportError:
        return _refuse(answer, f"numpy is not installed for {sys.executable}; "
                               "install it (apt-get install python3-numpy, or pip install 'numpy<2')")
    from . import jobspec, runner

    try:
        job = jobspec.load_job(args.job)
    except jobspec.JobError as exc:
        return _refuse(answer, str(exc))
    command = self_cmd or [sys.executable, sys.argv[0]]
    result_path = os.path.join(job["out_dir"], "result.json")
    if args.detach:
        from . import detach

        answer.flush()
        pid = detach.start(job["out_dir"], lambda: runner.run_job(job, command))
        json.dump({"started": pid, "result": result_path}, answer)
        answer.write("\n")
        return EXIT_OK
    result = runner.run_job(job, command)
    summary = [{"label": b["label"], "status": b["status"]} for b in result["backends"]]
    json.dump({"result": result_path, "backends": summary}, answer)
    answer.write("\n")
    answer.flush()
    return EXIT_OK
