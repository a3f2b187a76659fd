"""Where a board's SSH connection really goes, resolved as OpenSSH resolves it.

Users write `host: mypi` in a board record and expect what `ssh mypi` does: the name goes
through ~/.ssh/config (HostName, User, Port, IdentityFile, IdentitiesOnly, ProxyJump,
ProxyCommand, UserKnownHostsFile). What the board record says explicitly wins over the
config, as a command-line option wins in OpenSSH: an explicit `key_file`, `user` or `port`.
"""

from __future__ import annotations

import getpass
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from edgeq.boards.schema import Connection
from edgeq.errors import ConfigError

__all__ = ["Endpoint", "default_config_path", "resolve"]


def default_config_path() -> Path:
    """The user's OpenSSH config, read at call time so that a changed HOME is honoured."""
    return Path("~/.ssh/config").expanduser()


@dataclass(frozen=True)
class Endpoint:
    """One resolved SSH destination: what paramiko is handed, and what messages print."""

    name: str
    """The name the record gave (its `ssh_alias`, else its `host`): the one looked up in the config."""
    host: str
    port: int
    user: str
    keys: list[str] = field(default_factory=list)
    identities_only: bool = False
    proxy_command: str | None = None
    known_hosts: Path = Path("~/.ssh/known_hosts")
    config_path: Path | None = None
    """The config file that was read, when it exists: error hints name it."""

    @property
    def where(self) -> str:
        text = f"{self.user}@{self.host}:{self.port}"
        return text if self.name == self.host else f"{text} via '{self.name}' in ~/.ssh/config"

    @property
    def known_hosts_name(self) -> str:
        """How OpenSSH keys this host in known_hosts: non-default ports in brackets."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


def resolve(board: str, connection: Connection, config_path: Path | None = None) -> Endpoint:
    """The destination of `connection`, with ~/.ssh/config applied to its host name."""
    path = config_path or default_config_path()
    name = connection.ssh_alias or connection.host or ""
    found = _lookup(board, path, name)
    host = found.get("hostname", name)
    if connection.host and connection.ssh_alias:
        host = connection.host  # both given: the record names the address, the alias lends the rest
    explicit = connection.model_fields_set
    port = connection.port if "port" in explicit else _port(board, path, found.get("port", "22"))
    user = connection.user or found.get("user") or getpass.getuser()
    if connection.key_file:
        key = os.path.expanduser(connection.key_file)
        if not os.path.isfile(key):
            raise ConfigError(f"board {board}: key_file {connection.key_file} not found (looked at {key})")
        keys = [key]
    else:
        keys = [os.path.expanduser(k) for k in found.get("identityfile", []) if os.path.isfile(os.path.expanduser(k))]
    known = found.get("userknownhostsfile", "~/.ssh/known_hosts").split()[0]
    return Endpoint(
        name=name, host=host, port=port, user=user, keys=keys,
        identities_only=found.get("identitiesonly", "no").lower() == "yes",
        proxy_command=_proxy(found, host, port, path if path.is_file() else None),
        known_hosts=Path(os.path.expanduser(known)), config_path=path if path.is_file() else None,
    )


def _lookup(board: str, path: Path, name: str) -> paramiko.SSHConfigDict:
    try:
        config = paramiko.SSHConfig.from_path(str(path)) if path.is_file() else paramiko.SSHConfig()
        return config.lookup(name)
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise ConfigError(f"board {board}: cannot read {path}: {' '.join(str(exc).split())}") from None


def _port(board: str, path: Path, text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ConfigError(f"board {board}: Port in {path}: expected 1-65535, found {text!r}")
    return port


def _proxy(found: paramiko.SSHConfigDict, host: str, port: int, config: Path | None) -> str | None:
    """A ProxyCommand as OpenSSH would run it; ProxyJump becomes `ssh -W host:port JUMP`.

    paramiko has already expanded %h/%p/%r in ProxyCommand. ProxyJump is OpenSSH's own
    shorthand, so the jump is made by the system's `ssh` with the same config file.
    """
    command = found.get("proxycommand", "none")
    if command.lower() != "none":
        return command
    jump = found.get("proxyjump", "none")
    if jump.lower() == "none":
        return None
    hops = [hop.strip() for hop in jump.split(",") if hop.strip()]
    argv = ["ssh", *(["-F", str(config)] if config else []), *(["-J", ",".join(hops[:-1])] if hops[:-1] else []),
            "-W", f"[{host}]:{port}" if ":" in host else f"{host}:{port}", hops[-1]]
    return shlex.join(argv)
