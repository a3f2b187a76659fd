"""Native components: Dockerfile.cross checked statically, the native manifest, and its use on a board.

Without Docker here, the Dockerfile is parsed and its manifest script run on stand-in files; the
consumption path is real: aarch64 code cross-compiled by gcc-aarch64-linux-gnu, run on the emulated board.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeq.bundle import cross
from edgeq.agent import benchmark_model
from edgeq.boards.catalog import load_board
from edgeq.bundle.build import build_bundle
from edgeq.deploy.plan import deploy
from edgeq.errors import EXIT_BAD_INPUT, ConfigError
from edgeq.profile.run import profile

from .conftest import write_board

# Text in the format benchmark_model prints (tools/benchmark/benchmark_model.cc and
# core/util/stats_calculator.cc), op profiling on: tab-separated tables, "INFO: " prefixes.
BENCHMARK_OUTPUT = """\
INFO: Num threads: [2]
INFO: Enable op profiling: [1]
INFO: Loaded model model.tflite
INFO: Initialized session in 5.21ms.
INFO: Running benchmark for at least 3 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=3 first=1200 curr=900 min=880 max=1200 avg=993.333 std=146

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=50 first=850 curr=820 min=800 max=1010 avg=840.5 std=35

INFO: Inference timings in us: Init: 5210, First inference: 1200, Warmup (avg): 993.333, Inference (avg): 840.5
INFO: Profiling Info for Benchmark Initialization:
============================== Run Order ==============================
\t             [node type]\t          [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t         AllocateTensors\t            0.000\t    0.120\t    0.120\t100.000%\t100.000%\t     0.000\t        1\tAllocateTensors/0

============================== Summary by node type ==============================
\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]
\t         AllocateTensors\t        1\t     0.120\t   100.000%\t   100.000%\t     0.000\t        1

