"""What a board YAML file may say: facts about one machine, never behaviour.

Transports, power sources and backends read these facts; they live elsewhere.
Paths of things on the board (python, libraries, work_dir) are kept as plain
strings, because they name files on another machine, possibly another OS flavour,
and must not be resolved against the host.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator, model_validator

from edgeq.config.loader import FileRecord, Record

__all__ = [
    "ARCHES",
    "Arch",
    "Armnn",
    "ArmnnBackend",
    "BackendName",
    "Board",
    "Cluster",
    "Connection",
    "Cpu",
    "Gpu",
    "KeepRuns",
    "Libraries",
    "OsGeneration",
    "Power",
]

Arch = Literal["aarch64", "armv7l", "x86_64", "auto"]
"""`auto` means "whatever the host is" and is allowed only for a local board."""
ARCHES: tuple[str, ...] = ("aarch64", "armv7l", "x86_64")
BackendName = Literal["tflite-cpu", "tflite-gpu", "armnn"]
ArmnnBackend = Literal["CpuAcc", "GpuAcc", "CpuRef"]
GpuApi = Literal["opencl", "vulkan"]
PowerSource = Literal["none", "hwmon", "rpi5-pmic", "command"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SSH_ONLY = ("host", "port", "user", "key_file", "ssh_alias", "password_env")
_FROM_PLACE = ("host", "port", "user", "ssh_alias")
"""A labgrid place's NetworkService supplies these; a record saying them too would be a second truth."""
_LABGRID_ONLY = ("place", "tags", "coordinator", "wait_s")
_TAG_KEY = re.compile(r"^[a-z][a-z0-9_]+$")


def _unique(values: list[str], what: str) -> list[str]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{what} listed more than once: {', '.join(repeated)}")
    return values


class KeepRuns(Record):
    """Retention of the board's run folders: a run is kept while it is one of the `last` newest
    OR younger than `days`; older ones go when the next run starts. A run still going is never removed."""

    last: NonNegativeInt = 20
    days: float = Field(14.0, ge=0, allow_inf_nan=False)


