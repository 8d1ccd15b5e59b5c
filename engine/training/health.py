"""Training-health warnings: the rules that read layer diagnostics (``diagnostics``) and the
loss, and say in one sentence what is wrong and what to change.

The rules and their thresholds (each tested on a network built to fail that way, in
``tests/engine/training/test_health.py``):

=========== ====================== =============================== ===========================
rule        layers                 condition                       the warning says
=========== ====================== =============================== ===========================
dead        ReLU family            zero_fraction >= 0.90           ``relu2: 94% of outputs are
                                                                   zero since epoch 2 — lower
                                                                   the learning rate, or use
                                                                   LeakyReLU``
saturated   sigmoid, tanh, ...     saturation >= 0.90              ``tanh1: 97% of outputs are
                                                                   saturated since epoch 1 —
                                                                   ...``
vanishing   layers with weights    grad_norm < 1e-7                ``fc1: gradient norm below
                                                                   1e-7 — vanishing gradients;
                                                                   add normalisation or a
                                                                   residual connection``
exploding   layers with weights    grad_norm > 1e3                 ``fc1: gradient norm above
                                                                   1e+03 — exploding ...``
nan         the loss (gradients)   not finite                      ``loss is NaN at step 312 —
                                                                   lower the learning rate or
                                                                   clip gradients``
=========== ====================== =============================== ===========================

Why these numbers: a healthy ReLU layer has about half its outputs at zero, and a tanh or
sigmoid layer works in its middle; at 90% almost nothing passes (the slope of a saturated unit is
under 4% of its best, see ``layer_stats.SATURATION_MARGIN``). Gradient norms of healthy layers
in our templates lie between about 1e-4 and 10 (float32 rounding alone is near 1e-7 of the
weights); 1e-7 is the issue's threshold for "no gradient left" and 1e3 is far above any healthy
layer. A gradient of exactly zero while a ReLU layer is dead is that layer's doing (no gradient
passes it) and is not reported again as vanishing.

A layer's warning is raised once its condition has held for ``PERSIST`` samples in a row (one
noisy batch never warns), says since when (the epoch of the first of those samples) with the
value of the sample that raised it, and is cleared by the first sample that no longer meets it.
A non-finite loss or gradient warns at once: the Trainer stops there.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .diagnostics import DiagnosticsRecord, LayerStats
from .events import Callback, EventKind

DEAD_FRACTION = 0.90
SATURATED_FRACTION = 0.90
VANISHING_GRAD_NORM = 1e-7
EXPLODING_GRAD_NORM = 1e3
PERSIST = 3  # samples in a row before a layer's warning is raised


@dataclass(frozen=True)
class HealthWarning:
    """One warning. ``layer`` is None for the loss; ``since_epoch`` is 1-based, ``since_step``
    counts optimizer steps; ``active`` False says a warning raised before no longer holds."""

    rule: str
    layer: str | None
    message: str
    since_epoch: int
    since_step: int
    value: float
    threshold: float | None = None
    active: bool = True

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.rule, self.layer)


@dataclass(frozen=True)
class KeyStatistic:
    """The one number a layer's card shows: ``label`` ("zero", "sat", "grad", "std"), its
    ``value``, the ``text`` to draw and ``bad`` when a rule's threshold is crossed now."""

    label: str
    value: float
    text: str
    bad: bool


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def key_statistic(stats: LayerStats) -> KeyStatistic | None:
    """What to show of a layer: the statistic its kind is judged by (see the table above)."""
    a = stats.activation
    if stats.kind == "relu" and a is not None and a.n:
        z = a.zero_fraction
        return KeyStatistic("zero", z, f"zero {_pct(z)}", z >= DEAD_FRACTION)
    if stats.kind == "saturating" and a is not None and a.n:
        s = a.saturation_fraction
        return KeyStatistic("sat", s, f"sat {_pct(s)}", s >= SATURATED_FRACTION)
    if stats.grad_norm is not None:
        g = stats.grad_norm
        bad = not math.isfinite(g) or g < VANISHING_GRAD_NORM or g > EXPLODING_GRAD_NORM
        return KeyStatistic("grad", g, f"‖g‖ {g:.1e}", bad)
    if a is not None and a.n:
        return KeyStatistic("std", a.std, f"σ {a.std:.2g}", False)
    return None


