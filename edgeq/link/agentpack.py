"""Packing the agent into one zipapp, cached by the hash of its sources.

The zipapp holds the agent package as `edgeq_agent` (so it cannot clash with an
installed edgeq on the board) and a __main__ that passes its own path on, so
the agent can start its backend children from the same file.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import zipfile
from pathlib import Path

AGENT_DIR = Path(__file__).resolve().parent.parent / "agent"
_MAIN = (
    "import os, sys\n"
    "\n"
    "os.umask(0o077)  # all the agent writes on a board (its files, runs, logs, the warm agent's) is the user's alone\n"
    "\n"
    "\n"
    "def _unpacked(archive):\n"
    "    # The agent's files beside the archive (in the board's work dir), so that Python caches their\n"
    "    # bytecode: from inside a zip every module is compiled again at every start.\n"
    "    target = archive + '.d'\n"
    "    if os.path.isdir(target):\n"
    "        return target\n"
    "    import shutil, zipfile\n"
    "    tmp = '%s.%d.tmp' % (target, os.getpid())\n"
    "    try:\n"
    "        with zipfile.ZipFile(archive) as bundle:\n"
    "            bundle.extractall(tmp)\n"
    "        os.chmod(tmp, 0o700)\n"
    "        os.rename(tmp, target)\n"
    "    except Exception:  # read-only, full, damaged, or another start won the rename: the zip still runs\n"
    "        shutil.rmtree(tmp, ignore_errors=True)\n"
    "    return target if os.path.isdir(target) else None\n"
    "\n"
    "\n"
    "archive = os.path.dirname(os.path.abspath(__file__))\n"
    "unpacked = _unpacked(archive)\n"
    "if unpacked:\n"
    "    sys.path.insert(0, unpacked)\n"
    "from edgeq_agent.cli import main\n"
    "sys.exit(main(sys.argv[1:], [sys.executable, archive]))\n"
)
_SHEBANG = b"#!/usr/bin/env python3\n"


def _sources() -> list[Path]:
    return sorted(p for p in AGENT_DIR.rglob("*.py") if "__pycache__" not in p.parts)


def agent_digest() -> str:
    digest = hashlib.sha256(_MAIN.encode())
    for path in _sources():
        digest.update(str(path.relative_to(AGENT_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgeq"


def build_agent(out_dir: Path | None = None) -> Path:
    """Return the path of agent-<hash>.pyz, building it only when the sources changed."""
    digest = agent_digest()[:16]
    out_dir = out_dir or cache_dir() / "agent"
    target = out_dir / f"agent-{digest}.pyz"
    if target.exists():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in _sources():
            # A fixed timestamp keeps the archive byte-identical for identical sources.
            info = zipfile.ZipInfo(f"edgeq_agent/{path.relative_to(AGENT_DIR).as_posix()}", (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
        main = zipfile.ZipInfo("__main__.py", (1980, 1, 1, 0, 0, 0))
        archive.writestr(main, _MAIN)
    # Unique per call, not per process: a fleet's threads may all build the first agent at once.
    tmp = target.with_suffix(f".tmp{os.getpid()}-{secrets.token_hex(4)}")
    tmp.write_bytes(_SHEBANG + buffer.getvalue())
    tmp.chmod(0o755)
    os.replace(tmp, target)
    return target
