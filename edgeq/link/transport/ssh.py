"""The `ssh` board: commands over an SSH session, files over SFTP (fabric on paramiko).

Host keys are checked against known_hosts as OpenSSH does by default: an unknown key is refused
unless the user passed --accept-new-host-key, a changed key always. Every paramiko or socket
failure becomes one TransportError line naming the board.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import hashlib
import logging
import os
import posixpath
import secrets
import shlex
import socket
import stat
import sys
import time
from pathlib import Path
from typing import Any, NoReturn, Sequence

import paramiko
from fabric import Config, Connection
from fabric.runners import Remote
from invoke.exceptions import CommandTimedOut, ThreadException
from paramiko.ssh_exception import AuthenticationException, BadHostKeyException, NoValidConnectionsError

from edgeq.boards.schema import Board
from edgeq.errors import BoardError, ConfigError, TransportError
from edgeq.link.transport import Closing, Completed, Progress, no_space, register
from edgeq.link.transport.knownhosts import KnownHosts, read_known_hosts
from edgeq.link.transport.openssh import resolve

__all__ = ["CONNECT_TIMEOUT", "HostKeyPolicy", "SshTransport", "fingerprint"]

CONNECT_TIMEOUT = 10
"""Seconds for the TCP connect and the server's banner: a board that is off fails fast."""
_FAILURES = (EOFError, paramiko.SSHException, OSError, ThreadException)
_WRAP = ["sh", "-c", 'exec 3<&0 </dev/null; { read -r _ <&3; kill -TERM 0; } >/dev/null 2>&1 & w=$!; '
         '"$@" 3<&-; s=$?; kill $w 2>/dev/null; exit $s', "sh"]
"""Runs argv with stdin /dev/null (as local does) while a watcher waits for the channel's stdin
to close: when the client goes (timeout, lost link) it TERMs the command's process group.
Without it the command would run on, skewing the next measurement on that board."""
_QUIET: dict[str, Any] = {"warn": True, "hide": True, "in_stream": False, "encoding": "utf-8"}  # exit codes are data

# Else paramiko's "Socket exception" lines reach stderr via logging's last resort; --debug still sees them.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def fingerprint(key: paramiko.PKey) -> str:
    """The key's fingerprint as `ssh-keygen -lf` and OpenSSH's first-connect prompt print it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


class HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """What to do with a host that has no key in known_hosts; paramiko asks only then.

    A known host offering another key never gets here: paramiko raises BadHostKeyException.
    """

    def __init__(self, board: str, known_hosts: Path, accept_new: bool, known: KnownHosts | None = None) -> None:
        self.board, self.known_hosts, self.accept_new = board, known_hosts, accept_new
        self.known = known or KnownHosts(known_hosts, "")

    def refuse_revoked(self, hostname: str, key: paramiko.PKey) -> None:
        """OpenSSH's @revoked: that key is never accepted, whatever else known_hosts says."""
        line = self.known.revoked_line(key)
        if line is not None:
            raise TransportError(
                f"board {self.board}: host {hostname} offers {key.get_name()} key {fingerprint(key)}, which "
                f"{self.known_hosts} line {line} marks @revoked; refusing to connect")

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        self.refuse_revoked(hostname, key)
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


