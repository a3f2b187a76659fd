"""The `ssh` board: commands over an SSH session, files over SFTP (fabric on paramiko).

Host keys are checked against known_hosts like OpenSSH's default: an unknown key is
refused unless the user passed --accept-new-host-key, a changed key always. Every
paramiko or socket failure becomes one TransportError line naming the board.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import logging
import os
import posixpath
import secrets
import shlex
import sys
from pathlib import Path
from typing import Any, NoReturn, Sequence

import paramiko
from fabric import Config, Connection
from fabric.runners import Remote
from invoke.exceptions import CommandTimedOut, ThreadException
from paramiko.common import cMSG_CHANNEL_REQUEST
from paramiko.ssh_exception import AuthenticationException, BadHostKeyException, NoValidConnectionsError

from ..config.board_schema import Board
from ..errors import ConfigError, TransportError
from . import Completed, Progress, register

__all__ = ["CONNECT_TIMEOUT", "HostKeyPolicy", "SshTransport", "fingerprint"]

CONNECT_TIMEOUT = 10
"""Seconds for the TCP connect and for the server's banner: a board that is off fails fast."""
_CHUNK = 32768  # the largest SFTP write paramiko sends in one packet
_FAILURES = (EOFError, paramiko.SSHException, OSError, ThreadException)

