"""The inspector: typed widgets from the registry, edits that update node, shapes and problems,
and values the registry refuses shown with their reason."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit

from app.gui.fields import NumberEdit
from app.gui.inspector import param_to_text, text_to_param
from engine.graph import Edge, get_spec


def _select(win, name):
    win.scene.select_nodes([name])
    assert win.inspector.node == name


def test_widgets_follow_the_registry(make_window):
    win = make_window("lenet5")
    _select(win, "conv1")
    ed = win.inspector.editors
    spec = get_spec("Conv2d")
    assert set(ed) == {"name", *(p.name for p in spec.params)}
    assert isinstance(ed["in_channels"], QLabel) and "inferred" in ed["in_channels"].text()
    assert isinstance(ed["out_channels"], NumberEdit) and ed["out_channels"].whole
    p = spec.param("out_channels")
    assert ed["out_channels"].placeholderText() == p.describe()
    assert isinstance(ed["bias"], QCheckBox)
    assert isinstance(ed["kernel_size"], QLineEdit)
    assert p.help in ed["out_channels"].toolTip()
    assert p.describe() in ed["out_channels"].toolTip()
    _select(win, "output")
    combo = win.inspector.editors["loss"]
    assert isinstance(combo, QComboBox)
    assert [combo.itemText(i) for i in range(combo.count())] == list(
        get_spec("Output").param("loss").choices)


def test_param_edit_updates_node_shapes_and_problems(make_window):
    win = make_window("mlp_digits")
    doc = win.doc
    linears = [n.name for n in doc.graph if n.type == "Linear"]
    first, last = linears[0], linears[-1]
    _select(win, first)
    assert win.inspector.commit_text("out_features", "64")
    assert doc.graph.node(first).params["out_features"] == 64
    assert str(doc.graph.info(first).output) == "(N, 64)"
    assert doc.graph.info(last).values["in_features"] == 64
    assert "→ (N, 64)" in [t for _, t in win.scene.node_items[first].lines]
    edge = next(e for e in doc.graph.edges if e.src == first)
    assert win.scene.edge_items[edge].label == "64"
    assert win.inspector.details.text().count("(N, 64)") == 1
    # a value that makes the model disagree with the dataset shows up as a problem
    assert win.problems.row_count() == 0
    _select(win, last)
    assert win.inspector.commit_text("out_features", "5")
    assert win.problems.row_count() >= 1
    messages = [win.problems.tree.topLevelItem(i).text(2)
                for i in range(win.problems.row_count())]
    assert any("10 classes" in m for m in messages)
    assert "Problems (1 error" in win.problems_dock.windowTitle()
    doc.undo_stack.undo()
    assert win.problems.row_count() == 0
    assert win.inspector.editors["out_features"].text() == "10"


def test_invalid_values_are_refused_with_a_message(make_window):
    win = make_window("lenet5")
    before = win.doc.serialized()
    steps = win.doc.undo_stack.count()
    _select(win, "conv1")
    assert not win.inspector.commit_text("kernel_size", "0")
    err = win.inspector.errors["kernel_size"]
    rule = get_spec("Conv2d").param("kernel_size").describe()
    assert not err.isHidden() and f"kernel_size must be {rule}, got 0" in err.text()
    assert not win.inspector.commit_text("padding", "lots")
    assert "padding must be" in win.inspector.errors["padding"].text()
    assert win.doc.serialized() == before and win.doc.undo_stack.count() == steps
    assert win.inspector.commit_text("kernel_size", "3, 3")
    assert win.inspector.errors["kernel_size"].isHidden()
    assert win.doc.graph.node("conv1").params["kernel_size"] == [3, 3]


def test_rename_in_the_inspector(make_window):
    win = make_window("lenet5")
    _select(win, "conv1")
    name_edit = win.inspector.editors["name"]
    name_edit.setText("class")
    name_edit.editingFinished.emit()
    assert "reserved" in win.inspector.errors["name"].text()
    assert "conv1" in win.doc.graph
    name_edit.setText("relu1")
    name_edit.editingFinished.emit()
    assert "already exists" in win.inspector.errors["name"].text()
    name_edit.setText("features")
    name_edit.editingFinished.emit()
    assert "features" in win.doc.graph and win.inspector.node == "features"
    assert win.inspector.errors["name"].isHidden()
    assert Edge("image", "features") in win.doc.graph.edges
    assert "features" in win.scene.node_items
    win.doc.undo_stack.undo()
    assert "conv1" in win.doc.graph and win.inspector.node == "conv1"
    assert name_edit.text() == "conv1"


def test_checkbox_and_choice_edits_are_undoable(make_window):
    win = make_window("lenet5")
    _select(win, "conv1")
    box = win.inspector.editors["bias"]
    box.click()
    assert win.doc.graph.node("conv1").params["bias"] is False
    assert win.doc.graph.info("conv1").params == 6 * 1 * 5 * 5
    win.doc.undo_stack.undo()
    assert box.isChecked()
    _select(win, "output")
    combo = win.inspector.editors["loss"]
    combo.activated.emit(combo.findText("mse"))
    assert win.doc.graph.node("output").params["loss"] == "mse"


def test_text_round_trip():
    p = get_spec("Conv2d").param("kernel_size")
    for value in (3, [3, 5]):
        assert text_to_param(p, param_to_text(p, value)) == value
    assert text_to_param(get_spec("Conv2d").param("padding"), "same") == "same"
    assert text_to_param(get_spec("Dropout").param("p"), "0.3") == 0.3


def _hand_edited(tmp_path):
    from app.core.project import Project

    data = Project.from_template("mlp_digits").to_dict()
    for node in data["graph"]["nodes"]:
        if node["name"] == "fc1":
            node["params"] = {"out_features": 0}  # out of range, and "bias" missing
    path = tmp_path / "hand.lfproj"
    import json

    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_hand_edited_values_are_shown_as_they_are_and_undo_exactly(make_window, tmp_path):
    win = make_window()
    assert win.files.open_path(_hand_edited(tmp_path))
    original = win.doc.serialized()
    assert win.scene.node_items["fc1"].state == "error"
    assert any(p.node == "fc1" and "out_features" in p.message for p in win.doc.problems)
    _select(win, "fc1")
    editor = win.inspector.editors["out_features"]
    assert isinstance(editor, QLineEdit) and editor.text() == "0"  # not clamped by a spin box
    win.inspector.editors["bias"].click()  # sets a parameter the file did not have
    assert win.doc.graph.node("fc1").params["bias"] is False
    assert win.inspector.commit_text("out_features", "32")
    assert win.scene.node_items["fc1"].state == "ok"
    win.doc.undo_stack.undo()
    win.doc.undo_stack.undo()
    assert win.doc.serialized() == original  # "bias" absent again, 0 back
    assert win.scene.node_items["fc1"].state == "error"


def test_merge_ports_follow_num_inputs(make_window):
    import pytest

    from engine.graph import ParamError

    win = make_window()
    doc = win.doc
    add = doc.add_node("Add", (0, 0))
    src = doc.add_node("Input", (-300, 0), {"shape": [4]})
    doc.connect(src, add, 0, 1)
    assert len(win.scene.node_items[add].in_ports) == 2
    _select(win, add)
    assert win.inspector.commit_text("num_inputs", "3")
    assert len(win.scene.node_items[add].in_ports) == 3
    assert win.inspector.commit_text("num_inputs", "2")  # port 1 is still there
    assert len(win.scene.node_items[add].in_ports) == 2
    doc.undo_stack.undo()
    assert len(win.scene.node_items[add].in_ports) == 3
    doc.disconnect(doc.graph.edges[0])
    doc.connect(src, add, 0, 2)
    with pytest.raises(ParamError, match="input 2 is connected; disconnect it"):
        doc.set_param(add, "num_inputs", 2)
    assert not win.inspector.commit_text("num_inputs", "2")
    assert "input 2 is connected" in win.inspector.errors["num_inputs"].text()
    edge_item = win.scene.edge_items[doc.graph.edges[0]]
    port = win.scene.node_items[add].in_ports[2]
    assert edge_item.endpoints()[1] == port.scenePos()


def test_numbers_are_never_changed_behind_the_users_back(make_window):
    """-5, 0, text and 10^9 in a whole-number field stay as typed, with a message saying what
    is allowed; nothing is applied. Up and Down step the value as a spin box does."""
    win = make_window("mlp_digits")
    _select(win, "fc1")
    edit = win.inspector.editors["out_features"]
    rule = get_spec("Linear").param("out_features").describe()
    for typed in ("-5", "0", "many", "1000000000"):
        assert not win.inspector.commit_text("out_features", typed)
        assert edit.text() == typed  # kept, not flipped, reverted or clamped
        err = win.inspector.errors["out_features"]
        assert not err.isHidden() and (rule in err.text() or "number" in err.text()), typed
        assert win.doc.graph.node("fc1").params["out_features"] == 128
    assert win.inspector.commit_text("out_features", "64")
    assert win.inspector.errors["out_features"].isHidden()
    QTest.keyClick(edit, Qt.Key.Key_Up)
    assert edit.text() == "65" and win.doc.graph.node("fc1").params["out_features"] == 65
