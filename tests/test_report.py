"""`edgeq report` from real run directories, rendered and checked in a real headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import edgeq
from edgeq import zoo
from edgeq.agent.wire import RESULT
from edgeq.errors import ConfigError
from edgeq.profile.run import profile
from edgeq.quantize import Variant, analyze, quantize
from edgeq.quantize.sidecar import file_sha256
from edgeq.report import report
from edgeq.report.data import PALETTE
from edgeq.report.load import Run
from edgeq.report.variants import from_name, identify, sidecar_for
from edgeq.testing.fakesys import FakeSys, FakeVcgencmd

from .conftest import Board, write_board

# 2 models x 4 quantization types x 2 backends that run, plus ArmNN's GpuAcc, which no x86 host
# has: a real failed cell in every run. Three types come from the zoo, dynamic range from
# `edgeq quantize` (ai-edge-quantizer, no TensorFlow). The variants are named as `edgeq quantize`
# names them (int8 has float inputs and outputs there).
MODELS = ("tiny-cnn", "tiny-cnn-fallback")
VARIANTS: dict[str, dict[str, str] | None] = {
    "fp32": {"dtype": "float32"}, "int8": {"dtype": "int8", "io": "float"}, "int8-int8-io": {"dtype": "int8"},
    "dynamic": None,  # made by edgeq quantize
}
WITH_SIDECARS = "tiny-cnn"  # the other model's variants are known by their file names only
BACKENDS = ["tflite-cpu", "armnn:backends=CpuRef", "armnn:backends=GpuAcc"]
FAILING = "armnn:backends=GpuAcc"
REPEATED = ("fp32", "int8")  # profiled twice: 2 models x 2 types x 2 backends that run x 2 runs


def expected_to_fail(variant: str, backend: str) -> bool:
    """GpuAcc has no x86 backend; ArmNN 20.08's parser also refuses ai-edge-quantizer's models."""
    return backend == FAILING or (VARIANTS[variant] is None and backend.startswith("armnn"))

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic", "--hide-scrollbars",
                  "--enable-logging=stderr", "--v=0"]


@pytest.fixture(scope="module")
def module_board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    root = tmp_path_factory.mktemp("report-board")
    record = write_board(root / "boards", "reporthost", root / "work")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGEQ_BOARDS", str(record.boards_dir))
        yield record


@pytest.fixture(scope="module")
def runs_dir(module_board: Board, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real profile per model variant on the local board, two of the REPEATED ones: 12 run directories."""
    root = tmp_path_factory.mktemp("report-runs")
    for model in MODELS:
        source = zoo.build(model, root / "models" / f"{model}.tflite")
        for variant, params in VARIANTS.items():
            if params is None:
                (made,) = quantize(source, [variant], None, root / "models")
                path = made.path
                if model != WITH_SIDECARS:  # known by its file name only, like the zoo ones
                    Path(f"{path}.json").unlink()
            else:
                path = zoo.build(model, root / "models" / f"{model}.{variant}.tflite", **params)
                if model == WITH_SIDECARS:
                    write_sidecar(path, source, params)
            for _ in range(2 if variant in REPEATED else 1):
                profile(path, board=module_board.name, backends=BACKENDS, runs=20, warmup=2, runs_dir=root / "runs")
    return root / "runs"


def write_sidecar(path: Path, source: Path, params: dict[str, str]) -> None:
    """The sidecar `edgeq quantize` would write, saying honestly that the zoo made this variant."""
    mode = "fp32" if params["dtype"] == "float32" else "int8"
    Variant(path, source=str(source), source_sha256=file_sha256(source), mode=mode, engine="edgeq-zoo",
            engine_version=edgeq.__version__, size_bytes=path.stat().st_size,
            float_size_bytes=source.stat().st_size, io=params.get("io", "int8" if mode == "int8" else "float")).write()


def split(name: str) -> tuple[str, str]:
    """(model, variant) of a run's model file name."""
    model, variant = name.rsplit(".", 1)
    return model, variant


def results(runs_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(runs_dir.glob("*/result.json"))]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("headless Chromium is needed to check the HTML report: apt-get install -y chromium", pytrace=False)
    profile_dir = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", *args],
                          capture_output=True, text=True, timeout=120)


