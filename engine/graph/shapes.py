"""Incremental shape inference.

Every node's result (``NodeInfo``) is cached. An edit marks the node it touches as dirty; ``run``
recomputes dirty nodes in topological order and pushes a node's successors only when its output
tensors actually changed, so changing a Dropout's ``p`` costs one node, and changing the Input's
shape costs exactly the nodes whose shapes move.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ShapeRuleError
from .registry import TensorType

if TYPE_CHECKING:
    from .model import Graph


class NodeInfo:
    """What inference knows about one node.

    Attributes:
        inputs: the tensor on each input port (None: unconnected or unknown upstream).
        outputs: the tensor on each output port (all None when unknown or invalid).
        values: every parameter resolved, inferred ones included (``in_features``).
        params: learnable parameter count.
        flops: floating-point operations per sample (forward; a multiply-add counts two).
        activation_bytes: bytes of the node's outputs per sample.
        error: why the node cannot work with its inputs or parameters (None when it can).
        error_kind: ``param`` or ``shape``; error_port: the input port at fault, if one is.
    """

    __slots__ = ("inputs", "outputs", "values", "params", "flops", "activation_bytes", "error",
                 "error_kind", "error_port", "param_problems")

    def __init__(self, inputs: tuple[TensorType | None, ...],
                 outputs: tuple[TensorType | None, ...], values: dict[str, Any], params: int = 0,
                 flops: int = 0, activation_bytes: int = 0, error: str | None = None,
                 error_kind: str | None = None, error_port: int | None = None,
                 param_problems: list[tuple[str, str]] | None = None) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.values = values
        self.params = params
        self.flops = flops
        self.activation_bytes = activation_bytes
        self.error = error
        self.error_kind = error_kind
        self.error_port = error_port
        self.param_problems = param_problems or []

    @property
    def output(self) -> TensorType | None:
        """The first output (most layers have exactly one)."""
        return self.outputs[0] if self.outputs else None

    @property
    def known(self) -> bool:
        return self.error is None and all(o is not None for o in self.outputs)

    def __repr__(self) -> str:
        outs = ", ".join(str(o) for o in self.outputs)
        return (f"NodeInfo(outputs=[{outs}], params={self.params}, flops={self.flops}"
                + (f", error={self.error!r})" if self.error else ")"))


class ShapeInference:
    """The cache behind ``Graph.infer``; the graph tells it what changed."""

    def __init__(self, graph: Graph) -> None:
        self._g = graph
        self._info: dict[str, NodeInfo] = {}
        self._dirty: set[str] = set()
        self._order: list[str] | None = None
        self._index: dict[str, int] = {}
        self.recomputed = 0  # nodes recomputed by the last run (benchmarks and tests read it)

    # ---------------------------------------------------------------- notifications
    def mark(self, name: str) -> None:
        self._dirty.add(name)

    def structure_changed(self) -> None:
        self._order = None

    def forget(self, name: str) -> None:
        self._info.pop(name, None)
        self._dirty.discard(name)

    def rename(self, old: str, new: str) -> None:
        if old in self._info:
            self._info[new] = self._info.pop(old)
        if old in self._dirty:
            self._dirty.discard(old)
            self._dirty.add(new)

    # ---------------------------------------------------------------- order
    def order(self) -> list[str]:
        """Topological order (Kahn, stable in insertion order); nodes on or after a cycle are
        left out."""
        if self._order is None:
            g = self._g
            indeg = {n: len(ins) for n, ins in g._in.items()}
            ready = [n for n in g._nodes if indeg[n] == 0]
            order: list[str] = []
            i = 0
            while i < len(ready):
                n = ready[i]
                i += 1
                order.append(n)
                for e in g._out[n]:
                    indeg[e.dst] -= 1
                    if indeg[e.dst] == 0:
                        ready.append(e.dst)
            self._order = order
            self._index = {n: k for k, n in enumerate(order)}
            blocked = [n for n in g._nodes if n not in self._index]
            for n in blocked:  # nodes caught in or behind a cycle have no shapes
                self._info[n] = _unknown(g, n)
                self._dirty.discard(n)
        return self._order

    # ---------------------------------------------------------------- run
    def run(self) -> dict[str, NodeInfo]:
        self.order()
        self.recomputed = 0
        if not self._dirty:
            return self._info
        index, info, g, order = self._index, self._info, self._g, self._order
        # One pass forward in topological order over a pending flag per position: cheaper than a
        # heap when an edit near the Input moves every shape, and it stops at the last pending.
        pending = [False] * len(order)
        count = 0
        for n in self._dirty:
            i = index.get(n)
            if i is not None and not pending[i]:
                pending[i] = True
                count += 1
        self._dirty.clear()
        if not count:
            return info
        start = min(i for i, flag in enumerate(pending) if flag)
        for i in range(start, len(order)):
            if not pending[i]:
                continue
            name = order[i]
            old = info.get(name)
            new = self._compute(name)
            info[name] = new
            self.recomputed += 1
            count -= 1
            if old is None or old.outputs != new.outputs:
                for e in g._out[name]:
                    j = index.get(e.dst)
                    if j is None:  # caught in a cycle downstream: it has no shapes to update
                        continue
                    if not pending[j]:
                        pending[j] = True
                        count += 1
            if not count:
                break
        return info

    def _compute(self, name: str) -> NodeInfo:
        g = self._g
        node = g._nodes[name]
        spec = node._spec
        values, problems = node.values()
        n_in = spec.n_inputs(values)
        connected = g._in[name]
        ins: list[TensorType | None] = [None] * n_in
        for port, e in connected.items():
            if port < n_in:
                src = self._info.get(e.src)
                if src is not None and e.src_port < len(src.outputs):
                    ins[port] = src.outputs[e.src_port]
        inputs = tuple(ins)
        unknown = (None,) * spec.outputs
        if problems:
            return NodeInfo(inputs, unknown, values, error="; ".join(m for _, m in problems),
                            error_kind="param", param_problems=problems)
        if None in inputs:
            return NodeInfo(inputs, unknown, values)
        for port, tt in enumerate(inputs):
            # merges compare each later input with input 0 (the first one reported is kept)
            reason = spec.check_input(values, port, tt, {0: inputs[0]} if port else {})
            if reason:
                return NodeInfo(inputs, unknown, values, error=reason, error_kind="shape",
                                error_port=port)
        try:
            res = spec.infer(values, inputs)  # type: ignore[arg-type]
        except ShapeRuleError as exc:
            return NodeInfo(inputs, unknown, values, error=str(exc), error_kind="shape",
                            error_port=exc.port)
        resolved = {**values, **res.inferred} if res.inferred else values
        act = 0
        for o in res.outputs:
            act += o.nbytes
        return NodeInfo(inputs, res.outputs, resolved, res.params, res.flops, act)


def _unknown(g: Graph, name: str) -> NodeInfo:
    node = g._nodes[name]
    values, problems = node.values()
    n_in = node.spec.n_inputs(values)
    return NodeInfo((None,) * n_in, (None,) * node.spec.outputs, values,
                    param_problems=problems)