class Connection(Record):
    """How the host reaches the board. `kind: local` means the host itself.

    `kind: labgrid` names a place (or tags a place must carry) on a labgrid coordinator; edgeq reserves
    and acquires it and reaches the board over ssh at the address its NetworkService gives.
    """

    kind: Literal["local", "ssh", "labgrid"]
    host: str | None = None
    port: int = Field(22, ge=1, le=65535)
    user: str | None = None
    key_file: str | None = None
    """Private key on the host; `~` is expanded by the transport."""
    ssh_alias: str | None = None
    """A `Host` entry of ~/.ssh/config; OpenSSH then supplies host, port, user, key."""
    password_env: str | None = None
    """NAME of an environment variable holding the password, never the password."""
    place: str | None = None
    """labgrid: the place's name."""
    tags: dict[str, str] = {}
    """labgrid: tags a place must carry (any free one will do), e.g. {board: rpi5}."""
    coordinator: str | None = None
    """labgrid: HOST:PORT of the coordinator; unset: $LG_COORDINATOR."""
    wait_s: float = Field(0.0, ge=0)
    """labgrid: how long to wait for a place someone else holds; 0 refuses at once, naming the holder."""

    @field_validator("tags")
    @classmethod
    def _tag_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag in value.items():
            if not _TAG_KEY.match(key) or not tag or any(c.isspace() or c == "=" for c in tag):
                raise ValueError(f"expected tags such as board: rpi5 (keys: a-z, 0-9, _), found {key}={tag}")
        return value

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        # The value is not echoed: if someone pasted a password here, it must not
        # end up in a terminal log.
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(
                "expected the NAME of an environment variable that holds the password "
                "(letters, digits, _), not the password itself"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _ssh_unless_said(cls, data: object) -> object:
        # A record written by hand from the README (`connection: {host: mypi, user: pi}`) means ssh;
        # asking for `kind` there was the first error a new user met. labgrid and local stay explicit.
        if isinstance(data, dict) and "kind" not in data and ("host" in data or "ssh_alias" in data):
            return {"kind": "ssh", **data}
        return data

    @model_validator(mode="after")
    def _kind_fits(self) -> Connection:
        if self.kind == "ssh" and not (self.host or self.ssh_alias):
            raise ValueError("an ssh connection needs 'host' or 'ssh_alias'")
        if self.kind == "local":
            given = [key for key in _SSH_ONLY if key in self.model_fields_set]
            if given:
                keys = "that key is" if len(given) == 1 else "those keys are"
                raise ValueError(f"kind 'local' takes no {', '.join(given)}: {keys} for ssh only")
        if self.kind == "labgrid":
            given = [key for key in _FROM_PLACE if key in self.model_fields_set]
            if given:
                raise ValueError(f"kind 'labgrid' takes no {', '.join(given)}: the place's NetworkService gives them")
            if not (self.place or self.tags):
                raise ValueError("a labgrid connection needs 'place' or 'tags'")
        else:
            given = [key for key in _LABGRID_ONLY if key in self.model_fields_set]
            if given:
                raise ValueError(f"kind '{self.kind}' takes no {', '.join(given)}: those keys are for labgrid only")
        return self


class Cluster(Record):
    """A group of identical cores, e.g. the big or little half of big.LITTLE."""

    name: str
    """Label such as big, little, main."""
    core: str
    """Core design, lower case: cortex-a76."""
    cores: list[NonNegativeInt] = Field(min_length=1)
    """Linux CPU ids, as in /sys/devices/system/cpu/cpuN; used for taskset pinning."""
    max_mhz: PositiveInt | None = None


class Cpu(Record):
    """The SoC's CPU. No clusters means "all cores, not described"."""

    model: str
    """SoC or CPU name; `auto` for the local board (the agent reports the real one)."""
    clusters: list[Cluster] = []

    @model_validator(mode="after")
    def _cores_once(self) -> Cpu:
        _unique([c.name for c in self.clusters], "cluster name")
        owner: dict[int, str] = {}
        for cluster in self.clusters:
            for core in cluster.cores:
                if core in owner:
                    where = (
                        f"twice in cluster '{cluster.name}'"
                        if owner[core] == cluster.name
                        else f"in both clusters '{owner[core]}' and '{cluster.name}'"
                    )
                    raise ValueError(f"core {core} is listed {where}")
                owner[core] = cluster.name
        return self

    @property
    def core_ids(self) -> list[int]:
        return sorted(core for cluster in self.clusters for core in cluster.cores)


class Gpu(Record):
    vendor: str | None = None
    model: str
    api: list[GpuApi] = []
    """APIs the installed driver exposes."""
    compute: bool = False
    """True when edgeq may run inference on it (tflite-gpu, ArmNN GpuAcc)."""

    @field_validator("api")
    @classmethod
    def _api_once(cls, value: list[str]) -> list[str]:
        return _unique(value, "api")


class Armnn(Record):
    preferred_backends: list[ArmnnBackend] = ["CpuAcc", "CpuRef"]
    """Order handed to the ArmNN delegate; it falls back left to right."""
    delegate_library: str | None = None
    """Path of libarmnnDelegate.so on the board; unset: found on the library path."""

    @field_validator("preferred_backends")
    @classmethod
    def _backends_once(cls, value: list[str]) -> list[str]:
        return _unique(value, "backend")


class Libraries(Record):
    """Native libraries on the board that the runtimes must be pointed at."""

    gpu_delegate: str | None = None
    """libtensorflowlite_gpu_delegate.so, for the tflite-gpu backend."""
    opencl: str | None = None
    """The vendor OpenCL library (libmali, libOpenCL) when no ICD loader finds it."""
    library_path: list[str] = []
    """Folders prepended to LD_LIBRARY_PATH for the agent."""


class Power(Record):
    """Where power readings come from; the reading code lives in the agent."""

    source: PowerSource = "none"
    hwmon_name: str | None = None
    """The `name` file of the /sys/class/hwmon device to read, for source hwmon."""
    command: str | None = None
    """A command printing watts, one reading a line, for source command (split like a shell would; no shell runs it)."""

    @model_validator(mode="after")
    def _source_has_its_setting(self) -> Power:
        if self.source == "hwmon" and not self.hwmon_name:
            raise ValueError("source 'hwmon' needs 'hwmon_name'")
        if self.source == "command" and not self.command:
            raise ValueError("source 'command' needs 'command'")
        return self


class OsGeneration(Record):
    """The OS generation a record assumes. What the board's facts report wins where they
    differ (edgeq warns): a record is written once, boards get reflashed."""

    name: str
    """As users call it: Raspberry Pi OS, Debian, Armbian."""
    debian: PositiveInt
    """The Debian release it is built on: 12 (Python 3.11, numpy 1.24, pyarmnn 20.08),
    13 (Python 3.13, numpy 2.2, pyarmnn 23.08)."""
    codename: str
    """Debian's codename of that release: bookworm, trixie."""


class Board(FileRecord):
    """One board record. `source` (from FileRecord) is the YAML file it came from."""

    name: str
    """Equal to the file stem; lower case letters, digits, '.', '_', '-'."""
    description: str = ""
    arch: Arch
    emulated: bool = False
    """True for a board that is a QEMU guest: timings are not hardware figures."""
    connection: Connection
    cpu: Cpu
    gpu: Gpu | None = None
    backends: list[BackendName] = Field(min_length=1)
    """Backends to try on this board, in order."""
    armnn: Armnn = Armnn()
    os: OsGeneration | None = None
    """The OS generation the record assumes (facts win; see OsGeneration)."""
    libraries: Libraries = Libraries()
    power: Power = Power()
    thermal_zones: list[str] = []
    """Names under /sys/class/thermal, e.g. thermal_zone0."""
    python: str | None = None
    """The board's python3; null only for local, meaning the host's own interpreter."""
    work_dir: str = "~/edgeq"
    """The one folder on the board edgeq may write to (and prune)."""
    keep_runs: KeepRuns = KeepRuns()
    """Which run folders the board keeps under work_dir/runs once their results were pulled."""
    groups: list[str] = []

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"expected lower case letters, digits, '.', '_' or '-', found {value!r}")
        return value

    @field_validator("groups")
    @classmethod
    def _group_shape(cls, value: list[str]) -> list[str]:
        for group in value:
            if not _NAME.match(group):
                raise ValueError(f"expected lower case letters, digits, '.', '_' or '-', found {group!r}")
        return _unique(value, "group")

    @field_validator("backends")
    @classmethod
    def _backend_once(cls, value: list[str]) -> list[str]:
        return _unique(value, "backend")

    @field_validator("work_dir")
    @classmethod
    def _work_dir_owned(cls, value: str) -> str:
        # edgeq prunes old bundles inside work_dir, so it must be a folder of its own.
        parts = [p for p in value.strip().split("/") if p not in ("", ".")]
        if parts in ([], ["~"]) or ".." in parts:  # `~/..` is every user's home, `/a/..` is `/`
            raise ValueError(f"expected a folder edgeq may own, such as ~/edgeq, found {value!r}")
        return value

    @model_validator(mode="after")
    def _facts_agree(self) -> Board:
        local = self.connection.kind == "local"
        if self.arch == "auto" and not local:
            raise ValueError(f"arch 'auto' fits only a local board; choose from: {', '.join(ARCHES)}")
        if self.python is None and not local:
            raise ValueError("python: an ssh board needs the path of its python3, e.g. /usr/bin/python3")
        if self.gpu is not None and not self.gpu.compute:
            if "tflite-gpu" in self.backends:
                raise ValueError("backends: tflite-gpu needs a gpu with 'compute: true'")
            if "GpuAcc" in self.armnn.preferred_backends:
                raise ValueError("armnn.preferred_backends: GpuAcc needs a gpu with 'compute: true'")
        return self
