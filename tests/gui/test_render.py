"""What a person sees: the main window with the LeNet template renders with its nodes, the
canvas updates only what an edit touched, and every widget module runs alone."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor

from app.gui.canvas.node_item import NodeItem
from app.gui.theme import CATEGORY_COLORS
from engine.graph import Graph

ROOT = Path(__file__).resolve().parents[2]


def _count_colour(image, color: QColor, tol: int = 12) -> int:
    n = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            c = image.pixelColor(x, y)
            if (abs(c.red() - color.red()) <= tol and abs(c.green() - color.green()) <= tol
                    and abs(c.blue() - color.blue()) <= tol):
                n += 1
    return n


def test_screenshot_of_lenet_shows_its_nodes(make_window, tmp_path):
    win = make_window("lenet5")
    win.auto_layout()
    names = list(win.doc.graph.nodes)
    win.view.fit_rect(win.scene.nodes_rect(names[:5]))
    win.scene.select_nodes(["conv1"])
    pixmap = win.grab()
    assert not pixmap.isNull() and pixmap.width() >= 800 and pixmap.height() >= 600
    out = tmp_path / "editor.png"
    assert pixmap.save(str(out)) and out.stat().st_size > 10_000
    canvas = win.view.viewport().grab().toImage()
    # node headers in their category colours are on screen, not just a blank canvas
    for category in ("Convolution", "Activation", "Pooling"):
        assert _count_colour(canvas, QColor(CATEGORY_COLORS[category])) > 50, category
    visible = win.view.mapToScene(win.view.viewport().rect()).boundingRect()
    shown = [n for n in names if visible.intersects(win.scene.node_items[n].sceneBoundingRect())]
    assert len(shown) >= 4


def test_dark_theme_renders(make_window, monkeypatch):
    from app.gui import theme

    monkeypatch.setenv("LAYERFORGE_THEME", "dark")
    theme.refresh()
    assert theme.colors().dark
    win = make_window("spiral")
    win.view.fit_all()
    image = win.view.viewport().grab().toImage()
    corner = image.pixelColor(3, 3)
    monkeypatch.setenv("LAYERFORGE_THEME", "light")
    theme.refresh()
    assert corner.lightness() < 80


def _chain(n: int) -> Graph:
    g = Graph()
    g.add_node("Input", "x", {"shape": [32]}, pos=(0, 0))
    prev = "x"
    for i in range(n):
        kind = ("Linear", "ReLU", "Dropout")[i % 3]
        params = {"out_features": 32} if kind == "Linear" else {}
        name = g.add_node(kind, f"n{i}", params, pos=(260.0 * (i + 1), 0)).name
        g.connect(prev, name)
        prev = name
    g.add_node("Output", "out", pos=(260.0 * (n + 1), 0))
    g.connect(prev, "out")
    return g


def test_an_edit_on_300_nodes_touches_only_the_affected_items(make_window, monkeypatch):
    from app.core.project import Project

    win = make_window(Project(_chain(300), name="big"))
    assert len(win.scene.node_items) == 302
    synced: list[str] = []
    original = NodeItem.sync

    def counting(self, node, *args, **kw):
        synced.append(node.name)
        return original(self, node, *args, **kw)

    monkeypatch.setattr(NodeItem, "sync", counting)
    dropout = next(n for n in win.doc.graph.nodes if win.doc.graph.node(n).type == "Dropout")
    win.doc.set_param(dropout, "p", 0.3)  # shapes do not move: one node to redraw
    assert set(synced) == {dropout}
    synced.clear()
    linear = "n150"
    win.doc.set_param(linear, "out_features", 16)  # shapes move until the next Linear
    assert linear in synced and len(set(synced)) <= 6
    assert win.doc.graph.info("n153").values["in_features"] == 16


def test_layerforge_project_opens_the_gui(qtbot, tmp_path, monkeypatch):
    """``layerforge PROJECT`` goes through the command line into the application's start, which
    opens the project in its first window (the event loop is run here for a moment only)."""
    from PySide6.QtWidgets import QApplication

    from app.cli import main
    from app.core.project import Project

    path = tmp_path / "p.lfproj"
    Project.from_template("spiral").save(path)
    seen = []

    def run_briefly(app):  # noqa: ANN001, ANN202 - stands in for QApplication.exec
        manager = app._layerforge_manager
        [win] = manager.windows
        seen.append((win.doc.project.path, len(win.doc.graph), win.isVisible()))
        win.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", run_briefly)
    assert main([str(path)]) == 0
    assert seen == [(path, 7, True)]
    assert str(path.resolve()) in (tmp_path / "settings.ini").read_text()  # it was opened


def test_cards_paint_only_inside_their_bounds_so_a_moved_card_leaves_no_dots(make_window):
    """Qt repaints the old place of a moved item from its boundingRect; ink outside it stays
    on screen as dots. Each card state is painted at zooms from the overview to close up, with
    its area grown by 12 screen pixels, and nothing may land outside the bounds. Cards with
    training diagnostics (a sparkline and a value, a red pill when bad) too."""
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QImage, QPainter, QTransform
    from PySide6.QtWidgets import QStyleOptionGraphicsItem

    from app.core.layer_history import Badge
    from engine.training.health import KeyStatistic

    win = make_window("spiral")
    items = list(win.scene.node_items.values())
    spark = tuple(float(v) for v in range(40))
    good = Badge(KeyStatistic("sat", 0.1, "sat 10%", False), spark)
    bad = Badge(KeyStatistic("grad", 1e-9, "‖g‖ 1.0e-09 and a long tail", True), spark)
    states = [("ok", False, None), ("ok", True, None), ("error", False, None),
              ("warning", False, None), ("warning", True, None), ("ok", False, good),
              ("ok", True, bad), ("warning", False, bad)]
    for zoom in (0.15, 0.3, 0.5, 0.89, 1.0, 2.0):
        for state, selected, badge in states:
            item = items[0]
            item.state = state
            item.setSelected(selected)
            item.set_badge(badge)
            bounds = item.boundingRect()
            pad = 12 / zoom
            area = bounds.adjusted(-pad, -pad, pad, pad)
            size = area.size() * zoom
            image = QImage(int(size.width()) + 1, int(size.height()) + 1,
                           QImage.Format.Format_ARGB32)
            image.fill(Qt.GlobalColor.transparent)
            painter = QPainter(image)
            painter.setWorldTransform(QTransform().scale(zoom, zoom).translate(-area.left(),
                                                                               -area.top()))
            item.paint(painter, QStyleOptionGraphicsItem(), None)
            painter.end()
            inside = QTransform().scale(zoom, zoom).translate(-area.left(), -area.top()) \
                .mapRect(bounds).adjusted(-1, -1, 1, 1)  # a pixel of antialiasing
            stray = [(x, y) for y in range(image.height()) for x in range(image.width())
                     if image.pixelColor(x, y).alpha() and not inside.contains(x, y)]
            assert not stray, (zoom, state, selected, badge, stray[:5])
            assert QRectF(inside).isValid()
