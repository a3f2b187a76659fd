"""Trusting the emulated board's host key, which edgeq generated itself.

Two files get the line `[127.0.0.1]:PORT ssh-ed25519 AAAA...`:
- `<emulate dir>/known_hosts`, holding only that line, for callers that pass
  `-o UserKnownHostsFile=...`;
- `~/.ssh/known_hosts` (created 0600 in a 0700 ~/.ssh), where an older line for the
  same host and port (plain or hashed) is replaced, so strict host key checking
  in any SSH client accepts the board, also after the rootfs was rebuilt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path


def pattern(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _names(hosts_field: str, wanted: str) -> tuple[bool, list[str]]:
    """(whether the field names `wanted`, the other names it lists)."""
    if hosts_field.startswith("|1|"):
        try:
            _, _, salt, digest = hosts_field.split("|")
            mac = hmac.new(base64.b64decode(salt), wanted.encode(), hashlib.sha1).digest()
            return mac == base64.b64decode(digest), []
        except ValueError:
            return False, []
    names = hosts_field.split(",")
    return wanted in names, [name for name in names if name != wanted]


def _write_private(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".edgeq-partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(partial, path)


def replace_line(path: Path, host_pattern: str, key: str) -> bool:
    """Make `path` hold `host_pattern key` as the only entry for that host; True if changed."""
    wanted = f"{host_pattern} {key}"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines = path.read_text().splitlines() if path.exists() else []
    kept: list[str] = []
    for line in lines:
        fields = line.split()
        if not fields or fields[0].startswith("#") or fields[0].startswith("@"):
            kept.append(line)
            continue
        named, others = _names(fields[0], host_pattern)
        if not named:
            kept.append(line)
        elif others:
            kept.append(" ".join([",".join(others), *fields[1:]]))
    kept.append(wanted)
    if kept == lines and path.exists():
        return False
    _write_private(path, "\n".join(kept) + "\n")
    return True


def trust(private_file: Path, host: str, port: int, key: str) -> None:
    host_pattern = pattern(host, port)
    _write_private(private_file, f"{host_pattern} {key}\n")
    replace_line(Path.home() / ".ssh" / "known_hosts", host_pattern, key)
