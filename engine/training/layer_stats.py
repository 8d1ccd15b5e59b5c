"""The statistics of one tensor that layer diagnostics report, kept as sums so that the parts of a
batch seen by different ranks (or by one module called twice) merge exactly.

What is computed, on the values ``x`` of an activation or a gradient (``n`` values):

- ``mean`` = sum(x) / n and ``std`` = sqrt(sum(x**2) / n - mean**2) (population std, ddof 0,
  as ``numpy.std``), summed in float64 whatever the tensor's dtype;
- ``zero_fraction`` = (values exactly 0) / n: ReLU's "dead" outputs;
- ``saturation_fraction`` = (values within ``SATURATION_MARGIN`` of the output range's ends) /
  n, for bounded activations (``SATURATING_RANGES``): tanh outputs with ``|y| >= 0.98`` and
  sigmoid outputs below 0.01 or above 0.99, where the local slope is under 4% of its best;
- ``norm`` = sqrt(sum(x**2)) and ``rms`` = norm / sqrt(n);
- a histogram of ``HIST_BINS`` equal bins from min(x) to max(x). Above ``HIST_MAX_VALUES`` values
  it is counted on an evenly strided subset and scaled to ``n`` (the sums above stay exact).

Why sums: under ``mpiexec`` each rank sees its own share of the batch; rank 0 adds the sums of all
ranks (``merge_sums``), which gives the statistics of the whole batch. Histograms of different
ranges are merged by spreading each bin's count evenly over the merged range's bins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import xp_of

HIST_BINS = 32
HIST_MAX_VALUES = 1 << 18
SATURATION_MARGIN = 0.01  # of the output range: tanh |y| >= 0.98, sigmoid y <= 0.01 or >= 0.99

# Activations whose negative side is cut to (exactly or nearly) zero: dead units show as zeros.
RELU_FAMILY = frozenset({"ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "CELU", "SELU",
                         "GELU", "SiLU", "Mish", "Hardswish", "Threshold"})
# Bounded activations and their output range: outputs near either end have a vanishing slope.
SATURATING_RANGES = {"Sigmoid": (0.0, 1.0), "Tanh": (-1.0, 1.0), "Hardsigmoid": (0.0, 1.0),
                     "Hardtanh": (-1.0, 1.0), "Softsign": (-1.0, 1.0)}


def layer_kind(type_name: str) -> str:
    """``"relu"``, ``"saturating"`` or ``"other"``: which activation statistic applies."""
    if type_name in RELU_FAMILY:
        return "relu"
    if type_name in SATURATING_RANGES:
        return "saturating"
    return "other"


@dataclass
class Histogram:
    """``counts[i]`` values fell in ``[edges[i], edges[i + 1])`` (the last bin is closed)."""

    edges: np.ndarray
    counts: np.ndarray

    def to_dict(self) -> dict[str, list[float]]:
        return {"edges": self.edges.tolist(), "counts": self.counts.tolist()}


@dataclass
class TensorSums:
    """Sufficient statistics of a tensor's values (see the module docstring)."""

    n: int
    total: float
    squares: float
    zeros: int
    saturated: int
    low: float
    high: float
    hist: Histogram | None

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else float("nan")

    @property
    def std(self) -> float:
        if not self.n:
            return float("nan")
        var = self.squares / self.n - self.mean ** 2
        return math.sqrt(max(var, 0.0)) if math.isfinite(var) else float("nan")

    @property
    def zero_fraction(self) -> float:
        return self.zeros / self.n if self.n else float("nan")

    @property
    def saturation_fraction(self) -> float:
        return self.saturated / self.n if self.n else float("nan")

    @property
    def norm(self) -> float:
        return math.sqrt(self.squares) if self.squares >= 0 else float("nan")

    @property
    def rms(self) -> float:
        return math.sqrt(self.squares / self.n) if self.n else float("nan")


