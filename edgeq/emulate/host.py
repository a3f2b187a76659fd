"""What `edgeq emulate` needs from the host: root, a few Debian packages, a mirror.

Missing tools are reported with the one apt-get command that installs them, so a
CI log tells the reader what to add to the image.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

from edgeq.errors import ConfigError, EdgeqError

MIRROR_ENV = "EDGEQ_DEBIAN_MIRROR"
"""Overrides the mirror found in the host's apt sources, e.g. for a local cache."""

# tool -> Debian package that provides it
RUN_TOOLS = {
    "qemu-aarch64-static": "qemu-user-static",
    "chroot": "coreutils",
    "mount": "mount",
    "umount": "mount",
    "ssh-keygen": "openssh-client",
}
BUILD_TOOLS = {
    "mmdebstrap": "mmdebstrap",
    "unshare": "util-linux",
}

APT_SOURCES = Path("/etc/apt")


class HostToolMissing(EdgeqError):
    """The host lacks a program or a privilege that emulation needs."""


def require_root() -> None:
    if os.geteuid() != 0:
        raise HostToolMissing(
            "edgeq emulate --mode user needs root (it mounts /proc into the board's root "
            "filesystem, chroots and registers binfmt_misc); run it as root or with sudo"
        )


def require_tools(tools: dict[str, str]) -> None:
    """Raise one line naming every missing tool and the apt-get command that fixes it."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        packages = " ".join(sorted({tools[tool] for tool in missing}))
        raise HostToolMissing(
            f"{', '.join(missing)} not found on this host: install with "
            f"`apt-get install -y {packages}`"
        )


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, None
            continue
        if line[0] in " \t" and key:
            current[key] += " " + line.strip()
            continue
        key, _, value = line.partition(":")
        key = key.strip().lower()
        current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def _apt_entries(root: Path) -> list[tuple[str, list[str]]]:
    """(uri, suites) of every enabled binary source of the host's apt configuration."""
    entries: list[tuple[str, list[str]]] = []
    for path in sorted((root / "sources.list.d").glob("*.sources")):
        for stanza in _deb822_stanzas(path.read_text(errors="replace")):
            if stanza.get("enabled", "yes").lower() == "no":
                continue
            if "deb" not in stanza.get("types", "").split():
                continue
            for uri in stanza.get("uris", "").split():
                entries.append((uri, stanza.get("suites", "").split()))
    lists = [root / "sources.list", *sorted((root / "sources.list.d").glob("*.list"))]
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            line = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
            if len(line) >= 3 and line[0] == "deb":
                entries.append((line[1], [line[2]]))
    return entries


def debian_mirror(suite: str, apt_root: Path = APT_SOURCES) -> str:
    """The Debian mirror this host already uses, so the board comes from the same place."""
    override = os.environ.get(MIRROR_ENV, "").strip()
    if override:
        return override
    entries = _apt_entries(apt_root)
    for uri, suites in entries:
        if suite in suites:
            return uri
    for uri, suites in entries:  # a host on another Debian release: same archive, other suite
        if uri.rstrip("/").endswith("/debian"):
            return uri
    raise ConfigError(
        f"no Debian mirror serving {suite} found in {apt_root}/sources.list*; "
        f"set {MIRROR_ENV} to one, e.g. {MIRROR_ENV}=http://<mirror>/debian"
    )


def definition_digest(definition: dict) -> str:
    """The short content key of a cached build's definition (rootfs, kernel, disk image):
    change the definition and the next `up` builds a new one beside the old."""
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:12]
