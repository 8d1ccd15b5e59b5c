"""The canvas: drops from the palette, wires, refusals, and exact undo/redo of every edit."""

from __future__ import annotations

import warnings

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest

from app.gui.canvas.view import node_origin_for
from engine.graph import Edge


def serial(win) -> dict:
    """The project as saved (what undo/redo must restore exactly)."""
    return win.doc.serialized()


def _drop(win, type_: str, at: QPoint) -> None:
    """Drop what the palette drags (its own MIME data) at viewport position ``at``."""
    item = win.palette.items[type_]
    mime = win.palette.tree.mimeData([item])
    event = QDropEvent(QPointF(at), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    win.view.dropEvent(event)
    assert event.isAccepted()


def _drag_wire(win, start, end) -> None:
    """Press on port ``start``, move to ``end`` and release, as a user drags a wire."""
    vp = win.view.viewport()
    a = win.view.mapFromScene(start.scenePos())
    b = win.view.mapFromScene(end.scenePos())
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(vp, (a + b) / 2)
    QTest.mouseMove(vp, b)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def _two_nodes(win, first: str, second: str, **params):
    a = win.doc.add_node(first, (0, 0), params.get("a"))
    b = win.doc.add_node(second, (320, 40), params.get("b"))
    win.view.fit_all()
    return a, b


def test_palette_drop_creates_node_under_the_mouse(make_window):
    win = make_window()
    at = QPoint(300, 200)
    _drop(win, "Conv2d", at)
    (name,) = list(win.doc.graph.nodes)
    node = win.doc.graph.node(name)
    assert node.type == "Conv2d"
    assert node.pos == node_origin_for(win.view.mapToScene(at))
    item = win.scene.node_items[name]
    assert (item.pos().x(), item.pos().y()) == node.pos
    assert item.isSelected() and win.inspector.node == name
    win.doc.undo_stack.undo()
    assert not len(win.doc.graph) and not win.scene.node_items


def test_a_layer_dropped_on_a_wire_goes_into_it_as_one_undo_step(make_window, qtbot):
    from PySide6.QtGui import QDragMoveEvent

    win = make_window()
    a = win.doc.add_node("Input", (0, 0), {"shape": [20]})
    b = win.doc.add_node("Linear", (700, 0), {"out_features": 7})
    win.doc.connect(a, b)
    win.view.fit_all()
    before = serial(win)
    wire = win.scene.edge_items[Edge(a, b, 0, 0)]
    middle = win.view.mapFromScene(wire._path.pointAtPercent(0.5))
    # while the layer is dragged over the wire, the wire shows where it would go
    mime = win.palette.tree.mimeData([win.palette.items["ReLU"]])
    with warnings.catch_warnings():  # PySide flags Qt's only QDragMoveEvent constructor
        warnings.simplefilter("ignore", DeprecationWarning)
        move = QDragMoveEvent(middle, Qt.DropAction.CopyAction, mime,
                              Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    win.view.dragMoveEvent(move)
    assert wire.drop_target
    _drop(win, "ReLU", middle)
    assert not wire.drop_target
    (relu,) = [n for n in win.doc.graph.nodes if n not in (a, b)]
    assert sorted(win.doc.graph.edges) == sorted([Edge(a, relu, 0, 0), Edge(relu, b, 0, 0)])
    assert str(win.doc.graph.info(b).output) == "(N, 7)"
    assert set(win.scene.edge_items) == set(win.doc.graph.edges)  # the canvas follows
    win.doc.undo_stack.undo()  # one step takes it all back
    assert serial(win) == before
    win.doc.undo_stack.redo()
    assert len(win.doc.graph.edges) == 2


def test_a_layer_that_cannot_go_into_a_wire_is_added_beside_it(make_window):
    win = make_window()
    a = win.doc.add_node("Input", (0, 0), {"shape": [20]})
    b = win.doc.add_node("Linear", (700, 0), {"out_features": 7})
    win.doc.connect(a, b)
    win.view.fit_all()
    messages = []
    win.scene.sigMessage.connect(messages.append)
    wire = win.scene.edge_items[Edge(a, b, 0, 0)]
    _drop(win, "Input", win.view.mapFromScene(wire._path.pointAtPercent(0.5)))
    assert win.doc.graph.edges == [Edge(a, b, 0, 0)]  # the wire is kept
    assert len(win.doc.graph) == 3 and "not into it" in messages[-1]
    assert "has no inputs" in messages[-1]


def test_drop_of_something_else_is_ignored(make_window):
    from PySide6.QtCore import QMimeData

    win = make_window()
    mime = QMimeData()
    mime.setText("Conv2d")
    event = QDropEvent(QPointF(100, 100), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    win.view.dropEvent(event)
    assert not len(win.doc.graph)


def test_dragging_a_wire_connects_and_updates_shapes(make_window):
    win = make_window()
    a, b = _two_nodes(win, "Input", "Linear", a={"shape": [20]}, b={"out_features": 7})
    assert win.doc.graph.info(b).output is None
    _drag_wire(win, win.scene.node_items[a].out_ports[0], win.scene.node_items[b].in_ports[0])
    assert win.doc.graph.edges == [Edge(a, b, 0, 0)]
    assert str(win.doc.graph.info(b).output) == "(N, 7)"
    assert win.doc.graph.info(b).values["in_features"] == 20
    edge_item = win.scene.edge_items[Edge(a, b, 0, 0)]
    assert edge_item.label == "20"  # a wire says its shape without the batch dimension
    node_lines = [text for _, text in win.scene.node_items[b].lines]
    assert "→ (N, 7)" in node_lines
    assert win.doc.stats.params == 20 * 7 + 7
    win.doc.undo_stack.undo()
    assert not win.doc.graph.edges and not win.scene.edge_items


def test_incompatible_wire_is_refused_with_the_reason(make_window):
    win = make_window()
    a, b = _two_nodes(win, "Input", "Conv1d", a={"shape": [1, 28, 28]})
    before = serial(win)
    steps = win.doc.undo_stack.count()
    _drag_wire(win, win.scene.node_items[a].out_ports[0], win.scene.node_items[b].in_ports[0])
    assert win.doc.graph.edges == []
    assert serial(win) == before and win.doc.undo_stack.count() == steps
    assert "Conv1d needs" in win.scene.last_refusal and "(N, 1, 28, 28)" in win.scene.last_refusal
    assert "Conv1d needs" in win.statusBar().currentMessage()


def test_cycle_is_refused_with_the_cycle_named(make_window):
    win = make_window()
    a, b = _two_nodes(win, "ReLU", "Tanh")
    win.doc.connect(a, b)
    _drag_wire(win, win.scene.node_items[b].out_ports[0], win.scene.node_items[a].in_ports[0])
    assert len(win.doc.graph.edges) == 1
    assert "cycle" in win.scene.last_refusal and a in win.scene.last_refusal


def test_wire_from_an_input_port_connects_backwards(make_window):
    win = make_window()
    a, b = _two_nodes(win, "Input", "ReLU", a={"shape": [4]})
    _drag_wire(win, win.scene.node_items[b].in_ports[0], win.scene.node_items[a].out_ports[0])
    assert win.doc.graph.edges == [Edge(a, b, 0, 0)]


def test_pulling_a_wire_off_its_input_disconnects_it(make_window):
    win = make_window("mlp_digits")
    win.view.fit_all()
    edge = win.doc.graph.edges[-1]
    before = serial(win)
    port = win.scene.node_items[edge.dst].in_ports[edge.dst_port]
    vp = win.view.viewport()
    a = win.view.mapFromScene(port.scenePos())
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(vp, a + QPoint(0, 120))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       a + QPoint(0, 120))
    assert edge not in win.doc.graph.edges
    win.doc.undo_stack.undo()
    assert serial(win) == before


def test_delete_undo_redo_restore_exact_projects(make_window):
    win = make_window("lenet5")
    original = serial(win)
    names = list(win.doc.graph.nodes)
    win.scene.select_nodes([names[2], names[5]])
    edge = win.doc.graph.edges[8]
    win.scene.edge_items[edge].setSelected(True)
    win.act_delete.trigger()
    deleted = serial(win)
    assert names[2] not in win.doc.graph and edge not in win.doc.graph.edges
    assert win.doc.undo_stack.count() == 1  # one step for the whole selection
    win.act_undo.trigger()
    assert serial(win) == original
    assert set(win.scene.node_items) == set(names)
    assert set(win.scene.edge_items) == set(win.doc.graph.edges)
    win.act_redo.trigger()
    assert serial(win) == deleted
    win.act_undo.trigger()
    assert serial(win) == original


def test_every_kind_of_edit_undoes_exactly(make_window):
    win = make_window("lenet5")
    doc = win.doc
    states = [serial(win)]
    doc.set_param("conv1", "out_channels", 8)
    states.append(serial(win))
    doc.rename("conv1", "first_conv")
    states.append(serial(win))
    doc.move_nodes({"first_conv": (12.5, -40.0), "relu1": (300.0, 90.0)})
    states.append(serial(win))
    edge = doc.graph.edges[3]
    doc.disconnect(edge)
    states.append(serial(win))
    doc.connect(*edge)
    states.append(serial(win))
    doc.add_node("Dropout", (10, 300), {"p": 0.25})
    states.append(serial(win))
    assert all(a != b for a, b in zip(states, states[1:]))
    for expected in reversed(states[:-1]):
        doc.undo_stack.undo()
        assert serial(win) == expected
    for expected in states[1:]:
        doc.undo_stack.redo()
        assert serial(win) == expected
    # the scene followed every step
    assert set(win.scene.node_items) == set(doc.graph.nodes)
    assert set(win.scene.edge_items) == set(doc.graph.edges)


def test_dragging_nodes_is_one_undoable_move(make_window):
    win = make_window("mlp_digits")
    before = serial(win)
    names = list(win.doc.graph.nodes)[:2]
    win.scene.select_nodes(names)
    item = win.scene.node_items[names[0]]
    vp = win.view.viewport()
    a = win.view.mapFromScene(item.sceneBoundingRect().center() + QPointF(0, 5))
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, a)
    QTest.mouseMove(vp, a + QPoint(20, 20))
    QTest.mouseMove(vp, a + QPoint(40, 60))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       a + QPoint(40, 60))
    moved = [n for n in names if win.doc.graph.node(n).pos != tuple(
        d["pos"] for d in before["graph"]["nodes"] if d["name"] == n)[0]]
    assert moved == names
    assert win.doc.undo_stack.count() == 1
    win.doc.undo_stack.undo()
    assert serial(win) == before
    assert win.scene.node_items[names[0]].pos().toTuple() == win.doc.graph.node(names[0]).pos


