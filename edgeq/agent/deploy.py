"""The board's half of a deploy: a lock, a content store, and an atomic switch.

The work dir's layout (store/, models/, deployments/<id>/, current, deploy.lock) is
wire.Layout's.

A deployment directory is built under a temporary name and renamed into place,
and `current` is switched by renaming a new symlink over it, so an interrupted
deploy leaves the previous deployment as it was. Files arrive in the store only
by rename (the transport uploads to a temporary name), and are verified against
their sha256 before anything links to them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from typing import Any, Dict, List, Optional

from .wire import Layout

KEEP_DEPLOYMENTS = 2


class DeployError(Exception):
    """A deploy step on the board failed; the message says which and why."""


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _lock_path(work: str) -> str:
    return Layout(work).lock


def _read_lock(work: str) -> Optional[Dict[str, Any]]:
    try:
        with open(_lock_path(work), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError:
        return {"holder": "unknown (damaged lock file)", "token": None, "since": None}


def _write_lock(work: str, plan: Dict[str, Any], replace: bool) -> None:
    body = json.dumps({"holder": plan["holder"], "token": plan["token"], "since": time.time()}).encode()
    if replace:
        tmp = _lock_path(work) + f".{os.getpid()}"
        with open(tmp, "wb") as handle:
            handle.write(body)
        os.replace(tmp, _lock_path(work))
        return
    fd = os.open(_lock_path(work), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(body)


def _current(work: str) -> Optional[str]:
    try:
        return os.path.basename(os.readlink(Layout(work).current))
    except OSError:
        return None


def _drop_partial_uploads(store: str) -> None:
    """Temporary upload files of an interrupted deploy; safe to remove while we hold the lock."""
    for name in os.listdir(store):
        if name.startswith(".") and ".part" in name:
            os.unlink(os.path.join(store, name))


def begin(work: str, plan: Dict[str, Any]) -> Dict[str, Any]:
    """Take the lock (or report its holder) and say which files the board lacks."""
    layout = Layout(work)
    for sub in Layout.DEPLOY_DIRS:
        os.makedirs(os.path.join(work, sub), mode=0o700, exist_ok=True)
    held = _read_lock(work)
    if held is not None and held.get("token") != plan.get("takeover"):
        return {"locked": held}
    try:
        _write_lock(work, plan, replace=held is not None)
    except FileExistsError:
        return {"locked": _read_lock(work)}
    _drop_partial_uploads(layout.store)
    stat = os.statvfs(work)
    missing = sorted({f["sha256"] for f in plan["files"]
                      if not os.path.exists(layout.stored(f["sha256"]))})
    answer = {
        "locked": None,
        "missing": missing,
        "free_bytes": stat.f_bavail * stat.f_frsize,
        "current": _current(work),
        "have_deployment": os.path.isdir(layout.deployment(plan["deployment"])),
    }
    if not missing:  # nothing to send: finish now and save the host a round trip
        answer["committed"] = commit(work, dict(plan, uploaded=[]))
    return answer


def _check_lock(work: str, token: str) -> None:
    held = _read_lock(work)
    if held is None or held.get("token") != token:
        holder = held["holder"] if held else "nobody"
        raise DeployError(f"the deploy lock was taken over (now held by {holder}); deploy again")


def _link(source: str, target: str) -> None:
    if os.path.exists(target):
        return
    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        os.link(source, tmp)
    except OSError:  # a file system without hard links
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _build(work: str, plan: Dict[str, Any], final: str) -> None:
    tmp = f"{final}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "wheels"), mode=0o700)
    wheels = [f for f in plan["files"] if f["kind"] == "wheel"]
    for entry in wheels:
        _link(Layout(work).stored(entry["sha256"]), os.path.join(tmp, "wheels", entry["name"]))
    for entry in (f for f in plan["files"] if f["kind"] == "native"):
        sub, _, name = entry["name"].partition("/")
        if sub not in ("lib", "bin") or not name or "/" in name or name in (".", ".."):
            shutil.rmtree(tmp, ignore_errors=True)
            raise DeployError(f"native file {entry['name']!r} is not lib/<name> or bin/<name>")
        os.makedirs(os.path.join(tmp, Layout.NATIVE, sub), mode=0o700, exist_ok=True)
        target = os.path.join(tmp, Layout.NATIVE, sub, name)
        _link(Layout(work).stored(entry["sha256"]), target)
        os.chmod(target, 0o700 if sub == "bin" else 0o600)
    if wheels:
        venv = os.path.join(tmp, Layout.VENV)
        steps = [
            [plan["python"], "-m", "venv", "--system-site-packages", venv],
            [Layout.python_in(tmp), "-m", "pip", "install", "--no-index", "--no-cache-dir",
             "--disable-pip-version-check", "--find-links", os.path.join(tmp, "wheels")] + plan["requirements"],
        ]
        for argv in steps:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  universal_newlines=True)
            if done.returncode != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                last = (done.stdout.strip().splitlines() or ["no output"])[-1]
                hint = " (install python3-venv on the board)" if "venv" in argv[2:3] or "ensurepip" in last else ""
                raise DeployError(f"{' '.join(argv[:3])} failed on the board: {last}{hint}")
    with open(os.path.join(tmp, "manifest.json"), "w", encoding="utf-8") as handle:
        json.dump(plan["manifest"], handle, indent=1)
    os.rename(tmp, final)


def _prune(work: str, keep: List[str]) -> None:
    base = Layout(work).deployments
    entries = sorted(os.listdir(base), key=lambda n: os.path.getmtime(os.path.join(base, n)), reverse=True)
    kept = [n for n in entries if n in keep or ".tmp" not in n][:KEEP_DEPLOYMENTS]
    for name in entries:
        if name not in kept and name not in keep:
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)


def commit(work: str, plan: Dict[str, Any]) -> Dict[str, Any]:
    """Verify what was sent, build the deployment if new, switch `current`, release the lock."""
    _check_lock(work, plan["token"])
    layout = Layout(work)
    for sha in plan["uploaded"]:
        path = layout.stored(sha)
        if not os.path.exists(path):
            raise DeployError(f"an uploaded file is missing from the board's store: {sha[:16]}")
        if _sha256(path) != sha:
            os.unlink(path)
            raise DeployError(f"an uploaded file arrived damaged (sha256 mismatch for {sha[:16]}); deploy again")
    for entry in plan["files"]:
        if entry["kind"] == "model":
            _link(layout.stored(entry["sha256"]), layout.model(entry["name"]))
    final = layout.deployment(plan["deployment"])
    if not os.path.isdir(final):
        _build(work, plan, final)
    previous = _current(work)
    link = os.path.join(work, f"current.{os.getpid()}.tmp")
    os.symlink(os.path.relpath(final, work), link)
    os.replace(link, layout.current)
    _prune(work, [plan["deployment"]] + ([previous] if previous else []))
    release(work, plan["token"])
    return {"deployment": plan["deployment"], "previous": previous}


def release(work: str, token: str) -> Dict[str, Any]:
    held = _read_lock(work)
    if held is not None and held.get("token") == token:
        os.unlink(_lock_path(work))
        return {"released": True}
    return {"released": False}


def main(command: str, work: str, plan_json: str) -> Dict[str, Any]:
    plan = json.loads(plan_json)
    work = os.path.abspath(os.path.expanduser(work))
    if command == "begin":
        return begin(work, plan)
    if command == "commit":
        return commit(work, plan)
    if command == "release":
        return release(work, plan["token"])
    raise DeployError(f"unknown deploy step {command!r}")