INFO: Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
\t             [node type]\t          [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t                 CONV_2D\t            0.000\t    0.610\t    0.602\t 72.530%\t 72.530%\t     0.000\t        1\t[conv]
\t                 RESHAPE\t            0.603\t    0.004\t    0.004\t  0.482%\t 73.012%\t     0.000\t        1\t[reshape]
\t   FULLY_CONNECTED\t            0.607\t    0.230\t    0.224\t 26.988%\t100.000%\t     0.000\t        1\t[dense]

============================== Top by Computation Time ==============================
\t             [node type]\t          [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t                 CONV_2D\t            0.000\t    0.610\t    0.602\t 72.530%\t 72.530%\t     0.000\t        1\t[conv]
\t   FULLY_CONNECTED\t            0.607\t    0.230\t    0.224\t 26.988%\t 99.518%\t     0.000\t        1\t[dense]
\t                 RESHAPE\t            0.603\t    0.004\t    0.004\t  0.482%\t100.000%\t     0.000\t        1\t[reshape]

Number of nodes executed: 3
============================== Summary by node type ==============================
\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]
\t                 CONV_2D\t        1\t     0.602\t    72.530%\t    72.530%\t     0.000\t        1
\t         FULLY_CONNECTED\t        1\t     0.224\t    26.988%\t    99.518%\t     0.000\t        1
\t                 RESHAPE\t        1\t     0.004\t     0.482%\t   100.000%\t     0.000\t        1

Timings (microseconds): count=50 first=844 curr=830 min=801 max=1001 avg=830.1 std=30
Memory (bytes): count=0
3 nodes observed

INFO: Memory footprint delta from the start of the tool (MB): init=2.5 overall=3.1
"""


# --- Dockerfile.cross, statically ----------------------------------------------------------------
PREDEFINED_ARGS = {"BUILDPLATFORM", "TARGETPLATFORM", "BUILDOS", "BUILDARCH", "TARGETOS", "TARGETARCH",
                   "TARGETVARIANT", "BUILDVARIANT"}


def parse_dockerfile(text: str) -> list[dict]:
    """Instructions with continuation lines joined and heredoc bodies attached (BuildKit syntax)."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        line, i = lines[i], i + 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.endswith("\\"):
            line, i = line[:-1] + " " + lines[i].strip(), i + 1
        keyword, _, rest = line.strip().partition(" ")
        entry = {"op": keyword.upper(), "args": rest.strip(), "heredoc": None}
        marker = re.search(r"<<-?'?\"?(\w+)'?\"?", rest)
        if marker:
            body = []
            while lines[i] != marker.group(1):
                body, i = body + [lines[i]], i + 1
            entry["heredoc"], i = "\n".join(body) + "\n", i + 1
        out.append(entry)
    return out


def _used_args(text: str) -> set[str]:
    return set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", text))


def test_dockerfile_stages_args_and_copies_are_consistent() -> None:
    instructions = parse_dockerfile(cross.DOCKERFILE.read_text())
    assert {i["op"] for i in instructions} <= {"FROM", "ARG", "RUN", "COPY", "WORKDIR", "ENV"}
    global_args: set[str] = set()
    stages: list[str] = []
    stage_args: set[str] = set()
    shell_vars = {"pkgs", "triple", "processor", "flags", "delegate", "needed"}
    for entry in instructions:
        if entry["op"] == "ARG" and not stages:
            global_args.add(entry["args"].split("=")[0])
            continue
        if entry["op"] == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+ )?(\S+) AS (\w+)", entry["args"])
            assert match, entry["args"]
            assert _used_args(entry["args"]) <= global_args | PREDEFINED_ARGS, entry["args"]
            base = match.group(1)
            assert base == "scratch" or base in stages or ":" in base, f"unpinned base image {base}"
            stages.append(match.group(2))
            stage_args = set()
            continue
        assert stages, f"{entry['op']} before the first FROM"
        if entry["op"] == "ARG":
            name = entry["args"].split("=")[0]
            assert name in global_args, f"stage {stages[-1]} declares {name}, which has no pinned default"
            stage_args.add(name)
        elif entry["op"] in ("RUN", "COPY"):
            undeclared = _used_args(entry["args"]) - stage_args - shell_vars
            assert not undeclared, f"stage {stages[-1]} uses {undeclared} without ARG"
        for source in re.findall(r"--from=(\S+)", entry["args"]):
            assert source in stages[:-1], f"COPY --from={source} in {stages[-1]} is not an earlier stage"
    assert {"TENSORFLOW_VERSION", "ARMNN_VERSION", "TARGET_ARCH"} <= global_args
    assert stages[-1] == "export"
    assert instructions[[i for i, e in enumerate(instructions) if e["op"] == "FROM"][-1]]["args"] == "scratch AS export"