class Dom(HTMLParser):
    """The dumped DOM, reduced to what the checks need: boxes, failed chart rows, sections in order, the verdict's
    picks, and table cells by table id."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.bars: list[dict[str, str | None]] = []
        self.failed_rows = 0
        self.sortable_headers = 0
        self.tables: dict[str, list[list[str]]] = {}
        self.sections: list[str] = []
        self.picks: list[dict[str, str | None]] = []
        self.probe: list[str] = []
        self.verdict_models: list[str] = []
        self._model = ""
        self._in_probe = False
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "rect" and found.get("class") == "box":
            self.bars.append(found)
        elif tag == "text" and found.get("class") == "failed":
            self.failed_rows += 1
        elif tag in ("section", "p") and (tag == "section" or found.get("class") == "folded"):
            self.sections.append(found.get("id") or "")
        elif tag == "div" and found.get("class") == "verdict":
            self._model = found.get("data-model") or ""
        elif tag == "li" and found.get("class") == "pick":
            self.picks.append(found)
            self.verdict_models.append(self._model)
        elif tag == "pre" and found.get("id") == "probe":
            self._in_probe = True
        elif tag == "table":
            self._table = found.get("id") or ""
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        if tag == "th" and found.get("title") == "click to sort":  # set by the page's script when it ran
            self.sortable_headers += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "pre":
            self._in_probe = False

    def handle_data(self, data: str) -> None:
        if self._in_probe:
            self.probe.append(data)
        if self._cell is not None:
            self._cell.append(data)


def test_html_report_renders_in_chromium(runs_dir: Path, tmp_path: Path) -> None:
    out = report([runs_dir], tmp_path / "report.html")
    page = out.read_text()
    # Self-contained: nothing to fetch, so it opens offline and from a mail attachment.
    for fetch in ("<link", " src=", "@import", "url(", "http://", "https://"):
        assert fetch not in page, fetch

    dumped = chromium(tmp_path, "--dump-dom", out.as_uri())
    assert dumped.returncode == 0, dumped.stderr
    logged = [line for line in dumped.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not logged, logged
    dom = Dom(dumped.stdout)
    assert dom.sortable_headers > 0, "the page's script did not run"

    entries = [(r, e) for r in results(runs_dir) for e in r["backends"]]
    ok = [(r, e) for r, e in entries if e["status"] == "ok"]
    failed = [(r, e) for r, e in entries if e["status"] != "ok"]
    assert len(results(runs_dir)) == len(MODELS) * (len(VARIANTS) + len(REPEATED))
    expected = [(r, b) for r in results(runs_dir) for b in BACKENDS
                if expected_to_fail(split(r["model"]["name"])[1], b)]
    assert len(ok) == len(entries) - len(expected) and len(failed) == len(expected)
    assert all(expected_to_fail(split(Path(r["model"]["path"]).stem)[1], e["label"]) for r, e in failed)
    # Every measured cell is a box in its model's chart, at its own median; a failed cell is a FAILED row.
    assert len(dom.bars) == len(ok)
    assert all(float(b["width"] or 0) >= 1 for b in dom.bars)
    medians = sorted(float(np.median(e["samples_ns"])) / 1e6 for _, e in ok)
    assert sorted(float(b["data-median-ms"] or 0) for b in dom.bars) == pytest.approx(medians, rel=1e-5)
    assert dom.failed_rows == len(failed)

    latency = dom.tables["latency-table"]
    header, rows = latency[0], latency[1:]
    assert len(rows) == len(entries)
    shown = {(row[header.index("model")], row[header.index("variant")], row[header.index("backend")]) for row in rows}
    assert shown == {(m, v, b) for m in MODELS for v in VARIANTS for b in BACKENDS}
    failed_cells = dom.tables["failed-cells"]
    reasons = {e["reason"] for _, e in failed}
    assert len(failed_cells) - 1 == len(failed)
    assert {row[-1] for row in failed_cells[1:]} == reasons
    columns = failed_cells[0]
    assert all(expected_to_fail(row[columns.index("variant")], row[columns.index("backend")])
               for row in failed_cells[1:])
    assert all("FAILED" in row[header.index("status")] for row in rows if row[header.index("backend")] == FAILING)

    quant = dom.tables["quant-table"]
    sizes = {(row[0], row[1]): row[2] for row in quant[1:]}
    for result in results(runs_dir):
        assert sizes[split(result["model"]["name"])] == f"{result['model']['size_bytes'] / 1024:.1f}"
    assert "No quantization data" in page and "No power data" in page


# Runs after the page's own script, in the page: clicks every header of every sortable table twice and
# records each table's column after each click, as [data-v or null, text] per row; notes where the verdict is.
CLICK_EVERY_HEADER = """
var found = {verdictTop: document.querySelector("section").getBoundingClientRect().top,
             firstSection: document.querySelector("section").id, viewport: window.innerHeight, tables: []};
