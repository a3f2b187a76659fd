"""The agent on its own: facts, the job reader, the timing statistics, the zipapp."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from edgeq.agent import facts, jobspec, timing
from edgeq.link.agentpack import build_agent

from .conftest import Board, run_cli

A72_CPUINFO = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
    f"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n"
    for i in range(4)
)


def test_statistics_match_numpy() -> None:
    rng = np.random.default_rng(3)
    samples = [int(x) for x in rng.integers(1_000, 90_000, size=501)]
    stats = timing.summarize(samples)
    ms = np.array(samples) / 1e6
    assert stats["count"] == 501
    for key, q in (("p50_ms", 50), ("p90_ms", 90), ("p99_ms", 99)):
        assert stats[key] == pytest.approx(np.percentile(ms, q))
    assert stats["mean_ms"] == pytest.approx(ms.mean())
    assert stats["std_ms"] == pytest.approx(ms.std(ddof=1))
    assert stats["cv"] == pytest.approx(ms.std(ddof=1) / ms.mean())
    assert (stats["min_ms"], stats["max_ms"]) == (pytest.approx(ms.min()), pytest.approx(ms.max()))


def test_run_loop_counts_and_time() -> None:
    calls = []
    samples = timing.run_loop(lambda: calls.append(1), runs=7, min_seconds=0)
    assert len(samples) == len(calls) == 7
    samples = timing.run_loop(lambda: None, runs=1, min_seconds=0.05)
    assert len(samples) > 100


def test_facts_read_an_arm_board_under_a_fake_root(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cpuinfo").write_text(A72_CPUINFO)
    policy = tmp_path / "sys/devices/system/cpu/cpufreq/policy0"
    policy.mkdir(parents=True)
    for name, value in (("scaling_governor", "ondemand"), ("related_cpus", "0 1 2 3"),
                        ("scaling_available_governors", "ondemand performance powersave"),
                        ("scaling_max_freq", "1800000"), ("scaling_min_freq", "600000"),
                        ("scaling_cur_freq", "1500000")):
        (policy / name).write_text(value + "\n")
    model = tmp_path / "sys/firmware/devicetree/base"
    model.mkdir(parents=True)
    (model / "model").write_text("Raspberry Pi 4 Model B Rev 1.4\x00")
    (tmp_path / "etc/OpenCL/vendors").mkdir(parents=True)
    (tmp_path / "etc/OpenCL/vendors/mali.icd").write_text("libmali.so\n")
    cpu = facts.cpu(str(tmp_path))
    assert cpu["model"] == "Cortex-A72" and cpu["count"] == 4
    assert cpu["board_model"] == "Raspberry Pi 4 Model B Rev 1.4"
    assert [c["part"] for c in cpu["cores"]] == ["0xd08"] * 4
    (freq,) = facts.cpufreq(str(tmp_path))
    assert freq["governor"] == "ondemand" and freq["max_khz"] == "1800000"
    assert "performance" in freq["available_governors"]
    assert facts.gpu(str(tmp_path))["opencl_icds"] == ["/etc/OpenCL/vendors/mali.icd"]


def test_facts_tell_the_os_generation_and_armnn_backend_files(tmp_path: Path) -> None:
    """Raspberry Pi OS 13 as its files say it (read under a fake root)."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text(
        'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\n'
        'VERSION_CODENAME=trixie\nID=debian\n')
    (tmp_path / "etc/debian_version").write_text("13.1\n")
    backends = tmp_path / "usr/lib/aarch64-linux-gnu/armnn33"
    backends.mkdir(parents=True)
    for name in ("Arm_CpuAcc_backend.so", "Arm_CpuRef_backend.so"):
        (backends / name).write_bytes(b"")
    found = facts.os_release(str(tmp_path))
    assert (found["codename"], found["debian"], found["version_id"]) == ("trixie", "13", "13")
    assert found["pretty"] == "Debian GNU/Linux 13 (trixie)"
    assert facts.armnn_backend_files(str(tmp_path)) == [
        "/usr/lib/aarch64-linux-gnu/armnn33/Arm_CpuAcc_backend.so",
        "/usr/lib/aarch64-linux-gnu/armnn33/Arm_CpuRef_backend.so"]