class SshTransport(Closing):
    """One SSH connection to one board, opened here so that failures surface at connect().

    `known_hosts` and `ssh_config` default to the user's own files; tests pass private ones.
    """

    def __init__(self, board: Board, accept_new_host_key: bool = False, known_hosts: Path | None = None,
                 ssh_config: Path | None = None) -> None:
        self.board = board.name
        self.bytes_sent = 0
        self._home: str | None = None
        end = resolve(board.name, board.connection, ssh_config)
        self.endpoint = end
        self._source = board.source or "the board's record"
        host, port, user, keys = end.host, end.port, end.user, end.keys
        self.where = end.where
        if "@" in host or host.count(":") == 1:  # fabric would read them as user@host:port
            raise ConfigError(f"board {self.board}: host {host!r}: write user and port as keys of their own")
        known_hosts = known_hosts or end.known_hosts
        self._known = (end.known_hosts_name, known_hosts)
        # IdentitiesOnly (or an explicit key_file) means those keys only: not the agent's, not ~/.ssh/id_*.
        options: dict[str, Any] = {"key_filename": keys, "allow_agent": not (end.identities_only and keys),
                                   "look_for_keys": not keys,
                                   "banner_timeout": CONNECT_TIMEOUT, "auth_timeout": 2 * CONNECT_TIMEOUT}
        password = _password(board, self.where)
        if password is not None:
            options["password"] = password
        # fabric gets an empty ssh config: resolve() is the only lookup, nothing applies twice.
        self._conn = Connection(host, user=user, port=port, connect_kwargs=options, forward_agent=False,
                                config=Config(lazy=True, ssh_config=paramiko.SSHConfig(),
                                              overrides={"runners": {"remote": _PromptRemote}}),
                                gateway=end.proxy_command or False, connect_timeout=CONNECT_TIMEOUT)
        known = read_known_hosts(known_hosts, self._known[0])
        for key in known.keys:  # only this host's, under the name paramiko looks up
            self._conn.client.get_host_keys().add(self._known[0], key.get_name(), key)
        known.warn_about_authorities()
        self._policy = HostKeyPolicy(self.board, known_hosts, accept_new_host_key, known)
        self._conn.client.set_missing_host_key_policy(self._policy)
        try:
            if not self._conn.gateway:  # a ProxyCommand brings its own pipe
                self._conn.connect_kwargs["sock"] = _open_socket(host, port)
            self._conn.open()
        except (TransportError, *_FAILURES) as exc:
            self._conn.client.close()
            raise self._refused(exc) from None
        self._conn.transport.set_keepalive(15)  # a board that vanished shows up as an error, not a hang

    def host_key(self) -> paramiko.PKey:
        """The key the board presented (already checked against known_hosts)."""
        return self._conn.transport.get_remote_server_key()

    def _refused(self, exc: BaseException) -> TransportError:
        if isinstance(exc, TransportError):
            return exc  # the host key policy's own message
        if isinstance(exc, BadHostKeyException):
            try:
                self._policy.refuse_revoked(self._known[0], exc.key)
            except TransportError as revoked:
                return revoked
            return TransportError(
                f"board {self.board}: the host key of {self.where} CHANGED: it offers {exc.key.get_name()} "
                f"{fingerprint(exc.key)}, known_hosts has {exc.expected_key.get_name()} "
                f"{fingerprint(exc.expected_key)}. Someone may be intercepting the connection, or the board was "
                f"reinstalled; then remove the old key: ssh-keygen -R '{self._known[0]}' -f {self._known[1]}"
            )
        if isinstance(exc, AuthenticationException):
            return TransportError(f"authentication to board {self.board} ({self.where}) failed: {_why(exc)}")
        errors = exc.errors.values() if isinstance(exc, NoValidConnectionsError) else [exc]
        reasons = ", ".join(sorted({_why(error) for error in errors}))
        return TransportError(
            f"cannot connect to board {self.board} ({self.where}): {reasons}. Check that the board is on and that "
            f"`ssh -p {self.endpoint.port} {self.endpoint.user}@{self.endpoint.host} true` works; the address is in "
            f"{self._source}, or set it with `edgeq boards add {self.board} --host HOST`")

    def run(self, argv: Sequence[str], timeout: float | None = None) -> Completed:
        """Run argv, quoted word by word; a nonzero exit is returned, not raised (signal N: 128 + N)."""
        def timed_out() -> TransportError:
            return TransportError(f"command timed out after {timeout:g} s on board {self.board}: {argv[0]}")

        started = time.monotonic()
        try:
            result = self._live(f"before running {argv[0]}").run(shlex.join([*_WRAP, *argv]), timeout=timeout, **_QUIET)
        except CommandTimedOut:  # the channel is closed, so _WRAP's watcher stops the command
            raise timed_out() from None
        except _FAILURES as exc:
            self._lost(f"while running {argv[0]}", exc)
        if timeout is not None and result.exited != 0 and time.monotonic() - started >= timeout:
            # invoke can miss its own timer when the command dies (stopped by _WRAP) just as it fires
            raise timed_out()
        if result.exited == -1 and not self._alive(probe=True):
            self._lost(f"while running {argv[0]}", EOFError())
        return Completed(result.exited, result.stdout, result.stderr)

    def put(self, local: Path, remote: str, progress: Progress | None = None) -> None:
        """Upload to `.NAME.partXXXX` beside the target, then rename: readers never see half a file."""
        target = self.expand(remote)
        folder, name = posixpath.split(target)
        part = posixpath.join(folder, f".{name}.part{secrets.token_hex(4)}")
        try:
            size = local.stat().st_size
        except OSError as exc:
            raise TransportError(f"cannot read {local}: {exc.strerror}") from None
        try:
            sftp = self._live(f"before upload of {local.name}").sftp()
            self._make_folders(sftp, folder)
            with open(local, "rb") as source, sftp.open(part, "wb") as sink:
                sink.chmod(0o700 if os.access(local, os.X_OK) else 0o600)  # before any byte lands
                sink.set_pipelined(True)
                done = 0
                while chunk := source.read(32768):  # paramiko's largest SFTP write
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
            with contextlib.suppress(*_FAILURES):  # it may never have been created
                if self._alive(probe=True):
                    self._conn.sftp().remove(part)
            self._refuse_if_full(folder, local, size)
            self._lost(f"during upload of {local.name}", exc, f"cannot upload {local.name} to {target}")
        self.bytes_sent += size

    def _refuse_if_full(self, folder: str, local: Path, size: int) -> None:
        """After a failed upload: was the board's disk full? SFTP's pipelined writes report ENOSPC
        only as a generic failure (or a short file), so ask df, on this failure path only."""
        if not self._alive(probe=True):
            return
        try:
            done = self.run(["df", "-Pk", folder], timeout=30)
            free = int(done.stdout.splitlines()[-1].split()[3]) * 1024
        except (TransportError, ValueError, IndexError):
            return
        if free < size + (64 << 10):  # a file system keeps some blocks back for its own records
            raise BoardError(no_space(f"board {self.board}", local, folder, free))

    def get(self, remote: str, local: Path) -> None:
        """Download to a temporary name beside `local`, then rename it into place."""
        source = self.expand(remote)
        part = local.with_name(f".{local.name}.part{secrets.token_hex(4)}")
        try:
            self._live(f"before download of {source}").sftp().get(source, str(part))
            os.replace(part, local)
        except _FAILURES as exc:
            part.unlink(missing_ok=True)
            self._lost(f"during download of {source}", exc, f"cannot download {source}")

    def read(self, remote: str, limit: int = 1 << 20) -> bytes | None:
        """A small file's bytes over SFTP (no process started on the board), or None if absent."""
        try:
            with self._live(f"before reading {remote}").sftp().open(self.expand(remote), "rb") as handle:
                return handle.read(limit)
        except _FAILURES as exc:
            if isinstance(exc, (FileNotFoundError, PermissionError)):
                return None
            self._lost(f"while reading {remote}", exc)

    def exists(self, remote: str) -> bool:
        try:
            self._live(f"before checking {remote}").sftp().stat(self.expand(remote))
            return True
        except _FAILURES as exc:
            if isinstance(exc, (FileNotFoundError, PermissionError)):  # the server's answer, so it is up
                return False  # as with os.path.exists, a path we may not look at counts as absent
            self._lost(f"while checking {remote}", exc)

    def expand(self, remote: str) -> str:
        """`~`, `~/x` and relative paths resolve against the remote home, asked of the server once."""
        if remote.startswith("/"):
            return posixpath.normpath(remote)
        if remote.startswith("~") and not (remote == "~" or remote.startswith("~/")):
            raise ConfigError(f"board {self.board}: {remote}: ~user paths are not supported; write the absolute path")
        if self._home is None:
            try:
                self._home = self._live("before asking for the home folder").sftp().normalize(".")
            except _FAILURES as exc:
                self._lost("while asking for the home folder", exc)
        return posixpath.normpath(posixpath.join(self._home, remote.lstrip("~").lstrip("/")))

    def close(self) -> None:
        self._conn.close()  # safe on a broken connection too

    def _make_folders(self, sftp: paramiko.SFTPClient, folder: str) -> None:
        """mkdir -p with mode 0700: what edgeq creates on a board is the user's alone."""
        if folder in ("/", "") or _is_folder(sftp, folder):
            return
        self._make_folders(sftp, posixpath.dirname(folder))
        try:
            sftp.mkdir(folder, 0o700)
        except OSError:
            if not _is_folder(sftp, folder):  # another upload may have made it meanwhile
                raise

    def _live(self, doing: str) -> Connection:
        """The connection while it is up. fabric would reconnect quietly, reusing a dead SFTP session."""
        if not self._alive():
            self._lost(doing, EOFError())
        return self._conn  # its sftp() opens SFTP once and keeps it

    def _alive(self, probe: bool = False) -> bool:
        """Is the connection up? Probe after a failure: paramiko closes channels before it says it is down."""
        transport = self._conn.transport
        if probe and transport and transport.is_active():
            try:
                transport.global_request("keepalive@openssh.com", wait=True)  # one round trip
            except _FAILURES:
                transport.join(CONNECT_TIMEOUT)  # the socket broke: let paramiko's thread finish shutting down
        return bool(transport and transport.is_active())

    def _lost(self, doing: str, exc: BaseException, failed: str = "") -> NoReturn:
        """Raise "connection lost" if it is; else `failed` (what was being done) with the reason."""
        if self._alive(probe=True):
            raise TransportError(f"{failed or 'failed ' + doing} on board {self.board}: {_why(exc)}") from None
        raise TransportError(f"connection to board {self.board} ({self.where}) was lost {doing}: {_why(exc)}") from None