document.querySelectorAll("table.sortable").forEach(function (table, t) {
  var heads = Array.from(table.tHead.rows[0].cells), clicks = [];
  heads.forEach(function (th, column) {
    [1, 2].forEach(function () {
      th.click();
      clicks.push({column: column, dir: th.dataset.dir || null, values: Array.from(table.tBodies[0].rows).map(
        function (row) { var c = row.cells[column]; return [c.dataset.v === undefined ? null : parseFloat(c.dataset.v),
                                                            c.textContent.trim()]; })});
    });
  });
  found.tables.push({id: table.id, headers: heads.length, rows: table.tBodies[0].rows.length, clicks: clicks});
});
var pre = document.createElement("pre");
pre.id = "probe";
pre.textContent = JSON.stringify(found);
document.body.appendChild(pre);
"""


def probe(page: Path, tmp_path: Path, script: str) -> tuple[dict, list[str], Dom]:
    """Open the report with `script` run after its own; (what the script found, console errors, the DOM)."""
    probed = tmp_path / f"probed-{page.name}"
    probed.write_text(page.read_text().replace("</body>", f"<script>{script}</script></body>"))
    dumped = chromium(tmp_path, "--window-size=1280,900", "--dump-dom", probed.as_uri())
    assert dumped.returncode == 0, dumped.stderr
    errors = [line for line in dumped.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    dom = Dom(dumped.stdout)
    assert dom.probe, "the probe script did not run"
    return json.loads("".join(dom.probe)), errors, dom


def test_every_sortable_header_sorts_its_table(runs_dir: Path, tmp_path: Path) -> None:
    out = report([runs_dir], tmp_path / "report.html")
    found, errors, _ = probe(out, tmp_path, CLICK_EVERY_HEADER)
    assert not errors, errors
    assert len(found["tables"]) >= 5  # repeats, latency, failed cells, quantization, correctness, conditions
    clicked = 0
    for table in found["tables"]:
        assert len(table["clicks"]) == 2 * table["headers"], table["id"]
        for up, down in zip(table["clicks"][::2], table["clicks"][1::2]):
            where = f"{table['id']} column {up['column']}"
            assert (up["dir"], down["dir"]) == ("up", "down"), where
            assert len(up["values"]) == len(down["values"]) == table["rows"], where
            assert sorted(map(str, up["values"])) == sorted(map(str, down["values"])), where  # same rows
            for values, sign in ((up["values"], 1), (down["values"], -1)):
                numbers = [sign * v for v, _ in values if v is not None]
                assert numbers == sorted(numbers), (where, values)
                texts = [text for v, text in values if v is None]
                runs = [t for i, t in enumerate(texts) if i == 0 or texts[i - 1] != t]
                assert len(runs) == len(set(runs)), (where, texts)  # equal texts sit together
            distinct = {str(v) for v in up["values"]}
            if len(distinct) > 1:
                assert up["values"] != down["values"], where  # the rows really reordered
            clicked += 1
    assert clicked > 40


def pooled(runs_dir: Path) -> dict[tuple[str, str, str], tuple[list[np.ndarray], bool | None]]:
    """(model, variant, backend) -> (each run's samples, outputs passed), straight from the result files."""
    found: dict[tuple[str, str, str], tuple[list[np.ndarray], bool | None]] = {}
    for result in results(runs_dir):
        model, variant = split(result["model"]["name"])
        for entry in result["backends"]:
            if entry["status"] != "ok":
                continue
            runs, passed = found.get((model, variant, entry["label"]), ([], True))
            verdict = result["correctness"]["backends"].get(entry["label"])
            ok = None if verdict is None else verdict["passed"]
            runs.append(np.asarray(entry["samples_ns"], dtype=float))
            found[(model, variant, entry["label"])] = (runs, False if False in (ok, passed) else
                                                       None if None in (ok, passed) else True)
    return found


def test_verdict_comes_first_and_matches_the_result_files(runs_dir: Path, tmp_path: Path) -> None:
    out = report([runs_dir], tmp_path / "report.html")
    found, errors, dom = probe(out, tmp_path, CLICK_EVERY_HEADER)
    assert not errors, errors
    assert dom.sections[0] == "verdict" and found["firstSection"] == "verdict"
    assert 0 <= found["verdictTop"] < found["viewport"] / 2  # on the first screen, near its top
    setups = pooled(runs_dir)
    for model in MODELS:
        candidates = sorted(((float(np.median(np.concatenate(runs))), variant, backend)
                             for (m, variant, backend), (runs, passed) in setups.items()
                             if m == model and passed is not False), key=lambda c: c[0])
        (fastest,) = [p for p in dom.picks if p["data-question"] == "fastest" and
                      p["data-setup"] in {f"{b} {v}" for _, v, b in candidates}
                      and _verdict_model(dom, p) == model]
        best, runner = candidates[0], candidates[1]
        assert fastest["data-setup"] == f"{best[2]} {best[1]}"
        assert fastest["data-runner-up"] == f"{runner[2]} {runner[1]}"
        assert float(fastest["data-median-ms"] or 0) == pytest.approx(best[0] / 1e6, rel=1e-6)
        ratio, low, high = (float(fastest[k] or 0) for k in ("data-ratio", "data-ratio-low", "data-ratio-high"))
        assert ratio == pytest.approx(runner[0] / best[0], rel=1e-6)
        assert low <= ratio <= high
    text = report([runs_dir], tmp_path / "report.md").read_text()
    assert text.index("## Verdict") < text.index("## Warnings") < text.index("## Latency")
    assert text.count("- **Fastest**:") == len(MODELS)


def _verdict_model(dom: Dom, pick: dict) -> str:
    """The model of a pick's verdict block: picks come in the order of the models' blocks."""
    return dom.verdict_models[dom.picks.index(pick)]


def test_a_noisy_cell_is_flagged_in_html_markdown_and_csv(runs_dir: Path, tmp_path: Path) -> None:
    """Crafted samples: one cell steady (0.5% spread), one with a stall every third iteration (CV ~ 90%)."""
    from edgeq.agent.timing import summarize

    copied = tmp_path / "runs"
    source = next(p for p in sorted(runs_dir.iterdir()) if p.name.endswith("tiny-cnn.fp32"))
    shutil.copytree(source, copied / source.name)
    file = copied / source.name / "result.json"
    result = json.loads(file.read_text())
    rng = np.random.default_rng(3)
    steady = (1_000_000 * (1 + 0.005 * rng.standard_normal(200))).astype(int).tolist()
    stalls = [s * 4 if i % 3 == 0 else s for i, s in enumerate(steady)]
    crafted = {"tflite-cpu": steady, "armnn:backends=CpuRef": stalls}
    for entry in result["backends"]:
        if entry["label"] in crafted:
            entry["samples_ns"] = crafted[entry["label"]]
            entry["stats"] = summarize(crafted[entry["label"]])
    file.write_text(json.dumps(result))

    page = report([copied], tmp_path / "report.html").read_text()
    rows = {r[3]: r for r in Dom(page).tables["latency-table"][1:]}
    header = Dom(page).tables["latency-table"][0]
    noise, cv = header.index("noise"), header.index("CV")
    assert rows["armnn:backends=CpuRef"][noise].startswith("NOISY: CV ")
    assert rows["tflite-cpu"][noise] == "steady"
    assert rows["armnn:backends=CpuRef"][cv].endswith("%") and float(rows["armnn:backends=CpuRef"][cv][:-1]) > 25
    assert '<li class="noisy">' in page and "1 of 3 cells noisy" in page and "⚠ noisy" in page

    text = report([copied], tmp_path / "report.md").read_text()
    (line,) = [ln for ln in text.splitlines() if ln.startswith("| reporthost") and "armnn:backends=CpuRef" in ln
               and " ok " in ln]
    assert "NOISY: CV " in line and "**noisy**: 1 of 3 cells noisy" in text
    assert not any("NOISY" in ln for ln in text.splitlines() if "| tflite-cpu |" in ln)

    from edgeq.report.terminal import profile_table

    printed = profile_table(result)  # what `edgeq profile` prints for this run
    assert "\nNoisy (CV over 25%" in printed and "  armnn:backends=CpuRef: CV " in printed
    assert "NOISY" in next(ln for ln in printed.splitlines() if ln.startswith("armnn:backends=CpuRef"))
    assert "NOISY" not in next(ln for ln in printed.splitlines() if ln.startswith("tflite-cpu "))

    csv_rows = {r["backend"]: r for r in csv.DictReader(io.StringIO(report([copied], tmp_path / "r.csv").read_text()))}
    assert csv_rows["armnn:backends=CpuRef"]["noisy"] == "True" and "CV" in csv_rows["armnn:backends=CpuRef"]["noise"]
    assert csv_rows["tflite-cpu"]["noisy"] == "False" and csv_rows["tflite-cpu"]["noise"] == ""
    assert float(csv_rows["armnn:backends=CpuRef"]["cv_percent"]) == pytest.approx(
        100 * float(np.std(stalls, ddof=1) / np.mean(stalls)))
    assert csv_rows["tflite-cpu"]["p50"].endswith(" ms") and float(csv_rows["tflite-cpu"]["p50_ms"]) == pytest.approx(
        np.median(steady) / 1e6)


def test_charts_are_drawn_in_the_screenshot(runs_dir: Path, tmp_path: Path) -> None:
    Image = _pillow()
    out = report([runs_dir], tmp_path / "report.html")
    shot = tmp_path / "report.png"
    ran = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,4000", out.as_uri())
    assert ran.returncode == 0 and shot.exists(), ran.stderr
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    # The bars are filled with the report's variant colours: find them, then look at the region they span.
    colours = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in PALETTE[:len(VARIANTS)]]
    for colour in colours:
        hits = np.all(np.abs(pixels - np.array(colour)) <= 3, axis=2)
        assert hits.sum() > 200, f"no bar drawn in {colour}"
    painted = np.any([np.all(np.abs(pixels - np.array(c)) <= 3, axis=2) for c in colours], axis=0)
    rows, cols = np.nonzero(painted)
    region = pixels[rows.min():rows.max() + 1, cols.min():cols.max() + 1].mean(axis=2)
    assert region.shape[0] > 100 and region.shape[1] > 50
    assert region.std() > 30, "the chart region is blank"


