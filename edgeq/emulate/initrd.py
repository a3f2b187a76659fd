"""The system-mode guest's initrd and boot scripts, written on the host at every `up` (~0.1 s).

The initrd is an uncompressed `newc` cpio archive holding a static busybox, the
kernel modules of `kernel.MODULES` in load order, and this boot's files: the
guest's sshd config, its host key (kept in the board's emulate folder) and the
authorized client key. Its /init, run by busybox sh as PID 1:
1. mounts proc, sys and devtmpfs, insmods the modules, waits for /dev/vda;
2. mounts /dev/vda (ext4, read-write: QEMU keeps the writes in a throwaway
   snapshot) on /newroot and copies this boot's files and busybox into it;
3. switch_roots to busybox init, whose inittab (`INITTAB`) runs `RC` once (proc,
   sys, devpts, /run and /dev/shm, hostname, the static address QEMU's user
   network expects: 10.0.2.15/24 via 10.0.2.2) and keeps sshd running.
Anything failing before the switch powers the guest off, so QEMU exits and `up`
reports the console log instead of waiting for a timeout.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from edgeq.emulate.rootfs import USER
from edgeq.emulate.sshdconf import AUTHORIZED_DIR, HOST_KEY, SSHD_CONFIG, sshd_config

GUEST_LIB = "/usr/local/lib/edgeq"
GUEST_ADDRESS = "10.0.2.15/24"
GATEWAY = "10.0.2.2"
DNS = "10.0.2.3"

INIT = """\
#!/bin/busybox sh
# edgeq's initrd (edgeq/emulate/initrd.py): modules, root disk, this boot's SSH files, switch_root.
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
fail() {{ echo "edgeq-initrd: $*"; sync; poweroff -f; }}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for module in $(cat /etc/edgeq-modules); do
  insmod "/lib/modules/$module" || fail "insmod $module failed"
done
n=0
while [ ! -b /dev/vda ]; do
  n=$((n + 1)); [ "$n" -gt 600 ] && fail "no /dev/vda after 60 s"
  sleep 0.1
done
mount -t ext4 -o rw,noatime /dev/vda /newroot || fail "cannot mount /dev/vda"
R=/newroot
mkdir -p "$R{lib}" "$R{authorized}" "$R/run" "$R/dev" "$R/proc" "$R/sys"
cp /bin/busybox "$R{lib}/busybox"
cp /edgeq/rc "$R{lib}/rc"
cp /edgeq/inittab "$R/etc/inittab"
cp /edgeq/sshd_config "$R{sshd_config}"
cp /edgeq/host_key "$R{host_key}" && chmod 600 "$R{host_key}"
cp /edgeq/host_key.pub "$R{host_key}.pub"
cp /edgeq/authorized_keys "$R{authorized}/{user}" && chmod 644 "$R{authorized}/{user}"
umount /proc /sys
mount --move /dev "$R/dev" || fail "cannot move /dev"
exec switch_root "$R" {lib}/busybox init
fail "switch_root failed"
"""

RC = """\
# Run once by busybox init (sysinit) in the guest; written by edgeq at every boot.
B={lib}/busybox
$B mount -t proc -o nosuid,nodev,noexec proc /proc
$B mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
$B mkdir -p /dev/pts /dev/shm
$B mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
$B mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
$B mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
$B mkdir -p /run/sshd /run/lock
$B hostname {hostname}
$B ip link set lo up
$B ip addr add {address} dev eth0
$B ip link set eth0 up
$B ip route add default via {gateway}
echo "nameserver {dns}" > /etc/resolv.conf
echo "edgeq: guest up, sshd starting"
"""

INITTAB = """\
# Written by edgeq at every boot (edgeq/emulate/initrd.py).
::sysinit:{lib}/busybox sh {lib}/rc
::respawn:/usr/sbin/sshd -D -e -f {sshd_config}
::ctrlaltdel:{lib}/busybox poweroff
::shutdown:{lib}/busybox sync
"""

SSHD = sshd_config("Written by edgeq at every boot; edits are lost.")


@dataclass
class Entry:
    path: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def _newc(entries: list[Entry]) -> bytes:
    """A `newc` cpio archive, as the kernel unpacks into its initial rootfs."""
    out = bytearray()

    def pad() -> None:
        out.extend(b"\0" * (-len(out) % 4))

    for ino, entry in enumerate([*entries, Entry("TRAILER!!!", 0)], start=1):
        name = entry.path.encode() + b"\0"
        fields = (ino, entry.mode, 0, 0, 2 if stat.S_ISDIR(entry.mode) else 1, 0, len(entry.data),
                  0, 0, entry.rdev[0], entry.rdev[1], len(name), 0)
        out.extend(b"070701" + "".join(f"{value:08X}" for value in fields).encode())
        out.extend(name)
        pad()
        out.extend(entry.data)
        pad()
    return bytes(out)


def guest_files(hostname: str) -> dict[str, str]:
    """The text files the initrd copies into the guest's root, by initrd name."""
    names = {"lib": GUEST_LIB, "sshd_config": SSHD_CONFIG}
    return {
        "rc": RC.format(hostname=hostname, address=GUEST_ADDRESS, gateway=GATEWAY, dns=DNS, **names),
        "inittab": INITTAB.format(**names),
        "sshd_config": SSHD,
    }


def build(out: Path, kernel_dir: Path, modules: list[str], hostname: str, host_key: Path,
          authorized_key: str) -> Path:
    """Write the initrd for one boot to `out` (mode 0600: it holds the guest's host key)."""
    directory, regular = stat.S_IFDIR | 0o755, stat.S_IFREG
    init = INIT.format(lib=GUEST_LIB, authorized=AUTHORIZED_DIR, sshd_config=SSHD_CONFIG, host_key=HOST_KEY,
                       user=USER)
    entries = [Entry(name, directory) for name in ("bin", "dev", "etc", "lib", "lib/modules", "proc", "sys",
                                                   "newroot", "edgeq")]
    entries += [
        Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
        Entry("dev/null", stat.S_IFCHR | 0o666, rdev=(1, 3)),
        Entry("bin/busybox", regular | 0o755, (kernel_dir / "busybox").read_bytes()),
        Entry("init", regular | 0o755, init.encode()),
        Entry("etc/edgeq-modules", regular | 0o644, "".join(f"{name}\n" for name in modules).encode()),
        *[Entry(f"lib/modules/{name}", regular | 0o644, (kernel_dir / "modules" / name).read_bytes())
          for name in modules],
        *[Entry(f"edgeq/{name}", regular | 0o644, text.encode()) for name, text in guest_files(hostname).items()],
        Entry("edgeq/host_key", regular | 0o600, host_key.read_bytes()),
        Entry("edgeq/host_key.pub", regular | 0o644, Path(f"{host_key}.pub").read_bytes()),
        Entry("edgeq/authorized_keys", regular | 0o644, (authorized_key.strip() + "\n").encode()),
    ]
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    partial.touch(mode=0o600)
    partial.write_bytes(_newc(entries))
    partial.replace(out)
    return out
