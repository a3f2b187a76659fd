"""ArmNN's per-layer latencies on the .tflite graph's nodes (edgeq/advise/nodemap.py), profiled by the
real pyarmnn (20.08, CpuRef) through the local agent, on models built by hand from the TFLite schema."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from edgeq.advise.layers import graph_ops
from edgeq.advise.sensitivity import latency_node_data
from edgeq.profile.run import profile
from edgeq.testing import layermodels

from .conftest import Board


def _profiled(builder: Any, board: Board, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    model = tmp_path / f"{builder.__name__}.tflite"
    model.write_bytes(bytes(builder()))
    run = profile(model, board=board.name, backends=["armnn:backends=CpuRef"], runs=3, warmup=1,
                  runs_dir=tmp_path / "runs")
    (entry,) = run.result["backends"]
    assert entry["status"] == "ok", entry
    return model, entry["layers"]


def _nodes(model: Path) -> list[str]:
    return [op["outputs"][0] for op in graph_ops(model.read_bytes())]


def _without_names(layers: dict[str, Any]) -> dict[str, Any]:
    """The same profile as an agent from before this change sent it: no layer names, no per-layer sums."""
    bare = copy.deepcopy(layers)
    for key in ("by_layer", "named", "execute_us", "armnn_own_us"):
        bare.pop(key)
    for entry in bare["top"]:
        entry.pop("layer", None)
    return bare


def test_a_residual_add_and_a_concat_map_every_operator_by_its_index(board: Board, tmp_path: Path) -> None:
    model, layers = _profiled(layermodels.residual_concat, board, tmp_path)
    # What ArmNN ran: one workload per layer, each named by the optimized graph (8 workloads: 4 operators
    # with a fused ReLU each add an Activation layer, named after the operator with a `:RELU` tail).
    assert layers["named"].startswith("by the optimized network's layer order"), layers["named"]
    assert sorted(layers["by_layer"]) == sorted(["Conv2D:0:0", "Conv2D:0:0:RELU", "Conv2D:0:1", "Conv2D:0:1:RELU",
                                                 "Conv2D:0:2", "Add:0:3", "Add:0:3:RELU", "Concatenation:0:4"])
    data = latency_node_data(layers, model)
    assert data is not None
    mapping, results = layers["mapping"], {k: v["value"] for k, v in data["results"].items()}
    assert mapping["by"] == "graph node" and mapping["unmapped"] == [] and mapping["no_workload"] == [], mapping
    assert set(results) == set(_nodes(model)) == {"stem", "residual/conv3x3", "side/conv1x1", "residual/add", "joined"}
    by_layer = layers["by_layer"]
    assert results["residual/add"] == pytest.approx(by_layer["Add:0:3"] + by_layer["Add:0:3:RELU"], abs=0.002)
    # The names, not a guess from order: the 3x3 convolution (8 -> 8 channels) does 36x the work of the
    # 1x1 branch (8 -> 2), and ran right before it, so by order alone the two could swap.
    assert results["residual/conv3x3"] > 5 * results["side/conv1x1"], results
    # Every workload is on a node: the nodes sum to the workloads' medians. ArmNN's Execute event holds the
    # workloads and ArmNN's own work between them (input/output copies, working memory): per run, Execute
    # less the workloads, a small share. (The sum of medians is not compared with Execute's median: on a
    # loaded host each run has a different workload preempted, and the two drift apart by 2x.)
    assert layers["count"] == len(layers["top"]) == 8
    assert sum(results.values()) == pytest.approx(sum(t["median_us"] for t in layers["top"]), abs=0.01)
    assert 0 < layers["armnn_own_us"] < 0.1 * layers["execute_us"], layers


def test_a_branched_graph_without_layer_names_keeps_armnn_ids_and_says_why(board: Board, tmp_path: Path) -> None:
    """Without names, order alone cannot tell the residual block's convolutions apart: not guessed."""
    model, layers = _profiled(layermodels.residual_concat, board, tmp_path)
    bare = _without_names(layers)
    data = latency_node_data(bare, model)
    assert data is not None and set(data["results"]) == {t["id"] for t in layers["top"]}
    assert bare["mapping"] == {"by": "ArmNN workload id", "why": (
        "the workloads carry no ArmNN layer names; the graph is not one chain of operators, so execution order "
        "does not name them")}


