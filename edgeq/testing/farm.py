"""A real labgrid coordinator and real exporters on 127.0.0.1, for tests (as labgrid's own suite runs them).

Nothing here is a double: these are the `labgrid-coordinator` and `labgrid-exporter` commands a lab
runs, on free ports, each in a folder of its own (the coordinator keeps places.yaml in its cwd).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = ["Daemon", "free_port", "start_coordinator", "start_exporter"]

STARTUP_S = 60.0
"""Generous: on a loaded 2-core machine a Python daemon with gRPC takes seconds to start."""


def _command(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if not beside.is_file():
        raise RuntimeError(f"{name} not found beside {sys.executable}: the farm tests need labgrid; "
                           f"pip install 'edgeq[farm]'")
    return str(beside)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Daemon:
    """One labgrid process; its output goes to `log`."""

    argv: list[str]
    cwd: Path
    log: Path
    ready: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Daemon:
        start = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.argv, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + STARTUP_S
        while self.ready not in self.log.read_text(errors="replace")[start:]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.argv[0]} did not start: {self.log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """Die as a crashed daemon does: no goodbye to the coordinator."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def start_coordinator(workdir: Path) -> tuple[Daemon, str]:
    """A coordinator on a free loopback port; (daemon, its HOST:PORT). Retries if the port was taken."""
    workdir.mkdir(parents=True, exist_ok=True)
    for _ in range(5):
        address = f"127.0.0.1:{free_port()}"
        daemon = Daemon([_command("labgrid-coordinator"), "--listen", address], workdir,
                        workdir / "coordinator.log", "Coordinator ready")
        try:
            return daemon.start(), address
        except RuntimeError:
            if "address already in use" not in daemon.log.read_text(errors="replace").lower():
                raise
    raise RuntimeError("no free port for the labgrid coordinator")


def start_exporter(workdir: Path, coordinator: str, name: str, resources: dict[str, dict[str, dict]]) -> Daemon:
    """An exporter called `name` exporting `resources` ({group: {Class: params}}) to the coordinator."""
    folder = workdir / name
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "exports.yaml"
    config.write_text(yaml.safe_dump(resources))
    argv = [_command("labgrid-exporter"), "-c", coordinator, "--name", name, "--hostname", "127.0.0.1", str(config)]
    return Daemon(argv, folder, folder / "exporter.log", "connected to coordinator").start()