def test_facts_on_the_local_board(board: Board) -> None:
    ran = run_cli("facts", "--board", board.name, "--json")
    assert ran.returncode == 0, ran.stderr
    found = json.loads(ran.stdout)
    assert found["arch"] == platform.machine()
    assert found["python"]["executable"] == sys.executable
    assert found["runtimes"]["ai_edge_litert"] == "2.3.0"
    assert found["runtimes"]["tflite_runtime"] == "2.14.0"
    assert "CpuRef" in found["pyarmnn"]["backends"]
    assert any(p.endswith("libarmnn.so.22") for p in found["gpu"]["libraries"]["armnn"])
    ran = run_cli("facts", "--board", board.name)
    assert ran.returncode == 0 and "pyarmnn    22" in ran.stdout and "CpuRef" in ran.stdout


def _job(tmp_path: Path, **changes: object) -> str:
    job = {"schema": "edgeq.job/1", "model": "m.tflite", "inputs": "i.npz", "out_dir": ".",
           "backends": [{"name": "tflite-cpu"}]}
    job.update(changes)
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job))
    return str(path)


@pytest.mark.parametrize("changes, message", [
    ({"schema": "edgeq.job/9"}, "schema: expected 'edgeq.job/1', found 'edgeq.job/9'"),
    ({"threads": 0}, "threads: expected an integer >= 1, found 0"),
    ({"cores": ["big"]}, "cores: expected a list of core ids"),
    ({"warmup": {"runs": -1}}, "warmup.runs: expected a non-negative integer, found -1"),
    ({"backends": []}, "backends: expected a non-empty list"),
    ({"backends": [{"name": "npu"}]}, "backends[0]: unknown backend 'npu'. Choose from: armnn, tflite-benchmark, tflite-cpu, tflite-gpu"),
    ({"backends": [{"name": "armnn", "options": {"backend": "CpuRef"}}]},
     "backends[0]: backend 'armnn' has no option 'backend'. Choose from: backends, delegate, delegate_library, runtime"),
])
def test_job_errors_name_the_key(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(jobspec.JobError) as caught:
        jobspec.load_job(_job(tmp_path, **changes))
    assert str(caught.value).startswith(message)


def test_job_paths_are_relative_to_the_job_and_labels_unique(tmp_path: Path) -> None:
    job = jobspec.load_job(_job(tmp_path, backends=[{"name": "tflite-cpu"}, {"name": "tflite-cpu"}]))
    assert job["model"] == str(tmp_path / "m.tflite")
    assert [b["label"] for b in job["backends"]] == ["tflite-cpu", "tflite-cpu#2"]


def test_a_fleet_s_threads_building_the_first_agent_at_once_all_get_it(tmp_path: Path) -> None:
    out = tmp_path / "cache"
    with ThreadPoolExecutor(max_workers=8) as pool:
        built = list(pool.map(lambda _: build_agent(out), range(8)))
    assert len(set(built)) == 1 and built[0].exists()
    assert zipfile.ZipFile(built[0]).testzip() is None
    assert [p.name for p in out.iterdir()] == [built[0].name]  # no temporary file left behind


def test_the_zipapp_is_self_contained_and_reproducible(tmp_path: Path) -> None:
    first = build_agent(tmp_path / "a")
    second = build_agent(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    names = zipfile.ZipFile(first).namelist()
    assert "__main__.py" in names and "edgeq_agent/backends/armnn.py" in names
    sources = "".join(zipfile.ZipFile(first).read(n).decode() for n in names)
    assert "from edgeq" not in sources.replace("from edgeq_agent", "") and "import edgeq." not in sources
    # It runs from a folder where no edgeq package is importable.
    done = subprocess.run([sys.executable, "-I", str(first), "facts"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["arch"] == platform.machine()
