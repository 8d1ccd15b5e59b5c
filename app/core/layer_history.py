"""What the window keeps of a run's layer diagnostics (no Qt): for each layer, its statistics
sample by sample in growing arrays, its histograms over time, and the key statistic its card
shows; and the training warnings in force. The Qt side (canvas badges, wire tints, the
Diagnostics panel, the Problems panel) only reads this.

Records come from ``engine.training.diagnostics`` and warnings from
``engine.training.health`` (which also decides what a card shows and when it is bad).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.training.health import HealthWarning, KeyStatistic, key_statistic
from engine.training.layer_stats import Histogram

from .history import GrowingArray

SPARK_POINTS = 40  # samples a card's sparkline shows
HIST_KEEP = 400  # histograms kept per layer and kind; beyond, every other old one goes
SERIES = ("activation_mean", "activation_std", "zero_fraction", "saturation", "grad_norm",
          "param_norm", "update_ratio", "output_grad_norm")


@dataclass(frozen=True)
class Badge:
    """What a layer's card shows: the key statistic now and its recent values."""

    key: KeyStatistic
    spark: tuple[float, ...]


class LayerSeries:
    """One layer's diagnostics over a run."""

    def __init__(self, name: str, type_: str, kind: str) -> None:
        self.name, self.type, self.kind = name, type_, kind
        self.steps = GrowingArray(64)
        self.values = {key: GrowingArray(64) for key in SERIES}
        self.key_values = GrowingArray(64)
        self.histograms: dict[str, list[tuple[int, Histogram]]] = {"activations": [],
                                                                    "gradients": []}
        self.latest: Any = None  # the last LayerStats
        self.key: KeyStatistic | None = None

    def add(self, step: int, stats: Any) -> None:
        self.steps.append(float(step))
        scalars = stats.scalars()
        for key, arr in self.values.items():
            arr.append(float(scalars.get(key, np.nan)))
        self.latest = stats
        self.key = key_statistic(stats)
        self.key_values.append(np.nan if self.key is None else float(self.key.value))
        for label, sums in (("activations", stats.activation),
                            ("gradients", stats.output_grad)):
            if sums is not None and sums.hist is not None:
                kept = self.histograms[label]
                kept.append((step, sums.hist))
                if len(kept) > HIST_KEEP:  # thin the older half: the recent past stays dense
                    half = len(kept) // 2
                    kept[:half] = kept[:half:2]

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        return self.steps.data, self.values[key].data

    def __len__(self) -> int:
        return len(self.steps)


class LayerHistory:
    """All layers of one run, and its warnings. ``version`` grows with every change (views
    redraw only when it moved)."""

    def __init__(self) -> None:
        self.layers: dict[str, LayerSeries] = {}
        self.warnings: dict[tuple[str, str | None], HealthWarning] = {}
        self.version = 0
        self.last_step = -1

    def clear(self) -> None:
        self.layers.clear()
        self.warnings.clear()
        self.last_step = -1
        self.version += 1

    def add(self, record: Any) -> None:
        """One ``DiagnosticsRecord``."""
        for name, stats in record.layers.items():
            series = self.layers.get(name)
            if series is None:
                series = self.layers[name] = LayerSeries(name, stats.type, stats.kind)
            series.add(record.step, stats)
        self.last_step = record.step
        self.version += 1

    def apply_warning(self, warning: HealthWarning) -> None:
        """A warning raised (kept) or cleared (dropped)."""
        if warning.active:
            self.warnings[warning.key] = warning
        else:
            self.warnings.pop(warning.key, None)
        self.version += 1

    def badge(self, name: str) -> Badge | None:
        series = self.layers.get(name)
        if series is None or series.key is None:
            return None
        values = series.key_values.data[-SPARK_POINTS:]
        return Badge(series.key, tuple(float(v) for v in values))

    def output_grad_norm(self, name: str) -> float | None:
        """The latest norm of the gradient flowing back out of ``name``'s output."""
        series = self.layers.get(name)
        if series is None or series.latest is None or series.latest.output_grad is None:
            return None
        return series.latest.output_grad.norm

    def warnings_of(self, name: str) -> list[HealthWarning]:
        return [w for (_, layer), w in self.warnings.items() if layer == name]
