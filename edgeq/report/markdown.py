"""The Markdown report: for CI comments and READMEs, where only text and tables render."""

from __future__ import annotations

from . import formats
from .data import ReportData
from .tables import (
    Table,
    conditions_tables,
    correctness_table,
    energy_table,
    latency_table,
    layers_table,
    quant_table,
    repeats_table,
)


def table_md(table: Table) -> str:
    """A GitHub-flavoured pipe table; pipes inside cells are escaped so reasons cannot break it."""
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"
    return "\n".join([line(table.headers), line(["---"] * len(table.headers))] + [line(r) for r in table.rows])


def verdict_md(data: ReportData) -> list[str]:
    out = ["## Verdict", ""]
    for verdict in data.verdicts:
        out.append(f"**{verdict.model} on {verdict.board}**")
        out.append("")
        out += [f"- **{pick.question.capitalize()}**: {pick.text}" for pick in verdict.picks]
        out += [f"- _{note}_" for note in verdict.notes]
        out.append("")
    return out


@formats.register("md", "md")
def render(data: ReportData) -> str:
    models = sorted({c.model for c in data.cells})
    out = [f"# edgeq report: {', '.join(models)} on {', '.join(data.boards)}", "",
           f"{len(data.runs)} runs, {len(data.cells)} cells, {len(data.failed)} failed, "
           f"{len(data.noisy)} noisy.", ""]
    out += verdict_md(data)
    if data.warnings:
        out += ["## Warnings", ""]
        for w in data.warnings:
            out += [f"- **{w.kind}**: {w.text}"] + [f"  - {line}" for line in w.details]
    else:
        out += ["**Warnings**: none: every cell ran, no output mismatched, none was noisy or throttled."]
    out += ["", "## Latency", "", table_md(latency_table(data))]
    repeats = repeats_table(data)
    out += ["", "### Repeated runs", "", table_md(repeats)] if repeats else []
    out += ["", "## Quantization analysis", ""]
    if not data.has_quant_metrics:
        out += ["_No quantization data: no analysis table (`edgeq analyze --format json`) found; accuracy, "
                "agreement and SQNR are not known. Sizes come from the runs._", ""]
    out += [table_md(quant_table(data)), ""]
    energy = energy_table(data)
    out += ["## Energy", "", table_md(energy)] if energy else [
        "**Energy**: No power data: these runs recorded no power readings (name a power source in the board record)."]
    out += ["", "## Correctness and coverage", "", table_md(correctness_table(data))]
    layers = layers_table(data)
    out += ["", "### Slowest layers", "", table_md(layers)] if layers else []
    out += ["", "## Conditions", ""]
    for runs, table in conditions_tables(data):
        out += [runs, "", table_md(table), ""]
    return "\n".join(out).rstrip() + "\n"