def _pillow() -> ModuleType:
    try:
        from PIL import Image
    except ImportError:
        pytest.fail("Pillow reads the report's screenshot: pip install pillow (it is in edgeq[dev])", pytrace=False)
    return Image


def test_markdown_csv_and_json_hold_the_same_cells(runs_dir: Path, tmp_path: Path) -> None:
    entries = {(r["run_id"], e["label"]): (r, e) for r in results(runs_dir) for e in r["backends"]}
    rows = list(csv.DictReader(io.StringIO(report([runs_dir], tmp_path / "r.csv").read_text())))
    assert len(rows) == len(entries)
    nested = report([runs_dir.parent], tmp_path / "nested.csv").read_text()  # runs found in subfolders too
    assert len(list(csv.DictReader(io.StringIO(nested)))) == len(entries)
    assert {(r["board"], r["model"], r["variant"], r["backend"], r["threads"]) for r in rows} == {
        ("reporthost", m, v, b, "1") for m in MODELS for v in VARIANTS for b in BACKENDS}
    for row in rows:
        result, entry = entries[(row["run_id"], row["backend"])]
        assert result["model"]["name"] == f"{row['model']}.{row['variant']}"
        assert row["status"] == entry["status"]
        if entry["status"] == "ok":
            assert float(row["p50_ms"]) == pytest.approx(entry["stats"]["p50_ms"])
            assert float(row["p10_ms"]) <= float(row["p50_ms"]) <= float(row["p90_ms"])
        else:
            assert row["p50_ms"] == "" and row["reason"] == entry["reason"]

    document = json.loads(report([runs_dir], tmp_path / "r.json").read_text())
    assert document["schema"] == "edgeq.report/1"
    assert len(document["cells"]) == len(entries)
    failed = [c for c in document["cells"] if c["status"] != "ok"]
    assert failed and all(c["latency_ms"] is None and expected_to_fail(c["variant"], c["backend"]) for c in failed)
    assert {v["model"] for v in document["verdicts"]} == set(MODELS)
    for verdict in document["verdicts"]:
        fastest = verdict["picks"][0]
        assert fastest["question"] == "fastest" and fastest["ci_ms"][0] <= fastest["median_ms"] <= fastest["ci_ms"][1]

    text = report([runs_dir], tmp_path / "r.md").read_text()
    assert "## Warnings" in text and "FAILED (unavailable)" in text and "No power data" in text
    assert all(f"| {model} |" in text for model in MODELS)