def tensor_sums(array: Any, saturation_range: tuple[float, float] | None = None,
                bins: int = HIST_BINS) -> TensorSums:
    """The sums of a raw NumPy or CuPy array (any shape; float64 accumulation)."""
    xp = xp_of(array)
    x = array.reshape(-1)
    n = int(x.size)
    if n == 0:
        return TensorSums(0, 0.0, 0.0, 0, 0, float("nan"), float("nan"), None)
    total = float(x.sum(dtype=xp.float64))
    squares = sum_of_squares(x)
    zeros = n - int(xp.count_nonzero(x))
    saturated = 0
    if saturation_range is not None:
        lo, hi = saturation_range
        margin = SATURATION_MARGIN * (hi - lo)
        saturated = int(xp.count_nonzero(x <= lo + margin)) + \
            int(xp.count_nonzero(x >= hi - margin))
    low, high = float(x.min()), float(x.max())
    hist = _histogram(x, low, high, n, bins) if math.isfinite(low) and \
        math.isfinite(high) else None
    return TensorSums(n, total, squares, zeros, saturated, low, high, hist)


def sum_of_squares(array: Any) -> float:
    """sum(x**2) over every value, accumulated in float64 (without a float64 copy on the CPU)."""
    xp = xp_of(array)
    x = array.reshape(-1)
    if xp is np:
        return float(np.einsum("i,i->", x, x, dtype=np.float64))
    x64 = x.astype(xp.float64)  # CuPy: the temporary lives in GPU memory
    return float((x64 * x64).sum())


def _histogram(x: Any, low: float, high: float, n: int, bins: int) -> Histogram:
    """Equal bins over [low, high]: integer bin indices and ``bincount`` (several times faster
    than ``numpy.histogram`` on the small tensors most layers have)."""
    xp = xp_of(x)
    step = -(-n // HIST_MAX_VALUES)
    part = x[::step] if step > 1 else x
    if high > low:
        scale = bins / (high - low)
        idx = ((part - low) * scale).astype(xp.int64)
        xp.clip(idx, 0, bins - 1, out=idx)
        counts = xp.bincount(idx, minlength=bins)[:bins].astype(xp.float64)
        edges = np.linspace(low, high, bins + 1)
    else:  # every value the same: one bin of width 0 around it would hide it; use ±0.5
        counts = xp.zeros(bins, dtype=xp.float64)
        counts[bins // 2] = part.size
        edges = np.linspace(low - 0.5, low + 0.5, bins + 1)
    counts = np.asarray(counts.get() if hasattr(counts, "get") else counts)
    if step > 1:
        counts *= n / part.size
    return Histogram(edges, counts)


def merge_sums(parts: Sequence[TensorSums], bins: int = HIST_BINS,
               scale: float = 1.0) -> TensorSums:
    """The sums of the values of all ``parts`` together, every value multiplied by ``scale`` > 0
    (distributed gradients: each rank's gradient of its own mean loss is ``world`` times its
    share of the gradient of the global mean)."""
    assert scale > 0, scale
    parts = [p for p in parts if p.n]
    if not parts:
        return TensorSums(0, 0.0, 0.0, 0, 0, float("nan"), float("nan"), None)
    if len(parts) == 1 and scale == 1.0:
        return parts[0]
    n = sum(p.n for p in parts)
    total = sum(p.total for p in parts) * scale
    squares = sum(p.squares for p in parts) * scale * scale
    low, high = min(p.low for p in parts) * scale, max(p.high for p in parts) * scale
    hists = [p.hist for p in parts]
    hist = None
    if all(h is not None for h in hists) and math.isfinite(low) and math.isfinite(high):
        edges = np.linspace(low, high, bins + 1) if high > low else hists[0].edges * scale
        counts = np.zeros(len(edges) - 1)
        for h in hists:
            counts += rebin(Histogram(h.edges * scale, h.counts), edges)
        hist = Histogram(edges, counts)
    return TensorSums(n, total, squares, sum(p.zeros for p in parts),
                      sum(p.saturated for p in parts), low, high, hist)


def rebin(hist: Histogram, edges: np.ndarray) -> np.ndarray:
    """``hist``'s counts on the bins ``edges`` (covering its range), each source bin's count
    spread evenly over its width: the cumulative count, interpolated at the new edges."""
    src = hist.edges
    cum = np.concatenate([[0.0], np.cumsum(hist.counts)])
    if src[-1] == src[0]:
        at = (edges >= src[0]).astype(np.float64) * cum[-1]
    else:
        at = np.interp(edges, src, cum, left=0.0, right=cum[-1])
    return np.diff(at)
