"""Parity: the engine, the exported ONNX model in ONNX Runtime and the generated PyTorch module
loaded from the exported weights give the same outputs (relative error < 1e-5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from export_helpers import (
    engine_model,
    load_generated,
    rel_err,
    run_engine,
    run_onnx,
    run_torch,
    sample,
    state_of,
)

from app.core.project import Project, list_templates
from engine.export import Normalization
from engine.graph import Graph

TOL = 1e-5
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


@pytest.mark.parametrize("template", list_templates())
def test_template_parity(template: str, tmp_path: Path) -> None:
    project = Project.from_template(template)
    graph = project.graph
    norm = Normalization.from_settings(project.dataset["normalize"])
    model = engine_model(graph)
    raw = np.abs(sample(model, graph, n=4))  # like ToTensor's [0, ...); token indices stay ints
    raw = raw.astype(np.float32) if raw.dtype.kind == "f" else raw
    tt = model.input_types[0]
    x = norm.apply(raw, tt).astype(np.float32) if norm else raw
    expected = run_engine(model, x)
    state = state_of(model)
    y_onnx, proto = run_onnx(graph, state, raw, norm)  # normalisation inside the ONNX model
    assert rel_err(y_onnx, expected) < TOL
    module = load_generated(graph, state, tmp_path, norm)
    y_torch = run_torch(module, raw, preprocess=norm is not None)
    assert rel_err(y_torch, expected) < TOL
    assert proto.opset_import[0].version == 17


def _single(shape: tuple, *layers: object, dtype: str = "float32") -> Graph:
    return Graph.sequential(shape, *layers, dtype=dtype, loss="none")  # type: ignore[arg-type]


LAYER_CASES = {
    "conv-same-pool-linear": _single(
        (1, 8, 8), ("Conv2d", {"out_channels": 4, "padding": "same", "kernel_size": 4}), "ReLU",
        "MaxPool2d", "Flatten", ("Linear", {"out_features": 3})),
    "conv-strided-bn-avgpool": _single(
        (3, 9, 9), ("Conv2d", {"out_channels": 4, "stride": 2, "dilation": [1, 2]}),
        "BatchNorm2d", ("AvgPool2d", {"kernel_size": 3, "stride": 1, "padding": 1})),
    "maxpool-ceil-dilated": _single(
        (2, 9, 10), ("MaxPool2d", {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
        ("MaxPool2d", {"kernel_size": 2, "stride": 1, "dilation": 2})),
    "grouped-conv-no-bias": _single(
        (4, 7, 7), ("Conv2d", {"out_channels": 8, "groups": 4, "bias": False}),
        ("BatchNorm2d", {"affine": False})),
    "convtranspose-groupnorm-gelu": _single(
        (2, 7, 7), ("ConvTranspose2d", {"out_channels": 3, "kernel_size": 3, "stride": 2,
                                        "padding": 1, "output_padding": 1}),
        ("GroupNorm", {"num_groups": 3}), "GELU", ("GELU", {"approximate": "tanh"})),
    "conv1d-bn1d-elu-layernorm": _single(
        (4, 10), ("Conv1d", {"out_channels": 6, "kernel_size": 3}), "BatchNorm1d", "ELU",
        ("LayerNorm", {"dims": 2}), ("LayerNorm", {"elementwise_affine": False})),
    "lstm-bidirectional-last": _single(
        (5, 6), ("LSTM", {"hidden_size": 7, "num_layers": 2, "bidirectional": True,
                          "output": "last"})),
    "gru-bidirectional-sequence": _single(
        (5, 6), ("GRU", {"hidden_size": 7, "num_layers": 2, "bidirectional": True})),
    "rnn-relu-no-bias": _single(
        (5, 6), ("RNN", {"hidden_size": 7, "nonlinearity": "relu", "bias": False}),
        ("Linear", {"out_features": 2})),
    "upsample-adaptive-softmax": _single(
        (3, 4, 4), ("Upsample", {"mode": "bilinear"}), ("AdaptiveAvgPool2d", {"output_size": 2}),
        "SiLU", "Softmax"),
    "activations-reshape": _single(
        (3, 4, 4), "Upsample", "LeakyReLU", "Dropout2d", ("Reshape", {"shape": [-1, 8]}),
        ("LogSoftmax", {"dim": -1}), "Sigmoid", "Tanh", "Dropout", ("Flatten", {"end_dim": 1})),
    "embedding-gru": _single(
        (5,), ("Embedding", {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 0}),
        ("GRU", {"hidden_size": 3}), dtype="int64"),
    "batchnorm1d-vector": _single((6,), "BatchNorm1d", ("Linear", {"out_features": 4,
                                                                   "bias": False})),
    "more-activations": _single(
        (3, 4, 5), ("Softplus", {"beta": 2.0}), "Softplus", ("Hardtanh", {"min_val": -0.5}),
        "ReLU6", "Mish", "Hardswish", "SELU", "LogSigmoid", ("PReLU", {"num_parameters": 3}),
        "PReLU"),
    "instancenorm-padding-pixelshuffle": _single(
        (8, 5, 6), "InstanceNorm2d", ("InstanceNorm2d", {"affine": True}),
        ("ZeroPad2d", {"padding": [1, 0, 2, 1]}),
        ("ConstantPad2d", {"padding": [1, 1, 0, 2], "value": 0.5}),
        ("ReflectionPad2d", {"padding": [2, 1, 1, 2]}), "ReplicationPad2d",
        ("PixelShuffle", {"upscale_factor": 2})),
    "instancenorm1d": _single((3, 7), ("InstanceNorm1d", {"affine": True}), "InstanceNorm1d"),
    "attention": _single(
        (6, 8), ("MultiheadAttention", {"num_heads": 2}),
        ("MultiheadAttention", {"num_heads": 4, "bias": False}),
        ("TransformerEncoderLayer", {"nhead": 2, "dim_feedforward": 16}),
        ("TransformerEncoderLayer", {"nhead": 4, "dim_feedforward": 12, "norm_first": True,
                                     "activation": "gelu"})),
}


def _merges() -> Graph:
    g = Graph.sequential((3, 6, 6), ("Conv2d", {"out_channels": 4, "padding": 1}), "ReLU",
                         loss="none")
    g.add_node("Conv2d", "side", {"out_channels": 4, "kernel_size": 1})
    g.add_node("Add", "add", {"num_inputs": 3})
    g.add_node("Multiply", "mul")
    g.add_node("Concat", "cat", {"dim": 1})
    g.disconnect("relu1", "out")
    g.connect("x", "side")
    g.connect("relu1", "add", 0, 0)
    g.connect("side", "add", 0, 1)
    g.connect("relu1", "add", 0, 2)
    g.connect("add", "mul", 0, 0)
    g.connect("side", "mul", 0, 1)
    g.connect("mul", "cat", 0, 0)
    g.connect("x", "cat", 0, 1)
    g.connect("cat", "out")
    return g


LAYER_CASES["merges"] = _merges()


@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_layer_parity(case: str, tmp_path: Path) -> None:
    graph = LAYER_CASES[case]
    model = engine_model(graph)
    x = sample(model, graph)
    expected = run_engine(model, x)
    state = state_of(model)
    y_onnx, _ = run_onnx(graph, state, x)
    assert y_onnx.shape == expected.shape and rel_err(y_onnx, expected) < TOL
    y_torch = run_torch(load_generated(graph, state, tmp_path), x)
    assert rel_err(y_torch, expected) < TOL


def test_every_layer_type_is_covered() -> None:
    from engine.graph import all_specs

    covered = {n.type for g in LAYER_CASES.values() for n in g}
    for template in list_templates():
        covered |= {n.type for n in Project.from_template(template).graph}
    assert {s.type for s in all_specs()} - covered == set()
