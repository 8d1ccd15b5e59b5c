"""The learning-rate range test (Smith, 2015; fastai's ``lr_find``): train for a few steps while
the learning rate grows exponentially from ``start_lr`` to ``end_lr``, record the loss at each,
and suggest a learning rate from the curve. The model, the optimizer (its state and learning
rates) and the random state are restored afterwards, so the sweep leaves no trace.

The suggestion (``suggest_lr``): the learning rate where the smoothed loss falls fastest, before
the smoothed loss's minimum. In detail:

1. the losses are smoothed by a centred moving average one decade of learning rate wide
   (``smooth_window``: 13 points for the default 100 steps over 8 decades). Centred, not
   fastai's running average: over a 100-step sweep a running average with beta 0.98 lags by
   ~50 steps, four decades here, which moved the suggestion far to the right of the real dip;
2. the minimum of that curve is found, leaving out the last ``SKIP_END`` points (where the
   sweep ends in divergence);
3. the slope against log10(lr) is taken from point ``SKIP_START`` (the first steps show the
   optimizer's warm-up) up to, not including, the minimum, and the suggestion is the learning
   rate of the most negative slope.

Why there and not at the minimum: at the minimum the loss already stops improving, and training
at that rate is on the edge of diverging; the steepest descent is still a rate where each step
helps most. When the loss never falls (fewer than three points before its minimum) there is no
suggestion. On the spiral and seed-MLP templates the suggestion trains to at least the
template's own accuracy (``tests/app/test_lr_find.py``).

The sweep stops early once a running average of the loss (fastai's, beta 0.98, corrected for
its start) exceeds ``diverge`` times its best, or the loss is not finite.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _setup
from .events import Callback
from .trainer import Trainer

# The default sweep, from 1e-7 up to 10 in 100 steps (the command line and the window's dialog
# offer these too).
START_LR = 1e-7
END_LR = 10.0
NUM_ITER = 100
SKIP_START = 5
SKIP_END = 3
BETA = 0.98  # the running average that detects divergence


@dataclass
class LRFinderResult:
    """The sweep: the learning rate of each step, its loss (raw, and smoothed as the suggestion
    reads it), why it ended
    (``completed``, ``diverged`` or ``nan``), the suggested rate and the rate at the smoothed
    loss's minimum (with their indices), or None."""

    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    reason: str = "completed"
    suggestion: float | None = None
    suggestion_index: int | None = None
    min_lr: float | None = None
    min_index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"lrs": self.lrs, "losses": self.losses, "smoothed": self.smoothed,
                "reason": self.reason, "suggestion": self.suggestion,
                "suggestion_index": self.suggestion_index, "min_lr": self.min_lr,
                "min_index": self.min_index}


def smooth_window(lrs: Sequence[float]) -> int:
    """The moving average's width: the points in one decade of learning rate (odd, >= 3)."""
    if len(lrs) < 2 or lrs[-1] <= lrs[0]:
        return 3
    per_decade = (len(lrs) - 1) / math.log10(lrs[-1] / lrs[0])
    return max(3, int(round(per_decade)) | 1)


def smooth_losses(losses: Sequence[float], window: int) -> list[float]:
    """A centred moving average of ``window`` points (the ends repeat the end values)."""
    x = np.asarray(losses, dtype=np.float64)
    if len(x) == 0:
        return []
    half = window // 2
    padded = np.pad(x, (half, half), mode="edge")
    return np.convolve(padded, np.ones(window) / window, mode="valid").tolist()


def suggest_lr(lrs: Sequence[float], smoothed: Sequence[float]
               ) -> tuple[int | None, int | None]:
    """(index of the suggestion, index of the minimum) on a sweep (see the module docstring)."""
    n = len(smoothed)
    values = np.asarray(smoothed[:max(n - SKIP_END, 1)], dtype=np.float64)
    finite = np.isfinite(values)
    if n == 0 or not finite.any():
        return None, None
    low = int(np.nanargmin(np.where(finite, values, np.nan)))
    start = SKIP_START if low - SKIP_START >= 3 else 0
    if low - start < 3:
        return None, low
    x = np.log10(np.asarray(lrs[start:low + 1], dtype=np.float64))
    slope = np.gradient(values[start:low + 1], x)[:-1]  # not at the minimum itself
    return start + int(np.argmin(slope)), low


