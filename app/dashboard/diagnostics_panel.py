"""The Diagnostics panel (pyqtgraph): one layer of the watched run over time.

Four plots side by side, x = optimizer step:

- **activations**: the histogram of the layer's outputs at each sample, one column per sample
  (darker = more values), with their mean as a line;
- **gradients**: the same for the gradient flowing back from those outputs;
- **dead / saturated**: the fraction of exactly-zero outputs (ReLU family) or of saturated ones
  (sigmoid, tanh), with the warning threshold dashed; for other layers, the activations' std;
- **norms** (log scale): the norm of the gradient flowing back from the layer's output (what
  tints its wire), its parameters' gradient norm and its update-to-weight ratio, with the
  vanishing (1e-7) and exploding (1e3) thresholds dashed.

A header line gives the latest numbers and the layer's warnings. Data comes from a
``LayerHistory``; ``refresh`` redraws only when it changed (the hub calls it from a GUI-thread
timer). ``python -m app.qt.preview diagnostics`` shows it on a short real run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from app.core.layer_history import LayerHistory, LayerSeries
from engine.training.health import (
    DEAD_FRACTION,
    EXPLODING_GRAD_NORM,
    SATURATED_FRACTION,
    VANISHING_GRAD_NORM,
)
from engine.training.layer_stats import rebin

HEATMAP_ROWS = 48
COLORS = {"mean": "#d62728", "frac": "#1f77b4", "grad": "#2ca02c", "update": "#9467bd",
          "flow": "#ff7f0e", "threshold": "#888888"}
EMPTY_TEXT = "Train the network to see its layers here: select a layer on the graph."


def heatmap(hists: list[tuple[int, object]], rows: int = HEATMAP_ROWS,
            cache: dict[Any, Any] | None = None) -> tuple[np.ndarray, float, float] | None:
    """The histograms as an image (columns = samples, rows = value bins from the lowest edge to
    the highest of all), each column scaled to its own largest bin so its shape shows.
    ``cache`` keeps the columns already made for the same range (a live redraw then only makes
    the new samples' columns)."""
    if not hists:
        return None
    low = min(float(h.edges[0]) for _, h in hists)
    high = max(float(h.edges[-1]) for _, h in hists)
    if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
        return None
    old = cache.get("columns", {}) if cache is not None and \
        cache.get("range") == (low, high, rows) else {}
    kept: dict[int, tuple[Any, np.ndarray]] = {}
    edges = np.linspace(low, high, rows + 1)
    image = np.zeros((len(hists), rows))
    for i, (_, h) in enumerate(hists):
        entry = old.get(id(h))
        if entry is None or entry[0] is not h:  # (an id is only reused by a new object)
            col = rebin(h, edges)
            peak = col.max()
            entry = (h, col / peak if peak > 0 else col)
        kept[id(h)] = entry
        image[i] = entry[1]
    if cache is not None:  # only the histograms shown now: thinned ones go
        cache.update(range=(low, high, rows), columns=kept)
    return image, low, high


class DiagnosticsPanel(QtWidgets.QWidget):
    """Shows ``layer`` of ``history`` (see the module docstring)."""

    def __init__(self, history: LayerHistory | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history if history is not None else LayerHistory()
        self.layer: str | None = None
        self._drawn: tuple = ()
        # the heatmap columns made so far, per (layer, kind)
        self._columns: dict[tuple[str, str], dict[Any, Any]] = {}
        self.header = QtWidgets.QLabel(EMPTY_TEXT)
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.view = pg.GraphicsLayoutWidget()
        pal = self.palette()
        self.view.setBackground(pal.color(QtGui.QPalette.Base))
        fg = pal.color(QtGui.QPalette.Text)
        titles = ("activations", "gradients (flowing back)", "dead / saturated",
                  "norms " + " ".join(f"<span style='color:{COLORS[k]}'>{label}</span>"
                                      for k, label in (("flow", "back"), ("grad", "grad"),
                                                       ("update", "upd/w"))))
        self.plots = [self.view.addPlot(row=0, col=i, title=t) for i, t in enumerate(titles)]
        for i, plot in enumerate(self.plots):
            self.view.ci.layout.setColumnStretchFactor(i, 1)
            self.view.ci.layout.setColumnPreferredWidth(i, 200)
            if i:
                plot.setXLink(self.plots[0])  # one step axis for the four
        self.plots[3].setToolTip("log scale: the norm of the gradient flowing back from the "
                                 "layer's output (back), of its weights' gradient (grad), and "
                                 "the step's update / weight ratio (upd/w)")
        for plot in self.plots:
            plot.setLabel("bottom", "step")
            plot.setMenuEnabled(False)
            plot.titleLabel.setAttr("color", fg.name())
            plot.titleLabel.setAttr("size", "9pt")
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setPen(fg)
                plot.getAxis(axis).setTextPen(fg)
        self.act_plot, self.grad_plot, self.frac_plot, self.norm_plot = self.plots
        # from the background to a strong colour: empty bins vanish, full ones stand out
        base = pal.color(QtGui.QPalette.Base)
        strong = QtGui.QColor("#0b3c8a" if base.lightness() > 128 else "#ffd166")
        cmap = pg.ColorMap([0.0, 0.15, 1.0], [base, QtGui.QColor("#6baed6"), strong])
        self.images = []
        for plot in (self.act_plot, self.grad_plot):
            image = pg.ImageItem()
            image.setLookupTable(cmap.getLookupTable(nPts=256))
            plot.addItem(image)
            self.images.append(image)
        self.mean_curve = self.act_plot.plot([], [], pen=pg.mkPen(COLORS["mean"], width=1.5))
        self.frac_curve = self.frac_plot.plot([], [], pen=pg.mkPen(COLORS["frac"], width=1.5),
                                              symbol="o", symbolSize=4, symbolPen=None,
                                              symbolBrush=COLORS["frac"])
        self.frac_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(COLORS["threshold"],
                                                               style=QtCore.Qt.DashLine))
        self.frac_plot.addItem(self.frac_line, ignoreBounds=True)
        self.flow_curve = self.norm_plot.plot([], [], pen=pg.mkPen(COLORS["flow"], width=1.5),
                                              name="flowing back")
        self.grad_curve = self.norm_plot.plot([], [], pen=pg.mkPen(COLORS["grad"], width=1.5),
                                              name="weights' grad")
        self.update_curve = self.norm_plot.plot([], [], pen=pg.mkPen(COLORS["update"],
                                                                     width=1.5),
                                                name="update / weight")
        for value in (VANISHING_GRAD_NORM, EXPLODING_GRAD_NORM):  # the plot draws log10
            line = pg.InfiniteLine(pos=np.log10(value), angle=0,
                                   pen=pg.mkPen(COLORS["threshold"], style=QtCore.Qt.DashLine))
            self.norm_plot.addItem(line, ignoreBounds=True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.header)
        layout.addWidget(self.view, 1)
        self.refresh(force=True)

    # ------------------------------------------------------------------ what to show
    def set_history(self, history: LayerHistory) -> None:
        self.history = history
        self._columns.clear()
        self.refresh(force=True)

    def show_layer(self, name: str | None) -> None:
        if name != self.layer:
            self.layer = name
            self.refresh(force=True)

    def chosen(self) -> LayerSeries | None:
        """The layer shown: the one asked for, else one with a warning, else the first."""
        layers = self.history.layers
        if self.layer in layers:
            return layers[self.layer]
        warned = [w.layer for w in self.history.warnings.values() if w.layer in layers]
        if warned:
            return layers[warned[0]]
        return next(iter(layers.values()), None)

    # ------------------------------------------------------------------ drawing
    def refresh(self, force: bool = False) -> bool:
        """Redraw if the history or the layer changed; returns whether it drew."""
        series = self.chosen()
        key = (id(self.history), self.history.version, None if series is None else series.name)
        if key == self._drawn and not force:
            return False
        self._drawn = key
        # before any statistics the plots would be empty frames with placeholder axes, cramped
        # in a low dock: only the header's hint shows then
        self.view.setVisible(series is not None and bool(len(series)))
        if series is None or not len(series):
            self.header.setText(EMPTY_TEXT)
            for image in self.images:
                image.clear()
            for curve in (self.mean_curve, self.frac_curve, self.flow_curve, self.grad_curve,
                          self.update_curve):
                curve.setData([], [])
            return True
        self.header.setText(self._header(series))
        for image, kind in zip(self.images, ("activations", "gradients")):
            cache = self._columns.setdefault((series.name, kind), {})
            self._draw_heatmap(image, series.histograms[kind], cache)
        steps, mean = series.series("activation_mean")
        self.mean_curve.setData(steps, mean, connect="finite")
        if series.kind in ("relu", "saturating"):
            key_name = "zero_fraction" if series.kind == "relu" else "saturation"
            self.frac_plot.setTitle("dead (exactly zero)" if series.kind == "relu" else
                                    "saturated")
            self.frac_line.setValue(DEAD_FRACTION if series.kind == "relu" else
                                    SATURATED_FRACTION)
            self.frac_line.setVisible(True)
            self.frac_plot.setYRange(0, 1, padding=0.02)
        else:
            key_name = "activation_std"
            self.frac_plot.setTitle("activation std")
            self.frac_line.setVisible(False)
            self.frac_plot.enableAutoRange(axis="y")
        self.frac_curve.setData(*series.series(key_name), connect="finite")
        shown = []
        for curve, key_name in ((self.flow_curve, "output_grad_norm"),
                                (self.grad_curve, "grad_norm"),
                                (self.update_curve, "update_ratio")):
            x, y = series.series(key_name)
            ok = np.isfinite(y) & (y > 0)
            curve.setData(x[ok], np.log10(y[ok]))
            shown.append(np.log10(y[ok]))
        self._decade_ticks(np.concatenate(shown))
        return True

    def _decade_ticks(self, logs: np.ndarray) -> None:
        """The norms are drawn as log10 on a plain axis, labelled at whole decades (pyqtgraph's
        log axis labels every minor tick, unreadable on a plot this short)."""
        if not len(logs):
            return
        lo, hi = np.floor(logs.min()), np.ceil(logs.max())
        step = max(1, int((hi - lo) // 4) + 1)
        ticks = [(float(k), f"1e{int(k)}") for k in np.arange(lo, hi + 1, step)]
        self.norm_plot.getAxis("left").setTicks([ticks, []])

    def _draw_heatmap(self, image: pg.ImageItem, hists: list, cache: dict[Any, Any]) -> None:
        made = heatmap(hists, cache=cache)
        if made is None:
            image.clear()
            return
        data, low, high = made
        first, last = hists[0][0], hists[-1][0]
        width = (last - first) / max(len(hists) - 1, 1) or 1.0
        image.setImage(data, autoLevels=False, levels=(0.0, 1.0))
        image.setRect(QtCore.QRectF(first - width / 2, low, width * len(hists), high - low))

    def _header(self, s: LayerSeries) -> str:
        stats = s.latest
        bits = [f"<b>{s.name}</b> ({s.type}) at step {int(s.steps.data[-1])}"]
        a = stats.activation
        if a is not None and a.n:
            bits.append(f"activations mean {a.mean:.3g}, std {a.std:.3g}")
            if s.kind == "relu":
                bits.append(f"{a.zero_fraction:.0%} zero")
            elif s.kind == "saturating":
                bits.append(f"{a.saturation_fraction:.0%} saturated")
        if stats.grad_norm is not None:
            bits.append(f"gradient norm {stats.grad_norm:.2e}")
        if stats.update_ratio is not None:
            bits.append(f"update/weight {stats.update_ratio:.1e}")
        warnings = self.history.warnings_of(s.name)
        text = " · ".join(bits)
        if warnings:
            text += "<br><span style='color:#d1242f'>" + "<br>".join(
                w.message for w in warnings) + "</span>"
        return text
