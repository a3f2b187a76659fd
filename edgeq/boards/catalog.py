"""The board catalog: where board files live, and how names and groups become boards.

Board files are searched, first match wins, in:
1. each folder of $EDGEQ_BOARDS (os.pathsep separated), so a lab can keep its own;
2. $XDG_CONFIG_HOME/edgeq/boards (default ~/.config/edgeq/boards), a user's own;
3. the project's boards/ folder, the shipped examples.
`<name>.yaml` defines board `<name>`, so a user file shadows a shipped board of the
same name. Nothing here prints; the CLI renders `describe()` and `table()`.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import platform
from collections.abc import Iterable
from pathlib import Path

import edgeq
from edgeq.boards.schema import Board, Cluster, Connection, Gpu
from edgeq.config.loader import load_model
from edgeq.errors import ConfigError

__all__ = [
    "ENV_VAR",
    "Board",
    "core_ranges",
    "describe",
    "groups",
    "list_boards",
    "load_board",
    "load_board_file",
    "resolve_boards",
    "search_path",
    "table",
    "target_arch",
    "user_dir",
    "origin",
    "as_json",
]

ENV_VAR = "EDGEQ_BOARDS"


def _env_dirs() -> list[Path]:
    value = os.environ.get(ENV_VAR, "")
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]


def user_dir() -> Path:
    """The user's own board folder: `edgeq boards add` writes here."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "edgeq" / "boards"


def _project_dir() -> Path:
    return Path(edgeq.__file__).resolve().parent.parent / "boards"


def search_path() -> list[Path]:
    """Folders searched for board files, highest priority first (some may not exist)."""
    seen: list[Path] = []
    for folder in [*_env_dirs(), user_dir(), _project_dir()]:
        if folder not in seen:
            seen.append(folder)
    return seen


def _board_files() -> dict[str, Path]:
    """Board name -> the file that defines it, after shadowing."""
    for folder in _env_dirs():
        if not folder.is_dir():
            raise ConfigError(f"{ENV_VAR} names {folder}, which is not a folder")
    files: dict[str, Path] = {}
    for folder in search_path():
        if not folder.is_dir():
            continue  # the user folder is optional
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                continue
            if path.suffix == ".yml":
                raise ConfigError(f"{path}: board files end in .yaml; rename it to {path.stem}.yaml")
            if path.suffix == ".yaml":
                files.setdefault(path.stem, path)
    return files


_PARSED: dict[tuple[str, bytes], Board] = {}
"""(path, sha1 of its bytes) -> the record: YAML and validation cost milliseconds of pure Python
that a fleet pays once per board and profile, under one GIL. Keyed by content, never stale."""


def load_board_file(path: str | Path) -> Board:
    """Load one board file; its `name` must equal its file stem, or lookups would lie."""
    path = Path(path)
    try:
        key: tuple[str, bytes] | None = (str(path.resolve()), hashlib.sha1(path.read_bytes()).digest())
    except OSError:
        key = None  # load_model says what is wrong with it
    if key in _PARSED:
        return _PARSED[key].model_copy(deep=True)
    board = load_model(path, Board)
    if board.name != path.stem:
        raise ConfigError(f"{path}: name: expected {path.stem!r} (the file name without .yaml), found {board.name!r}")
    if key is not None and len(_PARSED) < 256:
        _PARSED[key] = board.model_copy(deep=True)
    return board


def list_boards() -> list[Board]:
    """Every board on the search path, by name; a bad file raises rather than vanishing."""
    boards = [load_board_file(path) for _, path in sorted(_board_files().items())]
    names = {board.name for board in boards}
    for board in boards:
        clash = names.intersection(board.groups)
        if clash:
            raise ConfigError(f"{board.source}: groups: {sorted(clash)[0]!r} is also a board name; rename the group")
    return boards


