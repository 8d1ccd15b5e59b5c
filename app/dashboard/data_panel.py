"""The data panel: which dataset to train on, and what it looks like.

Built-in Digits (the default, offline), synthetic sets (a scatter of 2-D ones), MNIST /
Fashion-MNIST / KMNIST / CIFAR-10 from a folder or downloaded (progress bar, Cancel), a CSV or
NPZ file (a picker for the label column), an image folder. Below the choice: a preview of samples
(or the 2-D scatter), the class counts, the train/validation split, augmentations and the
normalisation with suggested statistics. The Input node's shape follows the dataset.

Every change is one undoable step through ``Settings``; loading for the preview, computing the
statistics and downloading run on background threads (``app.qt.tasks``).

``python -m app.qt.preview data_panel`` shows it on the spiral template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from app.core.dataset_options import AUGMENTATIONS, DOWNLOADABLE, LABELS, OPTIONS, default_options
from app.core.dataset_tools import (
    Cancelled,
    DatasetPreview,
    download_dataset,
    load_preview,
    suggest_normalization,
)
from app.core.datasets import DATASETS, IMAGE_SETS, described_spec, resolve_data_path
from app.gui.fields import narrow_combo
from app.qt.tasks import BackgroundTask, start_task

from .data_preview import PreviewView, describe_preview, read_csv_header
from .settings import Settings


class DataPanel(QtWidgets.QWidget):
    """Dataset choice, preview, split, transforms and normalisation of a project.

    Signals:
        sigPreviewReady(object): a ``DatasetPreview`` was loaded.
        sigPreviewFailed(str): the dataset cannot be loaded (the message says why).
    """

    sigPreviewReady = QtCore.Signal(object)
    sigPreviewFailed = QtCore.Signal(str)

    def __init__(self, settings: Settings, parent: QtWidgets.QWidget | None = None,
                 auto_preview: bool = True) -> None:
        super().__init__(parent)
        self.settings = settings
        self.auto_preview = auto_preview
        self.preview: DatasetPreview | None = None
        self._updating = False
        self._tasks: dict[str, BackgroundTask] = {}
        self._handlers: dict[BackgroundTask, tuple[str, Any, Any]] = {}
        self._option_widgets: dict[str, QtWidgets.QWidget] = {}
        self._preview_key: Any = None

        self.dataset_combo = narrow_combo()
        for name in DATASETS:
            self.dataset_combo.addItem(LABELS.get(name, name), name)
        self.help_label = QtWidgets.QLabel()
        self.help_label.setWordWrap(True)
        self.options_form = QtWidgets.QFormLayout()
        self.download_button = QtWidgets.QPushButton("Download")
        self.download_button.setToolTip("Fetch the files from the usual public mirrors "
                                        "(MD5-checked; an interrupted download resumes)")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.download_bar = QtWidgets.QProgressBar()
        self.download_label = QtWidgets.QLabel()
        self.download_label.setWordWrap(True)  # an offline error is long: it wraps, not widens
        dl = QtWidgets.QHBoxLayout()
        dl.addWidget(self.download_button)
        dl.addWidget(self.download_bar, 1)
        dl.addWidget(self.cancel_button)
        self.download_row = QtWidgets.QWidget()
        v = QtWidgets.QVBoxLayout(self.download_row)
        v.setContentsMargins(0, 0, 0, 0)
        v.addLayout(dl)
        v.addWidget(self.download_label)

        self.split_spin = QtWidgets.QDoubleSpinBox()
        self.split_spin.setRange(0.0, 0.9)
        self.split_spin.setSingleStep(0.05)
        self.split_spin.setDecimals(2)
        self.split_spin.setToolTip("Fraction of the samples kept apart for validation")
        self.aug_checks: dict[str, QtWidgets.QCheckBox] = {}
        self.norm_check = QtWidgets.QCheckBox("Normalise (x − mean) / std")
        self.mean_edit = QtWidgets.QLineEdit()
        self.std_edit = QtWidgets.QLineEdit()
        for e in (self.mean_edit, self.std_edit):
            e.setPlaceholderText("one value, or one per channel: 0.5, 0.5, 0.5")
        self.suggest_button = QtWidgets.QPushButton("Suggest")
        self.suggest_button.setToolTip("Compute the mean and std of the training data")

        self.info_label = QtWidgets.QLabel("")
        self.info_label.setWordWrap(True)
        self.error_label = QtWidgets.QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c0392b;")
        self.error_label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.view = PreviewView()

        self.choose_box = choose = QtWidgets.QGroupBox("Dataset")
        f = QtWidgets.QFormLayout(choose)
        f.addRow("Dataset", self.dataset_combo)
        f.addRow(self.help_label)
        f.addRow(self.options_form)
        f.addRow(self.download_row)
        self.prep_box = prep = QtWidgets.QGroupBox("Split and transforms")
        f = QtWidgets.QFormLayout(prep)
        f.addRow("Validation fraction", self.split_spin)
        self.aug_box = QtWidgets.QWidget()
        av = QtWidgets.QVBoxLayout(self.aug_box)
        av.setContentsMargins(0, 0, 0, 0)
        for name, label, _params in AUGMENTATIONS:
            cb = QtWidgets.QCheckBox(label)
            cb.toggled.connect(self._on_augmentations)
            self.aug_checks[name] = cb
            av.addWidget(cb)
        f.addRow("Augment (training only)", self.aug_box)
        f.addRow(self.norm_check, self.suggest_button)
        f.addRow("Mean", self.mean_edit)
        f.addRow("Std", self.std_edit)
        look = QtWidgets.QGroupBox("Preview")
        v = QtWidgets.QVBoxLayout(look)
        v.addWidget(self.info_label)
        v.addWidget(self.error_label)
        v.addWidget(self.view, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(choose)
        layout.addWidget(prep)
        layout.addWidget(look, 1)

        self.dataset_combo.currentIndexChanged.connect(self._on_dataset)
        self.split_spin.valueChanged.connect(
            lambda v: self._set(("validation_split",), round(float(v), 4)))
        self.norm_check.toggled.connect(self._on_normalize)
        self.mean_edit.editingFinished.connect(self._on_normalize)
        self.std_edit.editingFinished.connect(self._on_normalize)
        self.suggest_button.clicked.connect(self.suggest_statistics)
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button.clicked.connect(self.cancel_download)
        settings.sigChanged.connect(self._on_setting_changed)
        settings.sigReset.connect(self.refresh)
        self._preview_timer = QtCore.QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(250)
        self._preview_timer.timeout.connect(self.load_preview)
        self.refresh()

    # ------------------------------------------------------------------ from the project
    @property
    def dataset(self) -> dict[str, Any]:
        return self.settings.project.dataset

    def refresh(self) -> None:
        d = self.dataset
        name = d["name"]
        self._updating = True
        try:
            self.dataset_combo.setCurrentIndex(max(self.dataset_combo.findData(name), 0))
            info = DATASETS.get(name)
            self.help_label.setText(info.help if info is not None else "")
            self.help_label.setVisible(bool(info and info.help))
            self._build_options(name, d.get("options") or {})
            self.download_row.setVisible(name in DOWNLOADABLE)
            self._show_download(False)
            self.split_spin.setValue(float(d.get("validation_split", 0.0)))
            chosen = {t.get("name") for t in d.get("transforms", []) if isinstance(t, dict)}
            for n, cb in self.aug_checks.items():
                cb.setChecked(n in chosen)
            self.aug_box.setEnabled(name in IMAGE_SETS)
            norm = d.get("normalize")
            self.norm_check.setChecked(bool(norm))
            self.mean_edit.setText(_fmt_list(norm["mean"]) if norm else "")
            self.std_edit.setText(_fmt_list(norm["std"]) if norm else "")
            for w in (self.mean_edit, self.std_edit):
                w.setEnabled(bool(norm))
        finally:
            self._updating = False
        self.schedule_preview()

    def _on_setting_changed(self, path: tuple) -> None:
        if path and path[0] == "dataset" and not self._updating:
            self.refresh()

    def _build_options(self, name: str, values: dict[str, Any]) -> None:
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self._option_widgets = {}
        for key, label, kind, default, extra in OPTIONS.get(name, []):
            value = values.get(key, default)
            w = self._option_widget(key, kind, value, extra)
            w.setObjectName(f"option_{key}")
            self.options_form.addRow(label, w)
            self._option_widgets[key] = w

    def _option_widget(self, key: str, kind: str, value: Any, extra: Any) -> QtWidgets.QWidget:
        if kind == "int":
            w = QtWidgets.QSpinBox()
            w.setRange(*extra)
            w.setValue(int(value))
            w.valueChanged.connect(lambda v: self._set_option(key, int(v)))
            return w
        if kind == "float":
            w = QtWidgets.QDoubleSpinBox()
            w.setDecimals(3)
            w.setRange(*extra)
            w.setSingleStep(0.01)
            w.setValue(float(value))
            w.valueChanged.connect(lambda v: self._set_option(key, round(float(v), 6)))
            return w
        if kind == "choice":
            w = narrow_combo()
            for c in extra:
                w.addItem(str(c), c)
            w.setCurrentIndex(max(w.findData(value), 0))
            w.currentIndexChanged.connect(lambda _i, cb=w: self._set_option(key,
                                                                            cb.currentData()))
            return w
        if kind == "column":
            w = narrow_combo()
            w.setToolTip("The column that holds the labels (the others are the features)")
            self._fill_columns(w, value)
            w.currentIndexChanged.connect(lambda _i, cb=w: self._set_option(key,
                                                                            cb.currentData()))
            return w
        # a file or a folder: a line edit and a Browse button
        box = QtWidgets.QWidget()
        h = QtWidgets.QHBoxLayout(box)
        h.setContentsMargins(0, 0, 0, 0)
        edit = QtWidgets.QLineEdit(str(value))
        edit.setObjectName(f"edit_{key}")
        button = QtWidgets.QPushButton("Browse…")
        h.addWidget(edit, 1)
        h.addWidget(button)
        edit.editingFinished.connect(lambda: self._set_option(key, edit.text().strip()))
        button.clicked.connect(lambda: self._browse(key, kind, extra, edit))
        return box

    def _fill_columns(self, combo: QtWidgets.QComboBox, value: Any) -> None:
        combo.blockSignals(True)
        combo.clear()
        path = (self.dataset.get("options") or {}).get("path")
        header = read_csv_header(self.settings.project.resolve(path)) if path else None
        if header:
            for i, col in enumerate(header):
                combo.addItem(col, col if not col.isdigit() else i)
            combo.addItem("(last column)", -1)
        else:
            combo.addItem("(last column)", -1)
        idx = combo.findData(value)
        combo.setCurrentIndex(idx if idx >= 0 else combo.count() - 1)
        combo.blockSignals(False)

    def _browse(self, key: str, kind: str, extra: Any, edit: QtWidgets.QLineEdit) -> None:
        start = edit.text() or str(Path.home())
        if kind == "folder":
            path = QtWidgets.QFileDialog.getExistingDirectory(self, "Choose a folder", start)
        else:
            path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Choose a file", start,
                                                            extra or "")
        if path:
            edit.setText(self.settings.project.relative(path))
            self._set_option(key, edit.text())

    # ------------------------------------------------------------------ to the project
    def _set(self, path: tuple[str, ...], value: Any) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            self.settings.set(("dataset", *path), value)
        finally:
            self._updating = False
        self.schedule_preview()

    def _on_dataset(self, _index: int) -> None:
        if self._updating:
            return
        self.choose_dataset(self.dataset_combo.currentData())

    def choose_dataset(self, name: str, options: dict[str, Any] | None = None) -> None:
        """Switch to dataset ``name`` (its default options unless given) in one undo step, and
        make the Input node's shape follow it when that is known without loading."""
        options = default_options(name) if options is None else options
        if name == "Digits" and self.settings.input_node():
            shape = self.settings.project.graph.node(self.settings.input_node()).params.get(
                "shape")
            if isinstance(shape, list) and len(shape) >= 2 and shape[-1] == 28:
                options["size"] = 28  # keep MNIST-shaped networks running unchanged
        norm = self.dataset.get("normalize")
        with self.settings.macro(f"Choose dataset {LABELS.get(name, name)}"):
            self._updating = True
            try:
                self.settings.set(("dataset", "name"), name)
                self.settings.set(("dataset", "options"), options)
                if name not in IMAGE_SETS:
                    self.settings.set(("dataset", "transforms"), [])
                if norm:
                    self.settings.set(("dataset", "normalize"), None)
                self._follow_spec()
            finally:
                self._updating = False
        self.refresh()

    def _set_option(self, key: str, value: Any) -> None:
        if self._updating:
            return
        options = dict(self.dataset.get("options") or {})
        if options.get(key) == value:
            return
        options[key] = value
        with self.settings.macro(f"Change {key.replace('_', ' ')}"):
            self._updating = True
            try:
                self.settings.set(("dataset", "options"), options)
                self._follow_spec()
            finally:
                self._updating = False
        if key == "path" and "label_column" in self._option_widgets:
            self._fill_columns(self._option_widgets["label_column"],
                               options.get("label_column", -1))
        self.schedule_preview()

    def _follow_spec(self) -> None:
        """The Input node's shape from what the settings say (when known without loading)."""
        spec = described_spec(self.dataset)
        if spec is not None and spec.input is not None:
            self.settings.set_input_shape(spec.input.shape)

    def _on_augmentations(self) -> None:
        if self._updating:
            return
        chosen = []
        for name, _label, params in AUGMENTATIONS:
            if self.aug_checks[name].isChecked():
                spec = {"name": name, **params}
                if name == "RandomCrop":
                    shape = self.preview.sample_shape if self.preview else None
                    spec["size"] = int(shape[-1]) if shape else 28
                chosen.append(spec)
        self._set(("transforms",), chosen)

    def _on_normalize(self, *_: Any) -> None:
        if self._updating:
            return
        on = self.norm_check.isChecked()
        for w in (self.mean_edit, self.std_edit):
            w.setEnabled(on)
        if not on:
            self._set(("normalize",), None)
            self.error_label.setText("")
            return
        mean, std = _floats(self.mean_edit.text()), _floats(self.std_edit.text())
        if not mean or not std:
            if self.preview is not None and not mean and not std:
                self.suggest_statistics()
            return
        if len(mean) != len(std) or any(s <= 0 for s in std):
            self.error_label.setText("Normalisation: give as many std values as mean values, "
                                     "each above 0")
            return
        self.error_label.setText("")
        self._set(("normalize",), {"mean": mean, "std": std})

    # ------------------------------------------------------------------ background work
    def _start(self, key: str, fn: Any, done: Any, failed: Any,
               progress: Any = None) -> BackgroundTask:
        """Run ``fn`` in the background as task ``key`` (a newer task of the same key makes
        the older one's result be ignored); ``done``/``failed`` get its outcome."""
        old = self._tasks.get(key)
        if old is not None:
            old.cancel()
        task = start_task(fn, self._on_task_done, self._on_task_failed, progress)
        self._handlers[task] = (key, done, failed)  # read by the queued handlers, called later
        self._tasks[key] = task
        return task

    def _on_task_done(self, value: Any) -> None:
        self._task_ended(self.sender(), 1, value)

    def _on_task_failed(self, exc: BaseException) -> None:
        self._task_ended(self.sender(), 2, exc)

    def _task_ended(self, task: Any, which: int, value: Any) -> None:
        handler = self._handlers.pop(task, None)
        if handler is None:
            return
        key = handler[0]
        if self._tasks.get(key) is task:  # else a newer task of this key replaced it
            del self._tasks[key]
            handler[which](value)

    def cancel_tasks(self) -> None:
        """Ask every running task to stop (downloads stop at the next chunk; the others end
        on their own and their results are dropped)."""
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        self._handlers.clear()

    def busy(self) -> bool:
        return bool(self._tasks)

    def wait_idle(self, timeout_ms: int = 10000) -> None:
        """Tests: wait until every background task has finished and reported."""
        deadline = QtCore.QDeadlineTimer(timeout_ms)
        while self._tasks and not deadline.hasExpired():
            QtWidgets.QApplication.processEvents(
                QtCore.QEventLoop.AllEvents | QtCore.QEventLoop.WaitForMoreEvents, 50)

    def schedule_preview(self) -> None:
        if self.auto_preview:
            self._preview_timer.start()

    def load_preview(self) -> None:
        d = {k: v for k, v in self.dataset.items()}
        key = repr((d.get("name"), d.get("options")))
        if key == self._preview_key and self.preview is not None:
            return
        self.info_label.setText("Loading…")
        base = self.settings.project.folder
        self._start("preview", lambda ctx: (key, load_preview(d, base, ctx)),
                    self._preview_done, self._preview_failed)

    def _preview_done(self, result: tuple[str, DatasetPreview]) -> None:
        key, preview = result
        self._preview_key = key
        self.preview = preview
        self.error_label.setText("")
        self._draw_preview(preview)
        spec = described_spec(self.dataset)
        known = spec is not None and spec.input is not None  # then set with the choice
        if not known and self.settings.set_input_shape(preview.sample_shape, preview.dtype):
            self.info_label.setText(self.info_label.text() + " · Input shape set to "
                                    + "×".join(map(str, preview.sample_shape)))
        self.settings.revalidate()  # the network against what the file really holds
        self.sigPreviewReady.emit(preview)

    def _preview_failed(self, exc: BaseException) -> None:
        self.preview = None
        self._preview_key = None
        self.view.clear()
        self.info_label.setText("")
        msg = str(exc) or type(exc).__name__
        if self.dataset["name"] in DOWNLOADABLE:
            msg += "\nClick Download to fetch the files, or choose the folder that holds them."
        self.error_label.setText(msg)
        self.sigPreviewFailed.emit(msg)

    def _draw_preview(self, p: DatasetPreview) -> None:
        val = self.dataset.get("validation_split", 0.0)
        self.info_label.setText(describe_preview(p, val))
        self.view.show_preview(p)

    def suggest_statistics(self) -> None:
        d = dict(self.dataset)
        base = self.settings.project.folder
        self.suggest_button.setEnabled(False)
        self.suggest_button.setText("Computing…")
        self._start("stats", lambda ctx: suggest_normalization(d, base, ctx),
                    self._stats_done, self._stats_failed)

    def _stats_done(self, result: tuple[list[float], list[float]]) -> None:
        self.suggest_button.setEnabled(True)
        self.suggest_button.setText("Suggest")
        mean, std = result
        self._updating = True
        self.norm_check.setChecked(True)
        self._updating = False
        self.mean_edit.setText(_fmt_list(mean))
        self.std_edit.setText(_fmt_list(std))
        self._on_normalize()

    def _stats_failed(self, exc: BaseException) -> None:
        self.suggest_button.setEnabled(True)
        self.suggest_button.setText("Suggest")
        self.error_label.setText(f"Cannot compute statistics: {exc}")

    # ------------------------------------------------------------------ download
    def _show_download(self, running: bool) -> None:
        self.download_button.setEnabled(not running)
        self.cancel_button.setVisible(running)
        self.download_bar.setVisible(running)

    def start_download(self) -> None:
        name = self.dataset["name"]
        root = resolve_data_path(str((self.dataset.get("options") or {}).get("root", "data")),
                                 self.settings.project.folder)
        self._show_download(True)
        self.download_bar.setRange(0, 0)
        self.download_label.setText(f"Downloading {LABELS.get(name, name)} into {root}…")
        self._start("download", lambda ctx: download_dataset(name, root, ctx),
                    self._download_done, self._download_failed, self._download_progress)

    def cancel_download(self) -> None:
        task = self._tasks.get("download")
        if task is not None:
            task.cancel()
            self.download_label.setText("Cancelling…")

    def _download_progress(self, done: int, total: int, text: str) -> None:
        if total:
            self.download_bar.setRange(0, 1000)
            self.download_bar.setValue(int(1000 * done / total))
            self.download_label.setText(f"{text}: {done / 2 ** 20:.1f} of "
                                        f"{total / 2 ** 20:.1f} MB")
        else:
            self.download_bar.setRange(0, 0)
            self.download_label.setText(text)

    def _download_done(self, path: Path) -> None:
        self._show_download(False)
        self.download_label.setText(f"Downloaded to {path}")
        self._preview_key = None
        self.load_preview()

    def _download_failed(self, exc: BaseException) -> None:
        self._show_download(False)
        if isinstance(exc, Cancelled):
            self.download_label.setText("Download cancelled; the part received is kept and the "
                                        "next download resumes from it")
        else:
            self.download_label.setText(f"Download failed: {exc}")

    def set_locked(self, locked: bool) -> None:
        """No changes to the data while a run uses it (the preview stays usable)."""
        for box in (self.choose_box, self.prep_box):
            box.setEnabled(not locked)


def _floats(text: str) -> list[float]:
    out = []
    for part in text.replace(";", ",").split(","):
        part = part.strip().strip("()[]")
        if not part:
            continue
        try:
            out.append(float(part))
        except ValueError:
            return []
    return out


def _fmt_list(values: Any) -> str:
    return ", ".join(f"{float(v):.4g}" for v in values)
