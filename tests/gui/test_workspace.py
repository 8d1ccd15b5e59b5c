"""The window a person opens: every template readable in the view it opens with (names and
shapes at 9 pt or more on a 1366 x 768 screen), shapes on its wires, and a workspace that keeps
its size and its docks however the tabs are switched and the app restarted."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QFontMetricsF, QGuiApplication

from app.core.project import Project, list_templates
from app.gui.canvas.edge_item import LABEL_PT
from app.gui.constants import NODE_WIDTH
from app.gui.theme import fonts
from engine.graph import Edge


def _screen():  # noqa: ANN202
    return QGuiApplication.primaryScreen().availableGeometry()


def test_the_tests_run_on_a_laptop_screen(qapp) -> None:  # noqa: ANN001
    area = _screen()
    assert (area.width(), area.height()) == (1366, 768)


@pytest.mark.parametrize("template", list_templates())
def test_every_template_opens_readable(make_window, qtbot, template):
    win = make_window(template)
    win.resize(2000, 1200)  # as large as asked: the window still fits the screen
    win.fit_to_screen()
    qtbot.wait(50)
    win.view.show_default()
    zoom = win.view.zoom
    shown = win.view.mapToScene(win.view.viewport().rect()).boundingRect()
    visible = [item for item in win.scene.node_items.values()
               if shown.intersects(item.sceneBoundingRect())]
    assert visible, "the opening view shows no node"
    inputs = [n.name for n in win.doc.graph.nodes_of_type("Input")]
    assert any(win.scene.node_items[n] in visible for n in inputs)  # it starts at the start
    for item in visible:
        name_pt, shape_pt = item.screen_points(zoom)
        assert name_pt >= 9.0, (item.name, name_pt, zoom)
        assert shape_pt is not None and shape_pt >= 9.0, (item.name, shape_pt, zoom)
    labelled = [e for e in win.scene.edge_items.values()
                if shown.contains(e.sceneBoundingRect().center())
                and not e.label_rect(zoom).isNull()]
    assert labelled, "no wire shows its shape at the opening zoom"
    assert LABEL_PT * 1.0 >= 8.5
    if len(win.doc.graph) <= 14:  # the small templates fit whole
        assert shown.contains(win.scene.nodes_rect())
    # close up, every card's header shows its whole name: a long layer type gives way
    title = QFontMetricsF(fonts()["title"])
    for item in win.scene.node_items.values():
        type_w, _text = item._header_type_width()
        assert title.horizontalAdvance(item.name) <= NODE_WIDTH - 25 - type_w - 4, item.name


def test_a_node_feeding_two_wires_shows_its_shape(make_window):
    win = make_window("spiral")
    extra = win.doc.add_node("ReLU", (0, 300))
    win.doc.connect("fc1", extra)  # fc1 now feeds tanh1 and the ReLU
    item = win.scene.node_items["fc1"]
    assert item.shape_text == "→ (N, 16)" and item.compact_shape == "16"
    assert not any("?" in text for _style, text in item.lines)
    assert win.scene.edge_items[Edge("fc1", extra, 0, 0)].label == "16"


def test_a_cycle_shows_its_returning_wire(make_window, tmp_path):
    data = Project.from_template("spiral").to_dict()
    data["graph"]["edges"].append({"src": "tanh2", "dst": "fc1", "dst_port": 0})
    data["graph"]["edges"] = [e for e in data["graph"]["edges"]
                              if not (e["src"] == "points" and e["dst"] == "fc1")]
    win = make_window(Project.from_dict(data))
    back = win.scene.edge_items[Edge("tanh2", "fc1", 0, 0)]
    assert back.back  # drawn dashed, in the error colour
    path = back._path.boundingRect()
    cards = win.scene.nodes_rect(["fc1", "tanh1", "fc2", "tanh2"])
    assert path.bottom() > cards.bottom() - 40  # it runs below the cards, not behind them


def test_the_window_stays_on_its_screen(make_window, qtbot):
    win = make_window("lenet5")
    area = _screen()
    assert win.frameGeometry().width() <= area.width()
    assert win.frameGeometry().height() <= area.height()
    win.training.train()  # the training tab's panels never push the window wider
    qtbot.waitUntil(lambda: win.training.dashboard.last_outcome is not None, timeout=60000)
    qtbot.wait(50)
    assert win.frameGeometry().width() <= area.width()
    assert win.frameGeometry().height() <= area.height()


def _widths(win) -> tuple[int, int]:  # noqa: ANN001
    return win.palette_dock.width(), win.inspector_dock.width()


def test_docks_keep_their_sizes_across_tabs_and_restarts(make_window, qtbot):
    win = make_window("lenet5")
    qtbot.wait(50)
    before = _widths(win)
    assert before[0] >= 180 and before[1] >= 250
    win.training.show()  # the Training tab: the editor's docks make room
    qtbot.wait(50)
    assert not win.palette_dock.isVisible() and not win.inspector_dock.isVisible()
    assert win.tabs.width() >= win.width() - 10  # the tab has the whole width
    win.tabs.setCurrentIndex(0)
    qtbot.wait(50)
    assert win.palette_dock.isVisible() and _widths(win) == before
    win.training.show()
    win.settings.save_window(win)  # closing on the Training tab saves the editor's layout
    win.files.ask_save_changes = lambda: "discard"
    win.close()
    again = make_window("lenet5")  # a restart: the same settings file
    qtbot.wait(50)
    assert again.palette_dock.isVisible() and _widths(again) == before
    assert again.frameGeometry().height() <= _screen().height()



def test_choosing_data_or_opening_templates_creates_nothing_in_the_current_folder(
        qtbot, tmp_path, monkeypatch, make_window):
    from app.core.paths import user_data_dir

    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in ("resnet_cifar10", "lenet5", "mlp_digits"):
        make_window(name)
    win = make_window("mlp_digits")  # never saved: no folder of its own
    win.training.show()  # the Training tab, its Data panel
    panel = win.training.dashboard.data_panel
    panel.choose_dataset("MNIST")
    panel.load_preview()
    panel.wait_idle()
    assert panel.download_row.isVisibleTo(panel)  # offered, not fetched
    assert str(user_data_dir() / "datasets") in panel.error_label.text()
    assert list(work.iterdir()) == []
