"""The layer graph: nodes (layers), edges (tensors between ports) and a small mutation API.

Plain Python, no Qt: the editor changes it only through the methods below (one undoable command
each), and every method either applies its edit fully or raises a ``GraphEditError`` that says
why, leaving the graph unchanged. Shapes are inferred incrementally: an edit marks the node it
touches, and ``infer()`` recomputes that node and only as much downstream as actually changed.
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Iterable, Iterator
from types import MappingProxyType
from typing import Any, NamedTuple

from .._readers import short_repr
from .errors import (
    ConnectionRefused,
    CycleError,
    GraphError,
    InvalidNameError,
    ParamError,
    UnknownNodeError,
)
from .registry import LayerSpec, TensorType, get_spec
from .shapes import NodeInfo, ShapeInference

MAX_POS = 1e7  # canvas units: far beyond any graph, still exact in a view's float math


# Attributes of nn.Module (engine and PyTorch) and names the generated code uses: a node with one
# of these names would clash with them as a submodule attribute or a local variable.
RESERVED_NAMES = frozenset("""
    T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda
    double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half ipu load_state_dict modules mtia named_buffers named_children
    named_modules named_parameters parameters register_backward_hook register_buffer
    register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter
    register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state
    set_submodule share_memory state_dict to to_empty train type xpu zero_grad training
    self torch nn F np math Model preprocess load_model
""".split())

# Short base names for new nodes (conv1, fc2, ...), as people name layers in PyTorch code.
_BASE_NAMES = {"Input": "input", "Output": "output", "Linear": "fc", "Conv1d": "conv",
               "Conv2d": "conv", "ConvTranspose2d": "deconv", "MaxPool2d": "pool",
               "AvgPool2d": "pool", "AdaptiveAvgPool2d": "gap", "BatchNorm1d": "bn",
               "BatchNorm2d": "bn", "LayerNorm": "ln", "GroupNorm": "gn", "Dropout": "drop",
               "Dropout2d": "drop", "Embedding": "embed"}


class Edge(NamedTuple):
    """A tensor from output ``src_port`` of ``src`` into input ``dst_port`` of ``dst``."""

    src: str
    dst: str
    src_port: int = 0
    dst_port: int = 0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"src": self.src, "dst": self.dst}
        if self.src_port:
            d["src_port"] = self.src_port
        if self.dst_port:
            d["dst_port"] = self.dst_port
        return d


class Node:
    """One layer: a unique name (its state_dict prefix), a registered type, the parameters the
    user set (JSON values) and a canvas position. Change it through ``Graph`` methods only."""

    __slots__ = ("name", "type", "_params", "pos", "_coerced", "_spec")

    def __init__(self, name: str, type_: str, params: dict[str, Any],
                 pos: tuple[float, float] = (0.0, 0.0)) -> None:
        self.name = name
        self.type = type_
        self._params = params
        self.pos = (float(pos[0]), float(pos[1]))
        self._coerced: tuple[dict[str, Any], list[tuple[str, str]]] | None = None
        self._spec = get_spec(type_)

    @property
    def spec(self) -> LayerSpec:
        return self._spec

    @property
    def params(self) -> MappingProxyType:
        """The stored parameters (read-only; use ``Graph.set_param``)."""
        return MappingProxyType(self._params)

    def values(self) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Every declared parameter in canonical form (defaults filled) and the problems of the
        stored values, computed once per change."""
        if self._coerced is None:
            self._coerced = self._spec.coerce_params(self._params, self.name)
        return self._coerced

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "params": dict(self._params),
                "pos": [self.pos[0], self.pos[1]]}

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.type!r}, {self._params!r})"


