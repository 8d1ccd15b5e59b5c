"""Evaluation after each epoch: the confusion matrix of the validation set (clicking a cell shows
its samples, the most confidently wrong first) and a grid of sample predictions.

The numbers come from the worker thread as an ``EvalResult`` (``predictions.py``); this module
only draws them. ``python -m app.qt.preview evaluation`` shows it with made-up predictions.
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from app.core.predictions import EvalResult

MAX_TILES = 120  # a grid larger than this is not read by anyone and costs time to build
THUMB = 56


def to_qimage(sample: np.ndarray, size: int = THUMB) -> QtGui.QImage | None:
    """A thumbnail of an image sample (``H x W``, ``C x H x W`` with C in 1/3, or ``H x W x C``),
    scaled to [0, 255] and enlarged without smoothing; None for non-image samples."""
    a = np.asarray(sample, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[2] not in (1, 3):
        a = np.moveaxis(a, 0, -1)
    elif a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[2] in (1, 3):
        a = np.moveaxis(a, 0, -1) if a.shape[0] <= a.shape[2] else a
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) or min(a.shape[:2]) < 2:
        return None
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if lo < 0.0 or hi > 1.0:
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    u8 = np.ascontiguousarray(np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8))
    h, w = u8.shape[:2]
    if u8.ndim == 2:
        img = QtGui.QImage(u8.data, w, h, w, QtGui.QImage.Format_Grayscale8).copy()
    else:
        img = QtGui.QImage(u8.data, w, h, 3 * w, QtGui.QImage.Format_RGB888).copy()
    return img.scaled(size, size, QtCore.Qt.KeepAspectRatio, QtCore.Qt.FastTransformation)


def describe_sample(sample: np.ndarray) -> str:
    """A short text for a sample that is not an image (a point, a row of features)."""
    a = np.asarray(sample).reshape(-1)
    head = ", ".join(f"{v:.2f}" for v in a[:3])
    return f"({head}{', …' if len(a) > 3 else ''})"


class ConfusionMatrixView(QtWidgets.QTableWidget):
    """Counts, rows the true class, columns the predicted one; the colour is the fraction of the
    row (blue on the diagonal, red off it).

    Signals:
        sigCellChosen(int, int): the true and predicted class of the clicked cell.
    """

    sigCellChosen = QtCore.Signal(int, int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SingleSelection)
        header = self.horizontalHeader()
        header.setMinimumSectionSize(20)
        header.setSectionResizeMode(QtWidgets.QHeaderView.Stretch)  # every class in view
        self.verticalHeader().setDefaultSectionSize(24)
        self.setToolTip("Rows: true class. Columns: predicted class. Click a cell to see its "
                        "samples, most confident first.")
        self.cellClicked.connect(lambda r, c: self.sigCellChosen.emit(r, c))
        self.matrix = np.zeros((0, 0), dtype=np.int64)

    def set_matrix(self, matrix: np.ndarray, names: list[str]) -> None:
        m = np.asarray(matrix)
        k = m.shape[0]
        same = self.matrix.shape == m.shape
        self.matrix = m
        if not same:
            self.clear()
            self.setRowCount(k)
            self.setColumnCount(k)
        self.setHorizontalHeaderLabels([f"→{n}" for n in names])
        self.setVerticalHeaderLabels(names)
        rows = m.sum(axis=1, keepdims=True).clip(min=1)
        frac = m / rows
        for i in range(k):
            for j in range(k):
                item = self.item(i, j)
                if item is None:
                    item = QtWidgets.QTableWidgetItem()
                    item.setTextAlignment(QtCore.Qt.AlignCenter)
                    self.setItem(i, j, item)
                item.setText(str(int(m[i, j])) if m[i, j] else "")
                f = float(frac[i, j])
                base = QtGui.QColor(31, 119, 180) if i == j else QtGui.QColor(214, 39, 40)
                alpha = int(230 * (f if i == j else min(1.0, 3 * f)))
                c = QtGui.QColor(base)
                c.setAlpha(alpha)
                item.setBackground(QtGui.QBrush(c))
                item.setForeground(QtGui.QBrush(QtGui.QColor("white") if alpha > 140 else
                                                self.palette().color(QtGui.QPalette.Text)))
                item.setToolTip(f"true {names[i]}, predicted {names[j]}: {int(m[i, j])} "
                                f"({f:.1%} of class {names[i]})")


class SampleGrid(QtWidgets.QListWidget):
    """Thumbnails (or short texts) of samples with their true and predicted class and the
    confidence; wrong predictions are marked in red."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QtWidgets.QListView.IconMode)
        self.setResizeMode(QtWidgets.QListView.Adjust)
        self.setMovement(QtWidgets.QListView.Static)
        self.setIconSize(QtCore.QSize(THUMB, THUMB))
        self.setGridSize(QtCore.QSize(THUMB + 34, THUMB + 36))
        self.setSpacing(2)
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.shown: list[int] = []

    def _set_mode(self, images: bool) -> None:
        """Thumbnails in a grid for images; one line per sample for points and features."""
        if images:
            self.setViewMode(QtWidgets.QListView.IconMode)
            self.setGridSize(QtCore.QSize(THUMB + 34, THUMB + 36))
            self.setWordWrap(True)
        else:
            self.setViewMode(QtWidgets.QListView.ListMode)
            self.setGridSize(QtCore.QSize())
            self.setWordWrap(False)

    def show_samples(self, result: EvalResult, indices: np.ndarray) -> None:
        self.clear()
        self.shown = [int(i) for i in indices[:MAX_TILES]]
        names = result.class_names
        red = QtGui.QColor(200, 40, 40)
        images = bool(len(result.samples)) and to_qimage(result.samples[0]) is not None
        self._set_mode(images)
        for i in self.shown:
            t, p = int(result.y_true[i]), int(result.y_pred[i])
            img = to_qimage(result.samples[i]) if images else None
            label = f"{names[t]}→{names[p]} {result.confidence[i]:.0%}"
            if not images and len(result.samples) > i:
                label = (f"{describe_sample(result.samples[i])}   true {names[t]}, predicted "
                         f"{names[p]} ({result.confidence[i]:.0%})")
            item = QtWidgets.QListWidgetItem(label)
            if img is not None:
                pix = QtGui.QPixmap.fromImage(img)
                if t != p:
                    painter = QtGui.QPainter(pix)
                    painter.setPen(QtGui.QPen(red, 3))
                    painter.drawRect(1, 1, pix.width() - 3, pix.height() - 3)
                    painter.end()
                item.setIcon(QtGui.QIcon(pix))
            if t != p:
                item.setForeground(QtGui.QBrush(red))
            item.setToolTip(f"sample {i}: true {names[t]}, predicted {names[p]} with "
                            f"{result.confidence[i]:.1%} confidence")
            self.addItem(item)


