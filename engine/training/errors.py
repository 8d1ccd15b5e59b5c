"""Errors of the training loop (configuration mistakes and unreadable checkpoints). A run that
ends early for a reason (NaN, early stopping, stop()) is not an error: ``fit`` returns a
``FitResult`` whose ``reason`` says why."""

from __future__ import annotations

from ..errors import EngineError


class TrainingError(EngineError, RuntimeError):
    """The Trainer was configured or driven in a way that cannot work; the message says how."""


class CheckpointError(TrainingError):
    """A checkpoint could not be read or does not belong to this run."""
