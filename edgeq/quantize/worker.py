"""The child process that does all TensorFlow work: `python -m edgeq.quantize.worker JOB.json RESULT.json`.

A job names its task (TASKS, or `module:function`); the quantize stage's tasks are in tasks.py.

tflite-runtime fails with bad_alloc once TensorFlow has been imported in the same
process, so the host never imports TensorFlow: it writes a job, runs this module,
and reads the result. One child does a whole job (all modes), because importing
TensorFlow alone costs about 5 s.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable


from edgeq import errors
from edgeq.errors import BackendError, EdgeqError


STEPS_ENV = "EDGEQ_WORKER_STEPS"
"""The file a child appends its step lines to (`step()`); the parent reads it while it waits."""


def step(text: str) -> None:
    """Say what the child is doing now (a quantize mode, a training phase): one line to the parent."""
    path = os.environ.get(STEPS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(" ".join(text.split()) + "\n")


def call(job: dict[str, Any], on_step: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run `job` in a fresh child; an EdgeqError raised there is raised here with its class and message.
    `on_step` gets each line the child says with `step()`, while it runs."""
    with tempfile.TemporaryDirectory(prefix="edgeq-worker-") as tmp:
        job_file, result_file, log = Path(tmp, "job.json"), Path(tmp, "result.json"), Path(tmp, "log")
        steps = Path(tmp, "steps")
        job_file.write_text(json.dumps(job))
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2", **{STEPS_ENV: str(steps)})
        with log.open("wb") as sink:
            child = subprocess.Popen([sys.executable, "-m", "edgeq.quantize.worker", str(job_file), str(result_file)],
                                     stdout=sink, stderr=subprocess.STDOUT, env=env)
            _follow(child, steps, on_step)
        if not result_file.exists():
            last = (log.read_text(errors="replace").strip().splitlines() or ["no output"])[-1]
            raise BackendError(f"quantize worker exited {child.returncode}: {last}")
        result = json.loads(result_file.read_text())
    if "error" in result:
        raise getattr(errors, result["kind"], BackendError)(result["error"])
    return result


def _follow(child: subprocess.Popen, steps: Path, on_step: Callable[[str], None] | None) -> None:
    """Wait for the child, handing each complete new line of `steps` to `on_step` as it appears.
    A Ctrl-C here stops the child too (it would otherwise go on converting after edgeq said it stopped)."""
    seen = 0
    try:
        while True:
            finished = child.poll() is not None
            if on_step is not None and steps.exists():
                text = steps.read_text(encoding="utf-8", errors="replace")
                complete = text[seen:text.rfind("\n") + 1] if "\n" in text[seen:] else ""
                seen += len(complete)
                for line in complete.splitlines():
                    on_step(line)
            if finished:
                return
            try:
                child.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
    except BaseException:
        child.kill()
        child.wait()
        raise


TASKS = {"quantize": "edgeq.quantize.tasks:quantize_job", "predict": "edgeq.quantize.tasks:predict_job"}
"""The quantize stage's own tasks by short name. Other stages name theirs as `module:function`
(edgeq.zoo.keras_models:zoo_job): the runner imports a task only in the child, so it depends on
no stage and no stage's import of it makes a cycle."""


def _task(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    path = TASKS.get(name, name)
    module, _, function = path.partition(":")
    if not module.startswith("edgeq.") or not function:
        raise BackendError(f"unknown worker task {name!r}. Choose from: {', '.join(TASKS)} or edgeq.MODULE:FUNCTION")
    return getattr(importlib.import_module(module), function)


def main(job_file: str, result_file: str) -> None:
    job = json.loads(Path(job_file).read_text())
    label = str(job["task"]).rpartition(":")[2].removesuffix("_job")
    try:
        result = _task(job["task"])(job)
    except EdgeqError as exc:
        result = {"error": str(exc), "kind": type(exc).__name__}
    except Exception as exc:  # an engine's own failure, reported as one line
        message = " ".join(str(exc).split())[:500]
        result = {"error": f"{label} failed: {type(exc).__name__}: {message}", "kind": "BackendError"}
    Path(result_file).write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:3])