def test_layers_armnn_adds_go_to_their_operator_or_stay_apart(board: Board, tmp_path: Path) -> None:
    """The parser's Reshape before a dense layer on a 4-D input carries the dense operator's index and
    joins its node; the layer for a constant operand names no operator and stays apart, with its time."""
    model, layers = _profiled(layermodels.dense_on_image, board, tmp_path)
    names = sorted(t["layer"] for t in layers["top"])
    assert names == ["Add:0:0", "Constant:offset", "FullyConnected:0:1", "FullyConnected:0:1",
                     "FullyConnected:0:1:RELU6"], names
    data = latency_node_data(layers, model)
    assert data is not None
    mapping, results = layers["mapping"], {k: v["value"] for k, v in data["results"].items()}
    assert set(results) == {"shifted", "logits"} and mapping["no_workload"] == []
    dense = [t["median_us"] for t in layers["top"] if t["layer"].startswith("FullyConnected:0:1")]
    assert results["logits"] == pytest.approx(sum(dense), abs=0.002)
    (constant,) = mapping["unmapped"]
    assert constant["layer"] == "Constant:offset" and "names no .tflite operator" in constant["why"]
    assert sum(results.values()) + constant["median_us"] == pytest.approx(
        sum(t["median_us"] for t in layers["top"]), abs=0.01)
    assert mapping["why"].endswith("4 layers onto 2 of 2 operators; 1 layer name no operator and stay apart")
    # The order rule could not have placed these: the constant and the reshape are no operator's kind.
    bare = _without_names(layers)
    latency_node_data(bare, model)
    assert bare["mapping"]["by"] == "ArmNN workload id"
    assert bare["mapping"]["why"] == "the workloads carry no ArmNN layer names; 5 workloads for 3 predicted layers"


def test_on_a_chain_names_and_execution_order_agree(board: Board, tmp_path: Path) -> None:
    model, layers = _profiled(layermodels.conv_chain, board, tmp_path)
    by_name = latency_node_data(layers, model)
    bare = _without_names(layers)
    by_order = latency_node_data(bare, model)
    assert by_name is not None and by_order is not None
    assert bare["mapping"]["why"] == "mapped by execution order: 3 workloads onto 2 operators"
    assert layers["mapping"]["why"] == "mapped by the operator index in ArmNN's layer names: 3 layers onto 2 of 2 operators"
    assert by_name["results"] == by_order["results"] and set(by_name["results"]) == {"first", "second"}


def test_names_without_an_operator_fall_back_to_execution_order_on_a_chain(board: Board, tmp_path: Path) -> None:
    """Layer names that carry no operator index (as a later ArmNN might write them) are no worse than
    none: on a chain the order rule still maps, and the answer says why the names did not."""
    model, layers = _profiled(layermodels.conv_chain, board, tmp_path)
    renamed = copy.deepcopy(layers)
    renamed["by_layer"] = {f"layer{i}": us for i, us in enumerate(layers["by_layer"].values())}
    data = latency_node_data(renamed, model)
    assert data is not None and set(data["results"]) == {"first", "second"}
    assert renamed["mapping"] == {"by": "graph node", "why": "mapped by execution order: 3 workloads onto 2 operators"}
    branched, layers = _profiled(layermodels.residual_concat, board, tmp_path / "branched")
    layers["by_layer"] = {f"layer{i}": us for i, us in enumerate(layers["by_layer"].values())}
    latency_node_data(layers, branched)
    assert layers["mapping"]["by"] == "ArmNN workload id"
    assert layers["mapping"]["why"] == ("none of the 8 ArmNN layer names carries a .tflite operator index; the graph "
                                        "is not one chain of operators, so execution order does not name them")
