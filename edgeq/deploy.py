"""Getting files onto a board. Content-addressed: a file whose name carries its hash is sent once."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from .agentpack import build_agent
from .transport import Transport


def ensure_file(transport: Transport, local: Path, remote: PurePosixPath) -> bool:
    """Send `local` unless `remote` (a hash-named path) is already there; say whether it was sent."""
    if transport.exists(str(remote)):
        return False
    transport.put(local, str(remote))
    return True


def ensure_agent(transport: Transport, work: PurePosixPath) -> PurePosixPath:
    agent = build_agent()
    remote = work / "agent" / agent.name
    ensure_file(transport, agent, remote)
    return remote