# Without a handler, paramiko's thread logs "Socket exception" lines to stderr through
# logging's last resort, breaking the one-line error contract. --debug logging still sees them.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def fingerprint(key: paramiko.PKey) -> str:
    """The key's fingerprint as `ssh-keygen -lf` and OpenSSH's first-connect prompt print it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


class HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """What to do with a host that has no key in known_hosts; paramiko asks only then.

    A known host presenting another key never reaches here: paramiko raises
    BadHostKeyException, which SshTransport refuses whatever the flag says.
    """

    def __init__(self, board: str, known_hosts: Path, accept_new: bool) -> None:
        self.board, self.known_hosts, self.accept_new = board, known_hosts, accept_new

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if not self.accept_new:
            raise TransportError(
                f"board {self.board}: host {hostname} is not in {self.known_hosts}; it offers {key.get_name()} key "
                f"{fingerprint(key)}. If that is the board's key, connect once with --accept-new-host-key"
            )
        self.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.known_hosts, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as out:
            if out.tell() and not self.known_hosts.read_bytes().endswith(b"\n"):
                out.write("\n")
            out.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


class _Remote(Remote):
    """Fabric's remote runner, except that a timed-out command is signalled before its channel closes.

    Closing the channel alone leaves the process running on the board, where it would
    skew the next measurement. OpenSSH honours the `signal` request since 7.9;
    paramiko has no public call for it.
    """

    def kill(self) -> None:
        try:
            message = paramiko.Message()
            message.add_byte(cMSG_CHANNEL_REQUEST)
            message.add_int(self.channel.remote_chanid)
            message.add_string("signal")
            message.add_boolean(False)
            message.add_string("TERM")
            self.channel.transport._send_user_message(message)
        except _FAILURES:
            pass  # the connection is going anyway; closing the channel is all that is left
        super().kill()


class SshTransport:
    """One SSH connection to one board, opened in the constructor so failures surface at connect().

    `known_hosts` and `ssh_config` default to the user's files; tests pass private ones.
    """

    def __init__(self, board: Board, accept_new_host_key: bool = False, known_hosts: Path | None = None,
                 ssh_config: Path | None = None) -> None:
        self.board = board.name
        self.bytes_sent = 0
        self._home: str | None = None
        conn = board.connection
        config_path = ssh_config or Path("~/.ssh/config").expanduser()
        parsed = paramiko.SSHConfig.from_path(str(config_path)) if config_path.is_file() else paramiko.SSHConfig()
        alias = conn.ssh_alias or conn.host or ""
        found = parsed.lookup(alias)
        host = conn.host or found.get("hostname", alias)
        port = conn.port if "port" in conn.model_fields_set else int(found.get("port", 22))
        user = conn.user or found.get("user") or getpass.getuser()
        self.where = f"{user}@{host}:{port}"
        keys = [conn.key_file] if conn.key_file else found.get("identityfile", [])
        keys = [os.path.expanduser(key) for key in keys]
        for key in keys[:1] if conn.key_file else []:
            if not os.path.isfile(key):
                raise ConfigError(f"board {self.board}: key_file {conn.key_file} not found (looked at {key})")
        if known_hosts is None:
            listed = found.get("userknownhostsfile", "~/.ssh/known_hosts").split()
            known_hosts = Path(os.path.expanduser(listed[0]))
        if "proxyjump" in found:
            raise ConfigError(f"board {self.board}: ProxyJump in {config_path} is not supported; "
                              "use ProxyCommand ssh -W %h:%p JUMPHOST")
        proxy = found.get("proxycommand")
        password = _password_from_env(board, user, host)
        for attempt in (1, 2):
            options: dict[str, Any] = {"key_filename": keys, "allow_agent": True, "look_for_keys": not keys,
                                       "banner_timeout": CONNECT_TIMEOUT, "auth_timeout": 2 * CONNECT_TIMEOUT}
            if password is not None:
                options["password"] = password
            fabric_config = Config(lazy=True, ssh_config=paramiko.SSHConfig(),
                                   overrides={"runners": {"remote": _Remote}})
            self._conn = Connection(host, user=user, port=port, config=fabric_config, connect_kwargs=options,
                                    gateway=proxy if proxy and proxy.lower() != "none" else False,
                                    forward_agent=False, connect_timeout=CONNECT_TIMEOUT)
            self._conn.client.set_missing_host_key_policy(HostKeyPolicy(self.board, known_hosts, accept_new_host_key))
            if known_hosts.is_file():
                self._conn.client.get_host_keys().load(str(known_hosts))
            try:
                self._open()
                break
            except TransportError as exc:
                asked = exc.__cause__ if isinstance(exc.__cause__, AuthenticationException) else None
                if attempt == 2 or asked is None or password is not None or not sys.stdin.isatty():
                    raise
                password = getpass.getpass(f"password for {self.where} (board {self.board}): ")
        self._conn.transport.set_keepalive(15)  # a board that vanished shows as an error, not a hang

    def _open(self) -> None:
        try:
            self._conn.open()
        except TransportError:
            self._conn.client.close()
            raise
        except BadHostKeyException as exc:
            self._conn.client.close()
            raise TransportError(
                f"board {self.board}: the host key of {self.where} CHANGED: it offers {exc.key.get_name()} "
                f"{fingerprint(exc.key)}, known_hosts has {exc.expected_key.get_name()} "
                f"{fingerprint(exc.expected_key)}. Someone may be intercepting the connection, or the board "
                "was reinstalled; if so, remove the old line from known_hosts"
            ) from None
        except AuthenticationException as exc:
            self._conn.client.close()
            raise TransportError(f"authentication to board {self.board} ({self.where}) failed: {_why(exc)}") from exc
        except NoValidConnectionsError as exc:
            self._conn.client.close()
            reasons = sorted({_why(error) for error in exc.errors.values()})
            raise TransportError(f"cannot connect to board {self.board} ({self.where}): {', '.join(reasons)}") from None
        except _FAILURES as exc:
            self._conn.client.close()
            raise TransportError(f"cannot connect to board {self.board} ({self.where}): {_why(exc)}") from None

    def run(self, argv: Sequence[str], timeout: float | None = None) -> Completed:
        """Run argv, quoted word by word, in the login shell; a nonzero exit is returned, not raised.

        A command killed by a signal on the board comes back with returncode -1: OpenSSH
        reports the signal, not an exit status.
        """
        try:
            result = self._conn.run(shlex.join(argv), warn=True, hide=True, in_stream=False, timeout=timeout,
                                    encoding="utf-8")
        except CommandTimedOut:
            raise TransportError(f"command timed out after {timeout:g} s on board {self.board}: {argv[0]}") from None
        except _FAILURES as exc:
            self._lost(f"running {argv[0]}", exc)
        if result.exited == -1 and not self._alive():
            self._lost(f"running {argv[0]}", EOFError())
        return Completed(result.exited, result.stdout, result.stderr)

    def put(self, local: Path, remote: str, progress: Progress | None = None) -> None:
        """Upload to `.NAME.partXXXX` beside the target, then rename: readers never see half a file."""
        target = self.expand(remote)
        folder, name = posixpath.split(target)
        part = posixpath.join(folder, f".{name}.part{secrets.token_hex(4)}")
        try:
            source = open(local, "rb")
            size = os.fstat(source.fileno()).st_size
        except OSError as exc:
            raise TransportError(f"cannot read {local}: {exc.strerror}") from None
        mode = 0o700 if os.access(local, os.X_OK) else 0o600
        try:
            with source:
                sftp = self._sftp()
                self._make_folders(sftp, folder)
                with sftp.open(part, "wb") as sink:
                    sink.chmod(mode)  # before any byte lands, so the payload is never world-readable
                    sink.set_pipelined(True)
                    done = 0
                    while chunk := source.read(_CHUNK):
                        sink.write(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, size)
            if sftp.stat(part).st_size != size:
                raise OSError(f"{part} is shorter than {local}")
            if progress and size == 0:
                progress(0, 0)
            sftp.posix_rename(part, target)
        except _FAILURES as exc:
            if self._alive():
                try:
                    self._conn.sftp().remove(part)
                except _FAILURES:
                    pass  # it may never have been created
                raise TransportError(f"cannot upload {local.name} to {target} on board {self.board}: {_why(exc)}") from None
            self._lost(f"upload of {local.name}", exc)
        self.bytes_sent += size

    def get(self, remote: str, local: Path) -> None:
        """Download to a temporary name beside `local`, then rename it into place."""
        source = self.expand(remote)
        part = local.with_name(f".{local.name}.part{secrets.token_hex(4)}")
        try:
            self._sftp().get(source, str(part))
            os.replace(part, local)
        except _FAILURES as exc:
            part.unlink(missing_ok=True)
            if self._alive():
                raise TransportError(f"cannot download {source} from board {self.board}: {_why(exc)}") from None
            self._lost(f"download of {source}", exc)

    def exists(self, remote: str) -> bool:
        try:
            self._sftp().stat(self.expand(remote))
            return True
        except _FAILURES as exc:
            if isinstance(exc, OSError) and exc.errno is not None and self._alive():
                return False  # like os.path.exists, a path we may not look at counts as absent
            self._lost(f"checking {remote}", exc)

    def expand(self, remote: str) -> str:
        """`~` and relative paths resolve against the remote home, asked of the server once."""
        if remote.startswith("/"):
            return posixpath.normpath(remote)
        if remote.startswith("~") and not (remote == "~" or remote.startswith("~/")):
            raise ConfigError(f"board {self.board}: {remote}: ~user paths are not supported; write the absolute path")
        if self._home is None:
            try:
                self._home = self._sftp().normalize(".")
            except _FAILURES as exc:
                self._lost("asking for the home folder", exc)
        rest = remote[2:] if remote.startswith("~/") else "" if remote == "~" else remote
        return posixpath.normpath(posixpath.join(self._home, rest))

    def close(self) -> None:
        try:
            self._conn.close()
        except _FAILURES:
            pass  # closing a connection that already broke

    def _sftp(self) -> paramiko.SFTPClient:
        return self._conn.sftp()  # fabric opens it once and caches it

    def _make_folders(self, sftp: paramiko.SFTPClient, folder: str) -> None:
        """mkdir -p with mode 0700: what edgeq creates on a board is the user's alone."""
        missing: list[str] = []
        while folder not in ("/", "") and not _is_folder(sftp, folder):
            missing.append(folder)
            folder = posixpath.dirname(folder)
        for path in reversed(missing):
            try:
                sftp.mkdir(path, 0o700)
            except OSError:
                if not _is_folder(sftp, path):  # another upload may have made it meanwhile
                    raise

    def _alive(self) -> bool:
        return bool(self._conn.transport and self._conn.transport.is_active())

    def _lost(self, doing: str, exc: BaseException) -> NoReturn:
        if self._alive():
            raise TransportError(f"board {self.board}: {doing} failed: {_why(exc)}") from None
        raise TransportError(f"connection to board {self.board} ({self.where}) was lost during {doing}: "
                             f"{_why(exc)}") from None


def _is_folder(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        return (sftp.stat(path).st_mode or 0) & 0o170000 == 0o040000
    except FileNotFoundError:
        return False


def _why(exc: BaseException) -> str:
    """The human part of an exception, on one line; EOFError says nothing by itself."""
    if isinstance(exc, ThreadException) and exc.exceptions:
        exc = exc.exceptions[0].value
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split()) or ("connection closed" if isinstance(exc, EOFError) else type(exc).__name__)


def _password_from_env(board: Board, user: str, host: str) -> str | None:
    """The password named by password_env; asked for on a terminal if that variable is unset."""
    name = board.connection.password_env
    if name is None:
        return None
    if os.environ.get(name):
        return os.environ[name]
    if not sys.stdin.isatty():
        raise ConfigError(f"board {board.name}: password_env names ${name}, which is not set")
    return getpass.getpass(f"password for {user}@{host} (board {board.name}, ${name} is not set): ")


@register("ssh")
def _ssh(board: Board, accept_new_host_key: bool = False) -> SshTransport:
    return SshTransport(board, accept_new_host_key=accept_new_host_key)
