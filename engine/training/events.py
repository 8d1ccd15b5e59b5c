"""What the Trainer tells its observers: one ``Event`` type with a ``kind``, delivered to callbacks
on the training thread.

Why one event type: observers of very different kinds (the GUI's Qt bridge, the CLI progress
bar, metric logs) all want "what happened, when, with which numbers"; a single plain dataclass is
trivially turned into a queued Qt signal or a JSON line, and no Qt is needed here. Observers that
prefer methods subclass ``Callback`` and override ``on_batch_end`` etc.; a plain function
``fn(event)`` works too.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


class EventKind(enum.StrEnum):
    FIT_START = "fit_start"
    EPOCH_START = "epoch_start"
    BATCH_END = "batch_end"
    VALIDATION_END = "validation_end"
    EPOCH_END = "epoch_end"
    CHECKPOINT = "checkpoint"
    EARLY_STOP = "early_stop"
    NAN_DETECTED = "nan_detected"
    PAUSED = "paused"
    RESUMED = "resumed"
    STOPPED = "stopped"
    ERROR = "error"
    FIT_END = "fit_end"
    DIAGNOSTICS = "diagnostics"  # layer statistics of a sampled step (``diagnostics``)
    WARNING = "warning"  # a training-health warning raised or cleared (``health``)


@dataclass(frozen=True)
class Event:
    """One thing that happened during ``fit``.

    Attributes:
        kind: what happened.
        epoch: 0-based epoch index (``epochs`` is the total).
        batch: 0-based batch index in the epoch (-1 outside batches); ``batches`` per epoch
            (None when the loader has no length).
        step: optimizer steps taken so far (global).
        metrics: numbers for this event, e.g. ``loss``, ``accuracy``, ``top5_accuracy``, ``lr``,
            ``samples_per_s``, ``elapsed_s``, ``eta_s``; ``val_loss`` ... at validation;
            ``train_loss`` ... and the validation metrics at epoch end.
        message: a sentence for people (why it stopped, where a checkpoint went).
        data: extra values (``path`` of a checkpoint, ``reason`` of the end, ...).
        rank: the distributed rank that emitted it (0 without distribution).
    """

    kind: EventKind
    epoch: int = 0
    epochs: int = 0
    batch: int = -1
    batches: int | None = None
    step: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    rank: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for logs and for crossing thread or process boundaries)."""
        out: dict[str, Any] = {"kind": self.kind.value, "epoch": self.epoch,
                               "epochs": self.epochs, "batch": self.batch,
                               "batches": self.batches, "step": self.step}
        # the event's own fields win: an epoch_end's metrics repeat the epoch 1-based, and
        # every line of a log must count epochs the same way (0-based, like ``epoch`` here)
        out.update({k: float(v) for k, v in self.metrics.items() if k not in out})
        if self.message:
            out["message"] = self.message
        for k, v in self.data.items():
            if isinstance(v, str | int | float | bool) or v is None:
                out[k] = v
        return out


class Callback:
    """Base for observers: override the ``on_<kind>`` methods you need. Each receives the
    Trainer and the Event. They run on the training thread: keep them quick (a GUI bridge should
    only emit a queued signal)."""

    # the ``on_<kind>`` methods a class overrides, by kind (the others are the no-ops below):
    # ``on_event`` runs every batch, and skips the kinds nobody handles without a getattr
    _handlers: dict[EventKind, str] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = {kind: name for kind, name in _HANDLER_NAMES.items()
                         if (method := getattr(cls, name, None)) is not None
                         and method is not getattr(Callback, name)}

    def on_event(self, trainer: Any, event: Event) -> None:
        name = self._handlers.get(event.kind)
        if name is None:  # still a handler set on the instance itself
            name = _HANDLER_NAMES[event.kind]
            if name not in getattr(self, "__dict__", ()):
                return
        getattr(self, name)(trainer, event)

    def on_fit_start(self, trainer: Any, event: Event) -> None: ...
    def on_epoch_start(self, trainer: Any, event: Event) -> None: ...
    def on_batch_end(self, trainer: Any, event: Event) -> None: ...
    def on_validation_end(self, trainer: Any, event: Event) -> None: ...
    def on_epoch_end(self, trainer: Any, event: Event) -> None: ...
    def on_checkpoint(self, trainer: Any, event: Event) -> None: ...
    def on_early_stop(self, trainer: Any, event: Event) -> None: ...
    def on_nan_detected(self, trainer: Any, event: Event) -> None: ...
    def on_paused(self, trainer: Any, event: Event) -> None: ...
    def on_resumed(self, trainer: Any, event: Event) -> None: ...
    def on_stopped(self, trainer: Any, event: Event) -> None: ...
    def on_error(self, trainer: Any, event: Event) -> None: ...
    def on_fit_end(self, trainer: Any, event: Event) -> None: ...
    def on_diagnostics(self, trainer: Any, event: Event) -> None: ...
    def on_warning(self, trainer: Any, event: Event) -> None: ...


_HANDLER_NAMES = {kind: f"on_{kind.value}" for kind in EventKind}


class LambdaCallback(Callback):
    """Adapts a plain function ``fn(event)`` (or ``fn(trainer, event)`` with ``with_trainer``)."""

    def __init__(self, fn: Callable[..., Any], with_trainer: bool = False) -> None:
        self.fn = fn
        self.with_trainer = with_trainer

    def on_event(self, trainer: Any, event: Event) -> None:
        if self.with_trainer:
            self.fn(trainer, event)
        else:
            self.fn(event)


class CallbackList:
    """The Trainer's observers, called in order; a callback that raises stops training (its
    error is a bug the user must see, not something to swallow)."""

    def __init__(self, callbacks: Iterable[Any] = ()) -> None:
        self.callbacks: list[Callback] = []
        for cb in callbacks:
            self.append(cb)

    def append(self, cb: Any) -> None:
        if isinstance(cb, Callback):
            self.callbacks.append(cb)
        elif callable(cb):
            self.callbacks.append(LambdaCallback(cb))
        else:
            raise TypeError(f"a callback must be a Callback or a function fn(event), got "
                            f"{type(cb).__name__}")

    def __call__(self, trainer: Any, event: Event) -> None:
        for cb in self.callbacks:
            cb.on_event(trainer, event)

    def __len__(self) -> int:
        return len(self.callbacks)
