"""The `labgrid` board: ssh to the address a leased labgrid place gives, for as long as the lease lasts.

Connecting reserves and acquires the place (edgeq.boards.farm); everything after that is the
ssh transport unchanged: host keys, quoting, the board-side lock. close() releases the place
and cancels the reservation, and every caller closes its transport in a `finally`, so a place is
given back on success, on failure, on Ctrl-C and on a lost connection alike. Should the lease be
lost mid-run (its exporter or the coordinator gone), the ssh session is cut and every further
call fails with that reason instead of running on without the lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence, TypeVar

from edgeq.boards.farm import Lease
from edgeq.boards.schema import Board, Connection
from edgeq.errors import TransportError
from edgeq.link.transport import Closing, Completed, Progress, register
from edgeq.link.transport.ssh import SshTransport

T = TypeVar("T")


class FarmTransport(Closing):
    """An SshTransport bound to a Lease; the lease is released exactly once, at close()."""

    def __init__(self, board: Board, accept_new_host_key: bool = False) -> None:
        self.board = board.name
        self.lease = Lease.take(board)
        try:
            conn = board.connection
            over_ssh = Connection(kind="ssh", host=self.lease.address, port=self.lease.port,
                                  user=self.lease.username, key_file=conn.key_file, password_env=conn.password_env)
            self._ssh = SshTransport(board.model_copy(update={"connection": over_ssh}), accept_new_host_key)
        except BaseException:
            self.lease.release()
            raise
        self.lease.on_lost = self._ssh.close  # cuts a transfer or a poll in flight
        self.place = self.lease.place

    @property
    def bytes_sent(self) -> int:
        return self._ssh.bytes_sent

    def _guard(self, call: Callable[[], T]) -> T:
        if self.lease.lost:
            raise TransportError(f"board {self.board}: {self.lease.lost}")
        try:
            return call()
        except TransportError:
            if self.lease.lost:
                raise TransportError(f"board {self.board}: {self.lease.lost}") from None
            raise

    def run(self, argv: Sequence[str], timeout: float | None = None) -> Completed:
        return self._guard(lambda: self._ssh.run(argv, timeout))

    def put(self, local: Path, remote: str, progress: Progress | None = None) -> None:
        self._guard(lambda: self._ssh.put(local, remote, progress))

    def get(self, remote: str, local: Path) -> None:
        self._guard(lambda: self._ssh.get(remote, local))

    def read(self, remote: str, limit: int = 1 << 20) -> bytes | None:
        return self._guard(lambda: self._ssh.read(remote, limit))

    def exists(self, remote: str) -> bool:
        return self._guard(lambda: self._ssh.exists(remote))

    def expand(self, remote: str) -> str:
        return self._guard(lambda: self._ssh.expand(remote))

    def close(self) -> None:
        try:
            self._ssh.close()
        finally:
            self.lease.release()


@register("labgrid")
def _labgrid(board: Board, accept_new_host_key: bool = False) -> FarmTransport:
    return FarmTransport(board, accept_new_host_key=accept_new_host_key)
