"""How the training dashboard joins the editor's main window: a "Training" tab next to the
canvas, a Train menu (Train, Stop, Export) and a toolbar button.

The dashboard itself (pyqtgraph and the engine's training code) is built the first time it is
needed, when the tab is opened or Train is chosen, so the editor starts as fast as before. The
graph stays editable while training: each run trains a compiled copy taken at Start.

Used by ``MainWindow`` with one call: ``self.training = attach_dashboard(self)``.
"""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

TAB_TITLE = "Training"


class DashboardHost(QtCore.QObject):
    """The window's side of the dashboard: the tab, the menu, and the lazily built widget."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self._dashboard: Any = None
        self.page = QtWidgets.QStackedWidget()
        # The tab widget is as wide as its widest page at least: a dashboard that asked for its
        # full width would squeeze the editor's docks on the Network tab. It takes what it gets.
        self.page.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Ignored)
        placeholder = QtWidgets.QLabel("The training dashboard loads when this tab is opened…")
        placeholder.setAlignment(QtCore.Qt.AlignCenter)
        self.page.addWidget(placeholder)
        self.tab_index = window.add_tab(self.page, TAB_TITLE)

        self.act_train = QtGui.QAction("&Train", window)
        self.act_train.setShortcut(QtGui.QKeySequence("Ctrl+T"))
        self.act_train.setStatusTip("Train the model on the chosen dataset, in the background")
        self.act_train.setIcon(window.style().standardIcon(QtWidgets.QStyle.SP_MediaPlay))
        self.act_stop = QtGui.QAction("&Stop Training", window)
        self.act_stop.setShortcut(QtGui.QKeySequence("Ctrl+Shift+T"))
        self.act_stop.setIcon(window.style().standardIcon(QtWidgets.QStyle.SP_MediaStop))
        self.act_stop.setEnabled(False)
        self.act_export = QtGui.QAction("&Export Trained Model…", window)
        self.act_show = QtGui.QAction("Show Training &Dashboard", window)
        self.act_show.setShortcut(QtGui.QKeySequence("Ctrl+Shift+D"))
        for action in (self.act_train, self.act_stop, self.act_export, self.act_show):
            window.addAction(action)
        menu = window.menuBar().addMenu("&Train")
        menu.addActions([self.act_train, self.act_stop])
        menu.addSeparator()
        menu.addActions([self.act_export, self.act_show])
        self.menu = menu
        toolbar = window.findChild(QtWidgets.QToolBar)
        if toolbar is None:
            toolbar = window.addToolBar("Training")
            toolbar.setObjectName("trainingToolbar")
        toolbar.addActions([self.act_train, self.act_stop])
        self.toolbar = toolbar

        from .diagnostics_view import DiagnosticsHub  # noqa: PLC0415 - light: no pyqtgraph

        self.diagnostics = DiagnosticsHub(window)
        self.act_train.triggered.connect(self.train)
        self.act_stop.triggered.connect(lambda: self._dashboard and self._dashboard.stop())
        self.act_export.triggered.connect(lambda: self.ensure().open_export())
        self.act_show.triggered.connect(self.show)
        window.tabs.currentChanged.connect(self._on_tab)
        window.installEventFilter(self)
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    @property
    def dashboard(self) -> Any:
        """The dashboard widget (built now if it was not yet)."""
        return self.ensure()

    def ensure(self) -> Any:
        if self._dashboard is None:
            from .dashboard import TrainingDashboard  # noqa: PLC0415 - heavy: on demand

            dash = TrainingDashboard(self.window.doc)
            self.page.addWidget(dash)
            self.page.setCurrentWidget(dash)
            dash.sigTrainingStarted.connect(self._on_started)
            dash.sigTrainingFinished.connect(self._on_finished)
            dash.sigRunRecorded.connect(self._on_run_recorded)
            self.diagnostics.attach(dash)
            self._dashboard = dash
        return self._dashboard

    def show(self) -> None:
        self.ensure()
        self.window.tabs.setCurrentIndex(self.tab_index)

    def train(self) -> bool:
        self.show()
        return self.ensure().start_training()

    def _on_tab(self, index: int) -> None:
        if index == self.tab_index:
            self.ensure()

    def _on_started(self, runs_dir: str) -> None:
        self.act_train.setEnabled(False)
        self.act_stop.setEnabled(True)
        self.window.statusBar().showMessage(f"Training… (runs in {runs_dir}); the graph "
                                            "stays editable: the run uses a copy", 8000)

    def _on_finished(self, outcome: Any) -> None:
        self.act_train.setEnabled(True)
        self.act_stop.setEnabled(False)
        self.window.statusBar().showMessage(f"Training: {outcome.reason}. {outcome.message}",
                                            10000)

    def _on_run_recorded(self, run: dict[str, Any]) -> None:
        """A run never writes the project file (it keeps its record in its own folder), so a
        saved project stays as it was. An unsaved one now holds work that closing it would
        lose: it is marked modified, so the window asks before it closes."""
        doc = self.window.doc
        if doc.project.path is None:
            doc.mark_unsaved()

    def shutdown(self) -> None:
        if self._dashboard is not None:
            self._dashboard.shutdown()

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        # The window was closed (and hidden for good): stop the training thread with it.
        if obj is self.window and event.type() == QtCore.QEvent.Hide and \
                not event.spontaneous() and not self.window.isVisible() and \
                not self.window.isMinimized():
            self.shutdown()
        return False


def attach_dashboard(window: Any) -> DashboardHost:
    """Add the training dashboard to a ``MainWindow`` (needs ``doc``, ``tabs``, ``add_tab``)."""
    return DashboardHost(window)
