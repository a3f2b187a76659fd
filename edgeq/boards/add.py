"""`edgeq boards add`: a new board record written for the user, checked before it is kept.

A record is built from a template (`--like rpi5`, else a plain aarch64 board), given the
connection the user named, validated by the same schema every board file goes through,
and only then written into the user's board folder, so a mistake never leaves a file
that breaks every later command. With the check on (the default) the board is reached
first: the connection, its host key (fingerprint reported) and `uname -m` for its arch.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edgeq.boards import catalog
from edgeq.boards.schema import _NAME, Board
from edgeq.errors import ConfigError, EdgeqError, TransportError
from edgeq.outpaths import write_atomically

__all__ = ["AddedBoard", "add_board"]

_ARCH = {"arm64": "aarch64", "aarch64": "aarch64", "armv7l": "armv7l", "armv8l": "armv7l", "x86_64": "x86_64"}


@dataclass(frozen=True)
class AddedBoard:
    board: Board
    path: Path
    host_key: str | None
    """The SHA256 fingerprint of the board's host key, when it was checked."""
    arch_seen: str | None


def _template(like: str | None) -> dict[str, Any]:
    if like is None:
        return {"arch": "aarch64", "cpu": {"model": "unknown", "clusters": []}, "backends": ["tflite-cpu", "armnn"],
                "python": "/usr/bin/python3", "work_dir": "~/edgeq"}
    base = catalog.load_board(like)
    if base.connection.kind != "ssh":
        raise ConfigError(f"--like {like}: a template must be an ssh board, and {like} is {base.connection.kind}")
    return base.model_dump(exclude_defaults=True, exclude={"name", "description", "connection"})


def add_board(name: str, host: str, user: str | None = None, port: int | None = None, like: str | None = None,
              key_file: str | Path | None = None, python: str | None = None, work_dir: str | Path | None = None,
              check: bool = True, accept_new_host_key: bool = False, replace: bool = False) -> AddedBoard:
    """Write a board record to the user's board folder, after reaching the board unless check is False."""
    folder = catalog.user_dir()
    if not _NAME.match(name):  # before it becomes a path: `my/pi` is not a folder to make
        raise ConfigError(f"board name {name!r}: expected lower case letters, digits, '.', '_' or '-'")
    path = folder / f"{name}.yaml"
    if path.exists() and not replace:
        raise ConfigError(f"board {name} already exists in {path}; pass replace=True (--replace) to overwrite it")
    data = _template(like)
    data["name"] = name
    data["description"] = f"added with edgeq boards add (like {like})" if like else "added with edgeq boards add"
    connection: dict[str, Any] = {"kind": "ssh", "host": host}
    for key, value in (("user", user), ("port", port), ("key_file", str(key_file) if key_file else None)):
        if value is not None:
            connection[key] = value  # unset keys stay unset, so ~/.ssh/config still supplies them
    data["connection"] = connection
    if python:
        data["python"] = python
    if work_dir:
        data["work_dir"] = str(work_dir)
    board = _validated(data, folder)
    fingerprint = arch_seen = None
    if check:
        try:
            fingerprint, arch_seen = _reach(board, accept_new_host_key)
        except EdgeqError as exc:  # its text names the scratch file the record was checked in, gone by now
            exc.args = (str(exc).replace(str(board.source), f"{path} (not written; --no-check writes it "
                                                             "without reaching the board)"),)
            raise
        if arch_seen and like is None and arch_seen != data["arch"]:
            data["arch"] = arch_seen
            board = _validated(data, folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = f"# written by `edgeq boards add {name}`; edit freely, `edgeq boards show {name}` checks it\n"
    text += yaml.safe_dump(data, sort_keys=False)
    write_atomically(path, text)
    return AddedBoard(catalog.load_board_file(path), path, fingerprint, arch_seen)


def _validated(data: dict[str, Any], folder: Path) -> Board:
    """Validate by loading the text exactly as it would be written: one schema, one set of messages."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"{data['name']}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        try:
            return catalog.load_board_file(path)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(str(path), f"the new record for {folder / path.name}")) from None


def _reach(board: Board, accept_new_host_key: bool) -> tuple[str, str | None]:
    from edgeq.link.transport.ssh import SshTransport, fingerprint

    transport = SshTransport(board, accept_new_host_key=accept_new_host_key)
    try:
        key = transport.host_key()
        done = transport.run(["uname", "-m"], timeout=20)
        if done.returncode != 0:
            raise TransportError(f"board {board.name}: `uname -m` failed: {done.stderr.strip()[:200]}")
        return fingerprint(key), _ARCH.get(done.stdout.strip())
    finally:
        transport.close()
