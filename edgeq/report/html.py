"""The HTML report: one self-contained file, to open offline, attach to a CI run or mail.

Everything is inline: CSS, SVG charts drawn in Python, and a short script that
only sorts tables when a header is clicked. Nothing is fetched, so the page looks
the same on an air-gapped machine as on the build server.
"""

from __future__ import annotations

import time
from html import escape

from . import formats
from .charts import Point, scatter
from .data import ReportData
from .distribution import distribution_chart, layers_chart
from .tables import (
    NONE,
    Table,
    conditions_tables,
    correctness_table,
    energy_table,
    failed_table,
    latency_table,
    quant_table,
    repeats_table,
)
from .units import duration, sort_value

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1320px; padding: 0 16px; color: #222; }
h1 { margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 2px solid #ddd; padding-bottom: 4px; }
.meta { color: #666; } .meta code { font-size: 12px; }
ul.warnings { list-style: none; padding: 0; }
ul.warnings li { padding: 6px 10px; margin: 4px 0; border-left: 5px solid #e6a700; background: #fff8e1; }
ul.warnings li.failed, ul.warnings li.mismatch { border-color: #c0392b; background: #fdecea; }
ul.warnings li.emulated, ul.warnings li.throttled { border-color: #8e44ad; background: #f4ecf7; }
ul.warnings li.noisy { border-color: #b35900; background: #fff4e5; }
section#verdict { border: 2px solid #1e7b34; border-radius: 6px; padding: 4px 16px 8px; margin-top: 16px; }
section#verdict h2 { border: none; margin-top: 8px; } .verdict h3 { margin: 10px 0 4px; }
.verdict ul { margin: 4px 0; padding-left: 20px; } .verdict li.pick { margin: 3px 0; }
.verdict p.note { color: #666; margin: 2px 0 6px; font-size: 13px; }
p.folded { color: #555; margin: 14px 0; border-top: 1px solid #eee; padding-top: 8px; }
.layer-panels { display: flex; flex-wrap: wrap; gap: 12px; }
tr.noisy td { background: #fff4e5; }
.ok { color: #1e7b34; } .none { color: #777; font-style: italic; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; cursor: pointer; white-space: nowrap; }
th[data-dir="up"]::after { content: " ▲"; } th[data-dir="down"]::after { content: " ▼"; }
tr.failed td { background: #fdecea; } tr.mismatch td { background: #fff3cd; }
#latency-table td, #failed-cells td:not(:last-child), td:nth-child(-n+4) { white-space: nowrap; }
p.runs { color: #555; font-weight: 600; margin-bottom: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 8px 0 20px; } figcaption { font-weight: 600; margin-bottom: 4px; }
"""

# Each table numbers its own columns (th.cellIndex), so a click sorts the table it is in. A cell sorts by
# its data-v number when it has one (durations in ms, whatever unit they are shown in), else by text;
# numbers come before text going up.
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = Array.from(table.tHead.rows[0].cells);
  heads.forEach(function (th) {
    th.title = "click to sort";
    th.addEventListener("click", function () {
      var column = th.cellIndex, body = table.tBodies[0], up = th.dataset.dir !== "up";
      heads.forEach(function (h) { delete h.dataset.dir; });
      th.dataset.dir = up ? "up" : "down";
      var key = function (row) {
        var cell = row.cells[column];
        if (!cell) { return [1, ""]; }
        return cell.dataset.v !== undefined ? [0, parseFloat(cell.dataset.v)] : [1, cell.textContent.trim()];
      };
      Array.from(body.rows).map(function (row) { return [key(row), row]; }).sort(function (a, b) {
        var x = a[0], y = b[0];
        var order = x[0] !== y[0] ? x[0] - y[0] : x[0] === 0 ? x[1] - y[1] : x[1].localeCompare(y[1]);
        return up ? order : -order;
      }).forEach(function (pair) { body.appendChild(pair[1]); });
    });
  });
});
"""


@formats.register("html", "html")
def render(data: ReportData) -> str:
    models = sorted({c.model for c in data.cells})
    title = f"edgeq report: {', '.join(models)} on {', '.join(data.boards)}"
    sections = [_verdict(data), _warnings(data), _latency(data), _quantization(data), _energy(data),
                _tradeoffs(data), _correctness(data), _conditions(data)]
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
    """A cell that starts with a number carries it (durations in ms) for sorting, and aligns right."""
    number = sort_value(value) if numbers else None
    kind = "none" if value == NONE else "num" if number is not None else ""
    attrs = (f' class="{kind}"' if kind else "") + (f' data-v="{number:.9g}"' if number is not None else "")
    return f"<td{attrs}>{escape(value)}</td>"


def _section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}"><h2>{escape(title)}</h2>{body}</section>'


def _none(text: str) -> str:
    return f'<p class="none">{escape(text)}</p>'


def _folded(ident: str, title: str, why: str) -> str:
    """An empty section as one line: what is missing and what would fill it."""
    return f'<p class="folded" id="{ident}"><b>{escape(title)}</b>: {escape(why)}</p>'


def _details(lines: tuple[str, ...]) -> str:
    if not lines:
        return ""
    listed = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return f"<details><summary>which cells, and why</summary><ul>{listed}</ul></details>"


def _verdict(data: ReportData) -> str:
    """What to run, per model and board, before anything else (report/verdict.py)."""
    blocks = []
    for verdict in data.verdicts:
        items = []
        for pick in verdict.picks:
            ratio = "".join(f' data-{name}="{value:.9g}"' for name, value in
                            zip(("ratio", "ratio-low", "ratio-high"), pick.ratio or ()))
            runner = f' data-runner-up="{escape(pick.runner_up.name)}"' if pick.runner_up else ""
            items.append(f'<li class="pick" data-question="{escape(pick.question)}" '
                         f'data-setup="{escape(pick.setup.name)}" data-median-ms="{pick.setup.interval.median:.9g}"'
                         f'{runner}{ratio}><b>{escape(pick.question.capitalize())}</b>: {escape(pick.text)}</li>')
        notes = "".join(f'<p class="note">{escape(n)}</p>' for n in verdict.notes)
        blocks.append(f'<div class="verdict" data-board="{escape(verdict.board)}" '
                      f'data-model="{escape(verdict.model)}"><h3>{escape(verdict.model)} on '
                      f'{escape(verdict.board)}</h3><ul>{"".join(items)}</ul>{notes}</div>')
    method = ("Among setups (backend and quantization type, pooled over repeated runs) whose outputs pass the check. "
              "Medians with 95% intervals and ratios from a block bootstrap over the raw samples, as in edgeq compare.")
    return _section("verdict", "Verdict", "".join(blocks) + f'<p class="note meta">{escape(method)}</p>')


def _warnings(data: ReportData) -> str:
    items = "".join(f'<li class="{w.kind}">{escape(w.text)}{_details(w.details)}</li>' for w in data.warnings)
    if not items:
        return _folded("warnings", "Warnings", "none: every cell ran, no output mismatched, none was noisy or "
                       "throttled.")
    body = f'<ul class="warnings">{items}</ul>'
    if data.failed:
        body += f"<h3>Failed cells ({len(data.failed)})</h3>" + table_html(failed_table(data), "failed-cells")
    return _section("warnings", "Warnings", body)


def _latency(data: ReportData) -> str:
    parts = []
    for board in data.boards:
        for model in sorted({c.model for c in data.cells if c.board == board}):
            cells = [c for c in data.cells if c.board == board and c.model == model]
            parts.append(f'<figure class="panel distribution"><figcaption>{escape(model)} on {escape(board)}'
                         f'</figcaption>{distribution_chart(cells, data.colors, data.noisy)}</figure>')
            layers = layers_chart(cells)
            if layers:
                parts.append(f'<figure class="panel"><figcaption>{escape(model)} on {escape(board)}: slowest layers '
                             f'by the backend\'s own profiler</figcaption>{layers}</figure>')
    repeats = repeats_table(data)
    if repeats:
        parts.append("<h3>Repeated runs</h3>" + table_html(repeats, "repeats-table"))
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
    if not table:
        return _folded("energy", "Energy", "No power data: the boards of these runs recorded no power readings "
                       "(name a power source in the board record to measure energy per inference).")
    return _section("energy", "Energy", table_html(table, "energy-table"))


def _tradeoffs(data: ReportData) -> str:
    by_latency = [Point(lat.p50, acc[1], c.variant, f"{c.model} {c.variant} {c.backend}: {acc[0]} {acc[1]:.4f}, "
                        f"p50 {duration(lat.p50)}", acc[0] == "agreement")
                  for c, lat, acc in ((c, c.latency(), c.accuracy()) for c in data.cells) if lat and acc]
    by_size = [Point(r.size_bytes / 1024, score[1], r.variant, f"{r.model} {r.variant}: {r.size_bytes / 1024:.1f} KB, "
                     f"{score[0]} {score[1]:.4f}", score[0] == "agreement")
               for r, score in ((r, r.score()) for r in data.quant) if r.size_bytes and score]
    if not by_latency and not by_size:
        return _folded("tradeoffs", "Trade-offs", "no accuracy or agreement figures in these runs or in an analysis "
                       "table (edgeq analyze --format json, or profile --eval).")
    figures = [("Accuracy vs latency", scatter(by_latency, "p50 latency, ms", "accuracy / agreement", data.colors))
               ] if by_latency else []
    figures += [("Accuracy vs size", scatter(by_size, "model size, KB", "accuracy / agreement", data.colors,
                                             log_x=False))] if by_size else []
    body = "".join(f'<figure class="panel"><figcaption>{t}</figcaption>{svg}</figure>' for t, svg in figures)
    return _section("tradeoffs", "Trade-offs", body + '<p class="meta">Filled: accuracy on labelled data; '
                    'hollow: top-1 agreement with the float model. Hover a point for its cell.</p>')


def _correctness(data: ReportData) -> str:
    checked = any(c.passed() is not None for c in data.cells)
    note = "" if checked else _none("No output checks in these runs: each backend's status is shown.")
    return _section("correctness", "Correctness and coverage",
                    note + table_html(correctness_table(data), "correctness-table"))


def _conditions(data: ReportData) -> str:
    parts = [f'<p class="runs">{escape(runs)}</p>' + table_html(table, f"conditions-{index}", numbers=False)
             for index, (runs, table) in enumerate(conditions_tables(data))]
    return _section("conditions", "Conditions", "".join(parts))

