"""Reading an OpenSSH known_hosts file as OpenSSH does, for the one host being connected to.

paramiko's own reader stops at the first line it cannot parse (a `@cert-authority` or `@revoked`
marker, a key type it does not know) with an exception, so one such line, even for another
host, used to block every SSH board. Here each line is read on its own: a line OpenSSH would
skip is skipped, a line for another host is ignored, `@revoked` keys are refused by line, and
`@cert-authority` lines (host certificates, which paramiko's client cannot check) are ignored
with a warning when they name this host.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

__all__ = ["KnownHosts", "host_matches", "read_known_hosts"]


@dataclass
class KnownHosts:
    """What a known_hosts file says about one host (its lookup name: `host` or `[host]:port`)."""

    path: Path
    name: str
    keys: list[paramiko.PKey] = field(default_factory=list)
    """Keys this host may offer (revoked ones removed)."""
    revoked: dict[bytes, int] = field(default_factory=dict)
    """Key blob -> the line that revokes it."""
    authorities: list[int] = field(default_factory=list)
    """Lines of `@cert-authority` entries that name this host, ignored."""

    def revoked_line(self, key: paramiko.PKey) -> int | None:
        return self.revoked.get(key.asbytes())

    def warn_about_authorities(self) -> None:
        """Say once per connection that a CA line for this host was not used (as the user expects it to be)."""
        if self.authorities:
            lines = ", ".join(str(n) for n in self.authorities)
            print(f"edgeq: warning: {self.path} line {lines}: @cert-authority (host certificates) is not supported "
                  f"by edgeq's SSH client; ignored, so {self.name}'s own key must be in known_hosts", file=sys.stderr)


def read_known_hosts(path: Path, name: str) -> KnownHosts:
    """The entries of `path` that apply to `name`; an unreadable or odd line is skipped, never fatal."""
    known = KnownHosts(path, name)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return known
    plain: list[paramiko.PKey] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = fields.pop(0) if fields[0].startswith("@") else None
        if len(fields) < 3 or marker not in (None, "@revoked", "@cert-authority"):
            continue
        patterns, key_type, blob = fields[:3]
        if not host_matches(patterns, name):
            continue
        if marker == "@cert-authority":
            known.authorities.append(number)
            continue
        key = _key(key_type, blob)
        if key is None:
            continue
        if marker == "@revoked":
            known.revoked.setdefault(key.asbytes(), number)
        else:
            plain.append(key)
    known.keys = [k for k in plain if k.asbytes() not in known.revoked]
    return known


def _key(key_type: str, blob: str) -> paramiko.PKey | None:
    try:
        return paramiko.PKey.from_type_string(key_type, base64.b64decode(blob, validate=True))
    except (binascii.Error, ValueError, paramiko.SSHException, TypeError, IndexError):
        return None  # a key type paramiko lacks (sk-*), or a damaged line: OpenSSH skips those too


def host_matches(patterns: str, name: str) -> bool:
    """OpenSSH's host pattern list: `a,b*,!c,|1|salt|hash`; a negated match wins over any other."""
    matched = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        pattern = pattern[1:] if negated else pattern
        if _one_matches(pattern, name):
            if negated:
                return False
            matched = True
    return matched


def _one_matches(pattern: str, name: str) -> bool:
    if pattern.startswith("|1|"):
        try:
            salt, digest = (base64.b64decode(part) for part in pattern[3:].split("|", 1))
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), digest)
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower())
    return re.fullmatch(regex, name.lower()) is not None
