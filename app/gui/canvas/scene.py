"""The canvas scene: one ``NodeItem`` per node and one ``EdgeItem`` per edge, kept in step with
the document signal by signal (never rebuilt on an edit), plus the mouse gestures that edit the
graph: drag a wire from a port (refused wires say why), drag nodes (one undo step per drag)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QTransform
from PySide6.QtWidgets import (
    QGraphicsScene,
    QGraphicsSceneMouseEvent,
    QToolTip,
)

from engine.graph import Edge, GraphEditError, NodeInfo

from ..document import GraphDocument
from .edge_item import EdgeItem, WireItem
from .node_item import NodeItem
from .port_item import PortItem
from .shapes import compact_shape

SCENE_EXTENT = 50_000.0
SNAP_RADIUS = 14.0


class GraphScene(QGraphicsScene):
    """Mirror of ``doc.graph``; edits go back through ``doc``'s undoable methods."""

    sigMessage = Signal(str)  # a refusal or a hint for the status bar
    sigNodeDoubleClicked = Signal(str)
    sigWireDropped = Signal(str, int, QPointF)  # a wire from (node, output) let go in empty space

    def __init__(self, doc: GraphDocument, parent: object | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: dict[Edge, EdgeItem] = {}
        self.last_refusal: str | None = None
        self._wire: WireItem | None = None
        self._wire_port: PortItem | None = None
        self._wire_target: PortItem | None = None
        self._wire_reason: str | None = None
        self._detached: Edge | None = None
        self._dragging_nodes = False
        self._ordered_at: tuple[int, int] | None = None
        self._ordered_cache: set[str] = set()
        self.setSceneRect(-SCENE_EXTENT, -SCENE_EXTENT, 2 * SCENE_EXTENT, 2 * SCENE_EXTENT)
        doc.sigNodeAdded.connect(self._on_node_added)
        doc.sigNodeRemoved.connect(self._on_node_removed)
        doc.sigNodeRenamed.connect(self._on_node_renamed)
        doc.sigNodesMoved.connect(self._on_nodes_moved)
        doc.sigNodeParamsChanged.connect(self._on_params_changed)
        doc.sigEdgeAdded.connect(self._on_edge_added)
        doc.sigEdgeRemoved.connect(self._on_edge_removed)
        doc.sigInfosChanged.connect(self._on_infos_changed)
        doc.sigProblemsChanged.connect(self._on_problems_changed)
        doc.sigReset.connect(self.rebuild)
        self.rebuild()

    # ================================================================ building
    def rebuild(self) -> None:
        """Everything from scratch: only on a new project, never on an edit."""
        self._cancel_wire()
        for item in self.edge_items.values():
            item.detach()
        self.clear()
        self.node_items.clear()
        self.edge_items.clear()
        graph = self.doc.graph
        infos = graph.infer()
        for node in graph:
            self._add_node_item(node.name, infos.get(node.name))
        for edge in graph.edges:
            self._on_edge_added(edge, sync=False)
        for item in self.edge_items.values():
            self._sync_edge(item, infos)

    def _add_node_item(self, name: str, info: NodeInfo | None) -> NodeItem:
        node = self.doc.graph.node(name)
        item = NodeItem(name, node.type, node.spec.category)
        self.node_items[name] = item
        self.addItem(item)
        item.set_pos_from_model(node.pos)
        self._sync_node(name, info)
        return item

    def _sync_node(self, name: str, info: NodeInfo | None) -> None:
        item = self.node_items.get(name)
        if item is None:
            return
        graph = self.doc.graph
        node = graph.node(name)
        ins = set(graph.in_edges(name))
        outs = {e.src_port for e in graph.out_edges(name)}
        if item.sync(node, info, self.doc.problems_by_node.get(name, []), ins, outs):
            for edge in item.edges:
                edge.update_path()

    def _sync_edge(self, item: EdgeItem, infos: dict[str, NodeInfo]) -> None:
        e = item.edge
        src, dst = infos.get(e.src), infos.get(e.dst)
        tt = src.outputs[e.src_port] if src is not None and e.src_port < len(
            src.outputs) else None
        bad = (dst is not None and dst.error_kind == "shape"
               and dst.error_port in (e.dst_port, None) and tt is not None)
        ordered = self._ordered()
        back = e.src not in ordered or e.dst not in ordered  # a wire closing a cycle
        item.set_label("" if tt is None else compact_shape(tt), bad, back)

    def _ordered(self) -> set[str]:
        """The nodes in no cycle (a topological order leaves those caught in one out)."""
        graph = self.doc.graph
        if self._ordered_at != (id(graph), graph.version):
            self._ordered_cache = set(graph.topological_order())
            self._ordered_at = (id(graph), graph.version)
        return self._ordered_cache

    # ================================================================ document signals
    def _on_node_added(self, name: str) -> None:
        self._add_node_item(name, None)

    def _on_node_removed(self, name: str) -> None:
        item = self.node_items.pop(name, None)
        if item is not None:
            for edge in list(item.edges):
                self._on_edge_removed(edge.edge)
            self.removeItem(item)

    def _on_node_renamed(self, old: str, new: str) -> None:
        item = self.node_items.pop(old)
        item.name = new
        self.node_items[new] = item
        for edge, eitem in list(self.edge_items.items()):
            if old in (edge.src, edge.dst):
                del self.edge_items[edge]
                eitem.edge = edge._replace(src=new if edge.src == old else edge.src,
                                           dst=new if edge.dst == old else edge.dst)
                self.edge_items[eitem.edge] = eitem
        self._sync_node(new, self.doc.graph.infer().get(new))

    def _on_nodes_moved(self, names: list[str]) -> None:
        graph = self.doc.graph
        for name in names:
            item = self.node_items.get(name)
            if item is not None:
                item.set_pos_from_model(graph.node(name).pos)

    def _on_params_changed(self, name: str) -> None:
        # ports may have come or gone (a merge's num_inputs); shapes follow in _on_infos_changed
        self._sync_node(name, None if name not in self.doc.graph else
                        self.doc.graph.infer().get(name))

    def _on_edge_added(self, edge: Edge, sync: bool = True) -> None:
        src, dst = self.node_items.get(edge.src), self.node_items.get(edge.dst)
        if src is None or dst is None or edge in self.edge_items:
            return
        item = EdgeItem(edge, src, dst)
        self.edge_items[edge] = item
        self.addItem(item)
        if sync:  # a new wire changes nothing of its source's shape: show what is known
            infos = self.doc.graph.infer()
            self._sync_node(edge.src, infos.get(edge.src))
            self._sync_node(edge.dst, infos.get(edge.dst))
            self._sync_edge(item, infos)

    def _on_edge_removed(self, edge: Edge) -> None:
        item = self.edge_items.pop(edge, None)
        if item is None:
            return
        item.detach()
        self.removeItem(item)
        for name in (edge.src, edge.dst):
            if name in self.node_items and name in self.doc.graph:
                self._sync_node(name, self.doc.graph.infer().get(name))

    def _on_infos_changed(self, names: list[str]) -> None:
        infos = self.doc.graph.infer()
        edges: set[EdgeItem] = set()
        for name in names:
            self._sync_node(name, infos.get(name))
            item = self.node_items.get(name)
            if item is not None:
                edges |= item.edges
        for edge in edges:
            self._sync_edge(edge, infos)

    def _on_problems_changed(self, _problems: list) -> None:
        infos = self.doc.graph.infer()
        by_node = self.doc.problems_by_node
        for name, item in self.node_items.items():
            problems = by_node.get(name, [])
            if getattr(item, "_problems", None) != problems:
                item._problems = problems  # type: ignore[attr-defined]
                self._sync_node(name, infos.get(name))

    def retheme(self) -> None:
        """Repaint everything in the current theme's colours."""
        for item in self.node_items.values():
            for port in (*item.in_ports, *item.out_ports):
                port.restyle()
            item.update()
        for edge in self.edge_items.values():
            edge.update()
        self.update()

    # ================================================================ selection
    def selected_nodes(self) -> list[str]:
        """Selected node names in graph order."""
        chosen = {i.name for i in self.selectedItems() if isinstance(i, NodeItem)}
        return [n for n in self.doc.graph.nodes if n in chosen]

    def selected_edges(self) -> list[Edge]:
        return [i.edge for i in self.selectedItems() if isinstance(i, EdgeItem)]

    def select_nodes(self, names: list[str] | set[str], clear: bool = True) -> None:
        if clear:
            self.clearSelection()
        for name in names:
            item = self.node_items.get(name)
            if item is not None:
                item.setSelected(True)

    def nodes_rect(self, names: list[str] | None = None) -> QRectF:
        items = (self.node_items.values() if names is None else
                 [self.node_items[n] for n in names if n in self.node_items])
        rect = QRectF()
        for item in items:
            rect = rect.united(item.sceneBoundingRect())
        return rect

    # ================================================================ gestures
    def _port_at(self, pos: QPointF) -> PortItem | None:
        area = QRectF(pos.x() - SNAP_RADIUS, pos.y() - SNAP_RADIUS, 2 * SNAP_RADIUS,
                      2 * SNAP_RADIUS)
        best, best_d = None, SNAP_RADIUS ** 2 * 2
        for item in self.items(area):
            if isinstance(item, PortItem):
                d = item.scenePos() - pos
                dd = d.x() ** 2 + d.y() ** 2
                if dd < best_d:
                    best, best_d = item, dd
        return best

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            port = self._port_at(event.scenePos())
            if port is not None:
                self._start_wire(port, event.scenePos())
                event.accept()
                return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if self._wire is not None:
            self._drag_wire(event.scenePos(), event)
            event.accept()
            return
        if event.buttons() & Qt.MouseButton.LeftButton and self.mouseGrabberItem():
            self._dragging_nodes = True
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if self._wire is not None and event.button() == Qt.MouseButton.LeftButton:
            self._drag_wire(event.scenePos(), None)
            self._finish_wire(event.scenePos())
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and self._dragging_nodes:
            self._dragging_nodes = False
            self.commit_moves()

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        item = self.itemAt(event.scenePos(), QTransform())
        while item is not None and not isinstance(item, NodeItem):
            item = item.parentItem()
        if isinstance(item, NodeItem):
            self.sigNodeDoubleClicked.emit(item.name)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def commit_moves(self, text: str = "") -> None:
        """Record where dragged (or nudged) nodes ended up as one undoable move."""
        graph = self.doc.graph
        moves = {}
        for name, item in self.node_items.items():
            pos = (item.pos().x(), item.pos().y())
            if name in graph and graph.node(name).pos != pos:
                moves[name] = pos
        if moves:
            self.doc.move_nodes(moves, text)

    # ---------------------------------------------------------------- wires
    def _start_wire(self, port: PortItem, pos: QPointF) -> None:
        self._detached = None
        if not port.is_output:
            edge = self.doc.graph.in_edges(port.node.name).get(port.index)
            if edge is not None:  # pick up the wire that enters this input and move its end
                self._detached = edge
                item = self.edge_items.get(edge)
                if item is not None:
                    item.setVisible(False)
                port = self.node_items[edge.src].out_ports[edge.src_port]
        self._wire_port = port
        self._wire = WireItem()
        self.addItem(self._wire)
        self._drag_wire(pos, None)

    def _drag_wire(self, pos: QPointF, event: QGraphicsSceneMouseEvent | None) -> None:
        start = self._wire_port
        assert start is not None and self._wire is not None
        target = self._port_at(pos)
        if target is not None and (target.is_output == start.is_output
                                   or target.node is start.node):
            target = None
        if target is not self._wire_target:
            if self._wire_target is not None:
                self._wire_target.set_highlight(None)
            self._wire_target = target
            self._wire_reason = self._reason(start, target) if target is not None else None
            if target is not None:
                target.set_highlight("refuse" if self._wire_reason else "accept")
                self._wire.set_state("refuse" if self._wire_reason else "accept")
                if self._wire_reason and event is not None and event.widget() is not None:
                    QToolTip.showText(event.screenPos(), self._wire_reason, event.widget())
            else:
                self._wire.set_state(None)
                QToolTip.hideText()
        end = target.scenePos() if target is not None else pos
        a, b = (start.scenePos(), end) if start.is_output else (end, start.scenePos())
        self._wire.set_ends(a, b)

    def _ends(self, start: PortItem, target: PortItem) -> Edge:
        out, inp = (start, target) if start.is_output else (target, start)
        return Edge(out.node.name, inp.node.name, out.index, inp.index)

    def _reason(self, start: PortItem, target: PortItem) -> str | None:
        edge = self._ends(start, target)
        if edge == self._detached:
            return None
        return self.doc.connection_refusal(*edge)

    def _finish_wire(self, pos: QPointF) -> None:
        start, target, reason = self._wire_port, self._wire_target, self._wire_reason
        detached = self._detached
        self._cancel_wire()
        assert start is not None
        if target is None:
            if detached is not None:  # a wire pulled off its input and let go: remove it
                self.doc.disconnect(detached)
                self.sigMessage.emit(f"Disconnected {detached.src} from {detached.dst}")
            elif start.is_output:
                self.sigWireDropped.emit(start.node.name, start.index, pos)
            return
        edge = self._ends(start, target)
        if edge == detached:
            return
        if reason:
            self.refuse(reason)
            return
        try:
            if detached is not None:
                with self.doc.macro(f"Reconnect {edge.src} to {edge.dst}"):
                    self.doc.disconnect(detached)
                    self.doc.connect(*edge)
            else:
                self.doc.connect(*edge)
        except GraphEditError as exc:  # the graph had the last word
            self.refuse(str(exc))

    def refuse(self, reason: str) -> None:
        """Tell the user why an edit was not made: a tooltip at the mouse and the status bar."""
        self.last_refusal = reason
        self.sigMessage.emit(f"Not connected: {reason}")
        views = self.views()
        if views:
            from PySide6.QtGui import QCursor  # noqa: PLC0415

            QToolTip.showText(QCursor.pos(), reason, views[0].viewport())

    def _cancel_wire(self) -> None:
        if self._wire is not None:
            self.removeItem(self._wire)
        if self._wire_target is not None:
            self._wire_target.set_highlight(None)
        if self._detached is not None:
            item = self.edge_items.get(self._detached)
            if item is not None:
                item.setVisible(True)
        self._wire = self._wire_port = self._wire_target = None
        self._wire_reason = None
        self._detached = None

    @property
    def wiring(self) -> bool:
        return self._wire is not None