class _PromptRemote(Remote):
    """fabric's runner, but it notices a command's end when it happens: invoke's own wait
    sleeps 10 ms between looks, which is most of a short agent step's round trip."""

    def wait(self) -> None:
        while not (self.process_is_finished or self.has_dead_threads):
            self.channel.status_event.wait(0.01)  # set by paramiko on exit status or close


_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux


class _PromptSocket(socket.socket):
    """A TCP socket that neither holds back nor makes the board wait.

    sshd sends the replies of non-interactive sessions with Nagle's algorithm on, so a small
    reply that follows an unacknowledged one waits for our ACK, which Linux delays up to 40 ms:
    40 ms on the first channel of every connection, and on any command whose answer comes in
    two writes. Asking for a quick ACK after every read (the flag does not stick) and sending
    without Nagle (set before the handshake, whose small packets hit the same wait) keep each
    round trip at the network's speed: measured on loopback, connect + first SFTP request
    went from ~110 ms to ~20 ms.
    """

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        if _QUICKACK is not None:
            try:
                self.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                pass
        return data


def _open_socket(host: str, port: int) -> socket.socket:
    """Connect to host:port (each address it resolves to, in order) with CONNECT_TIMEOUT."""
    failure: OSError = OSError(f"{host} resolves to no address")
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = _PromptSocket(family, kind, proto)
        try:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            failure = exc
    raise failure


def _is_folder(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        return stat.S_ISDIR(sftp.stat(path).st_mode or 0)
    except FileNotFoundError:
        return False


def _why(exc: BaseException) -> str:
    """The human part of an exception, on one line; an EOFError says nothing by itself."""
    if isinstance(exc, ThreadException) and exc.exceptions:
        exc = exc.exceptions[0].value
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split()) or ("connection closed" if isinstance(exc, EOFError) else type(exc).__name__)


def _password(board: Board, where: str) -> str | None:
    """The password named by password_env, else typed on a terminal; no password_env: key or agent only."""
    name = board.connection.password_env
    if name is None or os.environ.get(name):
        return os.environ[name] if name else None
    if not sys.stdin.isatty():
        raise ConfigError(f"board {board.name}: password_env names ${name}, which is not set")
    return getpass.getpass(f"password for {where} (board {board.name}, ${name} is not set): ")


@register("ssh")
def _ssh(board: Board, accept_new_host_key: bool = False) -> SshTransport:
    return SshTransport(board, accept_new_host_key=accept_new_host_key)
