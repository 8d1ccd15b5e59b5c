"""The runs of a project (trained in the window, with ``layerforge train`` or ``mpiexec``) and
their weights: a table of their names, settings and results (every column sorts), the selected
runs overlaid on the charts for comparison, a run reloaded, renamed, exported.

The list is what the project's runs folder holds (``app.core.runs.list_runs``), looked at again
every few seconds while the panel is shown, so a run started from a terminal appears by itself.
A run is named by the user, or by what sets it apart from the others ("lr 0.01 · bs 32").

``python -m app.qt.preview runs`` shows it with two runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from app.core.history import RunHistory
from app.core.project import Project
from app.core.runs import (
    RUN_FILE,
    list_runs,
    rename_run,
    run_file,
    run_names,
    runs_root,
    weights_of,
)

# (header, where the value comes from, how it reads); numbers sort as numbers
COLUMNS = ("Name", "Status", "Epochs", "Val acc", "Val loss", "Train loss", "Optimizer", "LR",
           "Batch", "Schedule", "Seed", "Devices", "Created", "Run")
NAME, STATUS, RUN_ID = 0, 1, len(COLUMNS) - 1
SORT_ROLE = QtCore.Qt.UserRole + 1
POLL_MS = 3000


def run_history(run: dict[str, Any], name: str = "") -> RunHistory:
    """The curves of a run, from its folder (or the metrics file an older version named);
    ``name`` labels them in the charts' legends."""
    name = name or str(run.get("name") or run.get("id", "run"))
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


def _cells(run: dict[str, Any], name: str) -> list[tuple[str, Any]]:
    """(text, sort key) per column."""
    s = run.get("settings") or {}
    final = run.get("final") or {}

    def num(v: Any, fmt: str) -> tuple[str, Any]:
        return (format(v, fmt), float(v)) if isinstance(v, int | float) else ("", -1e300)

    devices = s.get("devices")
    return [
        (name, name.lower()),
        ("running" if run.get("live") else str(run.get("status", "")),) * 2,
        num(run.get("epochs_completed"), "d") if isinstance(run.get("epochs_completed"), int)
        else ("", -1),
        num(final.get("val_accuracy"), ".1%"), num(final.get("val_loss"), ".4g"),
        num(final.get("train_loss"), ".4g"), (str(s.get("optimizer", "")),) * 2,
        num(s.get("lr"), "g"), num(s.get("batch_size"), "d") if s.get("batch_size") else ("", -1),
        (str(s.get("schedule", "")),) * 2,
        num(s.get("seed"), "d") if isinstance(s.get("seed"), int) else ("", -1),
        (",".join(devices) if isinstance(devices, list) else "",) * 2,
        (str(run.get("created", "")).replace("T", " "),) * 2,
        (str(run.get("id", "")),) * 2,
    ]


