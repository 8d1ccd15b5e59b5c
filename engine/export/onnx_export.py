"""ONNX export (opset 17) built with the ``onnx`` package's helpers.

Each layer's ONNX nodes come from its registry declaration; this module only walks the graph in
topological order, feeds each declaration the names of its input values, and wraps the result:
named inputs and outputs (the Input and Output node names) with a dynamic batch dimension
``batch``, weights as initializers under their state_dict names, and optionally the training
normalisation in front, so the exported model takes inputs as the dataset gives them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..graph import Graph, errors, validate
from ..graph.errors import CompileError, ExportError
from .normalization import Normalization
from .weights import atomic_write_bytes, to_numpy_state

OPSET = 17
IR_VERSION = 8  # the IR of opset 17; newer IRs are refused by older runtimes
_ELEM = {"float32": 1, "int64": 7}  # onnx.TensorProto.FLOAT, INT64


def _onnx() -> Any:
    try:
        import onnx  # noqa: PLC0415
    except ImportError:
        raise ExportError("ONNX export needs the onnx package: pip install onnx") from None
    return onnx


class OnnxContext:
    """What a layer's ``onnx`` declaration writes into: nodes, weights and constants.

    Values a node computes last are named after the node (``conv1``); intermediate values and
    constants start with ``_`` (node names never do), so no name can collide.
    """

    def __init__(self, state: Mapping[str, np.ndarray]) -> None:
        self.onnx = _onnx()
        self.state = state
        self.nodes: list[Any] = []
        self.initializers: dict[str, Any] = {}
        self._used: set[str] = set()
        self._count = 0
        self.current = ""  # the graph node being written

    def _fresh(self, hint: str | None) -> str:
        if hint and hint == self.current and hint not in self._used:
            self._used.add(hint)
            return hint
        self._count += 1
        name = f"_{hint or 'v'}_{self._count}"
        self._used.add(name)
        return name

    def node(self, op: str, inputs: list[str], attrs: dict[str, Any] | None = None,
             hint: str | None = None) -> str:
        """Add one ONNX node with a single output; returns the output's value name."""
        out = self._fresh(hint or (self.current + "_" + op.lower()))
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=out,
                                                     **(attrs or {})))
        return out

    def array(self, key: str) -> np.ndarray:
        """A tensor of the model's state dict."""
        try:
            return self.state[key]
        except KeyError:
            raise ExportError(f"the weights have no tensor {key!r}; export weights that were "
                              "trained for this graph") from None

    def weight(self, key: str) -> str:
        """A state-dict tensor as an initializer under its own name (``fc1.weight``)."""
        if key not in self.initializers:
            self.initializers[key] = self.onnx.numpy_helper.from_array(
                np.require(self.array(key), requirements="C"), key)
        return key

    def const(self, value: Any, hint: str) -> str:
        """A constant initializer with a fresh name."""
        name = self._fresh(hint.replace(".", "_"))
        self.initializers[name] = self.onnx.numpy_helper.from_array(np.asarray(value), name)
        return name


def build_onnx(graph: Graph, state: Mapping[str, Any], normalization: Normalization | None = None,
               opset: int = OPSET, name: str = "layerforge") -> Any:
    """The ``onnx.ModelProto`` of ``graph`` with the weights of ``state`` (a state dict of the
    compiled model); ``onnx.checker`` is run on it."""
    if opset < OPSET:
        raise ExportError(f"opset {opset} is too old; LayerForge writes opset {OPSET} or newer")
    problems = errors(validate(graph))
    if problems:
        raise CompileError(problems)
    onnx = _onnx()
    helper = onnx.helper
    ctx = OnnxContext(to_numpy_state(state))
    infos = graph.infer()
    env: dict[str, str] = {}
    graph_inputs, graph_outputs = [], []
    for name in graph.topological_order():
        node = graph.node(name)
        info = infos[name]
        ctx.current = name
        if node.type == "Input":
            tt = info.output
            graph_inputs.append(helper.make_tensor_value_info(name, _ELEM[tt.dtype],
                                                              ["batch", *tt.shape]))
            env[name] = name
            if normalization is not None and tt.dtype == "float32":
                mean, std = normalization.arrays(tt)
                ctx.current = ""
                centred = ctx.node("Sub", [name, ctx.const(mean, name + "_mean")],
                                   hint=name + "_centred")
                env[name] = ctx.node("Div", [centred, ctx.const(std, name + "_std")],
                                     hint=name + "_normalized")
            continue
        srcs = [graph._in[name][p].src for p in range(len(info.inputs))]
        xs = [env[s] for s in srcs]
        if node.type == "Output":
            tt = info.inputs[0]
            ctx.nodes.append(helper.make_node("Identity", xs, [name], name=name))
            graph_outputs.append(helper.make_tensor_value_info(name, _ELEM[tt.dtype],
                                                               ["batch", *tt.shape]))
            continue
        emit = node.spec.onnx
        if emit is None:
            raise ExportError(f"{name}: layer type {node.type} has no ONNX form yet")
        env[name] = emit(ctx, name, info.values, xs, info.inputs)
    rank = {n: i for i, n in enumerate(graph.nodes)}  # inputs and outputs in the user's order
    graph_inputs.sort(key=lambda v: rank[v.name])
    graph_outputs.sort(key=lambda v: rank[v.name])
    onnx_graph = helper.make_graph(ctx.nodes, name, graph_inputs, graph_outputs,
                                   initializer=list(ctx.initializers.values()))
    model = helper.make_model(onnx_graph, producer_name="LayerForge",
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = IR_VERSION
    if normalization is not None:
        helper.set_model_props(model, {"normalization": normalization.describe()})
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:  # a bug in a declaration, not the user's fault
        raise ExportError(f"the ONNX model failed onnx.checker: {exc}") from None
    return model


def export_onnx(graph: Graph, state: Mapping[str, Any], path: str | os.PathLike[str],
                normalization: Normalization | None = None, opset: int = OPSET) -> Path:
    """Write ``graph`` with ``state``'s weights to ``path`` as ONNX (atomically)."""
    model = build_onnx(graph, state, normalization, opset, name=Path(path).stem or "layerforge")
    atomic_write_bytes(path, model.SerializeToString())
    return Path(path)
