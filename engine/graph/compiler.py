"""``compile(graph)``: the graph as an ``engine.nn.Module``.

Each layer node becomes a submodule attribute named after the node, so ``state_dict()`` keys are
``<node>.<param>`` (``conv1.weight``), the same keys as the generated PyTorch module, and stable
across save and load. ``forward`` runs the nodes in topological order.
"""

from __future__ import annotations

from typing import Any

from .. import nn
from .errors import CompileError, GraphError
from .model import Graph
from .registry import TensorType, get_spec
from .validate import DataSpec, errors, validate


class GraphModule(nn.Module):
    """A compiled graph. Call it with one tensor per Input node (in graph order); it returns the
    tensor reaching the Output node, or a tuple when there are several Outputs.

    Attributes:
        input_names, input_types: the Input nodes and the per-sample tensor each expects.
        output_names, output_types: the Output nodes and the tensor each receives.
        losses: Output name -> loss name (``cross_entropy``, ...).
    """

    def __init__(self, plan: list[tuple[str, str, tuple[str, ...], dict[str, Any], bool]],
                 inputs: list[tuple[str, TensorType]], outputs: list[tuple[str, str, TensorType]],
                 losses: dict[str, str]) -> None:
        super().__init__()
        # (node, type, source values, resolved params, has module): plain data, not modules
        self._plan = plan
        self.input_names = [n for n, _ in inputs]
        self.input_types = [t for _, t in inputs]
        self.output_names = [n for n, _, _ in outputs]
        self._output_sources = [s for _, s, _ in outputs]
        self.output_types = [t for _, _, t in outputs]
        self.losses = losses
        # After which step each value is no longer needed (frees memory in evaluation).
        last_use: dict[str, int] = {}
        for i, (_, _, srcs, _, _) in enumerate(plan):
            for s in srcs:
                last_use[s] = i
        keep = set(self._output_sources)
        self._release = [[s for s in dict.fromkeys(step[2])
                          if last_use[s] == i and s not in keep] for i, step in enumerate(plan)]

    def forward(self, *inputs: Any) -> Any:
        if len(inputs) != len(self.input_names):
            names = ", ".join(self.input_names)
            raise TypeError(f"the model takes {len(self.input_names)} input(s) ({names}), "
                            f"got {len(inputs)}")
        env: dict[str, Any] = {}
        for name, tt, x in zip(self.input_names, self.input_types, inputs):
            if tuple(x.shape[1:]) != tt.shape:
                raise ValueError(f"input {name} expects a batch shaped {tt}, got "
                                 f"{tuple(x.shape)}")
            env[name] = x
        for (name, type_, srcs, params, has_module), release in zip(self._plan, self._release):
            spec = get_spec(type_)
            xs = [env[s] for s in srcs]
            module = getattr(self, name) if has_module else None
            env[name] = spec.call(module, xs, params) if spec.call else module(xs[0])
            for s in release:
                del env[s]
        outs = tuple(env[s] for s in self._output_sources)
        return outs[0] if len(outs) == 1 else outs


def compile_graph(graph: Graph, data: DataSpec | None = None,
                  seed: int | None = None) -> GraphModule:
    """Build the engine model of ``graph``; CompileError (listing every problem) when the graph
    has errors. ``seed`` makes the initial weights reproducible."""
    problems = errors(validate(graph, data))
    if problems:
        raise CompileError(problems)
    if seed is not None:
        from .. import manual_seed  # noqa: PLC0415

        manual_seed(seed)
    infos = graph.infer()
    plan: list[tuple[str, str, tuple[str, ...], dict[str, Any], bool]] = []
    modules: dict[str, Any] = {}
    inputs: list[tuple[str, TensorType]] = []
    outputs: list[tuple[str, str, TensorType]] = []
    losses: dict[str, str] = {}
    for name in graph.topological_order():
        node = graph.node(name)
        spec = node.spec
        info = infos[name]
        srcs = tuple(graph._in[name][p].src for p in range(spec.n_inputs(info.values)))
        if node.type == "Input":
            inputs.append((name, info.output))
        elif node.type == "Output":
            outputs.append((name, srcs[0], info.inputs[0]))
            losses[name] = info.values["loss"]
        else:
            if spec.module is not None:
                modules[name] = build_module(name, node.type, info.values)
            plan.append((name, node.type, srcs, info.values, spec.module is not None))
    rank = {n: i for i, n in enumerate(graph.nodes)}  # inputs and outputs in the user's order
    inputs.sort(key=lambda item: rank[item[0]])
    outputs.sort(key=lambda item: rank[item[0]])
    model = GraphModule(plan, inputs, outputs, {n: losses[n] for n, _, _ in outputs})
    for name, module in modules.items():
        setattr(model, name, module)
    return model


def build_module(name: str, type_: str, values: dict[str, Any]) -> Any:
    """The engine module for one node (PyTorch's class and arguments)."""
    spec = get_spec(type_)
    cls = getattr(nn, spec.module, None)
    if cls is None:
        raise GraphError(f"{name}: layer type {type_} needs engine.nn.{spec.module}, which this "
                         "build of the engine does not have yet")
    args, kwargs = spec.module_args(values)
    return cls(*args, **kwargs)
