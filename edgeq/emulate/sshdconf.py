"""The emulated boards' sshd: where its files live in the guest, and its configuration.

One text for both modes, so a hardening or a fix reaches the chroot board and the VM alike.
"""

from __future__ import annotations

from edgeq.emulate.rootfs import USER

SSHD_CONFIG = "/etc/ssh/sshd_config_edgeq"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key"
AUTHORIZED_DIR = "/etc/ssh/edgeq_authorized_keys"


def sshd_config(note: str, *extra: str) -> str:
    """Key-only logins for the board user, no PAM; `extra` lines go before the SFTP subsystem."""
    lines = [
        f"# {note}",
        f"HostKey {HOST_KEY}",
        f"AuthorizedKeysFile {AUTHORIZED_DIR}/%u",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin no",
        f"AllowUsers {USER}",
        "UsePAM no",
        "PidFile none",
        "UseDNS no",
        "PrintMotd no",
        "LogLevel INFO",
        *extra,
        "AcceptEnv LANG LC_*",
        "Subsystem sftp /usr/lib/openssh/sftp-server",
    ]
    return "\n".join(lines) + "\n"