def test_copy_paste_and_duplicate_are_exact_and_undoable(make_window):
    win = make_window("lenet5")
    before = serial(win)
    chosen = ["conv1", "relu1", "pool1"]
    win.scene.select_nodes(chosen)
    assert win.copy()
    pasted = win.paste()
    assert len(pasted) == 3 and not set(pasted) & set(chosen)
    graph = win.doc.graph
    for old, new in zip(chosen, pasted):
        assert graph.node(new).params == graph.node(old).params
        assert graph.node(new).type == graph.node(old).type
        ox, oy = graph.node(old).pos
        assert graph.node(new).pos == (ox + 30, oy + 30)
    internal = {(e.src, e.dst) for e in graph.edges if e.src in pasted and e.dst in pasted}
    assert internal == {(pasted[0], pasted[1]), (pasted[1], pasted[2])}
    assert win.scene.selected_nodes() == pasted
    after = serial(win)
    win.doc.undo_stack.undo()
    assert serial(win) == before
    win.doc.undo_stack.redo()
    assert serial(win) == after
    win.scene.select_nodes(pasted)
    dup = win.duplicate()
    assert len(dup) == 3 and win.doc.undo_stack.count() == 2
    win.doc.undo_stack.undo()
    assert serial(win) == after


def test_paste_into_another_window(make_window):
    first = make_window("spiral")
    second = make_window()
    names = list(first.doc.graph.nodes)[1:4]
    first.scene.select_nodes(names)
    first.copy()
    pasted = second.paste()
    assert pasted == names  # the names are free there, so they are kept
    assert [e for e in second.doc.graph.edges] == [
        e for e in first.doc.graph.edges if e.src in names and e.dst in names]
    assert second.isWindowModified() and not first.isWindowModified()


