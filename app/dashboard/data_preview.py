"""What the data panel shows of a loaded dataset: thumbnails of the first samples (images), a
scatter of the points coloured by class (2-D data), or a table of the first rows with their
labels (tables, sequences), and a bar chart of the class counts."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from app.core.dataset_tools import DatasetPreview

from .evaluation import to_qimage

CLASS_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf")


def describe_preview(p: DatasetPreview, validation_split: float) -> str:
    """``1,797 samples · input 1×8×8 · 10 classes · 1,617 train / 180 validation``."""
    shape = "×".join(str(s) for s in p.sample_shape)
    classes = f"{len(p.class_names)} classes" if p.class_names else "regression targets"
    n_val = int(round(p.size * validation_split)) if validation_split else 0
    return (f"{p.size:,} samples · input {shape} · {classes} · {p.size - n_val:,} train / "
            f"{n_val:,} validation")


MAX_TABLE_COLUMNS = 12


class PreviewView(QtWidgets.QWidget):
    """Samples (or a 2-D scatter) above the class counts."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        base = self.palette().color(QtGui.QPalette.Base)
        self.samples_view = QtWidgets.QListWidget()
        self.samples_view.setViewMode(QtWidgets.QListView.IconMode)
        self.samples_view.setIconSize(QtCore.QSize(40, 40))
        self.samples_view.setGridSize(QtCore.QSize(52, 62))
        self.samples_view.setResizeMode(QtWidgets.QListView.Adjust)
        self.samples_view.setMovement(QtWidgets.QListView.Static)
        self.scatter = pg.PlotWidget()
        self.scatter.setBackground(base)
        self.scatter.setAspectLocked(True)
        self.scatter.hideButtons()
        self.scatter_item = pg.ScatterPlotItem(size=4, pen=None)
        self.scatter.addItem(self.scatter_item)
        self.counts_plot = pg.PlotWidget()
        self.counts_plot.setBackground(base)
        self.counts_plot.hideButtons()
        self.counts_plot.setMaximumHeight(120)
        self.counts_plot.setLabel("left", "samples")
        self.counts_bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush="#1f77b4")
        self.counts_plot.addItem(self.counts_bars)
        self.table = QtWidgets.QTableWidget()
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.stack = QtWidgets.QStackedWidget()
        self.stack.addWidget(self.samples_view)
        self.stack.addWidget(self.scatter)
        self.stack.addWidget(self.table)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.counts_plot)

    def clear(self) -> None:
        self.samples_view.clear()
        self.table.clear()
        self.table.setRowCount(0)
        self.scatter_item.setData([])
        self.counts_bars.setOpts(x=[], height=[])

    def show_preview(self, p: DatasetPreview) -> None:
        if p.points is not None:
            labels = p.point_labels if p.point_labels is not None else np.zeros(len(p.points))
            brushes = [pg.mkBrush(CLASS_COLORS[int(c) % len(CLASS_COLORS)]) for c in labels]
            self.scatter_item.setData(x=p.points[:, 0], y=p.points[:, 1], brush=brushes)
            self.scatter.autoRange()
            self.stack.setCurrentWidget(self.scatter)
        elif not p.is_image:
            self._show_rows(p)
        else:
            self.samples_view.clear()
            names = p.class_names
            for i in range(len(p.samples)):
                img = to_qimage(p.samples[i], 40) if p.is_image else None
                lab = p.labels[i]
                text = names[int(lab)] if names and np.ndim(lab) == 0 and \
                    int(lab) < len(names) else np.array2string(np.asarray(lab), precision=2)
                item = QtWidgets.QListWidgetItem(text[:10])
                if img is not None:
                    item.setIcon(QtGui.QIcon(QtGui.QPixmap.fromImage(img)))
                else:
                    flat = np.asarray(p.samples[i]).reshape(-1)
                    item.setToolTip(", ".join(f"{v:.3g}" for v in flat[:20]))
                self.samples_view.addItem(item)
            self.stack.setCurrentWidget(self.samples_view)
        if p.class_counts is not None:
            x = np.arange(len(p.class_counts))
            self.counts_bars.setOpts(x=x, height=p.class_counts, width=0.8)
            names = p.class_names or [str(i) for i in x]
            self.counts_plot.getAxis("bottom").setTicks(
                [[(int(i), str(names[i])[:8]) for i in x]] if len(x) <= 20 else None)
            self.counts_plot.setVisible(True)
            self.counts_plot.autoRange()
        else:
            self.counts_plot.setVisible(False)

    def _show_rows(self, p: DatasetPreview) -> None:
        """The first samples as rows: their values (the first ``MAX_TABLE_COLUMNS``) and label."""
        flat = np.asarray(p.samples).reshape(len(p.samples), -1)
        n_cols = min(flat.shape[1], MAX_TABLE_COLUMNS)
        names = (p.feature_names or [f"x{i}" for i in range(flat.shape[1])])[:n_cols]
        if flat.shape[1] > n_cols:
            names[-1] = f"{names[-1]} … ({flat.shape[1]} in all)"
        self.table.clear()
        self.table.setColumnCount(n_cols + 1)
        self.table.setRowCount(len(flat))
        self.table.setHorizontalHeaderLabels([*names, "label"])
        for r, row in enumerate(flat):
            for c in range(n_cols):
                self.table.setItem(r, c, QtWidgets.QTableWidgetItem(f"{row[c]:.4g}"))
            lab = p.labels[r]
            text = (p.class_names[int(lab)] if p.class_names and np.ndim(lab) == 0
                    and int(lab) < len(p.class_names) else
                    np.array2string(np.asarray(lab), precision=3))
            self.table.setItem(r, n_cols, QtWidgets.QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.stack.setCurrentWidget(self.table)


def read_csv_header(path: Path) -> list[str] | None:
    """The column names of a CSV file with a header row (None without one or unreadable)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = []
            for row in csv.reader(f):
                if row:
                    rows.append(row)
                if len(rows) == 2:
                    break
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not rows:
        return None

    def num(v: str) -> bool:
        try:
            float(v)
            return True
        except ValueError:
            return False

    first, second = rows[0], rows[1] if len(rows) > 1 else None
    if second is None or any(not num(a) and num(b) for a, b in zip(first, second)):
        return [c.strip() for c in first]
    return None
