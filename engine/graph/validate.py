"""``validate(graph)``: every problem of a graph, each tied to its node (and port) with a message
that says what to change. The editor paints these on the canvas and lists them in the problems
panel; ``layerforge validate`` prints them; ``compile`` refuses a graph that has errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from .model import Graph, Node
from .registry import TensorType

CLASS_LOSSES = ("cross_entropy", "nll")
REGRESSION_LOSSES = ("mse", "l1")
BINARY_LOSSES = ("bce_with_logits", "bce")


@dataclass(frozen=True)
class Problem:
    """One problem. ``node``/``port`` locate it (None: the graph as a whole); ``code`` is one of
    empty, no_input, no_output, param, edge, cycle, unconnected, no_path, shape, loss, dataset,
    unused; ``severity`` is ``error`` (blocks training) or ``warning``."""

    node: str | None
    message: str
    code: str
    port: int | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = self.node or "graph"
        if self.port is not None:
            where += f" (input {self.port})"
        return f"{where}: {self.message}"


class DataSpec(NamedTuple):
    """What the chosen dataset gives, for the checks that need it.

    Args:
        name: the dataset's name, for messages.
        input: one sample's tensor (None: unknown until loaded).
        label_kind: ``class`` (integer class indices), ``regression`` (float targets) or None.
        num_classes: for ``class`` labels.
        target_shape: for ``regression`` targets, one sample's shape.
        classes_exact: the class count is the dataset's own (named classes); False when it
            was read from the largest label of a file, which more outputs may still cover.
    """

    name: str
    input: TensorType | None = None
    label_kind: str | None = None
    num_classes: int | None = None
    target_shape: tuple[int, ...] | None = None
    classes_exact: bool = True


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def validate(graph: Graph, data: DataSpec | None = None) -> list[Problem]:
    """Every problem of ``graph`` (and of it against ``data``), errors first, in node order."""
    problems: list[Problem] = []
    add = problems.append
    if not len(graph):
        add(Problem(None, "the graph is empty; add an Input, some layers and an Output", "empty"))
        return problems
    infos = graph.infer()
    nodes = graph._nodes
    inputs = [n for n in nodes.values() if n.type == "Input"]
    outputs = [n for n in nodes.values() if n.type == "Output"]
    if not inputs:
        add(Problem(None, "there is no Input node; add one (its shape follows the dataset)",
                    "no_input"))
    if not outputs:
        add(Problem(None, "there is no Output node; add one after the last layer and pick its "
                          "loss", "no_output"))

    for name, node in nodes.items():
        spec = node.spec
        values, param_problems = node.values()
        for _param, message in param_problems:
            add(Problem(name, message.removeprefix(f"{name}: "), "param"))
        n_in, n_out = spec.n_inputs(values), spec.outputs
        connected = graph._in[name]
        for port, e in sorted(connected.items()):
            if port >= n_in:
                add(Problem(name, f"a connection from {e.src} enters input {port}, but "
                                  f"{node.type} has {n_in} input(s); remove it", "edge", port))
        for e in graph._out[name]:
            if e.src_port >= n_out:
                add(Problem(name, f"a connection to {e.dst} leaves output {e.src_port}, but "
                                  f"{node.type} has {n_out} output(s); remove it", "edge"))
        for port in range(n_in):
            if port not in connected:
                what = (f"{name} is not connected; connect the last layer to it"
                        if node.type == "Output" else
                        f"input {port} is not connected; connect a layer's output to it or "
                        "remove the node")
                add(Problem(name, what, "unconnected", port if n_in > 1 else None))
        info = infos[name]
        if info.error_kind == "shape":
            add(Problem(name, info.error, "shape", info.error_port))

    for cycle in _cycles(graph):
        add(Problem(cycle[0], "cycle: " + " -> ".join([*cycle, cycle[0]]) +
                    "; remove one of these connections", "cycle"))

    _check_paths(graph, inputs, outputs, add)
    for out in outputs:
        _check_loss(graph, out.name, infos, data, add)
    if data is not None and data.input is not None:
        for inp in inputs:
            tt = infos[inp.name].output
            if tt is not None and tt != data.input:
                add(Problem(inp.name, f"shape {tt} ({tt.dtype}) does not match the dataset "
                                      f"{data.name}, which gives {data.input} "
                                      f"({data.input.dtype}); set shape to "
                                      f"{list(data.input.shape)}", "dataset"))
    problems.sort(key=lambda p: p.severity != "error")
    return problems


def _cycles(graph: Graph) -> list[list[str]]:
    """One cycle per strongly connected group of nodes caught in cycles."""
    ordered = set(graph.topological_order())
    rest = [n for n in graph._nodes if n not in ordered]
    found: list[list[str]] = []
    covered: set[str] = set()
    for start in rest:
        if start in covered:
            continue
        cycle = _find_cycle_from(graph, start, set(rest))
        if cycle:
            if not covered.intersection(cycle):
                found.append(cycle)
            covered.update(cycle)
    return found


def _find_cycle_from(graph: Graph, start: str, allowed: set[str]) -> list[str] | None:
    """A cycle through ``start`` if there is one (DFS over nodes left out of the order)."""
    for e in graph._out[start]:
        if e.dst in allowed:
            path = graph._path(e.dst, start)
            if path is not None:
                return [start, *path[:-1]]
    return None


def _check_paths(graph: Graph, inputs: list, outputs: list, add: Callable[[Problem], None]) -> None:
    # Walk back from each Output: does an Input feed it?  Walk forward from Outputs' ancestors:
    # which nodes feed no Output (their work would be wasted)?
    feeding: set[str] = set()
    for out in outputs:
        seen = {out.name}
        stack = [out.name]
        while stack:
            n = stack.pop()
            for e in graph._in[n].values():
                if e.src not in seen:
                    seen.add(e.src)
                    stack.append(e.src)
        if graph._in[out.name] and not any(graph._nodes[n].type == "Input" for n in seen):
            add(Problem(out.name, "no path from an Input reaches this Output; connect the chain "
                                  "that feeds it to an Input", "no_path"))
        feeding |= seen
    if outputs:
        for name in graph._nodes:
            if name not in feeding:
                add(Problem(name, "does not lead to any Output, so its result is unused; "
                                  "connect it onwards or remove it", "unused",
                            severity="warning"))


def _check_loss(graph: Graph, name: str, infos: dict, data: DataSpec | None,
                add: Callable[[Problem], None]) -> None:
    values, _ = graph._nodes[name].values()
    loss = values["loss"]
    tt = infos[name].inputs[0] if infos[name].inputs else None
    if tt is None or loss == "none":
        return
    edge = graph._in[name].get(0)
    prev = graph._nodes[edge.src] if edge else None
    prev_type = prev.type if prev else ""

    def problem(message: str, severity: str = "error") -> None:
        add(Problem(name, message, "loss", severity=severity))

    if tt.dtype != "float32":
        problem(f"loss {loss} needs float scores, but the output is {tt.dtype} {tt}")
        return
    if loss in CLASS_LOSSES:
        if len(tt.shape) < 1 or tt.shape[0] < 2:
            problem(f"{loss} needs one score per class (at least 2), got {tt}; for a single "
                    "score use bce_with_logits")
            return
        if loss == "cross_entropy" and prev_type in ("Softmax", "LogSoftmax"):
            problem(f"cross_entropy applies log-softmax itself; remove the {prev_type} "
                    f"{prev.name} before {name} (or use nll after a LogSoftmax)", "warning")
        if loss == "nll" and prev_type != "LogSoftmax":
            problem("nll expects log-probabilities; put a LogSoftmax before it or use "
                    "cross_entropy", "warning")
    if loss == "bce" and prev_type != "Sigmoid":
        problem("bce expects probabilities in [0, 1]; put a Sigmoid before it or use "
                "bce_with_logits", "warning")
    if data is None or data.label_kind is None:
        return
    if data.label_kind == "class":
        k = data.num_classes
        if loss in CLASS_LOSSES and len(tt.shape) > 1:
            _check_flat_scores(graph, name, infos, tt, data, add)
        elif loss in CLASS_LOSSES and k is not None and tt.shape[0] != k:
            _check_class_count(name, prev, tt, data, add)
        elif loss in REGRESSION_LOSSES:
            problem(f"{loss} needs targets shaped like the output {tt}, but {data.name} gives "
                    "class indices; use cross_entropy")
        elif loss in BINARY_LOSSES and not (k == 2 and tt.shape == (1,)):
            problem(f"{loss} needs one score per sample {tuple([1])} and 2 classes; {data.name} "
                    f"has {k} classes and the output is {tt}; use cross_entropy")
    elif data.label_kind == "regression":
        target = data.target_shape
        if loss in CLASS_LOSSES:
            problem(f"{loss} needs class-index labels, but {data.name} gives float targets; "
                    "use mse or l1")
        elif target is not None and tt.shape != tuple(target):
            problem(f"{loss} compares the output {tt} with targets "
                    f"{TensorType(tuple(target))} from {data.name}; make them equal")


def _check_class_count(name: str, prev: Node | None, tt: TensorType, data: DataSpec,
                       add: Callable[[Problem], None]) -> None:
    """Class scores against the dataset's classes, reported on the node that must change (the
    last Linear when there is one). Too few scores cannot train (a label would index past
    them); more than a file's largest label is only a warning (some classes may be absent)."""
    n, k = tt.shape[0], data.num_classes
    if n > k and not data.classes_exact:
        severity, why = "warning", (f"the labels of {data.name} go up to {k - 1}, so "
                                    f"{n - k} of the scores are never a right answer")
    else:
        severity, why = "error", f"{data.name} has {k} classes"
    if prev is not None and prev.type == "Linear":
        add(Problem(prev.name, f"outputs {n} class scores {tt} but {why}; set out_features "
                               f"to {k}", "dataset", severity=severity))
    else:
        add(Problem(name, f"the output has {n} class scores {tt} but {why}; make the last "
                          f"layer output {k} values", "dataset", severity=severity))


def _check_flat_scores(graph: Graph, name: str, infos: dict, tt: TensorType, data: DataSpec,
                       add: Callable[[Problem], None]) -> None:
    """One class label per sample needs scores shaped (N, classes). A Linear fed a batch of
    images (or any tensor of rank > 1) works on its last dimension only, so the usual cause is a
    missing Flatten before the first such Linear: name it."""
    chain, node = [], name
    while True:
        edge = graph._in[node].get(0)
        if edge is None or edge.src in chain:
            break
        node = edge.src
        chain.append(node)
    for n in reversed(chain):  # from the Input towards the Output
        ins = infos[n].inputs
        if graph._nodes[n].type == "Linear" and ins and ins[0] is not None and \
                len(ins[0].shape) > 1:
            add(Problem(n, f"receives {ins[0]} batches, but a classifier's Linear needs "
                           f"(N, features) to give (N, classes) scores: add a Flatten before "
                           f"{n}", "dataset"))
            return
    add(Problem(name, f"{data.name} gives one class label per sample, so the scores must be "
                      f"(N, classes), but the output is {tt}; add a Flatten or a pooling layer "
                      "before the last Linear", "dataset"))