def test_analysis_table_fills_the_quantization_section_and_tradeoffs(runs_dir: Path, tmp_path: Path) -> None:
    """`edgeq analyze --format json` of the sidecar'd variants, saved as analysis.json beside the runs."""
    copied = tmp_path / "runs"
    shutil.copytree(runs_dir, copied)
    paths = [Path(r["model"]["path"]) for r in results(copied) if r["model"]["name"].startswith(f"{WITH_SIDECARS}.")]
    table = json.loads(analyze(sorted(set(paths))).to_json())
    (copied / "analysis.json").write_text(json.dumps(table))
    assert table["accuracy_kind"] == "top1_agreement"
    page = report([copied], tmp_path / "report.html").read_text()
    quant = Dom(page).tables["quant-table"][1:]
    for row in table["rows"]:  # int8 with float and with int8 inputs share a name; their sizes differ
        variant = "fp32" if row["quantization"] == "no quantization" else row["quantization"]
        (shown,) = [q for q in quant if (q[0], q[2]) == (row["model"], f"{row['size_kb']:.1f}") and
                    q[1].startswith(variant)]
        assert shown[5] == f"{row['accuracy']:.4f}"
        assert shown[6] == ("inf" if row["sqnr_db"] == "inf" else f"{row['sqnr_db']:.1f}")
        assert "analysis.json" in shown[7]
    assert [q[5] for q in quant if q[0] != WITH_SIDECARS] == ["—"] * len(VARIANTS)  # in no analysis table
    assert "No quantization data" not in page
    # The verdict's accuracy budget (default 1 point): its pick is within 1 point of the best agreement shown.
    dom = Dom(page)
    (budget,) = [p for p, m in zip(dom.picks, dom.verdict_models) if m == WITH_SIDECARS
                 and str(p["data-question"]).startswith("best within 1 point")]
    agreement: dict[str, float] = {}
    for q in quant:  # the two int8 variants share a name here: the better one counts
        if q[0] == WITH_SIDECARS and q[5] != "—":
            agreement[q[1]] = max(agreement.get(q[1], 0.0), float(q[5]))
    picked = str(budget["data-setup"]).split(" ")[-1]
    assert agreement[picked] >= max(agreement.values()) - 0.01
    assert [m for p, m in zip(dom.picks, dom.verdict_models) if p["data-question"] == "fastest"] == list(MODELS)
    ok = sum(e["status"] == "ok" for r in results(copied) if split(r["model"]["name"])[0] == WITH_SIDECARS
             for e in r["backends"])
    assert page.count('class="point"') == ok + len(table["rows"])  # one per measured cell, one per analysed size

    # The same table given by name, from anywhere, instead of found.
    (copied / "analysis.json").rename(tmp_path / "table.json")
    page = report([copied, tmp_path / "table.json"], tmp_path / "again.html").read_text()
    assert "No quantization data" not in page


