"""The watched run's layer diagnostics in the editor: badges on the cards, wires tinted by the
gradient flowing back, the Diagnostics dock (``DiagnosticsPanel``, built when first needed) and
the training warnings in the Problems panel.

The training dashboard forwards what its ``TrainingBridge`` sends (queued, throttled signals);
this hub only stores it (``LayerHistory``, whose ``version`` grows with every change). A
GUI-thread timer redraws, when the version moved, at most ``REFRESH_HZ`` times a second: each
redraw holds the GIL the training thread needs, so the editor follows the run at the pace a
person reads it, not at the pace records arrive.
"""

from __future__ import annotations

from typing import Any

import shiboken6
from PySide6 import QtCore, QtWidgets

from app.core.layer_history import LayerHistory

REFRESH_HZ = 4
DOCK_TITLE = "Diagnostics"


class DiagnosticsHub(QtCore.QObject):
    """Everything a run's diagnostics change in ``window`` (a ``MainWindow``)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.history = LayerHistory()
        self.panel: Any = None
        self.redraws = 0
        self._drawn_version = self.history.version
        self._placeholder = QtWidgets.QLabel(
            "Layer diagnostics appear here while the network trains: select a layer on the "
            "graph to see its histograms and curves.")
        self._placeholder.setWordWrap(True)
        self._placeholder.setAlignment(QtCore.Qt.AlignCenter)
        self.dock = window.add_dock(self._placeholder, DOCK_TITLE,
                                    QtCore.Qt.BottomDockWidgetArea, "diagnosticsDock",
                                    editor=True)
        window.tabifyDockWidget(window.problems_dock, self.dock)
        window.problems_dock.raise_()
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(int(1000 / REFRESH_HZ))
        self.timer.timeout.connect(self.refresh)
        window.scene.selectionChanged.connect(self._on_selection)
        window.doc.sigReset.connect(self.clear)
        self.dock.visibilityChanged.connect(lambda shown: shown and self._show_panel())

    def attach(self, dashboard: Any) -> None:
        """Follow the runs of ``dashboard`` (a ``TrainingDashboard``)."""
        dashboard.sigTrainingStarted.connect(self.start)
        dashboard.sigDiagnostics.connect(self.add_records)
        dashboard.sigWarning.connect(self.add_warning)
        dashboard.sigTrainingFinished.connect(self.finish)

    # ------------------------------------------------------------------ from the run
    def start(self, *_: Any) -> None:
        """A new run: what the last one showed goes."""
        self.clear()
        self.timer.start()

    def clear(self) -> None:
        self.history.clear()
        self.window.problems.set_training_warnings([])
        self.refresh()

    def add_records(self, records: list[Any]) -> None:
        for record in records:
            self.history.add(record)

    def add_warning(self, warning: Any) -> None:
        self.history.apply_warning(warning)
        self.window.problems.set_training_warnings(list(self.history.warnings.values()))
        if warning.active and warning.layer is None:  # a NaN loss: say it at once
            self.window.statusBar().showMessage(f"Training: {warning.message}", 10000)

    def finish(self, *_: Any) -> None:
        """The run ended: draw its last state (the badges stay until the next run)."""
        self.timer.stop()
        self.refresh()

    # ------------------------------------------------------------------ drawing
    def refresh(self) -> None:
        """Redraw the cards, the wires and the panel if something arrived since the last."""
        if self.history.version == self._drawn_version:
            return
        self._drawn_version = self.history.version
        self.redraws += 1
        scene = self.window.scene
        h = self.history
        for name, item in scene.node_items.items():
            item.set_badge(h.badge(name))
        for edge, item in scene.edge_items.items():
            item.set_gradient(h.output_grad_norm(edge.src))
        if self.seen:
            self._show_panel()

    @property
    def seen(self) -> bool:
        """Whether the dock is on screen (a tab behind Problems is "visible" to Qt, but has
        nothing of itself on screen)."""
        return self.dock.isVisible() and not self.dock.visibleRegion().isEmpty()

    def _show_panel(self) -> None:
        """Build the panel (pyqtgraph: a third of a second the first time, which the training
        thread would wait for) once it is seen, and draw it."""
        if self.panel is None:
            from .diagnostics_panel import DiagnosticsPanel  # noqa: PLC0415 - heavy

            self.panel = DiagnosticsPanel(self.history)
            self.dock.setWidget(self.panel)
            self._placeholder.deleteLater()
            self._on_selection()
        self.panel.refresh()

    def _on_selection(self) -> None:
        scene = self.window.scene
        # a closing window deletes its scene before this hub, and the scene announces the
        # selection it loses on the way: nothing to show then
        if self.panel is None or not shiboken6.isValid(scene):
            return
        chosen = scene.selected_nodes()
        if chosen:
            self.panel.show_layer(chosen[0])