def _conditions(stats: LayerStats, dead_elsewhere: bool) -> list[tuple[str, float, float]]:
    """(rule, value, threshold) of every rule this sample of a layer breaks. A gradient of
    exactly zero while some layer is dead is that layer's doing (no gradient passes a dead
    ReLU): it is not reported again as vanishing."""
    out = []
    a = stats.activation
    if stats.kind == "relu" and a is not None and a.n and a.zero_fraction >= DEAD_FRACTION:
        out.append(("dead", a.zero_fraction, DEAD_FRACTION))
    if stats.kind == "saturating" and a is not None and a.n and \
            a.saturation_fraction >= SATURATED_FRACTION:
        out.append(("saturated", a.saturation_fraction, SATURATED_FRACTION))
    g = stats.grad_norm
    if g is not None and math.isfinite(g):
        if g < VANISHING_GRAD_NORM and not (g == 0.0 and dead_elsewhere):
            out.append(("vanishing", g, VANISHING_GRAD_NORM))
        elif g > EXPLODING_GRAD_NORM:
            out.append(("exploding", g, EXPLODING_GRAD_NORM))
    return out


def layer_message(rule: str, layer: str, value: float, threshold: float, epoch: int) -> str:
    """The sentence of a layer's warning: what is wrong, since when, and what to change."""
    if rule == "dead":
        return (f"{layer}: {_pct(value)} of outputs are zero since epoch {epoch} — lower the "
                f"learning rate, or use LeakyReLU")
    if rule == "saturated":
        return (f"{layer}: {_pct(value)} of outputs are saturated since epoch {epoch} — its "
                f"inputs are too large: lower the initial weights or the learning rate, or add "
                f"normalisation before it")
    if rule == "vanishing":
        return (f"{layer}: gradient norm below {threshold:.0e} — vanishing gradients; add "
                f"normalisation or a residual connection")
    return (f"{layer}: gradient norm above {threshold:.0e} ({value:.2g}) — exploding "
            f"gradients; lower the learning rate or clip gradients")


class HealthMonitor(Callback):
    """Turn diagnostics and non-finite losses into ``EventKind.WARNING`` events (see the module
    docstring); ``active`` holds the warnings in force now."""

    def __init__(self, persist: int = PERSIST) -> None:
        if persist < 1:
            raise ValueError(f"persist must be at least 1, got {persist}")
        self.persist = persist
        self.active: dict[tuple[str, str | None], HealthWarning] = {}
        self._streaks: dict[tuple[str, str], tuple[int, int, int]] = {}  # n, epoch, step

    def on_fit_start(self, trainer: Any, event: Any) -> None:
        self.active.clear()
        self._streaks.clear()

    def check(self, record: DiagnosticsRecord) -> list[HealthWarning]:
        """The warnings this sample raises or clears (and update ``active``)."""
        changes: list[HealthWarning] = []
        broken: set[tuple[str, str]] = set()
        dead = any(s.kind == "relu" and s.activation is not None and s.activation.n and
                   s.activation.zero_fraction >= DEAD_FRACTION for s in record.layers.values())
        for name, stats in record.layers.items():
            for rule, value, threshold in _conditions(stats, dead):
                key = (rule, name)
                broken.add(key)
                n, epoch, step = self._streaks.get(key, (0, record.epoch + 1, record.step))
                self._streaks[key] = (n + 1, epoch, step)
                if n + 1 == self.persist and key not in self.active:
                    w = HealthWarning(rule, name, layer_message(rule, name, value, threshold,
                                                                epoch), epoch, step, value,
                                      threshold)
                    self.active[key] = w
                    changes.append(w)
        for key in [k for k in self._streaks if k not in broken]:
            del self._streaks[key]
            w = self.active.pop(key, None)
            if w is not None:
                changes.append(dataclasses.replace(
                    w, active=False, message=f"{key[1]}: recovered ({w.rule})"))
        return changes

    def on_diagnostics(self, trainer: Any, event: Any) -> None:
        for w in self.check(event.data["diagnostics"]):
            self._send(trainer, event, w)

    def on_nan_detected(self, trainer: Any, event: Any) -> None:
        what = event.data.get("what", "loss")
        value = float(event.data.get("value", float("nan")))
        step = event.step + 1  # the step that was not taken
        shown = "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        subject = "loss is" if what == "loss" else "gradients are"
        w = HealthWarning("nan", None, f"{subject} {shown} at step {step} — lower the learning "
                                       f"rate or clip gradients", event.epoch + 1, step, value)
        self.active[w.key] = w
        self._send(trainer, event, w)

    def _send(self, trainer: Any, event: Any, w: HealthWarning) -> None:
        data = {"warning": w, "rule": w.rule, "layer": w.layer, "active": w.active,
                "since_epoch": w.since_epoch, "since_step": w.since_step}
        trainer.callbacks(trainer, dataclasses.replace(
            event, kind=EventKind.WARNING, metrics={}, message=w.message, data=data))