class _Sweep(Callback):
    """Records each step's loss and sets the next step's learning rate; stops the Trainer when
    the sweep is done or the loss has diverged."""

    def __init__(self, optimizer: Any, lrs: list[float], diverge: float,
                 report: Callable[[int, float, float], None] | None) -> None:
        self.optimizer, self.planned, self.diverge = optimizer, lrs, diverge
        self.report = report
        self.result = LRFinderResult()
        self._best = math.inf
        self._avg = 0.0

    def _set(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def on_batch_end(self, trainer: Any, event: Any) -> None:
        r = self.result
        loss = float(event.metrics["loss"])
        r.lrs.append(self.planned[len(r.losses)])
        r.losses.append(loss)
        self._avg = BETA * self._avg + (1 - BETA) * loss
        now = self._avg / (1 - BETA ** len(r.losses))
        self._best = min(self._best, now)
        if self.report is not None:
            self.report(len(r.losses), r.lrs[-1], loss)
        if not math.isfinite(now):
            r.reason = "nan"
        elif now > self.diverge * self._best and len(r.losses) > SKIP_START:
            r.reason = "diverged"
        elif len(r.losses) < len(self.planned):
            self._set(self.planned[len(r.losses)])
            return
        trainer.stop()

    def on_nan_detected(self, trainer: Any, event: Any) -> None:
        self.result.reason = "nan"


def lr_range_test(model: Any, loss_fn: Any, optimizer: Any, train_loader: Any, *,
                  start_lr: float = START_LR, end_lr: float = END_LR, num_iter: int = NUM_ITER,
                  diverge: float = 4.0, batch_fn: Any = None, devices: Sequence[Any] | None = None,
                  clip_grad_norm: float | None = None, callbacks: Sequence[Any] = (),
                  report: Callable[[int, float, float], None] | None = None) -> LRFinderResult:
    """Sweep the learning rate of ``optimizer`` from ``start_lr`` to ``end_lr`` over
    ``num_iter`` steps of ``train_loader`` (going round it as often as needed), through the
    engine's ``Trainer`` (so devices, ``batch_fn`` and clipping work as in training), and return
    the curve with its suggestion. ``report(step, lr, loss)`` is called after each step (a
    progress bar; it may raise to cancel). The model, optimizer and random state are restored
    before this returns, whatever happens."""
    if not 0 < start_lr < end_lr:
        raise ValueError(f"need 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
    if num_iter < 2:
        raise ValueError(f"num_iter must be at least 2, got {num_iter}")
    lrs = list(np.geomspace(start_lr, end_lr, num_iter))
    saved_model = {k: v.detach().clone() for k, v in model.state_dict().items()}
    saved_opt = copy.deepcopy(optimizer.state_dict())
    saved_random = _setup.capture_random_state(train_loader)
    sweep = _Sweep(optimizer, lrs, diverge, report)
    try:
        sweep._set(lrs[0])
        batches = _setup.len_or_none(train_loader) or num_iter
        trainer = Trainer(model, loss_fn, optimizer, train_loader, None,
                          epochs=max(1, math.ceil(num_iter / max(batches, 1))), devices=devices,
                          batch_fn=batch_fn, clip_grad_norm=clip_grad_norm, topk=(1,),
                          callbacks=[sweep, *callbacks], monitor="train_loss")
        trainer.fit()
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_opt)
        _setup.restore_random_state(saved_random, train_loader)
    r = sweep.result
    r.smoothed = smooth_losses(r.losses, smooth_window(lrs))
    r.suggestion_index, r.min_index = suggest_lr(r.lrs, r.smoothed)
    if r.suggestion_index is not None:
        r.suggestion = float(r.lrs[r.suggestion_index])
    if r.min_index is not None:
        r.min_lr = float(r.lrs[r.min_index])
    r.lrs = [float(v) for v in r.lrs]
    return r
