"""The runs of a project (trained in the window, with ``layerforge train`` or ``mpiexec``) and
their weights: listed with their outcome, overlaid on the charts for comparison, reloaded,
exported.

The list is what the project's runs folder holds (``app.core.runs.list_runs``), looked at again
every few seconds while the panel is shown, so a run started from a terminal appears by itself.

``python -m app.qt.preview runs`` shows it with two runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from app.core.history import RunHistory
from app.core.project import Project
from app.core.runs import RUN_FILE, list_runs, run_file, runs_root, weights_of

COLUMNS = ("Compare", "Run", "Created", "Epochs", "Ended", "Val loss", "Val acc", "Weights")
POLL_MS = 3000


def run_history(run: dict[str, Any]) -> RunHistory:
    """The curves of a run, from its folder (or the metrics file an older version named)."""
    name = str(run.get("id", "run"))
    places = [Path(run["folder"])]
    metrics = run_file(run, "metrics")
    if metrics is not None:
        places.insert(0, metrics if metrics.suffix in (".jsonl", ".csv") else metrics.parent)
    errors = []
    for place in places:
        try:
            return RunHistory.load(place, name, run.get("monitor"))
        except (FileNotFoundError, ValueError, OSError) as exc:
            errors.append(str(exc))
    raise FileNotFoundError(f"run {name}: no metrics found ({'; '.join(errors)})")


def _final(run: dict[str, Any], *keys: str) -> float | None:
    final = run.get("final") or {}
    for k in keys:
        v = final.get(k)
        if isinstance(v, int | float):
            return float(v)
    return None


def _signature(root: Path) -> tuple:
    """What changes when a run appears, ends or goes (cheap: one stat a run)."""
    if not root.is_dir():
        return ()
    sig = []
    for entry in root.iterdir():
        try:
            sig.append((entry.name, (entry / RUN_FILE).stat().st_mtime_ns
                        if entry.is_dir() else entry.stat().st_mtime_ns))
        except OSError:
            sig.append((entry.name, 0))
    return tuple(sorted(sig))


class RunsPanel(QtWidgets.QWidget):
    """The project's runs.

    Signals:
        sigOverlayChanged(list): the runs (dicts) checked for comparison on the charts.
        sigReload(dict): show this run (its curves, and its weights for evaluation/export).
        sigExport(dict): export this run's weights.
        sigRunsChanged(): the runs folder changed (a run appeared, ended or went).
    """

    sigOverlayChanged = QtCore.Signal(list)
    sigReload = QtCore.Signal(object)
    sigExport = QtCore.Signal(object)
    sigRunsChanged = QtCore.Signal()

    def __init__(self, project: Project, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QtWidgets.QAbstractItemView.SingleSelection)
        self.reload_button = QtWidgets.QPushButton("Show run")
        self.reload_button.setToolTip("Show this run's charts, and use its weights for the "
                                      "evaluation and the export")
        self.export_button = QtWidgets.QPushButton("Export…")
        self.folder_button = QtWidgets.QPushButton("Open folder")
        self.empty_label = QtWidgets.QLabel("No runs yet: press Start to train the model. Runs "
                                            "made with 'layerforge train' appear here too.")
        self.empty_label.setWordWrap(True)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.reload_button)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.folder_button)
        buttons.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.tree.itemDoubleClicked.connect(lambda *_: self._reload())
        self.reload_button.clicked.connect(self._reload)
        self.export_button.clicked.connect(lambda: self.selected_run() and self.sigExport.emit(
            self.selected_run()))
        self.folder_button.clicked.connect(self._open_folder)
        self._filling = False
        self.records: list[dict[str, Any]] = []
        self._signature: tuple = ()
        self._timer = QtCore.QTimer(self, interval=POLL_MS)
        self._timer.timeout.connect(self._poll)
        self.refresh()

    def set_project(self, project: Project) -> None:
        self.project = project
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the list from the project's runs folder (newest first), keeping the checked
        runs and the selection."""
        checked = {r.get("id") for r in self.overlay_runs()}
        selected = (self.selected_run() or {}).get("id")
        self.records = list_runs(self.project)
        self._signature = _signature(runs_root(self.project))
        self._filling = True
        self.tree.clear()
        for run in reversed(self.records):
            vl, va = _final(run, "val_loss"), _final(run, "val_accuracy")
            weights = run_file(run, "weights")
            exists = weights_of(run) is not None
            status = "running" if run.get("live") else str(run.get("status", ""))
            item = QtWidgets.QTreeWidgetItem([
                "", str(run.get("id", "?")), str(run.get("created", "")).replace("T", " "),
                str(run.get("epochs_completed") or ""), status,
                f"{vl:.4g}" if vl is not None else "", f"{va:.1%}" if va is not None else "",
                (weights.name if exists else "missing") if weights else "none"])
            item.setData(0, QtCore.Qt.UserRole, run)
            item.setFlags(item.flags() | QtCore.Qt.ItemIsUserCheckable)
            item.setCheckState(0, QtCore.Qt.Checked if run.get("id") in checked else
                               QtCore.Qt.Unchecked)
            item.setToolTip(1, run["folder"])
            if weights and not exists:
                item.setForeground(7, QtGui.QBrush(QtGui.QColor("#c0392b")))
                item.setToolTip(7, f"{weights} is not there any more")
            elif weights:
                item.setToolTip(7, str(weights))
            if run.get("message"):
                item.setToolTip(4, run["message"])
            self.tree.addTopLevelItem(item)
        for i in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(i)
        self._filling = False
        if selected is not None:
            self.select(str(selected))
        self.empty_label.setVisible(not self.records)
        self._update_buttons()

    def _poll(self) -> None:
        """Look at the runs folder again; refresh only when something there changed."""
        if _signature(runs_root(self.project)) != self._signature:
            self.refresh()
            self.sigRunsChanged.emit()

    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self._poll()
        self._timer.start()

    def hideEvent(self, event: QtGui.QHideEvent) -> None:  # noqa: N802 - Qt's name
        super().hideEvent(event)
        self._timer.stop()

    def overlay_runs(self) -> list[dict[str, Any]]:
        out = []
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.checkState(0) == QtCore.Qt.Checked:
                out.append(item.data(0, QtCore.Qt.UserRole))
        return out

    def set_overlay(self, run_id: str, on: bool) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, QtCore.Qt.UserRole).get("id") == run_id:
                item.setCheckState(0, QtCore.Qt.Checked if on else QtCore.Qt.Unchecked)

    def selected_run(self) -> dict[str, Any] | None:
        items = self.tree.selectedItems()
        return items[0].data(0, QtCore.Qt.UserRole) if items else None

    def select(self, run_id: str) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, QtCore.Qt.UserRole).get("id") == run_id:
                self.tree.setCurrentItem(item)

    def _on_item_changed(self, item: QtWidgets.QTreeWidgetItem, column: int) -> None:
        if column == 0 and not self._filling:
            self.sigOverlayChanged.emit(self.overlay_runs())

    def _update_buttons(self) -> None:
        run = self.selected_run()
        self.reload_button.setEnabled(run is not None)
        self.export_button.setEnabled(run is not None and weights_of(run) is not None)
        self.folder_button.setEnabled(run is not None and Path(run["folder"]).is_dir())

    def _reload(self) -> None:
        run = self.selected_run()
        if run is not None:
            self.sigReload.emit(run)

    def _open_folder(self) -> None:
        run = self.selected_run()
        if run is None:
            return
        QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(run["folder"]))
