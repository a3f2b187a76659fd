"""The kernel's binfmt_misc handler that runs aarch64 ELF files through qemu-user.

`ensure()` changes the host only where something is missing, and returns exactly
what it changed, so that `undo()` reverts that and nothing else:

- `mount:/proc/sys/fs/binfmt_misc` - binfmt_misc was not mounted; it is mounted.
- `entry:qemu-aarch64` - no qemu-aarch64 handler existed; it is registered with the
  line Debian's qemu-user-static ships in /usr/lib/binfmt.d/qemu-aarch64.conf
  (interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P, flags OPF). The F flag
  makes the kernel open the interpreter at registration, so it also runs inside a
  chroot that has no qemu binary.

A handler that already exists (from systemd-binfmt, update-binfmts or a previous
owner) is used as is, and never removed; one without the F flag is refused,
because it cannot work inside the board's chroot.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from edgeq.emulate.host import HostToolMissing

MISC = Path("/proc/sys/fs/binfmt_misc")
ENTRY = "qemu-aarch64"
PACKAGE_LINE = Path("/usr/lib/binfmt.d/qemu-aarch64.conf")
# The same line as qemu-user-static 7.2 ships; used when that file is absent.
DEFAULT_LINE = (
    r":qemu-aarch64:M::"
    r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:"
    r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:"
    r"/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OPF"
)
MOUNTED = f"mount:{MISC}"
REGISTERED = f"entry:{ENTRY}"


def _is_mounted() -> bool:
    with open("/proc/mounts", encoding="utf-8") as mounts:
        return any(line.split()[1] == str(MISC) for line in mounts if len(line.split()) > 2)


def _register_line() -> str:
    if PACKAGE_LINE.is_file():
        for line in PACKAGE_LINE.read_text().splitlines():
            if line.startswith(f":{ENTRY}:"):
                return line.strip()
    return DEFAULT_LINE


def _entry_facts() -> dict[str, str] | None:
    path = MISC / ENTRY
    if not path.exists():
        return None
    facts: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line in ("enabled", "disabled"):
            facts["state"] = line
        else:
            key, _, value = line.replace(":", " ", 1).partition(" ")
            facts[key] = value.strip()
    return facts


def ensure() -> list[str]:
    """Make aarch64 binaries runnable; returns the changes made (see the module doc)."""
    changes: list[str] = []
    try:
        if not _is_mounted():
            subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(MISC)], check=True,
                           capture_output=True, text=True)
            changes.append(MOUNTED)
        facts = _entry_facts()
        if facts is None:
            line = _register_line()
            interpreter = Path(line.split(":")[6])
            if not interpreter.exists():
                raise HostToolMissing(
                    f"{interpreter} not found: install with `apt-get install -y qemu-user-static`"
                )
            (MISC / "register").write_text(line)
            changes.append(REGISTERED)
        elif facts.get("state") != "enabled" or "F" not in facts.get("flags", ""):
            raise HostToolMissing(
                f"the binfmt_misc handler {MISC / ENTRY} is {facts.get('state')} with flags "
                f"{facts.get('flags', '')!r}; the board's chroot needs it enabled with the F flag: "
                f"remove it (`echo -1 > {MISC / ENTRY}`) and edgeq registers a fitting one"
            )
    except subprocess.CalledProcessError as error:
        undo(changes)
        raise HostToolMissing(f"cannot mount binfmt_misc: {error.stderr.strip()}") from None
    except BaseException:
        undo(changes)
        raise
    return changes


def undo(changes: list[str]) -> list[str]:
    """Revert what `ensure` reported; returns notes on anything that was left in place."""
    notes: list[str] = []
    if REGISTERED in changes and (MISC / ENTRY).exists():
        (MISC / ENTRY).write_text("-1")
    if MOUNTED in changes and _is_mounted():
        others = sorted(p.name for p in MISC.iterdir() if p.name not in ("register", "status"))
        if others:
            notes.append(f"left {MISC} mounted: it now also holds {', '.join(others)}")
        else:
            subprocess.run(["umount", str(MISC)], check=False, capture_output=True)
    return notes


def active() -> bool:
    """True when aarch64 binaries can run (a handler with F is registered and enabled)."""
    if not _is_mounted():
        return False
    facts = _entry_facts()
    return bool(facts) and facts.get("state") == "enabled" and "F" in facts.get("flags", "")
