"""The runs of a project (trained in the app or with ``layerforge train``) and their weights:
listed with their outcome, overlaid on the charts for comparison, reloaded, exported.

The list is the project's ``runs`` section; a run's curves come from its folder
(``history.npz`` + ``epochs.json``) or from the metrics log the command line wrote.

``python -m app.dashboard.runs`` shows it with two made-up runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from app.project import Project

from .history import RunHistory

COLUMNS = ("Compare", "Run", "Created", "Epochs", "Ended", "Val loss", "Val acc", "Weights")


def run_history(project: Project, run: dict[str, Any]) -> RunHistory:
    """The curves of a run, from its folder or its metrics log."""
    name = str(run.get("id", "run"))
    candidates = []
    if run.get("weights"):
        candidates.append(project.resolve(run["weights"]).parent)
    if run.get("metrics"):
        m = project.resolve(run["metrics"])
        candidates.append(m.parent if m.name in ("epochs.json", "history.npz") else m)
    errors = []
    for c in candidates:
        try:
            return RunHistory.load(c, name)
        except (FileNotFoundError, ValueError, OSError) as exc:
            errors.append(str(exc))
    raise FileNotFoundError(f"run {name}: no metrics found ({'; '.join(errors) or 'no paths'})")


def _final(run: dict[str, Any], *keys: str) -> float | None:
    final = run.get("final") or {}
    for k in keys:
        v = final.get(k)
        if isinstance(v, int | float):
            return float(v)
    return None


class RunsPanel(QtWidgets.QWidget):
    """The project's runs.

    Signals:
        sigOverlayChanged(list): the runs (dicts) checked for comparison on the charts.
        sigReload(dict): show this run (its curves, and its weights for evaluation/export).
        sigExport(dict): export this run's weights.
    """

    sigOverlayChanged = QtCore.Signal(list)
    sigReload = QtCore.Signal(object)
    sigExport = QtCore.Signal(object)

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
        self.refresh()

    def set_project(self, project: Project) -> None:
        self.project = project
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the list from ``project.runs`` (newest first), keeping the checked runs."""
        checked = {r.get("id") for r in self.overlay_runs()}
        self._filling = True
        self.tree.clear()
        for run in reversed(self.project.runs):
            vl, va = _final(run, "val_loss"), _final(run, "val_accuracy", "val_acc")
            weights = run.get("weights")
            exists = bool(weights) and self.project.resolve(weights).is_file()
            item = QtWidgets.QTreeWidgetItem([
                "", str(run.get("id", "?")), str(run.get("created", "")).replace("T", " "),
                str(run.get("epochs", "")), str(run.get("reason", "")),
                f"{vl:.4g}" if vl is not None else "", f"{va:.1%}" if va is not None else "",
                (str(weights) if exists else "missing") if weights else "none"])
            item.setData(0, QtCore.Qt.UserRole, run)
            item.setFlags(item.flags() | QtCore.Qt.ItemIsUserCheckable)
            item.setCheckState(0, QtCore.Qt.Checked if run.get("id") in checked else
                               QtCore.Qt.Unchecked)
            if weights and not exists:
                item.setForeground(7, QtGui.QBrush(QtGui.QColor("#c0392b")))
                item.setToolTip(7, f"{self.project.resolve(weights)} is not there any more")
            if run.get("message"):
                item.setToolTip(4, run["message"])
            self.tree.addTopLevelItem(item)
        for i in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(i)
        self._filling = False
        self.empty_label.setVisible(not self.project.runs)
        self._update_buttons()

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
        has_weights = bool(run and run.get("weights") and
                           self.project.resolve(run["weights"]).is_file())
        self.reload_button.setEnabled(run is not None)
        self.export_button.setEnabled(has_weights)
        self.folder_button.setEnabled(run is not None and bool(run.get("weights") or
                                                               run.get("metrics")))

    def _reload(self) -> None:
        run = self.selected_run()
        if run is not None:
            self.sigReload.emit(run)

    def _open_folder(self) -> None:
        run = self.selected_run()
        if run is None:
            return
        path = self.project.resolve(run.get("weights") or run.get("metrics"))
        QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(Path(path).parent)))


def main(argv: list[str] | None = None) -> int:
    """Show it alone with sample data (``--screenshot PNG`` saves it and quits)."""
    import tempfile

    from . import _standalone
    from .history import sample_history

    def build(args: Any) -> QtWidgets.QWidget:
        folder = Path(tempfile.mkdtemp(prefix="layerforge-runs-demo-"))
        project = Project.from_template("mlp_digits")
        project.path = folder / "demo.json"
        for i, seed in enumerate((1, 2)):
            h = sample_history(600, 60, seed=seed)
            run_dir = folder / "runs" / f"2026010{i + 1}-120000"
            h.save(run_dir)
            final = h.epochs[-1]
            project.add_run({"id": run_dir.name, "created": f"2026-01-0{i + 1}T12:00:00",
                             "metrics": str(run_dir / "epochs.json"), "epochs": 10,
                             "reason": "completed", "final": final})
        return RunsPanel(project)

    return _standalone.run(build, "LayerForge - runs", argv, (800, 300))


if __name__ == "__main__":
    sys.exit(main())