def test_the_exported_files_are_what_read_native_expects(tmp_path: Path) -> None:
    instructions = parse_dockerfile(cross.DOCKERFILE.read_text())
    script = next(e["heredoc"] for e in instructions if e["heredoc"] and "edgeq.native/1" in e["heredoc"])
    (tmp_path / "native_manifest.py").write_text(script)
    export = tmp_path / "export"
    for path in (cross.BENCHMARK_MODEL, cross.GPU_DELEGATE, cross.ARMNN_DELEGATE, "lib/libarmnn.so.33"):
        (export / path).parent.mkdir(parents=True, exist_ok=True)
        (export / path).write_bytes(path.encode())
    subprocess.run([sys.executable, str(tmp_path / "native_manifest.py"), str(export), "aarch64"], check=True)
    manifest = cross.read_native(export)
    assert manifest.arch == "aarch64"
    assert {f.path: f.kind for f in manifest.files} == {
        "bin/benchmark_model": "program", "lib/libtensorflowlite_gpu_delegate.so": "library",
        "lib/libarmnnDelegate.so": "library", "lib/libarmnn.so.33": "library"}
    (export / cross.ARMNN_DELEGATE).unlink()
    missing = subprocess.run([sys.executable, str(tmp_path / "native_manifest.py"), str(export), "aarch64"],
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "lib/libarmnnDelegate.so" in missing.stderr


# --- cross build without Docker ------------------------------------------------------------------
def test_cross_build_without_docker_says_so_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker on it
    with pytest.raises(cross.CrossError) as caught:
        cross.cross_build("aarch64", tmp_path / "native")
    assert caught.value.exit_code == EXIT_BAD_INPUT != 0
    message = str(caught.value)
    assert "\n" not in message and "Docker with buildx" in message
    assert not (tmp_path / "native").exists()
    argv = cross.buildx_argv("aarch64", Path("out"), {"TENSORFLOW_VERSION": "2.16.1"})
    assert argv[:5] == ["docker", "buildx", "build", "--platform", "linux/arm64"]
    assert "TARGET_ARCH=aarch64" in argv and "TENSORFLOW_VERSION=2.16.1" in argv
    assert argv[argv.index("--target") + 1] == "export" and "type=local,dest=out" in argv
    with pytest.raises(cross.CrossError, match="Choose from: aarch64, armhf"):
        cross.buildx_argv("mips", Path("out"))


# --- the native manifest -------------------------------------------------------------------------
def write_manifest(root: Path, arch: str) -> Path:
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "manifest.json"):
        rel = path.relative_to(root).as_posix()
        body = path.read_bytes()
        files.append({"path": rel, "kind": "program" if rel.startswith("bin/") else "library", "arch": arch,
                      "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)})
    (root / "manifest.json").write_text(json.dumps({"schema": cross.NATIVE_SCHEMA, "files": files}))
    return root


def _stand_in(tmp_path: Path, arch: str) -> Path:
    (tmp_path / "native" / "lib").mkdir(parents=True)
    (tmp_path / "native" / "lib" / "libtensorflowlite_gpu_delegate.so").write_bytes(b"not really")
    return write_manifest(tmp_path / "native", arch)


def test_wrong_architecture_is_refused_before_upload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = write_board(tmp_path / "boards", "armboard", tmp_path / "work")
    monkeypatch.setenv("EDGEQ_BOARDS", str(record.boards_dir))
    facts = {"arch": "aarch64", "python": {"version": "3.11.2"}, "glibc": "2.36", "numpy": "1.24.2",
             "runtimes": {"ai_edge_litert": "2.3.0", "tflite_runtime": "2.14.0"}}
    native = _stand_in(tmp_path, "armv7l")
    with pytest.raises(ConfigError) as caught:
        build_bundle(load_board("armboard"), facts, [], "/usr/bin/python3", native)
    message = str(caught.value)
    assert "armv7l" in message and "aarch64" in message and "\n" not in message
    good = build_bundle(load_board("armboard"), facts, [], "/usr/bin/python3", write_manifest(native, "aarch64"))
    assert [(f.kind, f.name) for f in good.files] == [("native", "lib/libtensorflowlite_gpu_delegate.so")]
    assert good.deployment != build_bundle(load_board("armboard"), facts, [], "/usr/bin/python3").deployment
    (native / "lib" / "libtensorflowlite_gpu_delegate.so").write_bytes(b"replaced")
    with pytest.raises(ConfigError, match="does not match its sha256"):
        cross.read_native(native)


# --- the benchmark_model parser ------------------------------------------------------------------
def test_parser_reads_summary_loops_and_op_table() -> None:
    parsed = benchmark_model.parse(BENCHMARK_OUTPUT)
    assert parsed["init_ms"] == pytest.approx(5.21) and parsed["session_init_ms"] == pytest.approx(5.21)
    assert parsed["first_inference_ms"] == pytest.approx(1.2)
    assert parsed["warmup_avg_ms"] == pytest.approx(0.993333) and parsed["warmup_runs"] == 3
    assert parsed["inference_avg_ms"] == pytest.approx(0.8405)
    assert parsed["runs"]["count"] == 50 and parsed["runs"]["std"] == pytest.approx(0.035)
    assert parsed["ops"] == [
        {"node_type": "CONV_2D", "count": 1, "avg_ms": 0.602, "percent": 72.53, "times_called": 1},
        {"node_type": "FULLY_CONNECTED", "count": 1, "avg_ms": 0.224, "percent": 26.988, "times_called": 1},
        {"node_type": "RESHAPE", "count": 1, "avg_ms": 0.004, "percent": 0.482, "times_called": 1},
    ]
    entry = benchmark_model.to_result(parsed)
    assert entry["load_ms"] == pytest.approx(5.21) and entry["first_inference_ms"] == pytest.approx(1.2)
    assert entry["stats"]["mean_ms"] == pytest.approx(0.8405) and entry["stats"]["min_ms"] == pytest.approx(0.8)
    assert entry["warmup"]["runs"] == 3


def test_parser_reads_csv_rows_and_refuses_unfinished_output() -> None:
    csv = ("============================== Summary by node type ==============================\n"
           "node type, count, avg_ms, avg %, cdf %, mem KB, times called\n"
           "CONV_2D, 2, 1.5, 75%, 75%, 0, 2\nSOFTMAX, 1, 0.5, 25%, 100%, 0, 1\n")
    assert [r["node_type"] for r in benchmark_model.op_rows(csv.splitlines())] == ["CONV_2D", "SOFTMAX"]
    with pytest.raises(benchmark_model.BenchmarkOutputError, match="Inference timings"):
        benchmark_model.parse(BENCHMARK_OUTPUT.split("INFO: Inference timings")[0])


# --- real aarch64 code on the emulated board -----------------------------------------------------
FAKE_TOOL_C = """\
#include <stdio.h>
#include <string.h>
int edgeq_probe(void);
static const char *OUTPUT = %s;
int main(int argc, char **argv) {
  const char *threads = "?";
  for (int i = 1; i < argc; i++)
    if (strncmp(argv[i], "--num_threads=", 14) == 0) threads = argv[i] + 14;
  printf("INFO: edgeq_probe() = %%d, threads %%s\\n", edgeq_probe(), threads);
  fputs(OUTPUT, stdout);
  return 0;
}
"""


def _cross_compile(out: Path) -> Path:
    gcc = shutil.which("aarch64-linux-gnu-gcc")
    if gcc is None:
        pytest.fail("aarch64-linux-gnu-gcc is missing: apt-get install -y gcc-aarch64-linux-gnu", pytrace=False)
    (out / "lib").mkdir(parents=True)
    (out / "bin").mkdir()
    src = out.parent / "src"
    src.mkdir()
    (src / "probe.c").write_text("int edgeq_probe(void) { return 42; }\n")
    (src / "tool.c").write_text(FAKE_TOOL_C % json.dumps(BENCHMARK_OUTPUT))
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(out / "lib" / "libedgeq_probe.so"), str(src / "probe.c")],
                   check=True)
    subprocess.run([gcc, "-o", str(out / "bin" / "benchmark_model"), str(src / "tool.c"), "-L", str(out / "lib"),
                    "-ledgeq_probe"], check=True)
    return write_manifest(out, "aarch64")


