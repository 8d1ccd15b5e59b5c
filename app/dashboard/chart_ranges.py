"""Steady view ranges for the live charts.

Why not pyqtgraph's auto-range: a range that moves with every update makes the axes re-layout
their ticks (the costliest part of a redraw) and scans every point for its bounds. Here the x
axis spans the planned run from the first step (growing by a quarter when a run goes past it),
y goes from 0 (or the smallest value, in log scale) to a little above the largest, and a range
only ever grows during a run, so the axes rarely change. A chart the user zoomed or panned is
left alone until ``reset``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.core.history import RunHistory


def nice_ceil(v: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k that is >= v."""
    if v <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * base >= v:
            return m * base
    return 10 * base


class RangeKeeper:
    """Keeps the ranges of the loss, accuracy and lr plots (pyqtgraph ``PlotItem``s)."""

    def __init__(self, loss_plot: Any, acc_plot: Any, lr_plot: Any) -> None:
        self.plots = {"loss": loss_plot, "acc": acc_plot, "lr": lr_plot}
        self.expected_steps: int | None = None
        self.expected_epochs: int | None = None
        self.manual: set[str] = set()  # plots the user zoomed or panned
        for name, plot in self.plots.items():
            plot.getViewBox().disableAutoRange()
            plot.getViewBox().sigRangeChangedManually.connect(
                lambda *_a, n=name: self.manual.add(n))
        # compared runs' extents by id (the run is kept, so the id stays its own)
        self._overlay_extents: dict[int, tuple[RunHistory, int, tuple[float, ...]]] = {}
        self.reset_data()

    def reset_data(self) -> None:
        """Forget what was scanned (a new or cleared history)."""
        self._scanned = 0
        self._loss_lo, self._loss_hi = math.inf, -math.inf
        self._lr_lo, self._lr_hi = math.inf, -math.inf
        self._x_end = 0.0
        self._shown: dict[str, tuple[float, ...]] = {}

    def _extents(self, other: RunHistory) -> tuple[float, float, float, float, float]:
        """Last step, loss low/high and lr low/high of a compared run (inf/-inf where it has
        none), scanned once: a finished run does not change, so each redraw reuses them."""
        n = len(other)
        kept = self._overlay_extents.get(id(other))
        if kept is not None and kept[0] is other and kept[1] == n:
            return kept[2]
        lo = lr_lo = math.inf
        hi = lr_hi = -math.inf
        f = other.loss.data[np.isfinite(other.loss.data)]
        if len(f):
            lo, hi = float(f.min()), float(f.max())
        r = other.lr.data[np.isfinite(other.lr.data) & (other.lr.data > 0)]
        if len(r):
            lr_lo, lr_hi = float(r.min()), float(r.max())
        extents = (float(other.step.data[-1]), lo, hi, lr_lo, lr_hi)
        self._overlay_extents[id(other)] = (other, n, extents)
        return extents

    def apply(self, h: RunHistory, overlays: Sequence[RunHistory], log_scale: bool,
              force: bool = False) -> None:
        n = len(h)
        if n < self._scanned:
            self.reset_data()
        if n > self._scanned:  # only the new points are scanned
            loss, lr = h.loss.data[self._scanned:n], h.lr.data[self._scanned:n]
            fl, fr = loss[np.isfinite(loss)], lr[np.isfinite(lr) & (lr > 0)]
            if len(fl):
                self._loss_lo = min(self._loss_lo, float(fl.min()))
                self._loss_hi = max(self._loss_hi, float(fl.max()))
            if len(fr):
                self._lr_lo = min(self._lr_lo, float(fr.min()))
                self._lr_hi = max(self._lr_hi, float(fr.max()))
            self._scanned = n
        last = float(h.step.data[-1]) if n else 0.0
        lo, hi = self._loss_lo, self._loss_hi
        lr_lo, lr_hi = self._lr_lo, self._lr_hi
        for other in overlays:  # every chart spans what it shows, compared runs included
            if len(other):
                o_last, o_lo, o_hi, o_lr_lo, o_lr_hi = self._extents(other)
                last = max(last, o_last)
                lo, hi = min(lo, o_lo), max(hi, o_hi)
                lr_lo, lr_hi = min(lr_lo, o_lr_lo), max(lr_hi, o_lr_hi)
        shown = {id(o) for o in overlays}  # forget the runs no longer compared
        self._overlay_extents = {k: v for k, v in self._overlay_extents.items() if k in shown}
        planned = float(self.expected_steps or 0)
        if last <= planned:
            self._x_end = max(self._x_end, planned)
        elif last > self._x_end:
            self._x_end = nice_ceil(last * 1.25)
        x_end = self._x_end or 1.0
        self._set("loss", x_end, lo, hi, 1.05, log_scale, force)
        self._set("lr", x_end, lr_lo, lr_hi, 1.15, log_scale, force)
        if "acc" not in self.manual:
            epochs = max(self.expected_epochs or 1, len(h.epochs), 1,
                         *(len(o.epochs) for o in overlays))
            want = (0.5, epochs + 0.5)
            if force or self._shown.get("acc") != want:
                self.plots["acc"].getViewBox().setRange(xRange=want, yRange=(0.0, 1.02),
                                                        padding=0)
                self._shown["acc"] = want

    def _set(self, name: str, x_end: float, lo: float, hi: float, headroom: float,
             log_scale: bool, force: bool) -> None:
        if name in self.manual or not math.isfinite(hi):
            return
        if log_scale:
            lo = max(lo, 1e-12)
            y = (math.log10(lo) - 0.05, math.log10(max(hi, lo)) + 0.05)
        else:
            y = (0.0 if lo >= 0 else lo * headroom, hi * headroom if hi > 0 else 1.0)
        shown = self._shown.get(name)
        grow = shown is None or x_end != shown[0] or y[0] < shown[1] or y[1] > shown[2]
        if force or grow:
            self.plots[name].getViewBox().setRange(xRange=(0.0, x_end), yRange=y, padding=0)
            self._shown[name] = (x_end, *y)