EMPTY_TEXT = ("Evaluation appears after the first epoch (classification with a validation "
              "split).")


class VerticalLabel(QtWidgets.QLabel):
    """A label drawn bottom-to-top, for the title of a table's row axis."""

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt's name
        hint = super().sizeHint()
        return QtCore.QSize(hint.height(), hint.width())

    def minimumSizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt's name
        hint = super().minimumSizeHint()
        return QtCore.QSize(hint.height(), hint.width())

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QtGui.QPainter(self)
        painter.setFont(self.font())
        painter.setPen(self.palette().color(QtGui.QPalette.WindowText))
        painter.translate(0, self.height())
        painter.rotate(-90)
        painter.drawText(QtCore.QRect(0, 0, self.height(), self.width()),
                         int(QtCore.Qt.AlignCenter), self.text())
        painter.end()


def _axis_title(label: QtWidgets.QLabel) -> QtWidgets.QLabel:
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    label.setAlignment(QtCore.Qt.AlignCenter)
    return label


class EvaluationView(QtWidgets.QWidget):
    """The confusion matrix and the sample grid of the latest ``EvalResult``."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: EvalResult | None = None
        self._stale = False
        self.cell: tuple[int, int] | None = None
        self.matrix = ConfusionMatrixView()
        self.grid = SampleGrid()
        self.title = QtWidgets.QLabel(EMPTY_TEXT)
        self.title.setWordWrap(True)
        self.grid_title = QtWidgets.QLabel("")
        self.grid_title.setWordWrap(True)
        self.all_button = QtWidgets.QPushButton("Sample predictions")
        self.all_button.setToolTip("Show a sample of predictions (the first validation samples)")
        self.wrong_button = QtWidgets.QPushButton("All mistakes")
        self.wrong_button.setToolTip("Every misclassified sample, most confident first")
        # The axes are titled where a reader looks for them: over the columns and along the
        # rows, so that "true" and "predicted" are never guessed from a tooltip.
        self.predicted_title = _axis_title(QtWidgets.QLabel("Predicted class"))
        self.true_title = _axis_title(VerticalLabel("True class"))
        table = QtWidgets.QGridLayout()
        table.setSpacing(2)
        table.addWidget(self.predicted_title, 0, 1)
        table.addWidget(self.true_title, 1, 0)
        table.addWidget(self.matrix, 1, 1)
        table.setRowStretch(1, 1)
        table.setColumnStretch(1, 1)
        left = QtWidgets.QVBoxLayout()
        left.addWidget(self.title)
        left.addLayout(table, 1)
        right = QtWidgets.QVBoxLayout()
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.grid_title, 1)
        buttons.addWidget(self.all_button)
        buttons.addWidget(self.wrong_button)
        right.addLayout(buttons)
        right.addWidget(self.grid, 1)
        lw, rw = QtWidgets.QWidget(), QtWidgets.QWidget()
        lw.setLayout(left)
        rw.setLayout(right)
        split = QtWidgets.QSplitter()
        split.addWidget(lw)
        split.addWidget(rw)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self.matrix.sigCellChosen.connect(self.show_cell)
        self.all_button.clicked.connect(self.show_overview)
        self.wrong_button.clicked.connect(self.show_mistakes)

    def reset(self) -> None:
        """Show nothing (another project: its predictions are not this one's)."""
        self.result = None
        self._stale = False
        self.cell = None
        self.matrix.set_matrix(np.zeros((0, 0), dtype=np.int64), [])
        self.grid.clear()
        self.grid.shown = []
        self.grid_title.setText("")
        self.title.setText(EMPTY_TEXT)

    def set_result(self, result: EvalResult) -> None:
        """Show an epoch's predictions; keeps the chosen cell (or view) across epochs. While
        the view is hidden (another tab in front) only the latest result is kept, and drawn
        when it is shown: thumbnails cost the GUI thread time that training could use."""
        self.result = result
        if not self.isVisible():
            self._stale = True
            return
        self._draw()

    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if self._stale:
            self._draw()

    def _draw(self) -> None:
        result = self.result
        self._stale = False
        self.title.setText(f"Validation after epoch {result.epoch}: {result.accuracy:.1%} "
                           f"correct of {len(result.y_true):,} samples")
        self.matrix.set_matrix(result.confusion, result.class_names)
        if self.cell is not None:
            self.show_cell(*self.cell)
        elif self.grid_title.text().startswith("Mistakes"):
            self.show_mistakes()
        else:
            self.show_overview()

    def show_cell(self, true: int, pred: int) -> None:
        r = self.result
        if r is None:
            return
        self.cell = (true, pred)
        idx = r.cell(true, pred)
        names = r.class_names
        what = "correct" if true == pred else "misclassified"
        self.grid_title.setText(f"True {names[true]}, predicted {names[pred]}: {len(idx)} "
                                f"{what} sample(s), most confident first")
        self.grid.show_samples(r, idx)

    def show_overview(self) -> None:
        r = self.result
        if r is None:
            return
        self.cell = None
        n = min(len(r.y_true), 48)
        self.grid_title.setText(f"Sample predictions (the first {n} validation samples)")
        self.grid.show_samples(r, np.arange(n))

    def show_mistakes(self) -> None:
        r = self.result
        if r is None:
            return
        self.cell = None
        idx = r.misclassified()
        self.grid_title.setText(f"Mistakes: {len(idx)} misclassified sample(s), most confident "
                                "first")
        self.grid.show_samples(r, idx)
