"""Boards in a shared labgrid farm: reserve a place, acquire it, read its NetworkService, release it.

labgrid's coordinator already knows which boards exist, who holds each one and who waits; edgeq
rides it instead of growing a scheduler. Everything goes through the `labgrid-client` command:
it is labgrid's documented, stable interface (its Python ClientSession changed wholesale when the
coordinator moved to gRPC in 25.0, and its methods print rather than return), and the commands
edgeq runs are the very ones a person types, which docs/farm.md shows.

A lease is: `reserve` (the coordinator's scheduler picks a free matching place, or queues us),
`wait` (bounded), `acquire`, `env` (the place's resources as YAML), and at the end `release` and
`cancel-reservation`, whatever happened in between. While the lease is held, `labgrid-client
monitor` watches for the exporter or the place going away, so a run does not go on without its lock.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from getpass import getuser
from pathlib import Path
from typing import Callable, Sequence

import yaml

from edgeq.boards.schema import Board, Connection
from edgeq.errors import ConfigError, TransportError

__all__ = ["INSTALL", "Lease", "PlaceInfo", "client", "coordinator_of", "holders", "parse_filter", "places",
           "reservations"]

INSTALL = "pip install 'edgeq[farm]'"
PREFIX = "labgrid:"
"""`--board labgrid:board=rpi5+soc=bcm2712`: places carrying all those tags; `labgrid:NAME`: one place."""
CALL_TIMEOUT_S = 60.0
"""One labgrid-client call; the coordinator answers in milliseconds, the client starts in about one second."""
RELEASE_GRACE_S = 3.0
"""After the monitor ends, how long a release (Ctrl-C, which reaches the monitor too) may take to begin."""
Say = Callable[[str], None]


def _stderr(line: str) -> None:
    print(f"edgeq: {line}", file=sys.stderr, flush=True)


def client() -> str:
    """The labgrid-client beside this interpreter (the venv's), else the one on PATH."""
    from edgeq.extras import require

    require(f"a labgrid board (with {PREFIX}... or connection kind labgrid)", ["labgrid"])
    beside = Path(sys.executable).parent / "labgrid-client"
    found = str(beside) if beside.is_file() else shutil.which("labgrid-client")
    if found is None:
        raise ConfigError(f"labgrid boards need labgrid-client (labgrid installs it) beside {sys.executable} "
                          f"or on PATH; {INSTALL}")
    return found


def coordinator_of(connection: Connection | None = None) -> str:
    address = (connection.coordinator if connection else None) or os.environ.get("LG_COORDINATOR")
    if not address:
        raise ConfigError("labgrid: no coordinator; set LG_COORDINATOR=HOST:PORT or 'coordinator' in the board record")
    return address


def me() -> str:
    """Who the coordinator will say holds what we acquire: labgrid's own host/user naming."""
    return f"{os.environ.get('LG_HOSTNAME') or socket.gethostname()}/{os.environ.get('LG_USERNAME') or getuser()}"


def run_client(coordinator: str, args: Sequence[str], timeout: float | None = CALL_TIMEOUT_S,
               check: bool = True) -> subprocess.CompletedProcess[str]:
    """One labgrid-client call; a failure becomes a TransportError carrying labgrid's own last line."""
    argv = [client(), "-x", coordinator, *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise TransportError(f"labgrid ({coordinator}): {' '.join(args)}: {_last_line(result)}")
    return result


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    text = lines[-1] if lines else f"exit status {result.returncode}"
    return text.removeprefix("labgrid-client: ").removeprefix("Error: ")


@dataclass
class PlaceInfo:
    """What `labgrid-client -v places` says about one place."""

    name: str
    tags: dict[str, str] = field(default_factory=dict)
    acquired: str | None = None
    """host/user holding it, or None."""
    reservation: str | None = None
    resources: list[str] = field(default_factory=list)
    """Acquired resources as exporter/group/class/name."""

    def matches(self, wanted: dict[str, str]) -> bool:
        have = {**self.tags, "name": self.name}  # labgrid's scheduler matches the name as a tag too
        return all(have.get(key) == value for key, value in wanted.items())


def _blocks(text: str, head: re.Pattern[str]) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        start = head.match(line)
        if start:
            found.append((start.group(1), []))
        elif found and line.startswith(" "):
            found[-1][1].append(line)
    return found


def places(coordinator: str) -> dict[str, PlaceInfo]:
    """Every place on the coordinator, by name."""
    text = run_client(coordinator, ["-v", "places"]).stdout
    found: dict[str, PlaceInfo] = {}
    for name, lines in _blocks(text, re.compile(r"^Place '(.+)':$")):
        place = PlaceInfo(name)
        section = ""
        for line in lines:
            key, _, value = line.strip().partition(": ")
            if line.startswith("    ") and section == "acquired resources":
                place.resources.append(line.strip())
            elif key == "tags" and value:
                place.tags = dict(pair.split("=", 1) for pair in value.split(", ") if "=" in pair)
            elif key == "acquired" and value != "None":
                place.acquired = value
            elif key == "reservation":
                place.reservation = value
            section = line.strip().rstrip(":") if line.rstrip().endswith(":") else section
        found[name] = place
    return found


def reservations(coordinator: str) -> dict[str, dict[str, str]]:
    """Open reservations by token: owner, state, filter and allocated place (`main` group)."""
    text = run_client(coordinator, ["reservations"]).stdout
    return {token: _reservation_fields(lines) for token, lines in _blocks(text, re.compile(r"^Reservation '(.+)':$"))}


def _reservation_fields(lines: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    section = ""
    for line in lines:
        key, _, value = line.strip().partition(":")
        value = value.strip()
        if key == "main" and section:
            fields[section] = value
        elif not value:
            section = {"filters": "filter", "allocations": "place"}.get(key, "")
        else:
            fields[key] = value
            section = ""
    return fields


def parse_filter(text: str) -> dict[str, str]:
    """`board=rpi5+soc=bcm2712` -> tags; a bare `farm-1` -> the place of that name."""
    if "=" not in text:
        return {"name": text}
    wanted: dict[str, str] = {}
    for pair in text.split("+"):
        key, sep, value = pair.partition("=")
        if not sep or not re.match(r"^[a-z][a-z0-9_]+$", key) or not value:
            raise ConfigError(f"labgrid filter {text!r}: expected KEY=VALUE joined by '+', e.g. "
                              f"{PREFIX}board=rpi5+soc=bcm2712, or {PREFIX}PLACE")
        wanted[key] = value
    return wanted


def filter_text(wanted: dict[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in wanted.items())


def holders(coordinator: str, wanted: dict[str, str]) -> str:
    """Who holds the places that match, for a message: `farm-1 held by vm/alice, farm-2 reserved by ci/bot`."""
    known = places(coordinator)
    booked = reservations(coordinator)
    said = []
    for place in sorted((p for p in known.values() if p.matches(wanted)), key=lambda p: p.name):
        if place.acquired:
            said.append(f"{place.name} held by {place.acquired}")
        elif place.reservation:
            owner = booked.get(place.reservation, {}).get("owner", "another client")
            said.append(f"{place.name} reserved by {owner}")
    if not any(p.matches(wanted) for p in known.values()):
        return f"no place matches {filter_text(wanted)} (places: {', '.join(sorted(known)) or 'none'})"
    return ", ".join(said) or "all matching places are taken by earlier reservations"


@dataclass
class Lease:
    """One acquired place: its NetworkService and a watch on it. `release()` undoes everything."""

    board: str
    coordinator: str
    token: str
    place: str = ""
    address: str = ""
    port: int = 22
    username: str = ""
    acquired: bool = False
    released: bool = False
    lost: str | None = None
    """Why the place was lost mid-run (exporter gone, coordinator gone), else None."""
    on_lost: Callable[[], None] | None = None
    _monitor: subprocess.Popen[str] | None = None
    _resources: list[str] = field(default_factory=list)
    _released: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def take(cls, board: Board, say: Say = _stderr) -> Lease:
        """Reserve and acquire a place for `board` (waiting at most its wait_s), then read its NetworkService."""
        client()  # without labgrid, say what to install before anything else
        conn = board.connection
        coordinator = coordinator_of(conn)
        wanted = {**conn.tags, **({"name": conn.place} if conn.place else {})}
        result = run_client(coordinator, ["reserve", *(f"{k}={v}" for k, v in wanted.items())])
        found = _blocks(result.stdout, re.compile(r"^Reservation '(.+)':$"))
        if not found:
            raise TransportError(f"labgrid ({coordinator}): reserve printed no reservation: {_last_line(result)}")
        lease = cls(board.name, coordinator, found[0][0])
        try:
            fields = _reservation_fields(found[0][1])
            if fields.get("state") != "allocated":
                fields = lease._wait(wanted, conn.wait_s, say)
            lease.place = fields["place"]
            lease._acquire()
        except BaseException:
            lease.release(say)
            raise
        return lease

    def _wait(self, wanted: dict[str, str], wait_s: float, say: Say) -> dict[str, str]:
        who = holders(self.coordinator, wanted)
        what = f"board {self.board}: no free place matches {filter_text(wanted)} on {self.coordinator} ({who})"
        if wait_s <= 0:
            raise TransportError(f"{what}; not waiting (give --place-wait SECONDS, or wait_s in the board record)")
        say(f"{what}; waiting up to {wait_s:g} s for it (reservation {self.token})")
        try:
            run_client(self.coordinator, ["wait", self.token], timeout=wait_s)
        except subprocess.TimeoutExpired:
            raise TransportError(f"{what}; gave up after waiting {wait_s:g} s") from None
        state = reservations(self.coordinator).get(self.token, {})
        if state.get("state") != "allocated" or "place" not in state:
            raise TransportError(f"board {self.board}: reservation {self.token} ended {state.get('state', 'gone')}")
        return state

    def _acquire(self) -> None:
        self.acquired = True  # maybe: a Ctrl-C during the call leaves it unknown, so release() tries
        try:
            run_client(self.coordinator, ["-p", self.place, "acquire"])
        except TransportError as exc:
            self.acquired = False
            raise TransportError(f"board {self.board}: cannot acquire place {self.place}: {exc}") from None
        self._watch()
        text = run_client(self.coordinator, ["-p", self.place, "env"]).stdout
        services = []
        for target in (yaml.safe_load(text) or {}).get("targets", {}).values():
            for resource in target.get("resources", []):
                services += [params for cls, params in resource.items() if cls == "NetworkService"]
        if not services:
            raise ConfigError(f"board {self.board}: place {self.place} has no NetworkService; add-match one that "
                              f"gives the board's ssh address, port and username")
        service = services[0]
        self.address, self.port, self.username = service["address"], int(service.get("port", 22)), service["username"]
        self._resources = places(self.coordinator)[self.place].resources

    def _watch(self) -> None:
        """Follow `labgrid-client monitor`: our exporter or place going away makes the lease lost."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # else its lines sit in a pipe buffer
        self._monitor = subprocess.Popen([client(), "-x", self.coordinator, "monitor"], stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=env)
        threading.Thread(target=self._follow, args=(self._monitor,), daemon=True, name=f"lease-{self.place}").start()

    def _follow(self, monitor: subprocess.Popen[str]) -> None:
        assert monitor.stdout is not None
        heading = ""
        for line in monitor.stdout:
            line = line.rstrip()
            reason = None
            gone = re.match(r"^Resource ([^/]+)/([^/]+)/[^/]+/(.+) deleted$", line)
            if gone and any(r.split("/")[:2] == [gone[1], gone[2]] and r.split("/")[-1] == gone[3]
                            for r in self._resources):
                reason = f"exporter {gone[1]} went away (its {gone[2]}/{gone[3]} was withdrawn)"
            elif line == f"Place {self.place} deleted":
                reason = "the place was deleted"
            elif heading == f"Place {self.place} changed:" and line.strip().startswith("acquired: ") \
                    and not line.endswith(f"-> {me()}"):
                reason = f"the place was released behind edgeq's back ({line.strip()})"
            if not line.startswith(" "):
                heading = line
            if reason:
                self._lose(reason)
        monitor.wait()
        # Ctrl-C on a terminal reaches the monitor too (same process group, so that it never outlives
        # edgeq): then edgeq is being interrupted and releases the place within moments; that, not a
        # lost coordinator, is the story. A monitor that ends otherwise lost the coordinator.
        if not self._released.wait(RELEASE_GRACE_S):
            self._lose(f"lost the connection to the coordinator {self.coordinator}")

    def _lose(self, reason: str) -> None:
        if self.lost is None:
            self.lost = f"place {self.place} lost mid-run: {reason}"
            if self.on_lost is not None:
                self.on_lost()

    def release(self, say: Say = _stderr) -> None:
        """Stop watching, release the place, cancel the reservation; says what could not be undone. Once."""
        if self.released:
            return
        self.released = True
        self._released.set()
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.terminate()
            try:
                monitor.wait(timeout=10)
            except subprocess.TimeoutExpired:
                monitor.kill()
        problems = []
        steps = [["-p", self.place, "release"]] if self.acquired else []
        for args in [*steps, ["cancel-reservation", self.token]]:
            try:
                run_client(self.coordinator, args)
            except (TransportError, subprocess.TimeoutExpired, OSError) as exc:
                if f"place {self.place} is not acquired" in str(exc):
                    continue  # interrupted before the coordinator acquired it: nothing to give back
                problems.append(f"`labgrid-client -x {self.coordinator} {' '.join(args)}` failed ({exc})")
        self.acquired = False
        if problems:
            say(f"warning: board {self.board}: " + "; ".join(problems) + "; run it again once the coordinator answers")

