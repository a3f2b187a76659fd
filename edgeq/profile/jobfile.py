"""What the host tells the agent (the job, a records.Job) and what it adds to the agent's
result afterwards (board, model, inputs, warnings). Pure: no I/O here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeq.agent.records import BackendRequest, Job, Measure, Power, Telemetry, Warmup
from edgeq.agent.wire import COOLDOWN_TIMEOUT_S, POWER_SAMPLE_HZ, Layout, RunFiles
from edgeq.boards.schema import Board
from edgeq.model.reader import ModelInfo
from edgeq.model.naming import model_file_name
from edgeq.settings import Settings

EMULATED_WARNING = "emulated board: timings are not representative of real hardware"


def build_job(record: Board, info: ModelInfo, requests: list[dict[str, Any]], cores: list[int] | None,
              with_eval: bool, settings: Settings, telemetry_root: str = "/", native_dir: str | None = None) -> Job:
    """The job for one run; its paths are relative to the job file, in the board's runs/<run>/."""
    return Job(
        model=Layout.model_from_run(model_file_name(info)),
        inputs=RunFiles.INPUTS,
        eval=RunFiles.EVAL if with_eval else None,
        out_dir=".",
        threads=settings.threads,
        cores=cores,
        warmup=Warmup(settings.warmup, settings.warmup_seconds),
        measure=Measure(settings.runs, settings.min_seconds),
        timeout_s=settings.timeout_s,
        library_path=list(record.libraries.library_path),
        backends=[BackendRequest.from_dict(r) for r in requests],
        telemetry=Telemetry(
            power=Power(record.power.source, record.power.hwmon_name, record.power.command),
            rate_hz=settings.telemetry_hz or (POWER_SAMPLE_HZ if record.power.source != "none" else 0),
            thermal_zones=list(record.thermal_zones),
            root=telemetry_root,
        ),
        cooldown_to_c=settings.cooldown_to,
        cooldown_timeout_s=COOLDOWN_TIMEOUT_S,
        governor=settings.governor,
        native_dir=native_dir,
        keep_runs={"last": record.keep_runs.last, "days": record.keep_runs.days},
    )


def model_record(info: ModelInfo) -> dict[str, Any]:
    def tensors(specs: tuple) -> list[dict[str, Any]]:
        return [
            {"name": s.name, "shape": list(s.shape), "dtype": s.dtype, "scale": s.scale, "zero_point": s.zero_point}
            for s in specs
        ]

    return {
        "name": info.stem,
        "path": str(info.path),
        "sha256": info.sha256,
        "size_bytes": info.size_bytes,
        "inputs": tensors(info.inputs),
        "outputs": tensors(info.outputs),
        "operators": info.operators,
        "quantization": info.quantization,
        "signature": info.signature,
    }


def host_record(run_id: str, record: Board, info: ModelInfo, input_file: Path | None, seed: int,
                warnings: list[str] | None = None) -> dict[str, Any]:
    """The keys the host adds to the agent's result.json; `warnings`: the host's, after the emulated board's."""
    return {
        "run_id": run_id,
        "board": {"name": record.name, "description": record.description, "emulated": record.emulated,
                  "arch": record.arch},
        "model": model_record(info),
        "inputs": {"file": str(input_file) if input_file else None, "seed": None if input_file else seed},
        "warnings": ([EMULATED_WARNING] if record.emulated else []) + list(warnings or []),
    }