@pytest.mark.emulated
def test_cross_compiled_natives_run_on_the_emulated_board(emulated_board: dict, models: dict[str, Path],
                                                          tmp_path: Path) -> None:
    native = _cross_compile(tmp_path / "native")
    wrong = write_manifest(_stand_in(tmp_path / "x86", "x86_64"), "x86_64")
    board = emulated_board["name"]
    with pytest.raises(ConfigError, match="x86_64.*aarch64"):
        deploy(board, [models["float"]], native=wrong)
    deployed = deploy(board, [models["float"]], native=native)
    assert deployed.native_dir and deployed.native_dir.endswith(f"{deployed.deployment}/native")
    run = profile(models["float"], board=board, backends=["tflite-benchmark"], threads=2, runs=3, warmup=1,
                  runs_dir=tmp_path / "runs", timeout_s=300, native=native)
    entry = run.result["backends"][0]
    assert entry["status"] == "ok", entry.get("reason")
    assert entry["info"]["runtime"] == "benchmark_model" and "--num_threads=2" in entry["info"]["argv"]
    assert entry["load_ms"] == pytest.approx(5.21) and entry["stats"]["count"] == 50
    assert [op["node_type"] for op in entry["ops"]] == ["CONV_2D", "FULLY_CONNECTED", "RESHAPE"]
    # The program ran on the board and found the cross-compiled library through native/lib.
    log = (run.run_dir / entry["log"]).read_text()
    assert "edgeq_probe() = 42, threads 2" in log
