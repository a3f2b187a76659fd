"""Findings the rule tables share: what in a model trips a rule, named for a user."""

from __future__ import annotations

from edgeq.model.card import ModelCard


def custom_ops(card: ModelCard) -> str | None:
    return ", ".join(card.custom_ops) or None


def ops(*names: str):
    """A finder for ops by name: the ones present, with how often they occur."""
    def find(card: ModelCard) -> str | None:
        hits = [f"{name} x{card.ops[name]}" if card.ops[name] > 1 else name for name in names if name in card.ops]
        return ", ".join(hits) or None
    return find


def dynamic_inputs(card: ModelCard) -> str | None:
    found = card.dynamic_inputs
    return ", ".join(f"{t.name} {list(t.shape)}" for t in found) or None


def dequantized_weights(card: ModelCard) -> str | None:
    found = card.weights_from_dequantize
    if not found:
        return None
    return f"{len(found)} layer(s), first {found[0]}"


def control_flow(card: ModelCard) -> str | None:
    return ", ".join(card.control_flow) or None


def tensor_type(name: str):
    def find(card: ModelCard) -> str | None:
        return f"{name} tensors" if name in card.types else None
    return find


def subgraphs_beyond_one(card: ModelCard) -> str | None:
    return f"{len(card.subgraphs)} subgraphs" if len(card.subgraphs) > 1 else None


def buffers_after(card: ModelCard) -> str | None:
    return "weights after the flatbuffer" if card.buffers_after_flatbuffer else None


def io_outside(allowed: tuple[str, ...]):
    """Inputs/outputs (of the first signature) whose dtype is not in `allowed`."""
    def find(card: ModelCard) -> str | None:
        hits = [f"{t.name} ({t.dtype})" for t in (*card.inputs, *card.outputs) if t.dtype not in allowed]
        return ", ".join(hits) or None
    return find


_WITH_BIAS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")


def _named(hits: list) -> str | None:  # noqa: ANN001 - OpFacts
    names = sorted({f"{o.op} v{o.version}" for o in hits})
    return ", ".join(names) or None


def per_channel_fc(quantized_input: bool):
    """FULLY_CONNECTED (before version 12) with int8 weights carrying one scale per output channel, reading
    int8/int16 activations (quantized_input) or float ones (dynamic range)."""
    def find(card: ModelCard) -> str | None:
        hits = [o for o in card.any_op("FULLY_CONNECTED", weight_type="int8") if o.weight_channels > 1
                and o.version < 12 and (o.input_type in ("int8", "int16")) == quantized_input]
        return f"{len(hits)} FULLY_CONNECTED layer(s)" if hits else None
    return find


def op_version_from(op: str, version: int):
    def find(card: ModelCard) -> str | None:
        return _named([o for o in card.any_op(op) if o.version >= version])
    return find


def hybrid_layers(card: ModelCard) -> str | None:
    """Float activations into int8 weights: what dynamic-range quantization makes."""
    return _named(card.any_op(_WITH_BIAS, input_type="float32", weight_type="int8"))

