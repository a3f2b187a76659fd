"""The answer in words, JSON and HTML, plus the recipe and the Model Explorer node-data files."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from edgeq.advise import answer as answers
from edgeq.advise import sensitivity
from edgeq.advise.measure import Cell
from edgeq.advise.charts import pareto_chart
from edgeq.agent.sections import LayerProfile
from edgeq.report.charts import Axis
from edgeq.report.html import CSS, SCRIPT

FILES = {"json": "advice.json", "html": "advice.html", "recipe": "recipe.yaml",
         "node_data": "sensitivity.nodedata.json", "latency_node_data": "armnn-layers.nodedata.json"}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g} ms"


def terminal(result: dict[str, Any]) -> str:
    rec, runner = result["recommendation"], result["runner_up"]
    kind = "accuracy" if result["accuracy_kind"] == "accuracy" else "agreement with float"
    baseline = (f"fp32 accuracy {result['baseline_accuracy']:.4f}" if kind == "accuracy"
                else "accuracy = top-1 agreement with the fp32 model on the calibration data")
    lines = [f"edgeq advise: {Path(result['model']).name} on {result['board']} "
             f"({result['objective']}, accuracy drop <= {result['max_accuracy_drop']:g} points; {baseline})"]
    if rec is None:
        lines.append("no recommendation: no measured candidate met the accuracy budget")
    else:
        ci = rec["p50_ci_ms"] or [None, None]
        lines.append(f"recommended: {rec['id']}  p50 {_ms(rec['p50_ms'])} (95% CI {ci[0]:.4g}..{ci[1]:.4g}), "
                     f"{kind} {rec['accuracy']:.4f} (drop {rec['accuracy_drop']:.2f}), "
                     f"{rec['size_bytes'] / 1024:.1f} KB")
    if runner is not None:
        margin = runner.get("margin")
        extra = (f", {margin['ratio']:.2f}x (95% CI {margin['ci'][0]:.2f}..{margin['ci'][1]:.2f}"
                 f"{'' if margin['separated'] else ', not separated'})") if margin else ""
        lines.append(f"runner-up:   {runner['id']}  p50 {_ms(runner['p50_ms'])}{extra}")
    lines.append(f"Pareto front ({result['objective']} vs accuracy): {', '.join(result['pareto']['objective'])}")
    if result["objective"] != "size":
        lines.append(f"Pareto front (size vs accuracy): {', '.join(result['pareto']['size'])}")
        lines.append(f"Pareto front ({result['objective']}, size and accuracy): {', '.join(result['pareto']['joint'])}")
    lines.append(f"measured {sum(1 for c in result['candidates'] if c['runs'])} candidates in "
                 f"{len(result['rounds'])} rounds, {result['board_seconds']:.1f} board-seconds ({result['stopped']})")
    lines.append("")
    lines.append("why the others lost:")
    for row in result["candidates"]:
        if row["verdict"] != "recommended":
            lines.append(f"  {row['id']}: {row['why']}")
    for row in result["pruned"]:
        lines.append(f"  {row['id']}: {row['reason']}")
    return "\n".join(lines)


def _sensitivity_chart(sens: dict[str, Any]) -> str:
    rows = [r for r in sens["layers"] if r["sqnr_int8_db"] is not None]
    if not rows:
        return "<p class='none'>no layer changed when quantized alone</p>"
    top, row_h, width, left = 20, 22, 1100, 420
    axis = Axis(0.0, max(r["sqnr_int8_db"] for r in rows), left, width - 60, log=False)
    parts = []
    for i, row in enumerate(rows):
        y = top + i * row_h
        label = f"#{row['index']} {row['op']} {row['outputs'][0][:48] if row['outputs'] else ''}"
        parts.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">{escape(label)}</text>'
                     f'<rect class="bar" x="{left}" y="{y + 3}" width="{max(axis(row["sqnr_int8_db"]) - left, 1):.1f}" '
                     f'height="14" fill="#d73027"><title>{row["sqnr_int8_db"]} dB</title></rect>'
                     f'<text x="{axis(row["sqnr_int8_db"]) + 5:.1f}" y="{y + 14}">{row["sqnr_int8_db"]} dB</text>')
    height = top + len(rows) * row_h + 30
    parts.append(f'<text x="{left}" y="{height - 8}">output SQNR with only this layer in int8 (lower = more '
                 f'sensitive)</text>')
    return (f'<svg class="chart sensitivity" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="12">' + "".join(parts) + "</svg>")


def _table(headers: list[str], rows: list[list[Any]], ident: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape('-' if v is None else str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f'<div class="scroll"><table id="{ident}" class="sortable"><thead><tr>{head}</tr></thead>' \
           f'<tbody>{body}</tbody></table></div>'


def html(result: dict[str, Any]) -> str:
    sens = result["sensitivity"]
    cand = _table(["candidate", "verdict", "p50 ms", "95% CI", "accuracy", "drop", "KB", "rounds", "front", "why"],
                  [[r["id"], r["verdict"], r["p50_ms"], r["p50_ci_ms"],
                    None if r["accuracy"] is None else round(r["accuracy"], 4), r["accuracy_drop"],
                    round(r["size_bytes"] / 1024, 1), r["rounds"],
                    ", ".join(n for n, on in (("objective", r["on_front"]), ("size", r["on_size_front"]),
                                              ("joint", r["on_joint_front"])) if on),
                    r.get("why", "")] for r in result["candidates"]]
                  + [[p["id"], "pruned", None, None, None, None, None, 0, "", p["reason"]] for p in result["pruned"]],
                  "candidates")
    layers = _table(["#", "op", "output tensor", "int8 SQNR dB", "int4-weights SQNR dB", "full int8 MSE (validate)"],
                    [[r["index"], r["op"], ";".join(r["outputs"]), r["sqnr_int8_db"], r["sqnr_int4w_db"],
                      r["full_int8_mse"]] for r in sens["layers"]], "sensitivity")
    mixed = _table(["variant", "starts from", "layers kept", "kept as", "KB", "output SQNR dB"],
                   [[m["name"], m["base"], ", ".join(f"#{i}" for i in m["kept_layers"]), m["kind"],
                     round(m["size_bytes"] / 1024, 1) if "size_bytes" in m else None,
                     m.get("sqnr_db", m.get("error"))] for m in sens["mixed"]], "mixed")
    timing = result.get("layer_latencies") or {}
    profile = LayerProfile.read(timing)
    latency = _table(["layer", "backend", "median µs", "runs"],
                     [[t.name, t.backend, t.median_us, t.runs] for t in profile.top],
                     "layer-latency") if profile and profile.top else \
        "<p class='none'>no backend with a per-layer profiler ran (ArmNN's profiler gives them)</p>"
    text = escape(terminal(result))
    size_chart = "" if result["objective"] == "size" else \
        f"<h3>Size against accuracy</h3><figure>{pareto_chart(result, 'size_bytes')}</figure>"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>edgeq advise</title>"
            f"<style>{CSS} pre {{ white-space: pre-wrap; }}</style>"
            f"</head><body><h1>edgeq advise</h1><pre>{text}</pre>"
            f"<section id='pareto'><h2>Pareto front</h2><figure>{pareto_chart(result)}</figure>{size_chart}</section>"
            f"<section id='candidates-section'><h2>Candidates</h2>{cand}</section>"
            f"<section id='sensitivity-section'><h2>Per-layer sensitivity</h2><p>{escape(sens['method'])}; "
            f"Model Explorer node data: {FILES['node_data']}</p><figure>{_sensitivity_chart(sens)}</figure>"
            f"{layers}<h3>Mixed-precision variants</h3>{mixed}"
            f"<h3>Per-layer latency ({escape(str(timing.get('source', '-')))}, {escape(str(timing.get('variant')))}; "
            f"node data {escape(str((timing.get('mapping') or {}).get('by', '-')))}: "
            f"{escape(str((timing.get('mapping') or {}).get('why', '-')))})</h3>"
            f"{latency}</section><script>{SCRIPT}</script></body></html>")


def write_all(result: dict[str, Any], folder: Path, variants: dict[str, Path], cells: list[Cell]) -> Path:
    """advice.json, advice.html, recipe.yaml and the node-data files, in `folder`."""
    result["files"] = {k: str(folder / v) for k, v in FILES.items()}
    profiled = sorted((c for c in cells if c.layers), key=lambda c: (c.candidate.variant != "fp32", c.candidate.id))
    layers = dict(profiled[0].layers or {}, variant=profiled[0].candidate.variant) if profiled else None
    # The fp32 variant's workloads first: its graph is the one the sensitivity node data is keyed on.
    latency = sensitivity.latency_node_data(layers, variants[profiled[0].candidate.variant] if profiled else None)
    result["layer_latencies"] = layers
    (folder / FILES["node_data"]).write_text(json.dumps(sensitivity.node_data(result["sensitivity"]), indent=1))
    if latency:
        (folder / FILES["latency_node_data"]).write_text(json.dumps(latency, indent=1))
    else:
        del result["files"]["latency_node_data"]
    rec = result["recommendation"]
    if rec:
        (folder / FILES["recipe"]).write_text(answers.recipe_yaml(result, variants[rec["variant"]], result["board"]))
    else:
        del result["files"]["recipe"]
    (folder / FILES["json"]).write_text(json.dumps(result, indent=1))
    (folder / FILES["html"]).write_text(html(result))
    return folder