def test_paste_of_damaged_clipboard_says_why(make_window):
    from PySide6.QtGui import QGuiApplication

    win = make_window()
    QGuiApplication.clipboard().setText('{"format": "layerforge-nodes", "version": 1, '
                                        '"nodes": [{"name": "a", "type": "Nope"}]}')
    assert win.paste() == []
    assert "unknown layer type 'Nope'" in win.statusBar().currentMessage()
    assert not len(win.doc.graph)


def test_auto_layout_is_one_step_and_reads_like_text(make_window):
    """Rows read left to right, and the next row comes below: every wire points right within
    its row or down to a later one."""
    win = make_window("resnet_cifar10")
    before = serial(win)
    win.act_layout.trigger()
    graph = win.doc.graph
    for e in graph.edges:
        (x0, y0), (x1, y1) = graph.node(e.src).pos, graph.node(e.dst).pos
        assert x1 > x0 or y1 > y0, e
    assert win.doc.undo_stack.count() == 1
    win.doc.undo_stack.undo()
    assert serial(win) == before


def test_quick_add_adds_at_the_mouse_and_connects_after_the_selection(make_window):
    win = make_window()
    src = win.doc.add_node("Input", (0, 0), {"shape": [16]})
    win.scene.select_nodes([src])
    win._open_quick_add(QPoint(100, 100), QPointF(400, 0))
    popup = win.quick_add
    QTest.keyClicks(popup.edit, "lin")
    assert popup.shown_types()[0] == "Linear"
    QTest.keyClick(popup.edit, Qt.Key.Key_Return)
    (new,) = [n for n in win.doc.graph.nodes if n != src]
    assert win.doc.graph.node(new).type == "Linear"
    assert win.doc.graph.node(new).pos == node_origin_for(QPointF(400, 0))
    assert win.doc.graph.edges == [Edge(src, new, 0, 0)]
    win.doc.undo_stack.undo()  # adding and wiring were one step
    assert list(win.doc.graph.nodes) == [src]


