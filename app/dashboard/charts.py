"""Live training charts (pyqtgraph): loss per step (raw, faint) and smoothed (EMA, adjustable),
validation loss per epoch, training and validation accuracy per epoch, and the learning rate;
a log-scale toggle, a hover read-out, markers for epoch boundaries, the best checkpoint and lr
changes, and earlier runs overlaid for comparison.

How it stays fast (pyqtgraph's ``scrollingPlots`` example): every curve is created once; the data
lives in a ``RunHistory`` (growing preallocated arrays) that the bridge fills; a GUI-thread timer
redraws at most ``REDRAW_HZ`` times a second (fewer when a redraw is slow: ``REDRAW_BUDGET``) and
only when the history changed; long curves are downsampled (``'peak'``, so spikes stay visible)
and clipped to the visible range; the view ranges are kept steady so the axes rarely re-layout.

Run ``python -m app.qt.preview charts`` to see it stream sample data (``--points 100000`` for a
long run).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from app.core.history import GrowingArray, RunHistory, ema

from .chart_ranges import RangeKeeper

# At most this many redraws a second (the issue allows 30). Each costs the GUI thread ~5-10 ms
# of pyqtgraph painting, which holds the GIL the training thread also needs: 15 looks live and
# leaves training most of the interpreter.
REDRAW_HZ = 15
# ... and fewer when a redraw (setData + the paint that follows) is slow: the charts may use at
# most this share of the GUI thread's time. While the GUI thread runs Python it holds the GIL,
# which the training thread needs too, so this share comes straight off training throughput.
REDRAW_BUDGET = 0.06


OVERLAY_COLORS = ("#8c564b", "#9467bd", "#7f7f7f", "#bcbd22", "#17becf", "#e377c2")
COLORS = {"raw": "#1f77b4", "ema": "#0b4f8a", "val": "#d62728", "train_acc": "#1f77b4",
          "val_acc": "#d62728", "lr": "#2ca02c", "best": "#ff7f0e", "epoch": "#999999",
          "lr_change": "#2ca02c"}
MAX_EPOCH_LINES = 300  # beyond this, boundary lines would cost more than they tell
MAX_EPOCH_SYMBOLS = 25
# One-pixel lines: Qt draws them directly, while wider ones are stroked as paths, which makes a
# live update of the charts twice as slow (measured: 11 ms -> 5.5 ms per update).
LINE_WIDTH = 1  # dots on the per-epoch curves up to this many epochs


READOUT_HINT = "Hover over a chart to read its values"


def _pen(color: str, width: float = 1.5, style: QtCore.Qt.PenStyle = QtCore.Qt.SolidLine,
         alpha: int = 255) -> QtGui.QPen:
    c = QtGui.QColor(color)
    c.setAlpha(alpha)
    pen = pg.mkPen(c, width=width)
    pen.setStyle(style)
    pen.setCosmetic(True)
    return pen


def _fast_curve(plot: pg.PlotItem, **kwargs: object) -> pg.PlotDataItem:
    """A curve set up once for live data: peak downsampling to about one min/max pair per
    pixel (pyqtgraph's default keeps five: five times the lines to draw for nothing the eye
    can tell apart), clip to view, no antialiasing."""
    curve = plot.plot([], [], antialias=False, autoDownsampleFactor=1.0, **kwargs)
    curve.setDownsampling(auto=True, method="peak")
    curve.setClipToView(True)
    return curve


def _markers(plot: pg.PlotItem, symbol: str, color: str, size: int = 12,
             name: str | None = None) -> pg.PlotDataItem:
    """Points without a line, as a PlotDataItem so they follow the log-scale toggle."""
    return plot.plot([], [], pen=None, symbol=symbol, symbolSize=size,
                     symbolBrush=pg.mkBrush(color), symbolPen=pg.mkPen("k", width=0.5),
                     name=name)


class _TimedLayoutWidget(pg.GraphicsLayoutWidget):
    """Remembers how long its last paint took (the charts pace their redraws by it)."""

    paint_s = 0.0

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt's name
        t0 = time.perf_counter()
        super().paintEvent(event)
        self.paint_s = time.perf_counter() - t0


class TrainingCharts(QtWidgets.QWidget):
    """The dashboard's charts of one live ``RunHistory`` plus overlaid earlier runs.

    Signals:
        sigSmoothingChanged(float): the EMA smoothing the user picked (0 = raw).
    """

    sigSmoothingChanged = QtCore.Signal(float)

    def __init__(self, history: RunHistory | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history if history is not None else RunHistory()
        self.smoothing = 0.6  # TensorBoard's default: smooth, yet not lagging on short runs
        self.redraws = 0
        self.last_redraw_s = 0.0
        self._cost: float | None = None  # smoothed seconds per redraw (refresh + paint)
        self._drawn_version = -1
        self._drawn_epochs: tuple = ()
        self._best_drawn: tuple = ()
        self._epoch_symbols = True
        self._ema = GrowingArray()
        self._ema_len = 0
        self._overlays: list[tuple[RunHistory, list[pg.PlotDataItem]]] = []

        # --- controls
        self.smoothing_slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.smoothing_slider.setRange(0, 99)
        self.smoothing_slider.setValue(int(round(self.smoothing * 100)))
        self.smoothing_slider.setFixedWidth(140)
        self.smoothing_slider.setToolTip("Exponential moving average of the per-step loss "
                                         "(0 shows the raw loss only)")
        self.smoothing_label = QtWidgets.QLabel()
        self.reset_button = QtWidgets.QToolButton()
        self.reset_button.setText("Fit")
        self.reset_button.setToolTip("Show the whole run again after zooming or panning")
        self.grid_check = QtWidgets.QCheckBox("Grid")
        self.grid_check.setToolTip("Grid lines (off by default: pyqtgraph's grid costs more to "
                                   "draw than the curves)")
        self.log_check = QtWidgets.QCheckBox("Log scale")
        self.log_check.setToolTip("Logarithmic y axis for the loss and the learning rate")
        self.readout = QtWidgets.QLabel(READOUT_HINT)
        self.readout.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.readout.setMinimumWidth(200)
        bar = QtWidgets.QHBoxLayout()
        bar.addWidget(QtWidgets.QLabel("Smoothing"))
        bar.addWidget(self.smoothing_slider)
        bar.addWidget(self.smoothing_label)
        bar.addSpacing(12)
        bar.addWidget(self.log_check)
        bar.addWidget(self.grid_check)
        bar.addWidget(self.reset_button)
        bar.addSpacing(12)
        bar.addWidget(self.readout, 1)

        # --- plots, in one scene so one repaint draws them all
        self.view = _TimedLayoutWidget()
        pal = self.palette()
        self.view.setBackground(pal.color(QtGui.QPalette.Base))
        fg = pal.color(QtGui.QPalette.Text)
        self.loss_plot = self.view.addPlot(row=0, col=0, colspan=2, title="Loss")
        self.acc_plot = self.view.addPlot(row=1, col=0, title="Accuracy")
        self.lr_plot = self.view.addPlot(row=1, col=1, title="Learning rate")
        self.view.ci.layout.setRowStretchFactor(0, 3)
        self.view.ci.layout.setRowStretchFactor(1, 2)
        for plot, xlabel in ((self.loss_plot, "step"), (self.acc_plot, "epoch"),
                             (self.lr_plot, "step")):
            plot.setLabel("bottom", xlabel)
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setPen(fg)
                plot.getAxis(axis).setTextPen(fg)
            plot.titleLabel.setAttr("color", fg.name())
            plot.setMenuEnabled(True)
        self.acc_plot.setYRange(0, 1, padding=0.02)
        self.loss_legend = self.loss_plot.addLegend(offset=(-10, 10), labelTextColor=fg)
        self.acc_legend = self.acc_plot.addLegend(offset=(-10, -10), labelTextColor=fg)

        self.raw_curve = _fast_curve(self.loss_plot, pen=_pen(COLORS["raw"], 1, alpha=70),
                                     name="train loss (raw)")
        self.ema_curve = _fast_curve(self.loss_plot, pen=_pen(COLORS["ema"], LINE_WIDTH),
                                     name="train loss (smoothed)")
        self.val_loss_curve = self.loss_plot.plot(
            [], [], pen=_pen(COLORS["val"], LINE_WIDTH), symbol="o", symbolSize=6,
            symbolBrush=pg.mkBrush(COLORS["val"]), symbolPen=None, name="val loss")
        self.best_marker = _markers(self.loss_plot, "star", COLORS["best"], 16,
                                    name="best checkpoint")
        self.train_acc_curve = self.acc_plot.plot(
            [], [], pen=_pen(COLORS["train_acc"], LINE_WIDTH), symbol="o", symbolSize=5,
            symbolBrush=pg.mkBrush(COLORS["train_acc"]), symbolPen=None, name="train")
        self.val_acc_curve = self.acc_plot.plot(
            [], [], pen=_pen(COLORS["val_acc"], LINE_WIDTH), symbol="o", symbolSize=5,
            symbolBrush=pg.mkBrush(COLORS["val_acc"]), symbolPen=None, name="val")
        self.best_acc_marker = _markers(self.acc_plot, "star", COLORS["best"], 16)
        self.lr_curve = _fast_curve(self.lr_plot, pen=_pen(COLORS["lr"], LINE_WIDTH),
                                    connect="finite")
        self.lr_change_marker = _markers(self.lr_plot, "t1", COLORS["lr_change"], 9)
        self.ranges = RangeKeeper(self.loss_plot, self.acc_plot, self.lr_plot)
        self.cursor_line = pg.InfiniteLine(angle=90, movable=False,
                                           pen=_pen("#888888", 1, QtCore.Qt.DashLine))
        self.cursor_line.setVisible(False)
        self.loss_plot.addItem(self.cursor_line, ignoreBounds=True)
        # Epoch boundaries and lr changes: one item each, vertical segments joined in pairs,
        # in view coordinates (so they need no log transform) spanning the visible y range.
        # Hundreds of InfiniteLines would each cost a Python paint call per redraw.
        self.epoch_lines = pg.PlotCurveItem(
            [], [], connect="pairs", pen=_pen(COLORS["epoch"], 1, QtCore.Qt.DotLine, 140))
        self.lr_lines = pg.PlotCurveItem(
            [], [], connect="pairs", pen=_pen(COLORS["lr_change"], 1, QtCore.Qt.DashLine, 160))
        for item, z in ((self.epoch_lines, -20), (self.lr_lines, -19)):
            item.setZValue(z)
            self.loss_plot.addItem(item, ignoreBounds=True)
        self.loss_plot.getViewBox().sigYRangeChanged.connect(lambda *_: self._vertical_marks())

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)

        self.smoothing_slider.valueChanged.connect(self._on_smoothing_slider)
        self.log_check.toggled.connect(self.set_log_scale)
        self.grid_check.toggled.connect(self.set_grid)
        self.reset_button.clicked.connect(self.reset_view)
        self._mouse_proxy = pg.SignalProxy(self.view.scene().sigMouseMoved, rateLimit=30,
                                           slot=self._on_mouse_moved)
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(int(1000 / REDRAW_HZ))
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self._update_smoothing_label()

    # ------------------------------------------------------------------ settings
    def set_history(self, history: RunHistory, expected_steps: int | None = None,
                    expected_epochs: int | None = None) -> None:
        """Show another run (the next live one, or a saved one)."""
        self.history = history
        self.ranges.expected_steps = expected_steps
        self.ranges.expected_epochs = expected_epochs
        self.ranges.manual.clear()
        self._reset_drawn()
        self.refresh(force=True)

    def reset(self) -> None:
        """Nothing drawn, nothing overlaid, no read-out (another project was opened)."""
        self.clear_overlays()
        self.set_history(RunHistory())
        self.readout.setText(READOUT_HINT)

    def set_smoothing(self, value: float) -> None:
        """EMA factor in [0, 0.99]; the smoothed curve is recomputed."""
        value = min(max(float(value), 0.0), 0.99)
        if value == self.smoothing:
            return
        self.smoothing = value
        self.smoothing_slider.blockSignals(True)
        self.smoothing_slider.setValue(int(round(value * 100)))
        self.smoothing_slider.blockSignals(False)
        self._ema.clear()
        self._ema_len = 0
        self._update_smoothing_label()
        for hist, items in self._overlays:
            self._draw_overlay(hist, items)
        self.sigSmoothingChanged.emit(value)
        self.refresh(force=True)

    def set_log_scale(self, on: bool) -> None:
        self.log_check.blockSignals(True)
        self.log_check.setChecked(bool(on))
        self.log_check.blockSignals(False)
        self.loss_plot.setLogMode(x=False, y=bool(on))
        self.lr_plot.setLogMode(x=False, y=bool(on))
        self._apply_ranges(force=True)

    def set_expected(self, steps: int | None, epochs: int | None) -> None:
        """The planned length of the live run: the x axes span it from the first step."""
        self.ranges.expected_steps = int(steps) if steps else None
        self.ranges.expected_epochs = int(epochs) if epochs else None
        self._apply_ranges(force=True)

    def reset_view(self) -> None:
        """Back to the automatic ranges after the user zoomed."""
        self.ranges.manual.clear()
        self._apply_ranges(force=True)

    def set_grid(self, on: bool) -> None:
        self.grid_check.blockSignals(True)
        self.grid_check.setChecked(bool(on))
        self.grid_check.blockSignals(False)
        for plot in (self.loss_plot, self.acc_plot, self.lr_plot):
            plot.showGrid(x=bool(on), y=bool(on), alpha=0.15)

    @property
    def log_scale(self) -> bool:
        return self.log_check.isChecked()

    def _on_smoothing_slider(self, v: int) -> None:
        self.set_smoothing(v / 100.0)

    def _update_smoothing_label(self) -> None:
        self.smoothing_label.setText(f"{self.smoothing:.2f}")

    # ------------------------------------------------------------------ overlays
    def add_overlay(self, history: RunHistory) -> None:
        """Draw an earlier run (dashed, its own colour) under the live one."""
        color = OVERLAY_COLORS[len(self._overlays) % len(OVERLAY_COLORS)]
        dash = QtCore.Qt.DashLine
        label = history.name or f"run {len(self._overlays) + 1}"
        items = [
            _fast_curve(self.loss_plot, pen=_pen(color, 1.5, dash), name=f"{label} loss"),
            self.loss_plot.plot([], [], pen=_pen(color, 1.5, QtCore.Qt.DotLine), symbol="x",
                                symbolSize=6, symbolPen=pg.mkPen(color)),
            self.acc_plot.plot([], [], pen=_pen(color, 1.5, dash), name=f"{label} val"),
            _fast_curve(self.lr_plot, pen=_pen(color, 1, dash), connect="finite"),
        ]
        for item in items:
            item.setZValue(-10)
        self._overlays.append((history, items))
        self._draw_overlay(history, items)
        self._apply_ranges(force=True)

    def clear_overlays(self) -> None:
        for _, items in self._overlays:
            for item in items:
                plot = item.getViewBox()
                for p, legend in ((self.loss_plot, self.loss_legend),
                                  (self.acc_plot, self.acc_legend)):
                    if plot is p.getViewBox():
                        legend.removeItem(item)
                        p.removeItem(item)
                if plot is self.lr_plot.getViewBox():
                    self.lr_plot.removeItem(item)
        self._overlays.clear()
        self.ranges.reset_data()
        self._apply_ranges(force=True)

    @property
    def expected_steps(self) -> int | None:
        """The planned steps of the run shown (the x axis spans them)."""
        return self.ranges.expected_steps

    @property
    def overlays(self) -> list[RunHistory]:
        return [h for h, _ in self._overlays]

    def _draw_overlay(self, hist: RunHistory, items: list[pg.PlotDataItem]) -> None:
        loss, val, acc, lr = items
        if len(hist):
            y = ema(hist.loss.data, self.smoothing) if self.smoothing > 0 else hist.loss.data
            loss.setData(hist.step.data, y)
            lr.setData(hist.step.data, hist.lr.data)
        vx, vy = hist.epoch_series("val_loss", x="step")
        if not len(vx):
            vx, vy = hist.epoch_series("train_loss", x="step")
        val.setData(vx, vy)
        ax, ay = hist.epoch_series("val_accuracy")
        if not len(ax):
            ax, ay = hist.epoch_series("train_accuracy")
        acc.setData(ax, ay)

    # ------------------------------------------------------------------ drawing
    def _reset_drawn(self) -> None:
        self._drawn_version = -1
        self._drawn_epochs = ()
        self._best_drawn: tuple = ()
        if not self._epoch_symbols:
            for curve, key in ((self.val_loss_curve, "val"), (self.train_acc_curve, "train_acc"),
                               (self.val_acc_curve, "val_acc")):
                curve.setSymbol("o")
                curve.setSymbolBrush(pg.mkBrush(COLORS[key]))
            self._epoch_symbols = True
        self.ranges.reset_data()
        self._ema.clear()
        self._ema_len = 0
        self._vertical_marks()

    def _vertical_marks(self) -> None:
        """Epoch boundaries and lr changes as vertical segments over the loss chart's y range
        (three times its height, so panning does not show their ends)."""
        h = self.history
        (y0, y1) = self.loss_plot.getViewBox().viewRange()[1]
        span = (y1 - y0) or 1.0
        lo, hi = y0 - span, y1 + span
        for item, xs in ((self.epoch_lines, [r["step"] for r in h.epochs[:MAX_EPOCH_LINES]]),
                         (self.lr_lines, [x for x, _ in h.lr_changes])):
            x = np.repeat(np.asarray(xs, dtype=np.float64), 2)
            y = np.tile([lo, hi], len(xs)).astype(np.float64)
            item.setData(x, y, connect="pairs")

    def _update_ema(self) -> np.ndarray:
        h = self.history
        n = len(h)
        if n < self._ema_len:  # the history was cleared
            self._ema.clear()
            self._ema_len = 0
        if n > self._ema_len:
            start = float(self._ema.data[-1]) if self._ema_len else None
            self._ema.extend(ema(h.loss.data[self._ema_len:n], self.smoothing, start))
            self._ema_len = n
        return self._ema.data

    def refresh(self, force: bool = False) -> bool:
        """Redraw from the history if it changed (the timer calls this ``REDRAW_HZ`` times a
        second); returns whether anything was drawn."""
        h = self.history
        if not force and (h.version == self._drawn_version or not self.isVisible()):
            return False  # unchanged, or another tab is in front (drawn when shown)
        t0 = time.perf_counter()
        if len(h) < self._ema_len:
            self._reset_drawn()
        steps = h.step.data
        self.raw_curve.setData(steps, h.loss.data)
        self.raw_curve.setVisible(self.smoothing > 0)
        if self.smoothing > 0:
            self.ema_curve.setData(steps, self._update_ema())
        else:
            self.ema_curve.setData(steps, h.loss.data)
        self.lr_curve.setData(steps, h.lr.data)
        self._apply_ranges(force)

        epoch_state = (len(h.epochs), id(h.best), id(h.best_checkpoint), len(h.lr_changes))
        if force or epoch_state != self._drawn_epochs:
            self._draw_epoch_level()
            self._drawn_epochs = epoch_state
        self._drawn_version = h.version
        self.redraws += 1
        self.last_redraw_s = time.perf_counter() - t0
        self._adapt_rate()
        return True

    def _adapt_rate(self) -> None:
        """Space redraws so that they take at most ``REDRAW_BUDGET`` of the time (a smoothed
        estimate of refresh + paint), never more often than ``REDRAW_HZ``."""
        cost = self.last_redraw_s + self.view.paint_s
        self._cost = cost if self._cost is None else 0.8 * self._cost + 0.2 * cost
        interval_ms = max(1000.0 / REDRAW_HZ, 1000.0 * self._cost / REDRAW_BUDGET)
        self.timer.setInterval(int(min(interval_ms, 1000.0)))

    def _draw_epoch_level(self) -> None:
        """The per-epoch curves and the markers: redrawn only when an epoch, a checkpoint or an
        lr change arrived (not for every bunch of steps)."""
        h = self.history
        if len(h.epochs) > MAX_EPOCH_SYMBOLS and self._epoch_symbols:
            # dots on every epoch cost a scatter rebuild per epoch and say nothing a line
            # does not once there are many of them
            for curve in (self.val_loss_curve, self.train_acc_curve, self.val_acc_curve):
                curve.setSymbol(None)
            self._epoch_symbols = False
        vx, vy = h.epoch_series("val_loss", x="step")
        self.val_loss_curve.setData(vx, vy)
        self.train_acc_curve.setData(*h.epoch_series("train_accuracy"))
        self.val_acc_curve.setData(*h.epoch_series("val_accuracy"))

        best = h.best_checkpoint or h.best
        key = "val_loss" if best and "val_loss" in best else "train_loss"
        marks: tuple = ()
        if best and key in best:
            acc_key = "val_accuracy" if "val_accuracy" in best else "train_accuracy"
            marks = ((best["step"], best[key]),
                     (best["epoch"], best[acc_key]) if acc_key in best else None)
        if marks != self._best_drawn:  # a scatter rebuild each: only when the best moved
            self._best_drawn = marks
            if marks:
                self.best_marker.setData([marks[0][0]], [marks[0][1]])
                self.best_acc_marker.setData(*(([marks[1][0]], [marks[1][1]]) if marks[1]
                                               else ([], [])))
            else:
                self.best_marker.setData([], [])
                self.best_acc_marker.setData([], [])

        self._vertical_marks()
        if h.lr_changes:
            xs, ys = zip(*h.lr_changes)
            self.lr_change_marker.setData(list(xs), list(ys))
        else:
            self.lr_change_marker.setData([], [])

    def _apply_ranges(self, force: bool = False) -> None:
        self.ranges.apply(self.history, self.overlays, self.log_scale, force)

    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self.refresh()

    # ------------------------------------------------------------------ hover read-out
    def _on_mouse_moved(self, args: tuple) -> None:
        pos = args[0]
        self.readout_at(pos)

    def readout_at(self, scene_pos: QtCore.QPointF) -> str:
        """The read-out for a scene position (also what hovering shows)."""
        h = self.history
        text = ""
        if self.loss_plot.sceneBoundingRect().contains(scene_pos) or \
                self.lr_plot.sceneBoundingRect().contains(scene_pos):
            plot = self.loss_plot if self.loss_plot.sceneBoundingRect().contains(scene_pos) \
                else self.lr_plot
            x = plot.getViewBox().mapSceneToView(scene_pos).x()
            text = self.describe_step(x)
            self.cursor_line.setPos(x)
            self.cursor_line.setVisible(bool(len(h)))
        elif self.acc_plot.sceneBoundingRect().contains(scene_pos):
            x = self.acc_plot.getViewBox().mapSceneToView(scene_pos).x()
            text = self.describe_epoch(x)
            self.cursor_line.setVisible(False)
        if text:
            self.readout.setText(text)
        return text

    def describe_step(self, x: float) -> str:
        """Values of the step nearest to ``x`` (and of its epoch when finished)."""
        h = self.history
        if not len(h):
            return ""
        steps = h.step.data
        i = int(np.clip(np.searchsorted(steps, x), 0, len(steps) - 1))
        if i > 0 and abs(steps[i - 1] - x) < abs(steps[i] - x):
            i -= 1
        parts = [f"step {int(steps[i])}", f"loss {h.loss.data[i]:.4g}"]
        if self.smoothing > 0 and self._ema_len > i:
            parts.append(f"smoothed {self._ema.data[i]:.4g}")
        lr = h.lr.data[i]
        if math.isfinite(lr):
            parts.append(f"lr {lr:.3g}")
        for rec in h.epochs:
            if rec["step"] >= steps[i]:
                parts.append(f"epoch {int(rec['epoch'])}")
                break
        return "   ".join(parts)

    def describe_epoch(self, x: float) -> str:
        h = self.history
        if not h.epochs:
            return ""
        rec = min(h.epochs, key=lambda r: abs(r["epoch"] - x))
        parts = [f"epoch {int(rec['epoch'])}"]
        for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
            if key in rec:
                parts.append(f"{key.replace('_', ' ')} {rec[key]:.4g}")
        return "   ".join(parts)


# ---------------------------------------------------------------------- sample data
