"""Install Mesa's software Vulkan driver (lavapipe) that LiteRT's GPU accelerator can use.

    python -m edgeq.testing.lavapipe        # as root, on Debian 12

Debian bookworm's Mesa 22.3 lacks a Vulkan feature LiteRT's WebGPU accelerator needs
("No adapters found"); bookworm-backports has Mesa 25, which works. This adds the
backports suite next to the host's own Debian sources (same mirror, same keyring),
then installs `mesa-vulkan-drivers` and `libvulkan1` from it. It is how the test suite
runs `tflite-gpu` for real on a machine without a GPU. Running it twice changes nothing.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SOURCES = Path("/etc/apt/sources.list.d")
OURS = SOURCES / "edgeq-bookworm-backports.sources"


def backports_stanza(sources_text: str) -> str | None:
    """The host's `bookworm` deb822 stanza, pointed at bookworm-backports."""
    for stanza in re.split(r"\n\s*\n", sources_text):
        suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
        if suites and "bookworm" in suites.group(1).split() and re.search(r"^Types:.*\bdeb\b", stanza, re.M):
            return re.sub(r"^Suites:.*$", "Suites: bookworm-backports", stanza.strip(), flags=re.M) + "\n"
    return None


def _host_stanza() -> str:
    for path in sorted(SOURCES.glob("*.sources")):
        if path == OURS:
            continue
        found = backports_stanza(path.read_text())
        if found:
            return found
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        match = re.search(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s", legacy.read_text(), re.M)
        if match:
            return f"Types: deb\nURIs: {match.group(1)}\nSuites: bookworm-backports\nComponents: main\n"
    raise SystemExit("no Debian bookworm apt source found to derive bookworm-backports from")


def main() -> int:
    stanza = _host_stanza()
    if not OURS.exists() or OURS.read_text() != stanza:
        OURS.write_text(stanza)
    for argv in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "-t", "bookworm-backports", "mesa-vulkan-drivers", "libvulkan1"]):
        done = subprocess.run(argv)
        if done.returncode != 0:
            return done.returncode
    icd = Path("/usr/share/vulkan/icd.d/lvp_icd.json")
    print(f"lavapipe: {icd if icd.exists() else 'MISSING ' + str(icd)}")
    return 0 if icd.exists() else 1


if __name__ == "__main__":
    sys.exit(main())
