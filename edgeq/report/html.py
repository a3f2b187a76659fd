"""The HTML report: one self-contained file, to open offline, attach to a CI run or mail.

Everything is inline: CSS, SVG charts drawn in Python, and a short script that
only sorts tables when a header is clicked. Nothing is fetched, so the page looks
the same on an air-gapped machine as on the build server.
"""

from __future__ import annotations

import time
from html import escape

from . import formats
from .charts import Point, latency_panels, no_data, scatter
from .data import ReportData
from .tables import (
    NONE,
    Table,
    conditions_tables,
    correctness_table,
    energy_table,
    failed_table,
    latency_table,
    layers_table,
    quant_table,
)

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1320px; padding: 0 16px; color: #222; }
h1 { margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 2px solid #ddd; padding-bottom: 4px; }
.meta { color: #666; } .meta code { font-size: 12px; }
ul.warnings { list-style: none; padding: 0; }
ul.warnings li { padding: 6px 10px; margin: 4px 0; border-left: 5px solid #e6a700; background: #fff8e1; }
ul.warnings li.failed, ul.warnings li.mismatch { border-color: #c0392b; background: #fdecea; }
ul.warnings li.emulated, ul.warnings li.throttled { border-color: #8e44ad; background: #f4ecf7; }
.ok { color: #1e7b34; } .none { color: #777; font-style: italic; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; cursor: pointer; white-space: nowrap; }
tr.failed td { background: #fdecea; } tr.mismatch td { background: #fff3cd; }
#latency-table td, #failed-cells td:not(:last-child), td:nth-child(-n+4) { white-space: nowrap; }
p.runs { color: #555; font-weight: 600; margin-bottom: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 8px 0 20px; } figcaption { font-weight: 600; margin-bottom: 4px; }
"""

SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, column) {
  th.title = "click to sort";
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0], up = th.dataset.dir !== "up";
    th.dataset.dir = up ? "up" : "down";
    var value = function (row) { var t = row.cells[column].textContent, n = parseFloat(t); return isNaN(n) ? t : n; };
    Array.from(body.rows).sort(function (a, b) {
      var x = value(a), y = value(b);
      var order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return up ? order : -order;
    }).forEach(function (row) { body.appendChild(row); });
  });
});
"""


@formats.register("html", "html")
def render(data: ReportData) -> str:
    models = sorted({c.model for c in data.cells})
    title = f"edgeq report: {', '.join(models)} on {', '.join(data.boards)}"
    sections = [_warnings(data), _latency(data), _quantization(data), _energy(data), _tradeoffs(data),
                _correctness(data), _conditions(data)]
    runs = "".join(f"<li><code>{escape(str(r.path))}</code></li>" for r in data.runs)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width"><style>{CSS}</style></head><body>'
            f'<h1>edgeq report</h1><p class="meta">{len(data.runs)} runs, {len(data.cells)} cells on '
            f'{escape(", ".join(data.boards))}; generated {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}</p>'
            f'<details class="meta"><summary>run directories</summary><ul>{runs}</ul></details>'
            + "".join(sections) + f"<script>{SCRIPT}</script></body></html>\n")


def table_html(table: Table, table_id: str = "", numbers: bool = True) -> str:
    """A sortable table; with `numbers`, numeric cells are right-aligned for comparing by eye."""
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    rows = []
    for index, row in enumerate(table.rows):
        kind = table.kinds[index] if index < len(table.kinds) else ""
        cells = "".join(_td(v, numbers) for v in row)
        rows.append(f'<tr class="{kind}">{cells}</tr>' if kind else f"<tr>{cells}</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return (f'<div class="scroll"><table class="sortable"{ident}><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _td(value: str, numbers: bool) -> str:
    kind = "none" if value == NONE else "num" if numbers and _starts_with_number(value) else ""
    return f'<td class="{kind}">{escape(value)}</td>' if kind else f"<td>{escape(value)}</td>"


def _starts_with_number(value: str) -> bool:
    """`0.31`, `0.30–0.38`, `3.24×` and `0.33 ± 0.04` align right; names and reasons stay left."""
    try:
        float(value.split("–")[0].split(" ")[0].rstrip("×"))
    except ValueError:
        return False
    return True


def _section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}"><h2>{escape(title)}</h2>{body}</section>'


def _none(text: str) -> str:
    return f'<p class="none">{escape(text)}</p>'


def _warnings(data: ReportData) -> str:
    items = "".join(f'<li class="{w.kind}">{escape(w.text)}</li>' for w in data.warnings)
    body = f'<ul class="warnings">{items}</ul>' if items else '<p class="ok">No warnings: every cell ran.</p>'
    if data.failed:
        body += f"<h3>Failed cells ({len(data.failed)})</h3>" + table_html(failed_table(data), "failed-cells")
    return _section("warnings", "Warnings", body)


def _latency(data: ReportData) -> str:
    parts = []
    for board in data.boards:
        cells = [c for c in data.cells if c.board == board]
        parts.append(f"<h3>{escape(board)}</h3>")
        parts += [f'<figure class="panel"><figcaption>{escape(title)}</figcaption>{svg}</figure>'
                  for title, svg in latency_panels(cells, data.colors)]
    parts.append("<h3>All cells</h3>" + table_html(latency_table(data), "latency-table"))
    return _section("latency", "Latency", "".join(parts))


def _quantization(data: ReportData) -> str:
    note = "" if data.has_quant_metrics else _none(
        "No quantization data: no analysis table (edgeq analyze --format json, given to edgeq report or saved as "
        "analysis.json beside the runs or the models) was found, so accuracy, agreement and SQNR are not known; "
        "sizes come from the runs.")
    return _section("quantization", "Quantization analysis", note + table_html(quant_table(data), "quant-table"))


def _energy(data: ReportData) -> str:
    table = energy_table(data)
    body = table_html(table, "energy-table") if table else _none(
        "No power data: the boards of these runs recorded no power readings (name a power source in the "
        "board record to measure energy per inference and average power).")
    return _section("energy", "Energy", body)


def _tradeoffs(data: ReportData) -> str:
    by_latency = [Point(lat.p50, acc[1], c.variant, f"{c.model} {c.variant} {c.backend}: {acc[0]} {acc[1]:.4f}, "
                        f"p50 {lat.p50:.4g} ms", acc[0] == "agreement")
                  for c, lat, acc in ((c, c.latency(), c.accuracy()) for c in data.cells) if lat and acc]
    by_size = [Point(r.size_bytes / 1024, score[1], r.variant, f"{r.model} {r.variant}: {r.size_bytes / 1024:.1f} KB, "
                     f"{score[0]} {score[1]:.4f}", score[0] == "agreement")
               for r, score in ((r, r.score()) for r in data.quant) if r.size_bytes and score]
    why = "no data: no accuracy or agreement figures in these runs or in an analysis table"
    figures = [
        ("Accuracy vs latency", scatter(by_latency, "p50 latency, ms", "accuracy / agreement", data.colors)
         if by_latency else no_data(why)),
        ("Accuracy vs size", scatter(by_size, "model size, KB", "accuracy / agreement", data.colors, log_x=False)
         if by_size else no_data(why)),
    ]
    body = "".join(f'<figure class="panel"><figcaption>{t}</figcaption>{svg}</figure>' for t, svg in figures)
    return _section("tradeoffs", "Trade-offs", body + '<p class="meta">Filled: accuracy on labelled data; '
                    'hollow: top-1 agreement with the float model. Hover a point for its cell.</p>')


def _correctness(data: ReportData) -> str:
    checked = any(c.passed() is not None for c in data.cells)
    note = "" if checked else _none("No output checks in these runs: each backend's status is shown.")
    layers = layers_table(data)
    slowest = "<h3>Slowest layers</h3>" + table_html(layers, "layers-table") if layers else ""
    return _section("correctness", "Correctness and coverage",
                    note + table_html(correctness_table(data), "correctness-table") + slowest)


def _conditions(data: ReportData) -> str:
    parts = [f'<p class="runs">{escape(runs)}</p>' + table_html(table, f"conditions-{index}", numbers=False)
             for index, (runs, table) in enumerate(conditions_tables(data))]
    return _section("conditions", "Conditions", "".join(parts))

