"""Running one step on several boards at once: a failure on one is reported, the others complete."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

from edgeq.boards import farm
from edgeq.boards.catalog import load_board, resolve_boards
from edgeq.boards.schema import Board, Connection
from edgeq import stopping
from edgeq.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, ConfigError, EdgeqError
from edgeq.stopping import StopRequest

T = TypeVar("T")


@dataclass
class Outcome(Generic[T]):
    board: str
    value: T | None = None
    error: str | None = None
    exit_code: int = 0
    interrupted: bool = False  # stopped by a signal (error says how to pick it up)


def board_names(spec: str) -> list[str]:
    """`rpi4,rpi5`, a group name, or a mix; validated against the catalog."""
    return [board.name for board in resolve_boards(spec)]


def board_records(spec: str, count: int | None = None, place_wait_s: float | None = None) -> dict[str, Board]:
    """Name -> record for a board spec that may hold `labgrid:TAGS` tokens (one record per free place).

    `count` takes the first N matching places of each labgrid token; `place_wait_s` overrides how long
    any labgrid board waits for a place someone else holds.
    """
    if count is not None and count < 1:
        raise ConfigError("--count must be at least 1")
    records: dict[str, Board] = {}
    tokens = [token.strip() for token in spec.split(",") if token.strip()]
    named = [token for token in tokens if not token.startswith(farm.PREFIX)]
    for board in resolve_boards(named) if named else []:
        records[board.name] = board
    for token in tokens:
        if token.startswith(farm.PREFIX):
            records.update((b.name, b) for b in place_boards(token, count, place_wait_s or 0.0))
    if place_wait_s is not None:
        for name, board in records.items():
            if board.connection.kind == "labgrid":
                update = {"connection": board.connection.model_copy(update={"wait_s": place_wait_s})}
                records[name] = board.model_copy(update=update)
    return records


def place_boards(token: str, count: int | None = None, wait_s: float = 0.0) -> list[Board]:
    """`labgrid:TAGS` -> one board record per matching free place (the first `count` with count).

    Facts come from the board record named by the place's `board` tag. When fewer places are free
    than asked for, the rest are records that wait (up to wait_s) for any matching place.
    """
    farm.client()  # without labgrid, say what to install first
    wanted = farm.parse_filter(token.removeprefix(farm.PREFIX))
    coordinator = farm.coordinator_of()
    known = farm.places(coordinator)
    matching = sorted((p for p in known.values() if p.matches(wanted)), key=lambda p: p.name)
    if not matching:
        raise ConfigError(f"{token}: {farm.holders(coordinator, wanted)}")
    free = [p for p in matching if not p.acquired and not p.reservation]
    chosen = free[:count] if count else free
    records = []
    for place in chosen:
        if "board" not in place.tags:
            raise ConfigError(f"place {place.name} has no board tag naming its board record; "
                              f"labgrid-client -p {place.name} set-tags board=NAME")
        facts = load_board(place.tags["board"])
        conn = Connection(kind="labgrid", place=place.name, tags={k: v for k, v in wanted.items() if k != "name"},
                          coordinator=coordinator, wait_s=wait_s,
                          key_file=facts.connection.key_file, password_env=facts.connection.password_env)
        records.append(facts.model_copy(update={"name": f"{facts.name}@{place.name}", "connection": conn}))
    missing = (count or 1) - len(chosen)
    if missing > 0:
        named = {p.tags.get("board") for p in matching}
        if len(named) != 1 or None in named:
            raise ConfigError(f"{token}: no matching place is free ({farm.holders(coordinator, wanted)}); to wait for "
                              f"one, name its board record in the filter ({farm.PREFIX}board=NAME+...)")
        facts = load_board(named.pop() or "")
        conn = Connection(kind="labgrid", tags=wanted, coordinator=coordinator, wait_s=wait_s,
                          key_file=facts.connection.key_file, password_env=facts.connection.password_env)
        for i in range(missing):
            name = f"{facts.name}@next-free" + (f"-{i + 1}" if missing > 1 else "")
            records.append(facts.model_copy(update={"name": name, "connection": conn}))
    return records


def any_place_board(token: str, wait_s: float = 0.0) -> Board:
    """`labgrid:board=NAME[+TAG=VALUE]` as one board: whichever matching place is free when a step starts.

    Recipes name boards this way: their matrix must not change with how many places are free today,
    and `--dry-run` must not need the coordinator, so the filter names the facts record itself.
    """
    wanted = farm.parse_filter(token.removeprefix(farm.PREFIX))
    if "board" not in wanted:
        raise ConfigError(f"{token}: name the board record in the filter: {farm.PREFIX}board=NAME[+TAG=VALUE]")
    facts = load_board(wanted["board"])
    rest = "+".join(f"{key}={value}" for key, value in wanted.items() if key != "board")
    conn = Connection(kind="labgrid", tags=wanted, wait_s=wait_s, key_file=facts.connection.key_file,
                      password_env=facts.connection.password_env)
    return facts.model_copy(update={"name": f"{facts.name}@{rest or 'farm'}", "connection": conn})


def run_on_boards(names: list[str], step: Callable[[str], T], workers: int = 8,
                  describe: Callable[[T], str] = lambda value: "done") -> list[Outcome[T]]:
    """Call `step(board)` for every board in parallel threads; results in the order given.

    With one board nothing is caught: its error reaches the CLI as any error does
    (one line, or a traceback under --debug), and so does a signal, in the main thread.

    Several boards: a signal (Ctrl-C, or SIGTERM as edgeq.cli.Terminated) reaches the main thread
    only, which asks every board's thread to stop at its next safe point (edgeq.stopping) and waits
    for all of them. Each board then has finished, failed, or stopped the way a single board stops
    (a started run kept as RUN.partial with its `--resume` command). The signal's exception is then
    raised with one line per board (`describe` says what a finished board's value is).
    """
    if len(names) == 1:
        return [Outcome(names[0], value=step(names[0]))]
    request = StopRequest()

    def one(name: str) -> Outcome[T]:
        token = stopping.bind(request)
        try:
            stopping.checkpoint()  # a board still queued when the signal came does not start
            return Outcome(name, value=step(name))
        except EdgeqError as exc:
            return Outcome(name, error=str(exc), exit_code=exc.exit_code)
        except KeyboardInterrupt as exc:
            said = " ".join(str(exc).split()) or "stopped before its step changed anything on the board (nothing to resume)"
            return Outcome(name, error=said, exit_code=EXIT_TERMINATED if request.kind is not KeyboardInterrupt
                           else EXIT_INTERRUPTED, interrupted=True)
        finally:
            stopping.unbind(token)

    pool = ThreadPoolExecutor(max_workers=min(workers, len(names)), thread_name_prefix="edgeq-board")
    futures = [pool.submit(one, name) for name in names]
    while True:
        try:
            wait(futures)
            break
        except KeyboardInterrupt as signal:  # the first one asks; a second one while they stop changes nothing
            if not request.requested:
                print("edgeq: stopping every board at a safe point (a run started on a board is kept to resume)",
                      file=sys.stderr)
            request.request(signal)
    pool.shutdown()
    outcomes = [f.result() for f in futures]
    if request.requested:
        lines = []
        for o in outcomes:
            if o.interrupted or o.error:
                lines.append(f"board {o.board}: {o.error if o.interrupted else 'failed: ' + str(o.error)}")
            else:
                lines.append(f"board {o.board}: finished: {describe(o.value)}")  # type: ignore[arg-type]
        raise request.kind("\n".join(lines))
    return outcomes


def summary_table(rows: list[list[str]], header: list[str]) -> str:
    table = [header] + rows
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