class Graph:
    """A DAG of layers. Build it with ``add_node`` and ``connect``; read shapes with ``infer``."""

    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {}
        self._in: dict[str, dict[int, Edge]] = {}
        self._out: dict[str, list[Edge]] = {}
        self._shapes = ShapeInference(self)
        self.version = 0  # bumped by every edit; views compare it to know when to redraw

    # ================================================================ reading
    @property
    def nodes(self) -> MappingProxyType:
        """name -> Node, in insertion order."""
        return MappingProxyType(self._nodes)

    @property
    def edges(self) -> list[Edge]:
        return [e for ins in self._in.values() for e in ins.values()]

    def node(self, name: str) -> Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise UnknownNodeError(f"no node named {name!r} in the graph") from None

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    def in_edges(self, name: str) -> dict[int, Edge]:
        """input port -> Edge for the connected inputs of ``name``."""
        return dict(self._in[self.node(name).name])

    def out_edges(self, name: str) -> list[Edge]:
        return list(self._out[self.node(name).name])

    def predecessors(self, name: str) -> list[str]:
        return [e.src for _, e in sorted(self._in[name].items())]

    def successors(self, name: str) -> list[str]:
        return list(dict.fromkeys(e.dst for e in self._out[name]))

    def nodes_of_type(self, *types: str) -> list[Node]:
        return [n for n in self._nodes.values() if n.type in types]

    def n_inputs(self, name: str) -> int:
        node = self.node(name)
        return node.spec.n_inputs(node.values()[0])

    def n_outputs(self, name: str) -> int:
        return self.node(name).spec.outputs

    # ================================================================ shapes
    def infer(self) -> dict[str, NodeInfo]:
        """name -> NodeInfo (output tensors, resolved parameters, statistics, shape error),
        recomputing only what the edits since the last call affect."""
        return self._shapes.run()

    def info(self, name: str) -> NodeInfo:
        self.node(name)
        return self.infer()[name]

    def output_type(self, name: str, port: int = 0) -> TensorType | None:
        outs = self.info(name).outputs
        return outs[port] if port < len(outs) else None

    def topological_order(self) -> list[str]:
        """Nodes in an order where every edge goes forward; nodes on or after a cycle are left
        out (``validate`` reports the cycle)."""
        return list(self._shapes.order())

    # ================================================================ editing
    def unique_name(self, base: str) -> str:
        """``base`` followed by the smallest number (from 1) that makes a free name."""
        base = "".join(c if c.isalnum() or c == "_" else "_" for c in base).strip("_") or "node"
        if base[0].isdigit():
            base = "n" + base
        i = 1
        while f"{base}{i}" in self._nodes or f"{base}{i}" in RESERVED_NAMES:
            i += 1
        return f"{base}{i}"

    def check_name(self, name: Any, *, exclude: str | None = None) -> None:
        """Raise InvalidNameError unless ``name`` can name a node (an identifier that is not
        reserved and not taken)."""
        if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
            raise InvalidNameError(f"{name!r} is not a valid node name: use letters, digits and "
                                   "underscores, starting with a letter (it becomes a Python "
                                   "attribute and the state_dict prefix)")
        if name.startswith("_") or keyword.iskeyword(name) or name in RESERVED_NAMES:
            raise InvalidNameError(f"{name!r} is reserved (a Python keyword, an nn.Module "
                                   "attribute or a name the exported code uses); pick another")
        if len(name) > 64:
            raise InvalidNameError(f"node name {name[:20]!r}... is longer than 64 characters")
        if name in self._nodes and name != exclude:
            raise InvalidNameError(f"a node named {name!r} already exists")

    def add_node(self, type_: str, name: str | None = None, params: dict[str, Any] | None = None,
                 pos: tuple[float, float] = (0.0, 0.0)) -> Node:
        """Add a layer of ``type_`` (defaults for parameters not given) and return it."""
        spec = get_spec(type_)
        name = name if name is not None else self.unique_name(_BASE_NAMES.get(type_,
                                                                              type_.lower()))
        self.check_name(name)
        values = spec.defaults()
        for key, value in (params or {}).items():
            values[key] = self._checked_value(spec, name, key, value)
        node = Node(name, type_, values, pos)
        self._insert(node)
        return node

    def _insert(self, node: Node) -> None:
        self._nodes[node.name] = node
        self._in[node.name] = {}
        self._out[node.name] = []
        self._changed(node.name, structure=True)

    def remove_node(self, name: str) -> dict[str, Any]:
        """Remove a node and its edges; returns a snapshot that ``restore_node`` puts back (undo).
        """
        node = self.node(name)
        edges = [*self._in[name].values(), *self._out[name]]
        snapshot = {"node": node.to_dict(), "edges": [e.to_dict() for e in edges],
                    "index": list(self._nodes).index(name)}
        for e in edges:
            self._unlink(e)
        del self._nodes[name], self._in[name], self._out[name]
        self._shapes.forget(name)
        self._changed(None, structure=True)
        return snapshot

    def restore_node(self, snapshot: dict[str, Any]) -> Node:
        """Put back a node removed by ``remove_node`` with the edges it had."""
        d = snapshot["node"]
        self.check_name(d["name"])
        get_spec(d["type"])
        for e in snapshot["edges"]:
            other = e["dst"] if e["src"] == d["name"] else e["src"]
            if other not in self._nodes and other != d["name"]:
                raise UnknownNodeError(f"cannot restore {d['name']!r}: its neighbour {other!r} "
                                       "is gone")
        node = Node(d["name"], d["type"], dict(d["params"]), tuple(d.get("pos", (0, 0))))
        self._insert(node)
        index = snapshot.get("index")
        if index is not None and index < len(self._nodes) - 1:
            # back in its old place, so undo gives the same file (node and edge order) as before
            self._reorder(d["name"], index)
        for e in snapshot["edges"]:
            self._link(Edge(e["src"], e["dst"], e.get("src_port", 0), e.get("dst_port", 0)))
        return node

    def can_connect(self, src: str, dst: str, src_port: int = 0, dst_port: int = 0) -> str | None:
        """Why output ``src_port`` of ``src`` cannot feed input ``dst_port`` of ``dst`` (None if it
        can). The editor calls this while a wire is dragged."""
        try:
            self._check_connect(src, dst, src_port, dst_port)
        except ConnectionRefused as exc:
            return str(exc)
        return None

    def connect(self, src: str, dst: str, src_port: int = 0, dst_port: int = 0) -> Edge:
        """Connect, or raise ConnectionRefused / CycleError saying why not."""
        self._check_connect(src, dst, src_port, dst_port)
        edge = Edge(src, dst, src_port, dst_port)
        self._link(edge)
        return edge

    def _check_connect(self, src: str, dst: str, src_port: int, dst_port: int) -> None:
        s, d = self.node(src), self.node(dst)
        if src == dst:
            raise ConnectionRefused(f"cannot connect {src} to itself")
        n_out = s.spec.outputs
        if not 0 <= src_port < n_out:
            raise ConnectionRefused(f"{src} ({s.type}) has no outputs" if n_out == 0 else
                                    f"{src} has {n_out} output(s); there is no output {src_port}")
        n_in = self.n_inputs(dst)
        if not 0 <= dst_port < n_in:
            raise ConnectionRefused(f"{dst} ({d.type}) has no inputs" if n_in == 0 else
                                    f"{dst} has {n_in} input(s); there is no input {dst_port}")
        path = self._path(dst, src)
        if path is not None:
            raise CycleError(f"connecting {src} -> {dst} would make a cycle: "
                             + " -> ".join([src, *path]))
        taken = self._in[dst].get(dst_port)
        if taken is not None:
            raise ConnectionRefused(f"input {dst_port} of {dst} is already connected to "
                                    f"{taken.src}; disconnect it first")
        tt = self.output_type(src, src_port)
        if tt is None:
            return  # unknown upstream shape: validate() will say why later
        infos = self.infer()
        others = {}
        for port, e in self._in[dst].items():
            outs = infos[e.src].outputs
            if e.src_port < len(outs) and outs[e.src_port] is not None:
                others[port] = outs[e.src_port]
        reason = d.spec.check_input(d.values()[0], dst_port, tt, others)
        if reason:
            raise ConnectionRefused(f"cannot connect {src} {tt} to {dst}: {reason}")

    def _path(self, start: str, goal: str) -> list[str] | None:
        """A path start -> ... -> goal along edges, or None (depth-first, iterative)."""
        stack, parent = [start], {start: ""}
        while stack:
            n = stack.pop()
            if n == goal:
                path = [n]
                while parent[path[-1]]:
                    path.append(parent[path[-1]])
                return path[::-1]
            for e in self._out[n]:
                if e.dst not in parent:
                    parent[e.dst] = n
                    stack.append(e.dst)
        return None

    def disconnect(self, src: str, dst: str, src_port: int = 0, dst_port: int = 0) -> Edge:
        """Remove the edge ``src:src_port -> dst:dst_port`` (and return it)."""
        edge = Edge(src, dst, src_port, dst_port)
        if self._in.get(dst, {}).get(dst_port) != edge:
            raise ConnectionRefused(f"there is no connection from output {src_port} of {src} "
                                    f"to input {dst_port} of {dst}")
        self._unlink(edge)
        self._changed(dst, structure=True)
        return edge

    def _link(self, edge: Edge) -> None:
        self._in[edge.dst][edge.dst_port] = edge
        self._out[edge.src].append(edge)
        self._changed(edge.dst, structure=True)

    def _unlink(self, edge: Edge) -> None:
        del self._in[edge.dst][edge.dst_port]
        self._out[edge.src].remove(edge)
        if edge.dst in self._nodes:
            self._shapes.mark(edge.dst)

    def set_param(self, name: str, param: str, value: Any) -> Any:
        """Set one parameter (refused with the allowed range if invalid); returns the old value
        (None when it was unset) for undo."""
        node = self.node(name)
        spec = node.spec
        new = self._checked_value(spec, name, param, value)
        if spec.inputs == param:  # fewer ports must not strand a connection
            stranded = [p for p in self._in[name] if p >= new]
            if stranded:
                raise ParamError(f"{name}: input {max(stranded)} is connected; disconnect it "
                                 f"before setting {param} to {new}")
        old = node._params.get(param)
        node._params[param] = new
        node._coerced = None
        self._changed(name)
        return old

    def restore_param(self, name: str, param: str, value: Any, present: bool = True) -> None:
        """Put a parameter back exactly as ``set_param`` found it (undo): the stored value even
        if it is invalid (a hand-edited file), or no stored value when ``present`` is False."""
        node = self.node(name)
        if present:
            node._params[param] = value
        else:
            node._params.pop(param, None)
        node._coerced = None
        self._changed(name)

    def _reorder(self, name: str, index: int) -> None:
        """Move node ``name`` to position ``index`` of the node order."""
        names = [n for n in self._nodes if n != name]
        names.insert(index, name)
        self._nodes = {n: self._nodes[n] for n in names}
        self._in = {n: self._in[n] for n in names}
        self._out = {n: self._out[n] for n in names}
        self._changed(None, structure=True)

    @staticmethod
    def _checked_value(spec: LayerSpec, name: str, param: str, value: Any) -> Any:
        p = spec.param(param)
        if p is None:
            known = ", ".join(q.name for q in spec.editable_params) or "none"
            raise ParamError(f"{name}: {spec.type} has no parameter {param!r} (it has: {known})")
        if p.inferred:
            raise ParamError(f"{name}: {param} is inferred from the incoming tensor and cannot "
                             "be set")
        return p.to_json(p.coerce(value, name))

    def rename(self, old: str, new: str) -> None:
        """Rename a node (its edges follow)."""
        node = self.node(old)
        if new == old:
            return
        self.check_name(new)
        node.name = new
        node._coerced = None
        self._nodes = {(new if k == old else k): v for k, v in self._nodes.items()}
        ins, outs = self._in[old], self._out[old]
        # same place in the order (edges are listed in node order), so renames undo exactly
        self._in = {(new if k == old else k): ({} if k == old else v)
                    for k, v in self._in.items()}
        self._out = {(new if k == old else k): ([] if k == old else v)
                     for k, v in self._out.items()}
        for port, e in ins.items():
            ne = e._replace(dst=new)
            self._in[new][port] = ne
            lst = self._out[e.src]
            lst[lst.index(e)] = ne
        for e in outs:
            ne = e._replace(src=new)
            self._out[new].append(ne)
            self._in[e.dst][e.dst_port] = ne
        self._shapes.rename(old, new)
        self._changed(None, structure=True)

    def move(self, name: str, pos: tuple[float, float]) -> tuple[float, float]:
        """Move a node on the canvas; returns the old position. Shapes are not affected."""
        node = self.node(name)
        old = node.pos
        node.pos = (float(pos[0]), float(pos[1]))
        self.version += 1
        return old

    def _changed(self, name: str | None, structure: bool = False) -> None:
        self.version += 1
        if structure:
            self._shapes.structure_changed()
        if name is not None:
            self._shapes.mark(name)

    # ================================================================ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return {"nodes": [n.to_dict() for n in self._nodes.values()],
                "edges": [e.to_dict() for e in self.edges]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "graph") -> Graph:
        """Rebuild a graph. Structural damage (a missing field, an edge to an unknown node, two
        edges into one input) raises GraphError naming the location (``graph.edges[3]``); bad
        parameter values and shape problems are kept and reported by ``validate``."""
        g = cls()
        if not isinstance(data, dict):
            raise GraphError(f"{where}: expected an object with 'nodes' and 'edges'")
        nodes, edges = data.get("nodes", []), data.get("edges", [])
        if not isinstance(nodes, list) or not isinstance(edges, list):
            raise GraphError(f"{where}: 'nodes' and 'edges' must be lists")
        for i, d in enumerate(nodes):
            at = f"{where}.nodes[{i}]"
            if not isinstance(d, dict) or not isinstance(d.get("type"), str):
                raise GraphError(f"{at}: expected an object with a 'name' and a 'type'")
            try:
                get_spec(d["type"])
                g.check_name(d.get("name"))
            except GraphError as exc:
                raise GraphError(f"{at}: {exc}") from None
            params = d.get("params", {})
            pos = d.get("pos", [0, 0])
            if not isinstance(params, dict):
                raise GraphError(f"{at}.params: expected an object")
            if (not isinstance(pos, list | tuple) or len(pos) != 2
                    or not all(isinstance(v, int | float) and not isinstance(v, bool)
                               and math.isfinite(v) and abs(v) <= MAX_POS for v in pos)):
                raise GraphError(f"{at}.pos: expected [x, y] numbers within ±{MAX_POS:g} "
                                 f"(the node's place on the canvas), got "
                                 f"{short_repr(pos, 60, '…')}; set it to [0, 0] and use Auto "
                                 f"Layout")
            g._insert(Node(d["name"], d["type"], dict(params), tuple(pos)))
        for i, e in enumerate(edges):
            g._load_edge(e, f"{where}.edges[{i}]")
        return g

    def _load_edge(self, e: Any, at: str) -> None:
        if not isinstance(e, dict):
            raise GraphError(f"{at}: expected an object with 'src' and 'dst'")
        src, dst = e.get("src"), e.get("dst")
        sp, dp = e.get("src_port", 0), e.get("dst_port", 0)
        for key, end in (("src", src), ("dst", dst)):
            if not isinstance(end, str):
                raise GraphError(f"{at}.{key}: expected a node's name (a string), got "
                                 f"{short_repr(end, 60, '…')}")
            if end not in self._nodes:
                raise GraphError(f"{at}: no node named {end!r}")
        if not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in (sp, dp)):
            raise GraphError(f"{at}: ports must be integers >= 0")
        taken = self._in[dst].get(dp)
        if taken is not None:
            raise GraphError(f"{at}: input {dp} of {dst} is connected twice (from {taken.src} "
                             f"and from {src})")
        self._link(Edge(src, dst, sp, dp))

    def copy(self) -> Graph:
        return Graph.from_dict(self.to_dict())

    @classmethod
    def sequential(cls, input_shape: Iterable[int], *layers: str | tuple[str, dict[str, Any]],
                   dtype: str = "float32", loss: str = "cross_entropy", input_name: str = "x",
                   output_name: str = "out") -> Graph:
        """Input -> layers -> Output in a row; each layer is a type name or a ``(type, params)``
        pair. For scripts and tests: ``Graph.sequential((784,), ("Linear", {"out_features":
        10}))``."""
        g = cls()
        names = [g.add_node("Input", input_name, {"shape": list(input_shape), "dtype": dtype}).name]
        for i, layer in enumerate(layers, 1):
            type_, params = (layer, {}) if isinstance(layer, str) else layer
            names.append(g.add_node(type_, params=params, pos=(160.0 * i, 0.0)).name)
        names.append(g.add_node("Output", output_name, {"loss": loss},
                                pos=(160.0 * (len(layers) + 1), 0.0)).name)
        g.chain(*names)
        return g

    def add_edges(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Connect ``(src, dst)`` pairs on port 0 (handy for chains in code and tests)."""
        for src, dst in pairs:
            self.connect(src, dst)

    def chain(self, *names: str) -> None:
        """Connect ``names[0] -> names[1] -> ...`` on port 0."""
        self.add_edges(zip(names, names[1:]))
