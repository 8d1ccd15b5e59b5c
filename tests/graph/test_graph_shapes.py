"""Shape rules against PyTorch, shape errors, and the incremental inference."""

from __future__ import annotations

import re

import numpy as np
import pytest
from torch_reference import torch_or_skip

from engine.graph import Graph, TensorType, get_spec

# (input shape, layer type, params): each layer's shape rule and parameter count are checked
# against the PyTorch module built from the same registry arguments.
CASES = [
    ((20,), "Linear", {"out_features": 7}),
    ((3, 20), "Linear", {"out_features": 7, "bias": False}),
    ((3, 9, 11), "Conv2d", {"out_channels": 4, "kernel_size": [3, 2], "stride": 2}),
    ((4, 9, 9), "Conv2d", {"out_channels": 6, "kernel_size": 4, "padding": "same",
                           "dilation": 2, "groups": 2}),
    ((3, 8, 8), "Conv2d", {"out_channels": 5, "kernel_size": 3, "padding": "valid"}),
    ((3, 10), "Conv1d", {"out_channels": 5, "kernel_size": 3, "stride": 2, "padding": 1}),
    ((4, 5, 6), "ConvTranspose2d", {"out_channels": 2, "kernel_size": 3, "stride": 2,
                                    "padding": 1, "output_padding": 1}),
    ((3, 9, 9), "MaxPool2d", {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
    ((3, 10, 7), "MaxPool2d", {"kernel_size": 2, "padding": 1, "dilation": 2}),
    ((3, 9, 9), "AvgPool2d", {"kernel_size": 2, "ceil_mode": True, "padding": 1}),
    ((3, 9, 7), "AdaptiveAvgPool2d", {"output_size": [3, 2]}),
    ((5,), "BatchNorm1d", {}),
    ((5, 7), "BatchNorm1d", {"affine": False}),
    ((3, 4, 4), "BatchNorm2d", {}),
    ((3, 4, 5), "LayerNorm", {"dims": 2}),
    ((6, 4, 4), "GroupNorm", {"num_groups": 3}),
    ((2, 3, 4), "Flatten", {}),
    ((2, 3, 4), "Flatten", {"start_dim": 2}),
    ((2, 3, 4), "Reshape", {"shape": [4, -1]}),
    ((3, 4, 5), "Upsample", {"scale_factor": 3}),
    ((6,), "Embedding", {"num_embeddings": 11, "embedding_dim": 4}),
    ((7, 5), "LSTM", {"hidden_size": 6, "num_layers": 2, "bidirectional": True}),
    ((7, 5), "GRU", {"hidden_size": 6, "output": "last"}),
    ((7, 5), "RNN", {"hidden_size": 6, "nonlinearity": "relu", "bias": False}),
    ((3, 5), "Softmax", {"dim": -1}),
    ((3, 5), "Dropout", {"p": 0.2}),
    ((5,), "GELU", {"approximate": "tanh"}),
    ((3, 4, 4), "PReLU", {"num_parameters": 3}),
    ((4,), "Softplus", {"beta": 2.0}),
    ((3, 6), "InstanceNorm1d", {"affine": True}),
    ((3, 4, 5), "InstanceNorm2d", {}),
    ((2, 4, 5), "ZeroPad2d", {"padding": [1, 2, 0, 3]}),
    ((2, 4, 5), "ReflectionPad2d", {"padding": [2, 1, 3, 0]}),
    ((2, 4, 5), "ConstantPad2d", {"padding": [0, 1, 1, 0], "value": 2.0}),
    ((8, 3, 5), "PixelShuffle", {"upscale_factor": 2}),
    ((7, 12), "MultiheadAttention", {"num_heads": 3}),
    ((7, 12), "TransformerEncoderLayer", {"nhead": 4, "dim_feedforward": 20}),
]


def _graph(shape: tuple[int, ...], type_: str, params: dict) -> Graph:
    dtype = "int64" if type_ == "Embedding" else "float32"
    return Graph.sequential(shape, (type_, params), dtype=dtype, loss="none")


@pytest.mark.parametrize(("shape", "type_", "params"), CASES,
                         ids=[f"{t}-{i}" for i, (_, t, _) in enumerate(CASES)])
def test_shape_rule_and_param_count_match_pytorch(shape: tuple, type_: str, params: dict) -> None:
    torch = torch_or_skip()
    g = _graph(shape, type_, params)
    name = list(g.nodes)[1]
    info = g.info(name)
    assert info.error is None, info.error
    spec = get_spec(type_)
    if type_ == "Reshape":
        y = torch.zeros(2, *shape).reshape(2, *info.values["_out_shape"])
        n_params = 0
    else:
        args, kwargs = spec.module_args(info.values)
        module = getattr(torch.nn, spec.module)(*args, **kwargs)
        x = (torch.randint(0, 5, (2, *shape)) if type_ == "Embedding"
             else torch.randn(2, *shape))
        # the registry's engine call (RNN outputs, self-attention) works on torch modules too
        y = spec.call(module, [x], info.values) if spec.call is not None else module(x)
        n_params = sum(p.numel() for p in module.parameters())
    assert info.output == TensorType(tuple(y.shape[1:])), (info.output, tuple(y.shape))
    assert info.params == n_params
    assert info.flops >= 0 and info.activation_bytes == info.output.nbytes


@pytest.mark.parametrize(("shape", "type_", "params", "message"), [
    ((3, 4, 4), "Conv2d", {"kernel_size": 5},
     r"kernel 5x5 \(with dilation\) is larger than the padded input 4x4 of \(N, 3, 4, 4\)"),
    ((3, 8, 8), "Conv2d", {"groups": 2}, r"groups=2 must divide both in_channels=3"),
    ((3, 8, 8), "Conv2d", {"padding": "same", "stride": 2}, 'padding="same" needs stride 1'),
    ((3, 2, 2), "MaxPool2d", {"kernel_size": 3}, r"pooling window 3x3 is larger than the input"),
    ((3, 8, 8), "MaxPool2d", {"kernel_size": 2, "padding": 2}, "at most half the kernel size"),
    ((12,), "Reshape", {"shape": [5, -1]}, r"12 is not a multiple of 5"),
    ((12,), "Reshape", {"shape": [5, 2]}, r"cannot reshape \(N, 12\) .* to \(5, 2\) \(10 values"),
    ((5, 4, 4), "GroupNorm", {"num_groups": 2}, r"num_groups=2 must divide the 5 channels"),
    ((3, 4), "Flatten", {"start_dim": 0}, r"start_dim=0 is the batch dimension"),
    ((3, 4), "Softmax", {"dim": 3}, r"dim=3 is out of range for input \(N, 3, 4\)"),
    ((4,), "LayerNorm", {"dims": 2}, r"dims=2 is more than the 1 dimension\(s\)"),
    ((3, 8, 8), "ConvTranspose2d", {"stride": 1, "output_padding": 1},
     "output_padding=1 must be smaller than stride=1 or dilation=1"),
])
def test_shape_errors_name_both_sides(shape: tuple, type_: str, params: dict,
                                      message: str) -> None:
    g = _graph(shape, type_, params)
    info = g.info(list(g.nodes)[1])
    assert info.error_kind == "shape"
    assert info.output is None
    assert info.params == 0
    assert re.search(message, info.error), info.error


def test_unknown_input_gives_unknown_output_without_error() -> None:
    g = Graph()
    g.add_node("Linear", "fc")
    info = g.info("fc")
    assert info.inputs == (None,) and info.output is None and info.error is None


def _deep(n: int) -> Graph:
    g = Graph.sequential((16,), *[("Linear", {"out_features": 16}) if i % 2 == 0 else "ReLU"
                                  for i in range(n)])
    g.infer()
    return g


def test_incremental_inference_recomputes_only_what_changed() -> None:
    g = _deep(40)
    g.set_param("fc10", "bias", False)  # params change, shapes do not: stop after the node
    g.infer()
    assert g._shapes.recomputed == 1
    assert g.info("fc10").params == 16 * 16
    g.set_param("fc10", "out_features", 8)  # shapes change until the next Linear absorbs them
    g.infer()
    assert g._shapes.recomputed == 3  # fc10, its ReLU, fc11 (whose output stays 16)
    assert g.info("fc11").values["in_features"] == 8
    g.set_param("x", "shape", [4])
    g.infer()
    assert g._shapes.recomputed == 2  # the Input and fc1, which maps 4 -> 16
    assert g.infer() is g.infer() and g._shapes.recomputed == 0


def test_incremental_result_equals_a_fresh_inference() -> None:
    rng = np.random.default_rng(0)
    g = _deep(30)
    linears = [n for n in g.nodes if n.startswith("fc")]
    for _ in range(25):
        g.set_param(str(rng.choice(linears)), "out_features", int(rng.integers(1, 9)))
        g.infer()
    fresh = Graph.from_dict(g.to_dict()).infer()
    for name, info in g.infer().items():
        assert (info.outputs, info.params, info.flops) == \
            (fresh[name].outputs, fresh[name].params, fresh[name].flops), name


def test_edits_that_break_and_restore_a_chain() -> None:
    g = _deep(6)
    g.disconnect("relu1", "fc2")
    assert g.info("out").inputs == (None,)
    g.connect("relu1", "fc2")
    assert g.info("out").inputs == (TensorType((16,)),)
    g.rename("fc2", "middle")
    assert g.info("middle").output == TensorType((16,))
    snap = g.remove_node("middle")
    assert g.info("relu2").inputs == (None,)
    g.restore_node(snap)
    assert g.info("out").inputs == (TensorType((16,)),)


def test_cycles_loaded_from_a_file_leave_those_nodes_unknown() -> None:
    d = _deep(4).to_dict()
    d["edges"] = [e for e in d["edges"] if e["dst"] != "fc1"] + [{"src": "relu2", "dst": "fc1"}]
    g = Graph.from_dict(d)
    infos = g.infer()
    assert infos["fc1"].output is None and infos["out"].inputs == (None,)
    assert "fc1" not in g.topological_order()
    g.disconnect("relu2", "fc1")
    g.connect("x", "fc1")
    assert g.info("out").inputs == (TensorType((16,)),)
