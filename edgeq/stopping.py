"""A fleet's stop request: how Ctrl-C or SIGTERM reaches the threads that run one board each.

Python delivers a signal to the main thread only. A single-board command runs there, so the
KeyboardInterrupt (or edgeq.cli.Terminated) lands wherever it is, and each step's cleanup runs. A
fleet's boards run in worker threads that never see the signal; the main thread records it here,
and every worker raises the same exception at its next safe point (`checkpoint()`): between two
uploads, while waiting for a lock, while polling a detached run. Nothing is stopped in the middle
of a file transfer or of a deployment switch, so nothing is half-replaced, and the exception then
takes the same path as a single board's: a run already started is kept as RUN.partial with its
`--resume` command, a deploy lock taken is released, a staging folder is removed.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar


class StopRequest:
    """Set once by the main thread; read by each board's worker thread."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._kind: type[KeyboardInterrupt] = KeyboardInterrupt

    def request(self, signal: KeyboardInterrupt) -> None:
        """Record the first signal (a second Ctrl-C while stopping does not change its kind)."""
        if not self._event.is_set():
            self._kind = type(signal)
            self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    @property
    def kind(self) -> type[KeyboardInterrupt]:
        return self._kind


_current: ContextVar[StopRequest | None] = ContextVar("edgeq_stop_request", default=None)


def bind(request: StopRequest) -> object:
    """Make `request` the one this thread's checkpoints look at; returns the token to unbind."""
    return _current.set(request)


def unbind(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def checkpoint() -> None:
    """Raise the signal's exception here if this thread's fleet was asked to stop (else nothing)."""
    request = _current.get()
    if request is not None and request.requested:
        raise request.kind()