def test_sidecar_names_the_model_and_variant(tmp_path: Path) -> None:
    """A variant file with an unhelpful name is still placed by what its sidecar says."""
    source = zoo.build("tiny-cnn", tmp_path / "digits.tflite")
    path = zoo.build("tiny-cnn", tmp_path / "upload-3.tflite", dtype="int8")
    write_sidecar(path, source, {"dtype": "int8", "io": "float"})
    run = Run(tmp_path, {"schema": RESULT.tag, "model": {"name": path.stem, "path": str(path)}})
    assert from_name(path.stem) == ("upload-3", "?")
    assert identify(run, sidecar_for(run)) == ("digits", "int8")


def test_energy_temperatures_and_throttling_reach_the_report(models: dict[str, Path], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A Raspberry Pi 5's PMIC and throttle state (fake vcgencmd) and a thermal zone (fake sysfs), for real."""
    vcgencmd = FakeVcgencmd(tmp_path / "bin")
    vcgencmd.set(throttled=0x50005)  # under-voltage and throttled now: the latency was taken slowed down
    monkeypatch.setenv("PATH", vcgencmd.path())
    record = write_board(tmp_path / "boards", "pi-like", tmp_path / "board-work")
    yaml = record.boards_dir / "pi-like.yaml"
    yaml.write_text(yaml.read_text() + "power: {source: rpi5-pmic}\n")
    monkeypatch.setenv("EDGEQ_BOARDS", str(record.boards_dir))
    with FakeSys(tmp_path / "sys") as tree:
        tree.thermal_zone("cpu-thermal", 51.0)
        tree.cpufreq_policy(cur_khz=1_500_000, min_khz=600_000, max_khz=2_400_000, governor="ondemand")
        run = profile(models["float"], board="pi-like", backends=["tflite-cpu"], runs=20, warmup=2,
                      min_seconds=0.2, telemetry_root=str(tree.root), runs_dir=tmp_path / "runs")
    energy = run.result["backends"][0]["telemetry"]["energy"]
    page = report([run.run_dir], tmp_path / "report.html").read_text()
    dom = Dom(page)
    header, row = dom.tables["energy-table"]
    assert row[header.index("energy mJ / inference (total)")] == f"{energy['energy_mj_per_inference']:.3f}"
    assert row[header.index("average power W (measured runs)")] == f"{energy['avg_power_w']:.3f}"
    assert row[header.index("idle power W")] == f"{energy['idle_power_w']:.3f}"
    assert "No power data" not in page
    conditions = dict(dom.tables["conditions-0"][1:])
    assert conditions["power source"] == "rpi5-pmic"
    assert conditions["temperatures"].startswith("thermal_zone0: 51.0 → 51.0 °C")
    assert "throttled: YES" in conditions["throttling"] and conditions["governor"] == "ondemand"
    assert '<li class="throttled">' in page and "measured while throttled" in page


@pytest.mark.parametrize("damage, message", [
    ("empty-folder", "no run directory here"),
    ("empty-file", "empty result file"),
    ("truncated", "damaged result, not valid JSON"),
    ("newer", "schema 'edgeq.result/9' is newer than this edgeq reads"),
    ("foreign", "is not an edgeq result"),
    ("no-result", "missing"),
    ("no-backends", "'backends' is missing"),
])
def test_unreadable_runs_give_one_line_naming_the_file(damage: str, message: str, runs_dir: Path,
                                                        tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    folder.mkdir()
    run = folder / "run-1"
    if damage != "empty-folder":
        shutil.copytree(next(p for p in runs_dir.iterdir() if p.is_dir()), run)
    file = run / "result.json"
    result = json.loads(file.read_text()) if file.exists() else {}
    if damage == "empty-file":
        file.write_text("")
    elif damage == "truncated":
        file.write_text(file.read_text()[:200])
    elif damage in ("newer", "foreign"):
        file.write_text(json.dumps({**result, "schema": "edgeq.result/9" if damage == "newer" else "other/1"}))
    elif damage == "no-result":
        file.unlink()
    elif damage == "no-backends":
        file.write_text(json.dumps({k: v for k, v in result.items() if k != "backends"}))
    with pytest.raises(ConfigError) as caught:
        report([folder], tmp_path / "report.html")
    text = str(caught.value)
    assert message in text and "\n" not in text
    assert str(folder if damage == "empty-folder" else file) in text
    assert not (tmp_path / "report.html").exists()


def test_unknown_format_lists_the_known_ones(runs_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Choose from: csv, html, json, md"):
        report([runs_dir], tmp_path / "r.pdf", "pdf")
