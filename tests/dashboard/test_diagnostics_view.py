"""Layer diagnostics in the window while the network trains: badges on the cards, wires tinted by
gradient, the Diagnostics dock following the selected layer, training warnings in the Problems
panel; and the pieces alone (the bridge, the history, the panel, the tint)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from diagnostics_helpers import relu_spiral

from app.core.layer_history import HIST_KEEP, SPARK_POINTS, LayerHistory
from app.core.project import Project
from engine.training.diagnostics import DiagnosticsRecord, LayerStats
from engine.training.health import HealthWarning
from engine.training.layer_stats import tensor_sums

pytest.importorskip("app.gui.main_window")


@pytest.fixture
def window(make_window, tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERFORGE_SETTINGS", str(tmp_path / "settings.ini"))
    monkeypatch.setenv("LAYERFORGE_RECOVERY_DIR", str(tmp_path / "recovery"))
    relu_spiral(3.0, epochs=4).save(tmp_path / "relu.json")
    return make_window(Project.load(tmp_path / "relu.json"), size=(1366, 768), autosave=False)


def _train(qtbot, window, every: int = 2):  # noqa: ANN001, ANN202
    dash = window.training.dashboard
    dash.show_dialogs = False
    dash.diagnostics = every
    window.tabs.setCurrentIndex(0)  # watch it on the graph
    assert dash.start_training()
    qtbot.waitUntil(lambda: dash.last_outcome is not None, timeout=60000)
    qtbot.wait(50)
    window.training.diagnostics.refresh()
    return dash.last_outcome


def test_a_dying_network_shows_it_on_the_graph_and_in_the_problems_panel(qtbot, window):
    hub = window.training.diagnostics
    outcome = _train(qtbot, window)
    assert outcome.reason == "completed"
    items = window.scene.node_items
    relu = items["relu1"].badge if items["relu1"].badge.key.bad else items["relu2"].badge
    assert relu.key.label == "zero" and relu.key.bad and relu.key.text.startswith("zero ")
    assert 2 <= len(relu.spark) <= 40
    assert items["fc1"].badge.key.label == "grad" and items["points"].badge is None
    assert "last training sample: " in items["relu1"].toolTip()
    tinted = [e for e in window.scene.edge_items.values() if e.gradient is not None]
    assert {e.edge.src for e in tinted} >= {"fc2", "relu2", "fc3"}
    assert "gradient norm" in tinted[0].toolTip()
    # the warning, with its fix, in the Problems panel; clicking it selects the layer
    rows = [window.problems.tree.topLevelItem(i) for i in
            range(window.problems.tree.topLevelItemCount())]
    dead = [r for r in rows if "% of outputs are zero since epoch" in r.text(2)]
    assert dead and dead[0].text(2).startswith("Training: relu")
    assert dead[0].text(2).endswith("lower the learning rate, or use LeakyReLU")
    assert "warning" in window.problems_dock.windowTitle()
    window.problems.activate_row(rows.index(dead[0]))
    layer = dead[0].text(1)
    assert window.scene.selected_nodes() == [layer]
    # the Diagnostics dock shows the selected layer's histograms and curves (built when seen)
    assert hub.panel is None and not hub.seen  # behind the Problems tab
    hub.dock.show()
    hub.dock.raise_()
    qtbot.waitUntil(lambda: hub.panel is not None)
    panel = hub.panel
    assert hub.dock.widget() is panel and panel.layer == layer
    panel.refresh(force=True)
    assert f"<b>{layer}</b> (ReLU)" in panel.header.text() and "% zero" in panel.header.text()
    assert "% of outputs are zero" in panel.header.text()
    act = panel.images[0].image
    assert act is not None and act.shape[1] == 48 and act.shape[0] == len(
        hub.history.layers[layer])
    assert len(panel.frac_curve.getData()[0]) == len(hub.history.layers[layer])
    window.scene.select_nodes(["fc2"])
    assert panel.layer == "fc2"
    assert len(panel.grad_curve.getData()[0]) > 0 and "gradient norm" in panel.header.text()
    assert hub.redraws >= 1


def test_a_healthy_run_replaces_the_warnings_and_badges_of_the_last(qtbot, window):
    _train(qtbot, window)
    assert window.problems.training_warnings
    window.doc.set_setting(("training", "optimizer"), {"name": "SGD", "lr": 0.05,
                                                       "momentum": 0.9}, "lr")
    _train(qtbot, window, every=3)
    assert window.problems.training_warnings == []
    assert not any(i.badge.key.bad for i in window.scene.node_items.values() if i.badge)
    window.files.ask_save_changes = lambda: "discard"
    window.doc.set_project(Project.from_template("spiral"))  # another project: all goes
    assert all(i.badge is None for i in window.scene.node_items.values())


def test_the_dock_hides_with_the_editors_docks_on_the_training_tab(qtbot, window):
    hub = window.training.diagnostics
    assert hub.dock in window.editor_docks
    window.training.show()
    assert not hub.dock.isVisible()
    window.tabs.setCurrentIndex(0)


# ---------------------------------------------------------------------- the pieces alone
def _record(step: int, zero: float, grad: float = 0.1) -> DiagnosticsRecord:
    x = np.ones(100)
    x[:int(zero * 100)] = 0
    record = DiagnosticsRecord(step, 0, step)
    record.layers["relu"] = LayerStats("relu", "ReLU", "relu", tensor_sums(x),
                                       tensor_sums(np.full(100, grad)))
    record.layers["fc"] = LayerStats("fc", "Linear", "other", tensor_sums(x),
                                     None, grad, 1.0, 1e-3)
    return record


def test_layer_history_keeps_series_sparklines_and_thinned_histograms() -> None:
    h = LayerHistory()
    for i in range(HIST_KEEP + 50):
        h.add(_record(i, zero=0.5 if i < 10 else 0.95))
    relu = h.layers["relu"]
    steps, zero = relu.series("zero_fraction")
    assert len(steps) == HIST_KEEP + 50 and zero[0] == 0.5 and zero[-1] == 0.95
    badge = h.badge("relu")
    assert badge.key.bad and len(badge.spark) == SPARK_POINTS and badge.spark[-1] == 0.95
    assert h.badge("fc").key.label == "grad" and h.badge("nothing") is None
    kept = relu.histograms["activations"]
    assert len(kept) <= HIST_KEEP and kept[-1][0] == HIST_KEEP + 49  # the recent end stays
    assert h.output_grad_norm("relu") == pytest.approx(math.sqrt(100) * 0.1)
    assert h.output_grad_norm("fc") is None
    w = HealthWarning("dead", "relu", "relu: dead", 1, 5, 0.95, 0.9)
    h.apply_warning(w)
    assert h.warnings_of("relu") == [w]
    h.apply_warning(HealthWarning("dead", "relu", "relu: recovered", 1, 5, 0.5, active=False))
    assert h.warnings_of("relu") == []


def test_the_bridge_sends_diagnostics_with_the_steps_and_warnings_at_once(qtbot) -> None:
    from app.qt.training import TrainingBridge
    from engine.training.events import Event, EventKind

    bridge = TrainingBridge(updates_per_s=1e-6)  # nothing flushes on its own here
    got, warned = [], []
    bridge.sigDiagnostics.connect(got.append)
    bridge.sigWarning.connect(warned.append)
    record = _record(1, 0.5)
    bridge.on_event(Event(EventKind.BATCH_END, step=1, metrics={"loss": 1.0, "lr": 0.1}))
    bridge.on_event(Event(EventKind.DIAGNOSTICS, step=1, data={"diagnostics": record}))
    w = HealthWarning("nan", None, "loss is NaN at step 2", 1, 2, float("nan"))
    bridge.on_event(Event(EventKind.WARNING, data={"warning": w}))
    assert got == [] and warned == [w]
    bridge.flush()
    assert got == [[record]]


def test_wires_turn_blue_for_vanishing_and_red_for_exploding_gradients() -> None:
    from PySide6.QtGui import QColor

    from app.gui.canvas.edge_item import EXPLODING_COLOR, VANISHING_COLOR, gradient_tint

    base = QColor("#6e7781")
    for healthy in (1e-4, 1e-2, 1.0, 10.0):  # where healthy layers' gradients lie
        assert gradient_tint(base, healthy) == base
    assert gradient_tint(base, 1e-7) == VANISHING_COLOR
    assert gradient_tint(base, 0.0) == VANISHING_COLOR  # a dead ReLU lets nothing through
    assert gradient_tint(base, 1e3) == EXPLODING_COLOR
    assert gradient_tint(base, float("nan")) == EXPLODING_COLOR
    half = gradient_tint(base, 10 ** -5.5)
    assert base.blue() < half.blue() < VANISHING_COLOR.blue()


def test_the_panel_runs_on_a_history_and_picks_a_layer(qtbot) -> None:
    from app.dashboard.diagnostics_panel import EMPTY_TEXT, DiagnosticsPanel, heatmap

    panel = DiagnosticsPanel()
    qtbot.addWidget(panel)
    assert panel.header.text() == EMPTY_TEXT
    assert panel.view.isHidden()  # no empty plot frames before there is anything to plot
    h = LayerHistory()
    for i in range(5):
        h.add(_record(i, 0.5))
    h.apply_warning(HealthWarning("vanishing", "fc", "fc: gradient norm below 1e-07", 1, 1,
                                  1e-9, 1e-7))
    panel.set_history(h)
    assert panel.chosen().name == "fc"  # nothing selected: the layer with a warning
    assert not panel.view.isHidden()
    assert "fc: gradient norm below 1e-07" in panel.header.text()
    panel.show_layer("relu")
    assert panel.images[0].image.shape == (5, 48) and panel.frac_line.isVisible()
    assert panel.refresh() is False  # nothing new: nothing drawn
    hists = h.layers["relu"].histograms["activations"]
    image, low, high = heatmap(hists)
    assert image.max() == 1.0 and low <= 0 and high >= 1
    assert heatmap([]) is None
    cache: dict = {}
    first = heatmap(hists[:3], cache=cache)[0]
    np.testing.assert_array_equal(first, image[:3])
    again = heatmap(hists, cache=cache)[0]  # the first three columns reused
    np.testing.assert_array_equal(again, image)
    assert len(cache["columns"]) == 5
