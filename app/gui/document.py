"""The project being edited: the model, its one undo stack, and the signals the views follow.

Views never change the graph themselves. They call the public edit methods here (``add_node``,
``connect``, ``set_param``, ...), which check the edit, say why when it is refused (raising the
graph's own ``GraphEditError``), and push one ``QUndoCommand``. The commands call the ``apply_*``
primitives, which change the model and emit fine-grained signals, so a view updates only the
items an edit touched. Shape inference, validation and statistics run once per undo-stack step.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from app.core.memory import estimator_optimizer
from app.core.project import Project
from engine.graph import (
    ConnectionRefused,
    Edge,
    Graph,
    GraphEditError,
    NodeInfo,
    ParamError,
    Problem,
    get_spec,
    training_memory,
)

from . import commands as cmd

Pos = tuple[float, float]


class GraphStats(NamedTuple):
    """Totals for the status bar."""

    nodes: int
    edges: int
    params: int
    flops: int
    activation_bytes: int
    training_bytes: int
    batch_size: int
    optimizer: str


class GraphDocument(QObject):
    """A ``Project`` plus a ``QUndoStack``; every change to the project goes through here."""

    sigNodeAdded = Signal(str)
    sigNodeRemoved = Signal(str)
    sigNodeRenamed = Signal(str, str)
    sigNodesMoved = Signal(list)  # names
    sigNodeParamsChanged = Signal(str)
    sigEdgeAdded = Signal(object)  # Edge
    sigEdgeRemoved = Signal(object)
    sigInfosChanged = Signal(list)  # names whose NodeInfo (shapes, counts, error) changed
    sigProblemsChanged = Signal(list)  # every Problem of the project
    sigStatsChanged = Signal(object)  # GraphStats
    sigSettingChanged = Signal(tuple)  # path into the project's dataset/training sections
    sigReset = Signal()  # a different project replaced the whole graph
    sigModifiedChanged = Signal(bool)

    def __init__(self, project: Project | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.indexChanged.connect(self._on_step)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self._project = project if project is not None else Project()
        self._seen: dict[str, NodeInfo] = {}
        self._needs_validation = True
        self.problems: list[Problem] = []
        self.problems_by_node: dict[str | None, list[Problem]] = {}
        self.batch_size = int(self._project.training.get("batch_size", 64) or 64)
        self.stats = GraphStats(0, 0, 0, 0, 0, 0, self.batch_size, "adam")
        self.locked_reason: str | None = None  # set while the graph is being trained
        self.refresh()

    # ================================================================ reading
    @property
    def project(self) -> Project:
        return self._project

    @property
    def graph(self) -> Graph:
        return self._project.graph

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    def info(self, name: str) -> NodeInfo:
        return self.graph.infer()[name]

    def serialized(self) -> dict[str, Any]:
        """The project as it would be saved (tests compare these)."""
        return self._project.to_dict()

    # ================================================================ whole project
    def set_project(self, project: Project) -> None:
        """Replace the project (New, Open, Recover): a fresh undo history and a full redraw."""
        self._project = project
        self._seen = {}
        self._needs_validation = True
        self.batch_size = int(project.training.get("batch_size", 64) or 64)
        self.undo_stack.blockSignals(True)  # a clear() must not refresh the half-swapped state
        self.undo_stack.clear()
        self.undo_stack.blockSignals(False)
        self.sigReset.emit()
        self.refresh()
        self.sigModifiedChanged.emit(False)

    def mark_saved(self) -> None:
        self.undo_stack.setClean()

    def mark_unsaved(self) -> None:
        """Changes that no undo step describes (a recovered autosave) still need saving."""
        self.undo_stack.resetClean()

    def revalidate(self) -> None:
        """Validate again although nothing was edited: what is known of the dataset changed
        (a file was probed in the background)."""
        self._needs_validation = True
        self.refresh()

    # ================================================================ checks
    def check_param(self, name: str, param: str, value: Any) -> Any:
        """The stored (JSON) form of ``value`` for ``name.param``; ParamError saying why not."""
        node = self.graph.node(name)
        spec = node.spec
        p = spec.param(param)
        if p is None:
            known = ", ".join(q.name for q in spec.editable_params) or "none"
            raise ParamError(f"{name}: {spec.type} has no parameter {param!r} (it has: {known})")
        if p.inferred:
            raise ParamError(f"{name}: {param} is inferred from the incoming tensor and cannot "
                             "be set")
        new = p.to_json(p.coerce(value, name))
        if spec.inputs == param:
            stranded = [port for port in self.graph.in_edges(name) if port >= new]
            if stranded:
                raise ParamError(f"{name}: input {max(stranded)} is connected; disconnect it "
                                 f"before setting {param} to {new}")
        return new

    def connection_refusal(self, src: str, dst: str, src_port: int = 0,
                           dst_port: int = 0) -> str | None:
        """Why the wire cannot be made (None when it can); asked while a wire is dragged."""
        return self.graph.can_connect(src, dst, src_port, dst_port)

    # ================================================================ edits (undoable)
    def set_locked(self, reason: str | None) -> None:
        """Refuse graph edits while ``reason`` is set (the dashboard trains this graph)."""
        self.locked_reason = reason

    def _check_unlocked(self) -> None:
        if self.locked_reason:
            raise GraphEditError(f"the graph cannot be edited now: {self.locked_reason}")

    @contextlib.contextmanager
    def macro(self, text: str) -> Iterator[None]:
        """Group the edits made inside into one undo step."""
        self.undo_stack.beginMacro(text)
        try:
            yield
        finally:
            self.undo_stack.endMacro()

    def push(self, command: Any) -> None:
        """Push a command made elsewhere (the dashboard's settings edits)."""
        self.undo_stack.push(command)

    def add_node(self, type_: str, pos: Pos = (0.0, 0.0), params: dict[str, Any] | None = None,
                 name: str | None = None) -> str:
        """Add a layer; returns its name. Unknown types and bad values raise GraphEditError."""
        self._check_unlocked()
        spec = get_spec(type_)
        if name is None:
            name = self._fresh_name(type_)
        else:
            self.graph.check_name(name)
        values = spec.defaults()
        for key, value in (params or {}).items():
            p = spec.param(key)
            if p is None or p.inferred:
                known = ", ".join(q.name for q in spec.editable_params) or "none"
                raise ParamError(f"{name}: {type_} has no settable parameter {key!r} "
                                 f"(it has: {known})")
            values[key] = p.to_json(p.coerce(value, name))
        self.undo_stack.push(cmd.AddNodeCommand(self, type_, name, values,
                                                (float(pos[0]), float(pos[1]))))
        return name

    def insert_on_edge(self, type_: str, edge: Edge, pos: Pos = (0.0, 0.0),
                       params: dict[str, Any] | None = None) -> tuple[str, str | None]:
        """Add a layer into a wire: ``src -> new -> dst`` as one undo step, as dropping a layer
        on a wire does in Deep Network Designer and Node-RED. Returns the new node's name and,
        when the wire could not take it, why (the layer is then added beside the wire and the
        wire is kept, so nothing the user made is lost)."""
        self._check_unlocked()
        if edge not in self.graph.edges:
            raise ConnectionRefused(f"there is no connection from {edge.src} to {edge.dst}")
        with self.macro(f"Insert {type_} between {edge.src} and {edge.dst}"):
            name = self.add_node(type_, pos, params)
            reason = self.connection_refusal(edge.src, name, edge.src_port, 0)
            if reason is None:
                self.undo_stack.push(cmd.DisconnectCommand(self, edge))
                reason = self.connection_refusal(name, edge.dst, 0, edge.dst_port)
                if reason is None:
                    self.undo_stack.push(cmd.ConnectCommand(
                        self, Edge(edge.src, name, edge.src_port, 0)))
                    self.undo_stack.push(cmd.ConnectCommand(
                        self, Edge(name, edge.dst, 0, edge.dst_port)))
                else:
                    self.undo_stack.push(cmd.ConnectCommand(self, edge))  # put the wire back
        return name, reason

    def _fresh_name(self, type_: str) -> str:
        # Graph.add_node picks the name; a probe on a scratch graph would cost a copy, so ask the
        # graph's own naming rule with the same base name it would use.
        from engine.graph import model  # noqa: PLC0415

        bases = getattr(model, "_BASE_NAMES", {})
        return self.graph.unique_name(bases.get(type_, type_.lower()))

    def delete(self, nodes: Iterable[str] = (), edges: Iterable[Edge] = ()) -> None:
        """Delete nodes (with their wires) and wires, as one undo step."""
        self._check_unlocked()
        nodes = [n for n in dict.fromkeys(nodes) if n in self.graph]
        gone = set(nodes)
        edges = [e for e in dict.fromkeys(edges)
                 if e.src not in gone and e.dst not in gone and e in self.graph.edges]
        if not nodes and not edges:
            return
        parts = []
        if nodes:
            parts.append(nodes[0] if len(nodes) == 1 else f"{len(nodes)} nodes")
        if edges:
            parts.append("1 wire" if len(edges) == 1 else f"{len(edges)} wires")
        with self.macro("Delete " + " and ".join(parts)):
            for e in edges:
                self.undo_stack.push(cmd.DisconnectCommand(self, e))
            for n in nodes:
                self.undo_stack.push(cmd.RemoveNodeCommand(self, n))

    def connect(self, src: str, dst: str, src_port: int = 0, dst_port: int = 0) -> Edge:
        """Wire output ``src_port`` of ``src`` to input ``dst_port`` of ``dst``, or raise
        ConnectionRefused saying why not (incompatible tensor, cycle, port taken)."""
        self._check_unlocked()
        reason = self.graph.can_connect(src, dst, src_port, dst_port)
        if reason is not None:
            raise ConnectionRefused(reason)
        edge = Edge(src, dst, src_port, dst_port)
        self.undo_stack.push(cmd.ConnectCommand(self, edge))
        return edge

    def disconnect(self, edge: Edge) -> None:
        self._check_unlocked()
        if edge not in self.graph.edges:
            raise ConnectionRefused(f"there is no connection from {edge.src} to {edge.dst}")
        self.undo_stack.push(cmd.DisconnectCommand(self, edge))

    def set_param(self, name: str, param: str, value: Any) -> None:
        """Set a parameter (ParamError with the allowed values if refused); setting the value a
        parameter already has is not an edit."""
        self._check_unlocked()
        new = self.check_param(name, param, value)
        params = self.graph.node(name).params
        if param in params and params[param] == new:
            return
        self.undo_stack.push(cmd.SetParamCommand(self, name, param, new))

    def rename(self, old: str, new: str) -> None:
        """Rename a node (InvalidNameError saying why a name cannot be used)."""
        self._check_unlocked()
        self.graph.node(old)
        if new == old:
            return
        self.graph.check_name(new, exclude=old)
        self.undo_stack.push(cmd.RenameCommand(self, old, new))

    def move_nodes(self, positions: dict[str, Pos], text: str = "") -> None:
        """Move nodes to new canvas positions as one step (a drag, an auto-layout)."""
        self._check_unlocked()
        moves = {}
        for name, pos in positions.items():
            old = self.graph.node(name).pos
            new = (float(pos[0]), float(pos[1]))
            if old != new:
                moves[name] = (old, new)
        if moves:
            self.undo_stack.push(cmd.MoveNodesCommand(self, moves, text))

    def insert_fragment(self, nodes: list[dict[str, Any]], edges: list[dict[str, Any]],
                        offset: Pos, text: str = "Paste") -> list[str]:
        """Add copies of ``nodes`` (``Node.to_dict`` form) moved by ``offset`` and the ``edges``
        among them, renaming where a name is taken; returns the new names. Stored values are
        copied as they are, so a copy is exact even of a node a hand-edited file made invalid."""
        self._check_unlocked()
        names: dict[str, str] = {}
        taken = set(self.graph.nodes)
        snapshots = []
        for d in nodes:
            get_spec(d["type"])
            name = d["name"]
            try:
                if name in taken:
                    raise GraphEditError(name)
                self.graph.check_name(name)
            except GraphEditError:
                name = _unique(self.graph, _base(name), taken)
            taken.add(name)
            names[d["name"]] = name
            pos = (float(d["pos"][0]) + offset[0], float(d["pos"][1]) + offset[1])
            node = {"name": name, "type": d["type"], "params": copy.deepcopy(d["params"]),
                    "pos": [pos[0], pos[1]]}
            snapshots.append({"node": node, "edges": []})
        order = {d["name"]: i for i, d in enumerate(nodes)}
        seen_inputs: set[tuple[str, int]] = set()
        for e in edges:
            src, dst = e["src"], e["dst"]
            if src not in names or dst not in names:
                continue
            key = (dst, e.get("dst_port", 0))
            if key in seen_inputs:
                raise GraphEditError(f"{text}: input {key[1]} of {dst} is connected twice")
            seen_inputs.add(key)
            new_edge = {"src": names[src], "dst": names[dst], "src_port": e.get("src_port", 0),
                        "dst_port": e.get("dst_port", 0)}
            # an edge is restored with whichever of its two nodes comes later
            later = max(order[src], order[dst])
            snapshots[later]["edges"].append(new_edge)
        if not snapshots:
            return []
        with self.macro(f"{text} {len(snapshots)} node{'s' if len(snapshots) != 1 else ''}"):
            for snap in snapshots:
                self.undo_stack.push(cmd.RestoreNodeCommand(self, snap))
        return list(names.values())

    def set_setting(self, path: tuple[str, ...], value: Any, text: str = "") -> None:
        """Change ``project.<section>.<key>...`` as an undoable edit (``path[0]`` is ``dataset``
        or ``training``)."""
        if not path or path[0] not in ("dataset", "training"):
            raise ValueError(f"setting path must start with 'dataset' or 'training', got {path}")
        self.undo_stack.push(cmd.SetSettingCommand(self, tuple(path), value, text))

    # ================================================================ primitives (commands only)
    def apply_add(self, type_: str, name: str, params: dict[str, Any], pos: Pos) -> None:
        self.graph.add_node(type_, name, dict(params), pos)
        self._needs_validation = True
        self.sigNodeAdded.emit(name)

    def apply_remove(self, name: str) -> dict[str, Any]:
        edges = [*self.graph.in_edges(name).values(), *self.graph.out_edges(name)]
        snapshot = self.graph.remove_node(name)
        self._seen.pop(name, None)
        self._needs_validation = True
        for e in edges:
            self.sigEdgeRemoved.emit(e)
        self.sigNodeRemoved.emit(name)
        return snapshot

    def apply_restore(self, snapshot: dict[str, Any]) -> None:
        node = self.graph.restore_node(snapshot)
        self._needs_validation = True
        self.sigNodeAdded.emit(node.name)
        for e in snapshot["edges"]:
            self.sigEdgeAdded.emit(Edge(e["src"], e["dst"], e.get("src_port", 0),
                                        e.get("dst_port", 0)))

    def apply_connect(self, edge: Edge) -> None:
        self.graph.connect(*edge)
        self._needs_validation = True
        self.sigEdgeAdded.emit(edge)

    def apply_disconnect(self, edge: Edge) -> None:
        self.graph.disconnect(*edge)
        self._needs_validation = True
        self.sigEdgeRemoved.emit(edge)

    def apply_set_param(self, name: str, param: str, value: Any) -> tuple[bool, Any]:
        params = self.graph.node(name).params
        old = (param in params, copy.deepcopy(params.get(param)))
        self.graph.set_param(name, param, value)
        self._needs_validation = True
        self.sigNodeParamsChanged.emit(name)
        return old

    def apply_restore_param(self, name: str, param: str, value: Any, present: bool) -> None:
        self.graph.restore_param(name, param, copy.deepcopy(value), present)
        self._needs_validation = True
        self.sigNodeParamsChanged.emit(name)

    def apply_rename(self, old: str, new: str) -> None:
        self.graph.rename(old, new)
        self._seen.pop(old, None)
        self._needs_validation = True
        self.sigNodeRenamed.emit(old, new)

    def apply_moves(self, positions: dict[str, Pos]) -> None:
        for name, pos in positions.items():
            self.graph.move(name, pos)
        self.sigNodesMoved.emit(list(positions))

    def apply_setting(self, path: tuple[str, ...], value: Any, present: bool) -> tuple[bool, Any]:
        section: Any = getattr(self._project, path[0])
        for key in path[1:-1]:
            section = section.setdefault(key, {})
        key = path[-1]
        old = (key in section, copy.deepcopy(section.get(key)))
        if present:
            section[key] = copy.deepcopy(value)
        else:
            section.pop(key, None)
        if path[:2] == ("training", "batch_size") and isinstance(value, int):
            self.batch_size = value
        self._needs_validation = True  # the dataset decides the Input shape and the labels
        self.sigSettingChanged.emit(tuple(path))
        return old

    # ================================================================ refresh
    def _on_clean_changed(self, clean: bool) -> None:
        self.sigModifiedChanged.emit(not clean)

    def _on_step(self, _index: int) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Re-infer shapes (only what changed), re-validate, recount; emit what changed."""
        infos = self.graph.infer()
        seen = self._seen
        changed = [n for n, info in infos.items() if seen.get(n) is not info]
        if changed:
            for n in changed:
                seen[n] = infos[n]
            self.sigInfosChanged.emit(changed)
        if self._needs_validation:
            self._needs_validation = False
            problems = self._project.validate()
            if problems != self.problems:
                self.problems = problems
                by_node: dict[str | None, list[Problem]] = {}
                for p in problems:
                    by_node.setdefault(p.node, []).append(p)
                self.problems_by_node = by_node
                self.sigProblemsChanged.emit(problems)
            self._update_stats(infos)

    def _update_stats(self, infos: dict[str, NodeInfo]) -> None:
        params = flops = act = 0
        for info in infos.values():
            params += info.params
            flops += info.flops
            act += info.activation_bytes
        name = estimator_optimizer(self._project.training)
        stats = GraphStats(len(self.graph), len(self.graph.edges), params, flops, act,
                           training_memory(params, act, self.batch_size, name), self.batch_size,
                           name)
        if stats != self.stats:
            self.stats = stats
            self.sigStatsChanged.emit(stats)


def _base(name: str) -> str:
    """``conv12`` -> ``conv``: the part a fresh number replaces (made a valid name stem)."""
    stem = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)
    stem = stem.rstrip("0123456789").strip("_")[:48] or "node"
    return "n" + stem if stem[0].isdigit() else stem


def _unique(graph: Graph, base: str, taken: set[str]) -> str:
    """``base`` + the smallest number giving a name that is free in the graph and in ``taken``
    (names already handed out by the same paste)."""
    i = 1
    while True:
        name = f"{base}{i}"
        if name not in taken:
            try:
                graph.check_name(name)
                return name
            except GraphEditError:
                pass
        i += 1
