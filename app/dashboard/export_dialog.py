"""Export a run's trained weights: safetensors, npz, ONNX or PyTorch code, through the same
exporters as ``layerforge export`` (``app.core.exporting``), with a report of where the files
went.

The run's own ``project.json`` is used, so the export matches the graph the weights were
trained on even if the graph was edited since. The export itself runs on a background thread
(ONNX building can take a moment for a large graph).

``python -m app.qt.preview export_dialog`` trains the spiral template for one epoch in a temporary
folder and opens the dialog on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from app.core.exporting import SUFFIX, export_project, export_targets
from app.core.project import Project
from app.core.runs import list_runs, run_names, run_project, weights_of
from app.qt.tasks import BackgroundTask, start_task

FORMATS = (("safetensors", "safetensors (PyTorch state_dict names)"),
           ("npz", "NumPy .npz"),
           ("onnx", "ONNX model (opset 17)"),
           ("pytorch", "PyTorch code (model.py + weights)"))


def default_output(run: dict[str, Any], fmt: str) -> Path:
    """``<run folder>/export/model.<ext>`` (a folder for PyTorch code)."""
    folder = Path(run["folder"]) / "export"
    if fmt == "pytorch":
        return folder / "pytorch"
    return folder / f"model{SUFFIX[fmt]}"


def with_format(path: str, fmt: str) -> str:
    """``path`` with the extension of ``fmt`` (none for PyTorch code, which is a folder): the
    folder and name a person chose survive a change of format."""
    ext = SUFFIX.get(fmt, "")
    p = Path(path)
    if p.suffix.lower() in set(SUFFIX.values()) | {".py"}:
        p = p.with_suffix("")
    return str(p.with_name(p.name + ext)) if p.name else path


def export_run(project: Project, run: dict[str, Any], fmt: str, output: str | Path,
               normalization: bool = True) -> list[Path]:
    """Write the export of one run (with the graph it was trained on); returns the files."""
    output = Path(output)
    export_targets(fmt, output)  # a refused name is refused before any folder is made
    target_folder = output if fmt == "pytorch" and output.suffix != ".py" else output.parent
    target_folder.mkdir(parents=True, exist_ok=True)
    return export_project(run_project(project, run), fmt, output, weights=weights_of(run),
                          normalization=normalization)


class ExportDialog(QtWidgets.QDialog):
    """Choose a run, a format and a file; Export writes it and says where.

    Signals:
        sigExported(list): the paths written.
    """

    sigExported = QtCore.Signal(list)

    def __init__(self, project: Project, run: dict[str, Any] | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export trained model")
        self.project = project
        self.runs = [r for r in list_runs(project) if weights_of(r) is not None]
        self.written: list[Path] = []
        self.error = ""
        self._task: BackgroundTask | None = None
        self._chosen_path = False  # typed or browsed: a format change keeps it

        self.run_combo = QtWidgets.QComboBox()
        names = run_names(self.runs)
        for r in reversed(self.runs):
            final = r.get("final") or {}
            acc = final.get("val_accuracy")
            extra = f", val acc {acc:.1%}" if isinstance(acc, float) else ""
            name = names.get(r["folder"], r.get("id", "?"))
            self.run_combo.addItem(f"{name} ({r.get('epochs_completed') or 0} "
                                   f"epochs{extra})", r)
        if run is not None:
            for i in range(self.run_combo.count()):
                if self.run_combo.itemData(i).get("id") == run.get("id"):
                    self.run_combo.setCurrentIndex(i)
        self.format_combo = QtWidgets.QComboBox()
        for key, label in FORMATS:
            self.format_combo.addItem(label, key)
        self.path_edit = QtWidgets.QLineEdit()
        browse = QtWidgets.QPushButton("Browse…")
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        self.norm_check = QtWidgets.QCheckBox("Include the training normalisation in the model")
        self.norm_check.setChecked(True)
        self.report = QtWidgets.QLabel("")
        self.report.setWordWrap(True)
        self.report.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse |
                                            QtCore.Qt.LinksAccessibleByMouse)
        self.report.setOpenExternalLinks(False)
        self.report.linkActivated.connect(lambda url: QtGui.QDesktopServices.openUrl(
            QtCore.QUrl(url)))
        self.buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Close)
        self.export_button = self.buttons.addButton("Export", QtWidgets.QDialogButtonBox.ApplyRole)
        self.export_button.setDefault(True)

        form = QtWidgets.QFormLayout()
        form.addRow("Run", self.run_combo)
        form.addRow("Format", self.format_combo)
        form.addRow("Save to", row)
        form.addRow("", self.norm_check)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.report)
        layout.addWidget(self.buttons)
        self.resize(560, 220)

        if not self.runs:
            self.report.setText("This project has no trained weights yet: train it first.")
            self.export_button.setEnabled(False)
        self.run_combo.currentIndexChanged.connect(self._update_default_path)
        self.format_combo.currentIndexChanged.connect(self._update_default_path)
        self.path_edit.textEdited.connect(self._path_chosen)
        browse.clicked.connect(self._browse)
        self.export_button.clicked.connect(self.export)
        self.buttons.rejected.connect(self.reject)
        self._update_default_path()

    @property
    def fmt(self) -> str:
        return self.format_combo.currentData()

    @property
    def run(self) -> dict[str, Any] | None:
        return self.run_combo.currentData()

    def set_format(self, fmt: str) -> None:
        self.format_combo.setCurrentIndex(self.format_combo.findData(fmt))

    def _path_chosen(self, text: str) -> None:
        self._chosen_path = bool(text.strip())

    def _update_default_path(self) -> None:
        """The run's export folder until a path is chosen; a chosen path only follows the
        format's extension."""
        run = self.run
        self.norm_check.setEnabled(self.fmt == "onnx")
        if self._chosen_path:
            self.path_edit.setText(with_format(self.path_edit.text().strip(), self.fmt))
        elif run is not None:
            self.path_edit.setText(str(default_output(run, self.fmt)))

    def _browse(self) -> None:
        current = self.path_edit.text()
        if self.fmt == "pytorch":
            path = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder for model.py",
                                                              current)
        else:
            ext = SUFFIX[self.fmt]
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export to", current,
                                                            f"*{ext}")
        if path:
            self.path_edit.setText(path)
            self._chosen_path = True

    def export(self) -> None:
        """Export in the background; the report line says where the files went."""
        run = self.run
        if run is None:
            return
        fmt, out, norm = self.fmt, self.path_edit.text().strip(), self.norm_check.isChecked()
        if not out:
            self.report.setText("Choose where to save the export.")
            return
        self.export_button.setEnabled(False)
        self.report.setText("Exporting…")
        project = self.project
        self._task = start_task(lambda ctx: export_run(project, run, fmt, out, norm),
                                self._done, self._failed)

    def wait(self, timeout_ms: int = 30000) -> None:
        """Tests: wait for the export to finish and report."""
        deadline = QtCore.QDeadlineTimer(timeout_ms)
        while self._task is not None and not deadline.hasExpired():
            QtWidgets.QApplication.processEvents(
                QtCore.QEventLoop.AllEvents | QtCore.QEventLoop.WaitForMoreEvents, 50)

    def _finish_task(self) -> None:
        self._task = None
        self.export_button.setEnabled(True)

    def _done(self, paths: list[Path]) -> None:
        self.written = [Path(p) for p in paths]
        self.error = ""
        links = "<br>".join(f'<a href="{QtCore.QUrl.fromLocalFile(str(p.parent)).toString()}">'
                            f"{p}</a>" for p in self.written)
        self.report.setText(f"Wrote {len(self.written)} file(s):<br>{links}")
        self._finish_task()
        self.sigExported.emit(self.written)

    def _failed(self, exc: BaseException) -> None:
        self.error = str(exc) or type(exc).__name__
        self.report.setText(f'<span style="color:#c0392b">Export failed: '
                            f"{self.error}</span>")
        self._finish_task()