def load_board(name: str) -> Board:
    """The board called `name`; an unknown name suggests the closest known one."""
    files = _board_files()
    if name not in files:
        raise ConfigError(_unknown("board", name, sorted(files)))
    return load_board_file(files[name])


def groups(boards: Iterable[Board] | None = None) -> dict[str, list[str]]:
    """Group name -> names of its boards, both sorted."""
    found: dict[str, list[str]] = {}
    for board in list_boards() if boards is None else boards:
        for group in board.groups:
            found.setdefault(group, []).append(board.name)
    return {group: sorted(names) for group, names in sorted(found.items())}


def resolve_boards(spec: str | Iterable[str]) -> list[Board]:
    """Boards named by "rpi4,rpi5", a group name such as "pi", or a list of such strings.

    Order follows the spec, duplicates are dropped. Every board file is read only when
    a name is not a board, since groups are declared inside the board files.
    """
    parts = [spec] if isinstance(spec, str) else list(spec)
    tokens = [token.strip() for part in parts for token in part.split(",") if token.strip()]
    if not tokens:
        raise ConfigError("no boards given; name boards or groups separated by commas")
    files = _board_files()
    catalog: dict[str, Board] | None = None
    chosen: dict[str, Board] = {}
    for token in tokens:
        if token in files:
            if token not in chosen:
                chosen[token] = catalog[token] if catalog else load_board_file(files[token])
            continue
        if catalog is None:
            catalog = {board.name: board for board in list_boards()}
        members = groups(catalog.values()).get(token)
        if members is None:
            raise ConfigError(_unknown("board or group", token, sorted(files), sorted(groups(catalog.values()))))
        for name in members:
            chosen.setdefault(name, catalog[name])
    return list(chosen.values())


def _unknown(what: str, name: str, boards: list[str], group_names: list[str] | None = None) -> str:
    choices = boards + (group_names or [])
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    listing = ", ".join(boards) or "(no board files found)"
    if group_names:
        listing = f"boards {listing}; groups {', '.join(group_names)}"
    return f"unknown {what} {name!r}{hint} Choose from: {listing}"


def target_arch(board: Board) -> str:
    """The board's arch, with `auto` (local board only) read from this host."""
    return board.arch if board.arch != "auto" else host_arch()


def host_arch() -> str:
    """This host's architecture, named as board records name it."""
    machine = platform.machine().lower()
    return {"arm64": "aarch64", "amd64": "x86_64", "armv8l": "armv7l"}.get(machine, machine)


def core_ranges(cores: Iterable[int]) -> str:
    """[0, 1, 2, 3, 6] -> "0-3,6": how core ids read in taskset and in /sys."""
    runs: list[list[int]] = []
    for core in sorted(set(cores)):
        if runs and core == runs[-1][1] + 1:
            runs[-1][1] = core
        else:
            runs.append([core, core])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def origin(board: Board) -> str:
    """Where a record came from: `$EDGEQ_BOARDS`, `user` (~/.config/edgeq/boards) or `project` (shipped)."""
    folder = board.source.parent.resolve() if board.source else None
    if folder is not None and folder in [d.resolve() for d in _env_dirs()]:
        return f"${ENV_VAR}"
    if folder is not None and folder == user_dir().resolve():
        return "user"
    return "project" if folder == _project_dir() else str(folder or "-")


def as_json(board: Board) -> dict[str, object]:
    """A record as data for `--json`: its fields, plus where it came from."""
    return {**board.model_dump(mode="json"), "source": str(board.source or ""), "origin": origin(board)}


def _connection_text(connection: Connection) -> str:
    if connection.kind == "local":
        return "local (this host)"
    if connection.kind == "labgrid":
        what = f"place {connection.place}" if connection.place else "any free place with " + " ".join(
            f"{key}={value}" for key, value in connection.tags.items())
        where = connection.coordinator or "$LG_COORDINATOR"
        wait = f", waits up to {connection.wait_s:g} s" if connection.wait_s else ""
        return f"labgrid {what} on {where}{wait}"
    if connection.ssh_alias and not connection.host:
        text = f"ssh {connection.ssh_alias} (from ~/.ssh/config)"
    else:
        user = f"{connection.user}@" if connection.user else ""
        port = f":{connection.port}" if "port" in connection.model_fields_set else ""
        text = f"ssh {user}{connection.host}{port}"
    if connection.key_file:
        text += f", key {connection.key_file}"
    if connection.password_env:
        text += f", password from ${connection.password_env}"
    return text


