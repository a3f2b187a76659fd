"""The host-board contract is defined once (edgeq/agent/wire.py, records.py) and read the same on both sides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgeq.agent import records, wire

PACKAGE = Path(__file__).resolve().parent.parent / "edgeq"
CONTRACT = {PACKAGE / "agent" / "wire.py", PACKAGE / "agent" / "records.py"}


def _sources() -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py")) if p not in CONTRACT]


def test_every_schema_string_is_spelled_only_in_wire() -> None:
    found = [f"{p.relative_to(PACKAGE)}: {m.group(0)}" for p, text in _sources()
             for m in re.finditer(r"edgeq\.[a-z][a-z-]*/[0-9]+", text)]
    assert found == []
    tags = [s.tag for s in vars(wire).values() if isinstance(s, wire.Schema)]
    assert len(tags) == len(set(tags)) >= 10


@pytest.mark.parametrize("spelling", ['"deploy.lock"', '"deployments"', '"../../models', '"agent.claim"',
                                      '"agent.pid"', '"/phase"', '"work/phase"', '"venv", "bin"'])
def test_board_paths_are_spelled_only_in_wire(spelling: str) -> None:
    assert [str(p.relative_to(PACKAGE)) for p, text in _sources() if spelling in text] == []


@pytest.mark.parametrize("words", ['"deploy", "begin"', '"deploy", "commit"', '"deploy", "release"', '["facts"',
                                   '"profile", "--detach"', '"--warm-idle"'])
def test_only_the_agent_client_writes_agent_command_lines(words: str) -> None:
    found = [str(p.relative_to(PACKAGE)) for p, text in _sources()
             if words in text and p.parent.name != "agent" and p.name != "client.py"]
    assert found == []


def test_agent_exit_codes_are_wires() -> None:
    from edgeq.agent import cli
    from edgeq.link import client

    assert (cli.EXIT_OK, cli.EXIT_BAD_JOB, cli.EXIT_FAILED) == (wire.EXIT_OK, wire.EXIT_BAD_JOB, wire.EXIT_FAILED)
    assert client.EXIT_BAD_JOB is wire.EXIT_BAD_JOB
    assert len({wire.EXIT_OK, wire.EXIT_BAD_JOB, wire.EXIT_FAILED}) == 3


@pytest.mark.parametrize("found, message", [
    ("edgeq.result/1", None),
    ("edgeq.result/9", "schema 'edgeq.result/9' is newer than this edgeq reads ('edgeq.result/1'); upgrade edgeq"),
    ("edgeq.job/1", "schema 'edgeq.job/1' is not an edgeq result (expected 'edgeq.result/1')"),
    ("edgeq.result/x", "unknown schema version 'edgeq.result/x'"),
    (None, "no schema version (expected 'edgeq.result/1'); not an edgeq result"),
])
def test_a_schema_reads_its_versions_and_refuses_others(found: object, message: str | None) -> None:
    if message is None:
        assert wire.RESULT.check(found) == 1
        return
    with pytest.raises(wire.SchemaError) as caught:
        wire.RESULT.check(found)
    assert message in str(caught.value)


def test_an_older_version_is_still_read() -> None:
    newer = wire.Schema("edgeq.result", 2, "an edgeq result")
    assert newer.check("edgeq.result/1") == 1 and newer.check("edgeq.result/2") == 2
    assert wire.Schema("edgeq.result", 3, "x", oldest=2).check("edgeq.result/2") == 2
    with pytest.raises(wire.SchemaError):
        wire.Schema("edgeq.result", 3, "x", oldest=2).check("edgeq.result/1")


def test_the_phase_record_is_what_the_agent_writes_and_the_host_reads() -> None:
    stem = wire.stem(1, "armnn:backends=CpuRef")
    assert stem == "01-armnn_backends_CpuRef"
    phase = wire.Phase.parse(wire.Phase(stem, "measuring").line())
    assert phase == wire.Phase(stem, "measuring")
    assert (phase.index, phase.label, phase.phase) == (1, "armnn_backends_CpuRef", "measuring")
    assert wire.Phase.parse("") is None and wire.Phase.parse("garbage") is None


def test_layout_places_a_job_two_levels_below_the_models() -> None:
    layout = wire.Layout("/w")
    run = layout.run("r1")
    model = wire.Layout.model_from_run("m.tflite")
    import posixpath

    assert posixpath.normpath(posixpath.join(run, model)) == layout.model("m.tflite")
    assert layout.venv_python("d") == "/w/deployments/d/venv/bin/python"
    assert layout.native("d") == "/w/deployments/d/native" and layout.lock == "/w/deploy.lock"


def test_a_job_survives_the_round_trip_and_refuses_a_newer_schema() -> None:
    job = records.Job(model="../../models/m.tflite", backends=[records.BackendRequest("armnn", {"x": 1}, "a")],
                      cores=[0, 1], native_dir="/n")
    data = job.to_dict()
    assert data["schema"] == wire.JOB.tag and records.Job.from_dict(data) == job
    with pytest.raises(wire.SchemaError):
        records.Job.from_dict(dict(data, schema="edgeq.job/2"))


def test_a_result_keeps_every_key_through_the_typed_record() -> None:
    entry = {"backend": "tflite-cpu", "label": "tflite-cpu", "options": {}, "process": "fork", "status": "ok",
             "stats": {"p50_ms": 1.0}, "outputs": "00-tflite-cpu.npz", "log": "logs/00-tflite-cpu.log"}
    data = {"schema": wire.RESULT.tag, "agent_version": "0.1.0", "settings": {"threads": 1}, "facts": {},
            "backends": [entry], "telemetry": None, "run_id": "r", "board": {"name": "b"}, "model": {"name": "m"},
            "warnings": [], "future_section": {"kept": True}}
    result = records.Result.from_dict(data)
    assert result.ok and result.backends[0].stats == {"p50_ms": 1.0}
    again = result.to_dict()
    assert {k: v for k, v in again.items() if k in data} == data


# --- the house: small modules, imports one way ---------------------------------------------

def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _imports() -> dict[str, set[str]]:
    """Module -> the edgeq modules it imports, at the top or inside a function alike."""
    import ast

    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
            graph[name] |= {t for t in targets if t in paths and t != name}
    return graph


def test_no_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def test_no_import_cycle() -> None:
    """A registry package importing its own implementations (transport, rules) is the plug-in
    pattern, not a cycle; every other loop is."""
    graph = {m: {t for t in targets if not t.startswith(m + ".")} for m, targets in _imports().items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                cycles.append(sorted(part))

    for node in graph:
        if node not in index:
            visit(node)
    assert cycles == []


def test_the_agent_imports_nothing_from_the_host() -> None:
    host = {m: sorted(t for t in targets if not t.startswith("edgeq.agent"))
            for m, targets in _imports().items() if m.startswith("edgeq.agent")}
    assert {m: t for m, t in host.items() if t} == {}


def test_the_host_imports_only_the_contract_from_the_agent() -> None:
    contract = {"edgeq.agent", "edgeq.agent.wire", "edgeq.agent.records", "edgeq.agent.sections"}
    reaching = {m: sorted(t for t in targets if t.startswith("edgeq.agent") and t not in contract)
                for m, targets in _imports().items() if not m.startswith("edgeq.agent")}
    assert {m: t for m, t in reaching.items() if t} == {}


def test_the_backend_catalog_matches_the_agent_registry() -> None:
    """wire.BACKEND_OPTIONS is what the host checks; every registered backend is in it and vice versa,
    and tflite-cpu's runtime= choices are the interpreter's own preference list plus auto."""
    from edgeq.agent import backends, wire
    from edgeq.agent.backends.tflite_interpreter import RUNTIMES

    assert sorted(wire.BACKEND_OPTIONS) == backends.names()
    assert wire.TFLITE_RUNTIMES == ("auto", *RUNTIMES)
    assert backends.check("tflite-cpu", {"xnnpack": "maybe"}) == wire.backend_problem("tflite-cpu", {"xnnpack": "maybe"})
    assert "expected one of true, false" in wire.backend_problem("tflite-cpu", {"xnnpack": "maybe"})
    assert wire.backend_problem("armnn", {"backends": ["CpuAcc", "CpuRef"]}) is None


# Keys only result.json has (records.Result/BackendResult and agent/sections.py spell them); report/'s and
# advise/'s own structures use none of them, so a subscript or .get() with one is a raw result read.
RESULT_ONLY_KEYS = {
    "samples_ns", "stats", "coverage", "fallback_ops", "fully_delegated", "info", "peak_rss_kb", "load_ms",
    "first_inference_ms", "armnn_backends", "runtime_version", "correctness", "telemetry", "settings", "facts",
    "cpufreq", "thermal", "throttling", "energy_mj_per_inference", "top1_agree", "bit_exact", "thresholds",
    "median_us", "started_utc",
}
REPORT_ONLY_KEYS = {"backends", "warnings", "board"}
"""Also result.json's, and used as keys by advise's own cache and answer, so checked in report/ only
("model" is everywhere: analysis rows, file-name matches)."""
LOADER = PACKAGE / "report" / "load.py"  # reads result.json and checks its shape before anything is typed


def _raw_result_reads(source: str, keys: set[str]) -> list[str]:
    """`x.result` (a Run's or ProfileRun's raw dict), `x.more` (a record's untyped rest), and `x["key"]`
    or `x.get("key")` for a result-only key: each a line number and what it reads."""
    import ast

    def options(holder: ast.expr) -> bool:  # a backend's options (wire's catalog), e.g. armnn's "backends"
        return (isinstance(holder, ast.Attribute) and holder.attr == "options"
                or isinstance(holder, ast.Name) and holder.id == "options")

    found = []
    for node in ast.walk(ast.parse(source)):
        key = None
        if isinstance(node, ast.Attribute) and node.attr in ("result", "more") and isinstance(node.ctx, ast.Load):
            found.append((node.lineno, f".{node.attr}"))
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and not options(node.value):
            key = node.slice.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                and node.args and isinstance(node.args[0], ast.Constant) and not options(node.func.value):
            key = node.args[0].value
        if isinstance(key, str) and key in keys:
            found.append((node.lineno, f"[{key!r}]"))
    return [f"{line}: {what}" for line, what in sorted(found)]


def test_the_scan_finds_raw_result_reads() -> None:
    planted = ('def f(run, cell, entry):\n    a = run.result["backends"]\n    b = entry.get("samples_ns")\n'
               '    c = cell.entry.more\n    d = entry["stats"]["p50_ms"]\n    e = row["verdict"]\n'
               '    f = cell.entry.options.get("backends")\n    g = options["backends"]\n')
    assert _raw_result_reads(planted, RESULT_ONLY_KEYS | REPORT_ONLY_KEYS) == [
        "2: .result", "2: ['backends']", "3: ['samples_ns']", "4: .more", "5: ['stats']"]


@pytest.mark.parametrize("package, keys", [("report", RESULT_ONLY_KEYS | REPORT_ONLY_KEYS),
                                           ("advise", RESULT_ONLY_KEYS)])
def test_report_and_advise_read_results_only_through_the_typed_record(package: str, keys: set[str]) -> None:
    """Issue 14: the shape of result.json is agreed in records.py and sections.py; report/ and advise/ read
    records.Result (Run.record, ProfileRun.record), never the dict, so a renamed key breaks in one place."""
    found = {str(p.relative_to(PACKAGE)): reads for p in sorted((PACKAGE / package).rglob("*.py")) if p != LOADER
             for reads in [_raw_result_reads(p.read_text(encoding="utf-8"), keys)] if reads}
    assert found == {}


HOST_WRITERS = ("profile/run.py", "profile/correctness.py")


@pytest.mark.parametrize("module", HOST_WRITERS)
def test_the_hosts_writers_make_results_only_through_the_typed_record(module: str) -> None:
    """Issue 14, the writing side: profile/run.py turns the pulled result into a records.Result and writes its
    to_dict; correctness.py builds its section as a sections.Correctness. Neither subscripts a result key."""
    assert _raw_result_reads((PACKAGE / module).read_text(encoding="utf-8"), RESULT_ONLY_KEYS | REPORT_ONLY_KEYS) == []