class _Row(QtWidgets.QTreeWidgetItem):
    """A run's row: sorts by each column's key (numbers as numbers), not by its text."""

    def __lt__(self, other: QtWidgets.QTreeWidgetItem) -> bool:
        column = self.treeWidget().sortColumn() if self.treeWidget() else 0
        a, b = self.data(column, SORT_ROLE), other.data(column, SORT_ROLE)
        try:
            return a < b
        except TypeError:
            return str(a) < str(b)


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
        sigOverlayChanged(list): the runs (dicts) selected, to compare on the charts.
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
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(len(COLUMNS) - 2, QtCore.Qt.DescendingOrder)  # newest first
        self.tree.setSelectionMode(QtWidgets.QAbstractItemView.ExtendedSelection)
        self.tree.setEditTriggers(QtWidgets.QAbstractItemView.EditKeyPressed)
        self.tree.setToolTip("Select runs to compare their curves on the charts (Ctrl/Shift "
                             "for several); F2 renames the run")
        self.reload_button = QtWidgets.QPushButton("Show run")
        self.reload_button.setToolTip("Show this run's charts, and use its weights for the "
                                      "evaluation and the export")
        self.rename_button = QtWidgets.QPushButton("Rename…")
        self.export_button = QtWidgets.QPushButton("Export…")
        self.folder_button = QtWidgets.QPushButton("Open folder")
        self.empty_label = QtWidgets.QLabel("No runs yet: press Start to train the model. Runs "
                                            "made with 'layerforge train' appear here too.")
        self.empty_label.setWordWrap(True)
        buttons = QtWidgets.QHBoxLayout()
        for b in (self.reload_button, self.rename_button, self.export_button,
                  self.folder_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.itemSelectionChanged.connect(self._on_selection)
        self.tree.itemDoubleClicked.connect(lambda *_: self._reload())
        self.reload_button.clicked.connect(self._reload)
        self.rename_button.clicked.connect(self.start_rename)
        self.export_button.clicked.connect(lambda: self.selected_run() and self.sigExport.emit(
            self.selected_run()))
        self.folder_button.clicked.connect(self._open_folder)
        self._filling = False
        self.records: list[dict[str, Any]] = []
        self.names: dict[str, str] = {}
        self._signature: tuple = ()
        self._timer = QtCore.QTimer(self, interval=POLL_MS)
        self._timer.timeout.connect(self._poll)
        self.refresh()

    def set_project(self, project: Project) -> None:
        self.project = project
        self.tree.clearSelection()
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the table from the project's runs folder, keeping the selection."""
        selected = {r["folder"] for r in self.selected_runs()}
        self.records = list_runs(self.project)
        self.names = run_names(self.records)
        self._signature = _signature(runs_root(self.project))
        self._filling = True
        sorting = self.tree.isSortingEnabled()
        self.tree.setSortingEnabled(False)
        self.tree.clear()
        for run in self.records:
            item = _Row()
            for col, (text, key) in enumerate(_cells(run, self.names[run["folder"]])):
                item.setText(col, text)
                item.setData(col, SORT_ROLE, key)
            item.setData(NAME, QtCore.Qt.UserRole, run)
            item.setFlags(item.flags() | QtCore.Qt.ItemIsEditable)
            item.setToolTip(NAME, f"{run['folder']}\nF2 or Rename… to name this run")
            weights = run_file(run, "weights")
            if weights is not None and weights_of(run) is None:
                item.setForeground(STATUS, QtGui.QBrush(QtGui.QColor("#c0392b")))
                item.setToolTip(STATUS, f"{weights} is not there any more")
            elif run.get("message"):
                item.setToolTip(STATUS, run["message"])
            self.tree.addTopLevelItem(item)
        self.tree.setSortingEnabled(sorting)
        for i in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(i)
        self.tree.setColumnWidth(NAME, min(max(self.tree.columnWidth(NAME), 160), 320))
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(NAME, QtCore.Qt.UserRole)["folder"] in selected:
                item.setSelected(True)
        self._filling = False
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

    # ------------------------------------------------------------------ selection
    def _items(self) -> list[QtWidgets.QTreeWidgetItem]:
        return [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]

    def selected_runs(self) -> list[dict[str, Any]]:
        """The selected runs, in the table's order."""
        return [item.data(NAME, QtCore.Qt.UserRole) for item in self._items()
                if item.isSelected()]

    def selected_run(self) -> dict[str, Any] | None:
        item = self.tree.currentItem()
        if item is not None and item.isSelected():
            return item.data(NAME, QtCore.Qt.UserRole)
        runs = self.selected_runs()
        return runs[0] if runs else None

    def select(self, run_id: str, extend: bool = False) -> None:
        for item in self._items():
            if item.data(NAME, QtCore.Qt.UserRole).get("id") == run_id:
                if extend:
                    item.setSelected(True)
                else:
                    self.tree.setCurrentItem(item)

    def name_of(self, run: dict[str, Any]) -> str:
        return self.names.get(run["folder"], str(run.get("id")))

    def _on_selection(self) -> None:
        self._update_buttons()
        if not self._filling:
            self.sigOverlayChanged.emit(self.selected_runs())  # what the charts compare

    # ------------------------------------------------------------------ names
    def start_rename(self) -> None:
        item = self.tree.currentItem()
        if item is not None:
            self.tree.editItem(item, NAME)

    def _on_item_changed(self, item: QtWidgets.QTreeWidgetItem, column: int) -> None:
        if column != NAME or self._filling:
            return
        run = item.data(NAME, QtCore.Qt.UserRole)
        text = item.text(NAME).strip()
        if text != self.names.get(run["folder"]):
            rename_run(run, text)
            self.refresh()
            self.sigOverlayChanged.emit(self.selected_runs())  # legends use the names

    def _update_buttons(self) -> None:
        run = self.selected_run()
        self.reload_button.setEnabled(run is not None)
        self.rename_button.setEnabled(run is not None)
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