def test_problem_click_selects_and_centres_the_node(make_window):
    win = make_window("lenet5")
    win.doc.delete(edges=[e for e in win.doc.graph.edges if e.dst == "fc2"])
    assert win.problems.row_count() >= 1
    row = next(i for i in range(win.problems.row_count())
               if win.problems.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) == "fc2")
    win.view.centerOn(-5000, -5000)
    win.problems.activate_row(row)
    assert win.scene.selected_nodes() == ["fc2"]
    centre = win.view.mapToScene(win.view.viewport().rect().center())
    node_centre = win.scene.node_items["fc2"].sceneBoundingRect().center()
    assert abs(centre.x() - node_centre.x()) < 2 and abs(centre.y() - node_centre.y()) < 2
    item = win.scene.node_items["fc2"]  # an unconnected input blocks training: an error
    assert item.state == "error" and "not connected" in item.toolTip()


def test_invalid_node_turns_red_with_its_problem_as_tooltip(make_window):
    win = make_window("mlp_digits")
    win.doc.set_param("fc2", "out_features", 7)  # the digits dataset has 10 classes
    problems = [p for p in win.doc.problems if p.code == "dataset"]
    assert problems and "10 classes" in problems[0].message
    assert problems[0].node == "fc2"  # on the node to change, with the fix
    out = win.scene.node_items[problems[0].node]
    assert out.state == "error" and problems[0].message in out.toolTip()
    win.doc.undo_stack.undo()
    assert out.state == "ok"


def test_zoom_fit_and_pan(make_window):
    win = make_window("resnet_cifar10")
    view = win.view
    view.fit_all()
    rect = view.mapToScene(view.viewport().rect()).boundingRect()
    assert rect.contains(win.scene.nodes_rect())
    z = view.zoom
    view.zoom_by(2.0, anchor_under_mouse=False)
    assert abs(view.zoom - 2 * z) < 1e-6
    before = view.mapToScene(view.viewport().rect().center())
    view.pan_by(100, 0)
    after = view.mapToScene(view.viewport().rect().center())
    assert abs((after.x() - before.x()) * view.zoom - 100) < 2
    view.zoom_by(1e6)
    assert view.zoom <= 4.0


def test_locked_editing_refuses_edits_but_allows_looking(make_window):
    from engine.graph import GraphEditError

    win = make_window("spiral")
    win.set_editing_locked(True, "training is running")
    try:
        win.doc.set_param("fc1", "out_features", 3)
    except GraphEditError as exc:
        assert "training is running" in str(exc)
    else:
        raise AssertionError("edit was not refused")
    assert not win.act_delete.isEnabled()
    win.view.fit_all()
    win.set_editing_locked(False)
    win.doc.set_param("fc1", "out_features", 3)


def test_keyboard_shortcuts_drive_the_editor(make_window, qtbot):
    win = make_window("lenet5")
    win.activateWindow()
    win.view.setFocus()
    qtbot.waitUntil(lambda: win.view.hasFocus(), timeout=2000)
    before = serial(win)
    win.scene.select_nodes(["relu1"])
    QTest.keyClick(win.view, Qt.Key.Key_Delete)
    assert "relu1" not in win.doc.graph
    QTest.keyClick(win.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert serial(win) == before
    win.scene.select_nodes(["relu1"])
    QTest.keyClick(win.view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    (new,) = set(win.doc.graph.nodes) - {d["name"] for d in before["graph"]["nodes"]}
    assert win.doc.graph.node(new).type == "ReLU" and win.scene.selected_nodes() == [new]
    pos = win.doc.graph.node("pool1").pos
    win.scene.select_nodes(["pool1"])
    QTest.keyClick(win.view, Qt.Key.Key_Right)
    assert win.doc.graph.node("pool1").pos == (pos[0] + 10, pos[1])
    win.view.fit_all()
    win.view.update_minimap()
    assert not win.view.minimap.isVisible()  # everything is in view: no overview needed
    win.view.zoom_by(3.0, anchor_under_mouse=False)
    win.view.update_minimap()
    assert win.view.minimap.isVisible()
    QTest.keyClick(win.view, Qt.Key.Key_M)
    assert not win.view.minimap.isVisible()
    QTest.keyClick(win.view, Qt.Key.Key_M)
    assert win.view.minimap.isVisible()


def test_window_layout_is_remembered(make_window):
    first = make_window("spiral")
    first.problems_dock.hide()
    first.close()
    second = make_window("spiral")
    assert second.problems_dock.isHidden()
