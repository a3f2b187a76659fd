"""A profile in flight, as one record: what `edgeq profile --resume` needs to pick a run up.

The run's staging folder holds it as resume.json from the moment the job is on the
board; `save` is the only writer, and it rewrites the whole record on each change.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeq.errors import ConfigError

RESUME_FILE = "resume.json"


@dataclass
class RunHandle:
    """Where a detached run lives on its board and what the host adds to its result."""

    board: str
    budget_s: float  # how long the host waits for the result, from the start
    host: dict[str, Any] = field(default_factory=dict)  # keys added to result.json (run_id, board, model, ...)
    reference: str | None = None  # the model outputs are checked against (None: the model itself)
    remote_run: str = ""  # the run's folder on the board
    python: str = ""  # the deployment's python, which runs the job
    agent: str = ""
    pid: int | None = None  # the detached job's pid, once started
    backend_s: list[float] = field(default_factory=list)  # how long each backend may take, in job order
    start_s: float = 120.0  # how long the job may take to start its first backend
    labels: list[str] = field(default_factory=list)  # the backends as the user spelled them, by position (progress)

    @property
    def run_id(self) -> str:
        return str(self.host["run_id"])

    def save(self, folder: Path) -> None:
        """Write the record to `folder`/resume.json (whole, by rename: never half a file)."""
        tmp = folder / f".{RESUME_FILE}.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(folder / RESUME_FILE)

    @classmethod
    def load(cls, folder: Path) -> "RunHandle":
        try:
            data = json.loads((folder / RESUME_FILE).read_text())
            return cls(**{k: data[k] for k in data if k in cls.__dataclass_fields__})
        except (OSError, ValueError, TypeError):
            raise ConfigError(f"{folder}: not a partial run directory (no readable {RESUME_FILE})") from None

    @staticmethod
    def forget(folder: Path) -> None:
        (folder / RESUME_FILE).unlink(missing_ok=True)
