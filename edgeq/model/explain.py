"""The card as text: what `edgeq inspect MODEL` prints (`--json` prints ModelCard.as_dict plus verdicts)."""

from __future__ import annotations

from typing import Any

from edgeq.model.card import ModelCard, TensorCard
from edgeq.model.rules import FLEX_PREFIX, Prediction, predict_all


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def _tensor(t: TensorCard, output: bool = False) -> str:
    dims = ",".join("?" if d < 0 else str(d) for d in t.shape)
    note = "" if not t.dynamic else "  (dynamic: follows the inputs' shapes)" if output else \
        f"  (dynamic: give --input-shape {t.name}=...)"
    quant = "" if t.quantization == "none" else f"  {t.quantization}"
    return f"    {t.name:24} [{dims}] {t.dtype}{quant}{note}"


def as_json(card: ModelCard, predictions: list[Prediction] | None = None) -> dict[str, Any]:
    data = card.as_dict()
    data["verdicts"] = [p.as_dict() for p in (predictions if predictions is not None else predict_all(card))]
    return data


def render(card: ModelCard, predictions: list[Prediction] | None = None) -> str:
    predictions = predictions if predictions is not None else predict_all(card)
    lines = [f"{card.path.name}: {_kb(card.size_bytes)}, quantization {card.quantization}"]
    if card.description:
        lines.append(f"  made by: {card.description}")
    lines.append(f"  size: weights {_kb(card.weight_bytes)}, graph {_kb(card.size_bytes - card.weight_bytes)}"
                 + ("; buffers stored after the flatbuffer" if card.buffers_after_flatbuffer else ""))
    for number, sig in enumerate(card.signatures):
        default = " (default)" if number == 0 and len(card.signatures) > 1 else ""
        lines.append(f"  signature {sig.key}{default} -> subgraph {sig.subgraph}")
        lines += ["    inputs:"] + [_tensor(t) for t in sig.inputs]
        lines += ["    outputs:"] + [_tensor(t, output=True) for t in sig.outputs]
    graphs = ", ".join(f"{g['index']} {g['name'] or '-'} ({g['operators']} ops)" for g in card.subgraphs)
    lines.append(f"  subgraphs: {graphs}")
    lines.append("  ops: " + ", ".join(f"{name} x{count}" for name, count in card.ops.items()))
    if card.custom_ops:
        lines.append("  custom ops: " + ", ".join(card.custom_ops))
        if any(op.startswith(FLEX_PREFIX) for op in card.custom_ops):
            lines.append("    Flex ops are TensorFlow ops the converter kept (SELECT_TF_OPS); no runtime edgeq drives "
                         "has the Flex delegate: convert without SELECT_TF_OPS, replacing them")
    if card.control_flow:
        lines.append("  control flow: " + ", ".join(card.control_flow))
    lines.append("  weights: " + (", ".join(f"{kind} {v['tensors']} tensors {_kb(v['bytes'])}"
                                            for kind, v in card.weights.items()) or "none"))
    if card.weights_from_dequantize:
        lines.append(f"  computed weights: {len(card.weights_from_dequantize)} layer(s) take weights from DEQUANTIZE")
    if card.metadata:
        header = len(lines)
        for key in ("name", "version", "author", "license", "description", "min_runtime_version", "unreadable"):
            if card.metadata.get(key):
                lines.append(f"    {key}: {card.metadata[key]}")
        for side in ("inputs", "outputs"):
            for entry in card.metadata.get(side, []):
                said = []
                if "normalization" in entry:
                    said.append(f"normalize (x - {entry['normalization']['mean']}) / {entry['normalization']['std']}")
                if "labels_file" in entry:
                    labels = f"{entry.get('labels', '?')} labels in {entry['labels_file']}"
                    if entry.get("first_labels"):
                        labels += f" ({', '.join(entry['first_labels'])}, ...)"
                    said.append(labels)
                if said:
                    lines.append(f"    {side[:-1]} {entry.get('name') or '?'}: " + "; ".join(said))
        if len(lines) > header:  # an empty min_runtime_version alone says nothing
            lines.insert(header, "  metadata:")
    lines.append("  predicted:")
    for p in predictions:
        lines.append(f"    {p.table.backend:11} {p.table.key:22} {p.text()}")
    return "\n".join(lines)
