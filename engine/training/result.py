"""How a ``fit`` ends: ``FitResult`` for the caller, ``StopTraining`` inside the loop."""

from __future__ import annotations

from dataclasses import dataclass, field

REASONS = ("completed", "early_stopped", "stopped", "nan")


@dataclass
class FitResult:
    """How a ``fit`` ended. ``reason`` is one of ``completed``, ``early_stopped``, ``stopped``
    (``stop()`` was called) or ``nan`` (non-finite loss or gradients; the model keeps the
    weights of the last good step)."""

    reason: str
    message: str
    epochs_completed: int
    global_step: int
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    best_metric: float | None = None
    best_epoch: int | None = None
    last_checkpoint: str | None = None
    best_checkpoint: str | None = None


class StopTraining(Exception):
    """Raised inside the loop to end it early for a ``reason`` of REASONS (not an error)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