def _cluster_text(cluster: Cluster) -> str:
    speed = f", up to {cluster.max_mhz} MHz" if cluster.max_mhz else ""
    return f"{len(cluster.cores)}x {cluster.core}, cores {core_ranges(cluster.cores)}{speed}"


def _cpu_summary(board: Board) -> str:
    if not board.cpu.clusters:
        return f"{board.cpu.model} (all cores)"
    return " + ".join(f"{len(c.cores)}x {c.core}" for c in board.cpu.clusters)


def _gpu_text(gpu: Gpu | None, short: bool = False) -> str:
    if gpu is None:
        return "-" if short else "none recorded"
    if short:
        return gpu.model
    name = f"{gpu.vendor} {gpu.model}" if gpu.vendor else gpu.model
    api = f" ({', '.join(gpu.api)})" if gpu.api else ""
    return f"{name}{api}, {'usable for compute' if gpu.compute else 'no compute'}"


def describe(board: Board) -> str:
    """Several lines about one board, for `edgeq boards show NAME`."""
    rows: list[tuple[str, str]] = [("file", f"{board.source or '-'} ({origin(board)})"), ("arch", board.arch)]
    if board.arch == "auto":
        rows[-1] = ("arch", f"auto (this host: {target_arch(board)})")
    if board.emulated:
        rows.append(("emulated", "yes: timings are not hardware figures"))
    rows.append(("connection", _connection_text(board.connection)))
    rows.append(("cpu", board.cpu.model if board.cpu.clusters else f"{board.cpu.model} (all cores)"))
    rows += [(f"  {c.name}", _cluster_text(c)) for c in board.cpu.clusters]
    rows.append(("gpu", _gpu_text(board.gpu)))
    rows.append(("backends", ", ".join(board.backends)))
    armnn = ", ".join(board.armnn.preferred_backends)
    if board.armnn.delegate_library:
        armnn += f"; delegate {board.armnn.delegate_library}"
    rows.append(("armnn", armnn))
    libraries = board.libraries
    for key in ("gpu_delegate", "opencl"):
        if getattr(libraries, key):
            rows.append((key, getattr(libraries, key)))
    if libraries.library_path:
        rows.append(("library_path", ":".join(libraries.library_path)))
    power = board.power
    detail = power.hwmon_name if power.source == "hwmon" else power.command if power.source == "command" else None
    rows.append(("power", f"{power.source} ({detail})" if detail else power.source))
    rows.append(("thermal", ", ".join(board.thermal_zones) or "-"))
    rows.append(("python", board.python or "the host's own interpreter"))
    rows.append(("work_dir", board.work_dir))
    rows.append(("groups", ", ".join(board.groups) or "-"))
    width = max(len(key) for key, _ in rows) + 2
    title = f"{board.name}: {board.description}" if board.description else board.name
    return "\n".join([title, *(f"  {key:<{width}}{value}" for key, value in rows)])


def table(boards: Iterable[Board]) -> str:
    """A plain-text table of boards, for `edgeq boards list`."""
    header = ("NAME", "ARCH", "CPU", "GPU", "BACKENDS", "GROUPS", "ORIGIN", "CONNECTION")
    rows = [header] + [
        (
            b.name,
            b.arch,
            _cpu_summary(b),
            _gpu_text(b.gpu, short=True),
            ",".join(b.backends),
            ",".join(b.groups) or "-",
            origin(b),
            _connection_text(b.connection),
        )
        for b in boards
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)
