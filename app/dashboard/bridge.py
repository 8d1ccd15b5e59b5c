"""Training on a background thread: a ``QThread`` that drives the engine's ``Trainer`` and a
small ``QObject`` bridge that turns the Trainer's callbacks into throttled, queued Qt signals.

The rules (Orange3's ``concurrent.py``): the training loop is plain engine code; the only thing
its callback does on the training thread is append the step's numbers to a list and, at most
``UPDATES_PER_S`` times a second, emit one signal carrying everything gathered since the last
one. Signals reach slots on the GUI thread through queued connections, so no widget is ever
touched from the training thread. Pause, Resume and Stop call the Trainer's thread-safe
``pause()``, ``resume()`` and ``stop()``, which take effect before the next batch, so Stop keeps
the weights of the last finished step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore

from .errors import Failure, describe_failure
from .history import RunHistory
from .predictions import collect_samples, evaluate_classifier
from .session import (
    WEIGHTS_FILE,
    TrainingJob,
    build_job,
    run_record,
    save_weights_if_finite,
    write_snapshot,
)

# What a person can follow; each update costs the GUI thread a chart redraw, and the GUI thread
# shares the GIL (and here two cores) with training, so fewer is faster training.
UPDATES_PER_S = 10


@dataclass
class StepBatch:
    """The per-step points gathered since the previous update, and where the run is now."""

    steps: np.ndarray
    losses: np.ndarray
    lrs: np.ndarray
    progress: dict[str, Any]


@dataclass
class RunOutcome:
    """How a run ended (``reason``: completed, early_stopped, stopped, nan, failed)."""

    reason: str
    message: str
    run_dir: Path
    weights: Path | None
    record: dict[str, Any] | None
    failure: Failure | None = None
    epochs_completed: int = 0
    global_step: int = 0
    history: RunHistory | None = None
    model: Any = None  # the trained engine model (what the weights file holds)
    extra: dict[str, Any] = field(default_factory=dict)


class TrainingBridge(QtCore.QObject):
    """Trainer events (training thread) -> Qt signals (GUI thread), throttled.

    Signals:
        sigState(str): preparing, running, paused, stopping, finished.
        sigStarted(dict): run folder, epochs, batches per epoch, class names.
        sigSteps(StepBatch): per-step points, at most ``UPDATES_PER_S`` times a second.
        sigEpoch(dict): one epoch's metrics (``epoch`` 1-based, ``step``, ``train_loss``,
            ``val_loss``, ``train_accuracy``, ``val_accuracy``, ``lr``, ...).
        sigCheckpoint(dict): ``which`` (last/best), ``path``, ``epoch``, ``step``.
        sigEvaluation(EvalResult): predictions on the validation set after an epoch.
        sigMessage(str): a line for the status bar (early stopping, NaN, checkpoints).
        sigFinished(RunOutcome): the run is over (whatever the reason).
    """

    sigState = QtCore.Signal(str)
    sigStarted = QtCore.Signal(object)
    sigSteps = QtCore.Signal(object)
    sigEpoch = QtCore.Signal(object)
    sigCheckpoint = QtCore.Signal(object)
    sigEvaluation = QtCore.Signal(object)
    sigMessage = QtCore.Signal(str)
    sigFinished = QtCore.Signal(object)

    def __init__(self, updates_per_s: float = UPDATES_PER_S,
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.min_interval = 1.0 / float(updates_per_s)
        self.emitted_updates = 0
        self._reset()

    def _reset(self) -> None:
        self._steps: list[float] = []
        self._losses: list[float] = []
        self._lrs: list[float] = []
        self._last_batch: Any = None
        self._last_emit = 0.0

    # ------------------------------------------------------------------ training thread
    def on_event(self, event: Any) -> None:
        """The Trainer callback (runs on the training thread: only cheap work here)."""
        kind = event.kind.value
        if kind == "batch_end":
            m = event.metrics
            self._steps.append(float(event.step))
            self._losses.append(float(m.get("loss", float("nan"))))
            self._lrs.append(float(m.get("lr", float("nan"))))
            self._last_batch = event  # its numbers become the progress line at the next flush
            now = time.monotonic()
            if now - self._last_emit >= self.min_interval:
                self.flush(now)
        elif kind == "epoch_end":
            self.flush()
            record = {k: float(v) for k, v in event.metrics.items()}
            record["epoch"] = float(event.epoch + 1)
            record["step"] = float(event.step)
            self.sigEpoch.emit(record)
        elif kind == "checkpoint":
            self.sigCheckpoint.emit({"which": event.data.get("which"),
                                     "path": event.data.get("path"),
                                     "epoch": event.epoch + 1, "step": event.step})
        elif kind == "paused":
            self.flush()
            self.sigState.emit("paused")
        elif kind == "resumed":
            self.sigState.emit("running")
        elif kind in ("early_stop", "nan_detected", "stopped"):
            self.flush()
            if event.message:
                self.sigMessage.emit(event.message)
        elif kind == "fit_start":
            self.sigState.emit("running")

    def flush(self, now: float | None = None) -> None:
        """Emit the gathered steps (if any) as one ``sigSteps``."""
        self._last_emit = time.monotonic() if now is None else now
        if not self._steps:
            return
        e = self._last_batch
        progress = {"epoch": e.epoch + 1, "epochs": e.epochs, "batch": e.batch + 1,
                    "batches": e.batches, "step": e.step, **e.metrics}
        batch = StepBatch(np.asarray(self._steps), np.asarray(self._losses),
                          np.asarray(self._lrs), progress)
        self._steps, self._losses, self._lrs = [], [], []
        self.emitted_updates += 1
        self.sigSteps.emit(batch)


class TrainingWorker(QtCore.QThread):
    """Builds the run from a project snapshot and trains it, off the GUI thread.

    Args:
        snapshot: ``Project.to_dict()`` taken when Start was pressed (the graph is copied, so
            editing goes on during training).
        project_path: the project file (relative dataset paths resolve against it).
        run_dir: the run's folder (weights, history, checkpoints).
        bridge: where the events go.
        max_batches: cap on batches per epoch (tests, smoke runs).
        evaluate: compute the confusion matrix after each epoch (classification only).
        callbacks: more Trainer callbacks (a metrics log, ...); they run on the training
            thread.
    """

    def __init__(self, snapshot: dict[str, Any], project_path: str | Path | None,
                 run_dir: Path, bridge: TrainingBridge, max_batches: int | None = None,
                 evaluate: bool = True, parent: QtCore.QObject | None = None,
                 callbacks: Sequence[Any] = ()) -> None:
        super().__init__(parent)
        self.snapshot = snapshot
        self.project_path = project_path
        self.run_dir = Path(run_dir)
        self.bridge = bridge
        self.max_batches = max_batches
        self.evaluate = evaluate
        self.callbacks = list(callbacks)
        self.trainer: Any = None
        self.job: TrainingJob | None = None
        self.history = RunHistory(self.run_dir.name)
        self.outcome: RunOutcome | None = None
        self._lock = threading.Lock()
        self._stop = False
        self._pause = False
        self._eval_cache: tuple[Any, np.ndarray, np.ndarray] | None = None
        self._pending: list[tuple[float, float, float]] = []  # steps not yet in the history

    # ------------------------------------------------------------------ control (GUI thread)
    def request_stop(self) -> None:
        """Stop before the next batch; the weights of the last finished step are kept."""
        with self._lock:
            self._stop = True
            trainer = self.trainer
        if trainer is not None:
            trainer.stop()

    def request_pause(self) -> None:
        with self._lock:
            self._pause = True
            trainer = self.trainer
        if trainer is not None:
            trainer.pause()

    def request_resume(self) -> None:
        with self._lock:
            self._pause = False
            trainer = self.trainer
        if trainer is not None:
            trainer.resume()
        self.bridge.sigState.emit("running")

    @property
    def stop_requested(self) -> bool:
        return self._stop

    # ------------------------------------------------------------------ the thread
    def run(self) -> None:  # noqa: C901 - one linear story: build, train, save, report
        started = time.time()
        self.bridge.sigState.emit("preparing")
        reason, message, failure, result = "failed", "", None, None
        weights: Path | None = None
        training = self.snapshot.get("training", {})
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.job = job = build_job(self.snapshot, self.project_path, self.run_dir,
                                       self.max_batches)
            write_snapshot(self.snapshot, self.run_dir)
            self.history.monitor = job.monitor
            trainer = job.make_trainer([self.bridge.on_event, self._on_event, *self.callbacks])
            with self._lock:
                self.trainer = trainer
                stop, pause = self._stop, self._pause
            if pause:
                trainer.pause()
            self.bridge.sigStarted.emit({
                "run_dir": str(self.run_dir), "epochs": job.epochs,
                "batches": len(job.train_loader), "classes": job.class_names,
                "steps_per_epoch": -(-len(job.train_loader) // job.accumulate),
                "classification": job.is_classification, "monitor": job.monitor,
                "devices": job.devices, "train_samples": len(job.train_set),
                "val_samples": len(job.val_set) if job.val_set is not None else 0})
            if stop:
                reason, message = "stopped", "stopped before the first batch"
            else:
                result = trainer.fit()
                reason, message = result.reason, result.message
        except Exception as exc:  # noqa: BLE001 - every failure becomes a dialog
            reason = "failed"
            failure = describe_failure(exc, settings=training)
            message = failure.title
        finally:
            self.bridge.flush()
            self._flush_history()
        if self.job is not None:
            try:
                path = self.run_dir / WEIGHTS_FILE
                if save_weights_if_finite(self.job.model, path):
                    weights = path
                self.history.save(self.run_dir)
            except Exception as exc:  # noqa: BLE001 - report it; the run itself is over
                if failure is None:
                    failure = describe_failure(exc, settings=training)
                    reason, message = "failed", failure.title
        if reason == "nan":
            failure = describe_failure(reason="nan", message=message, weights=weights,
                                       settings=training)
        elif failure is not None and weights is not None:
            failure.weights = str(weights)
        final = self.history.epochs[-1] if self.history.epochs else {}
        record = run_record(self.run_dir, reason, len(self.history.epochs), final, started,
                            message) if weights is not None else None
        self.outcome = RunOutcome(
            reason, message, self.run_dir, weights, record, failure,
            epochs_completed=result.epochs_completed if result else 0,
            global_step=result.global_step if result else 0, history=self.history,
            model=self.job.model if self.job is not None else None)
        self.bridge.sigState.emit("finished")
        self.bridge.sigFinished.emit(self.outcome)

    def _on_event(self, event: Any) -> None:
        """The worker's own record of the run (saved with the weights) and the evaluation."""
        kind = event.kind.value
        if kind == "batch_end":
            # plain list appends here (a few hundred per second); the arrays are built once
            # per epoch: every microsecond on this thread is training time
            m = event.metrics
            self._pending.append((float(event.step), float(m.get("loss", float("nan"))),
                                  float(m.get("lr", float("nan")))))
        elif kind == "epoch_end":
            self._flush_history()
            rec = dict(event.metrics)
            rec["epoch"] = float(event.epoch + 1)
            rec["step"] = float(event.step)
            self.history.add_epoch(rec)
            if self.evaluate:
                self._evaluate(event.epoch + 1)
        elif kind == "checkpoint" and event.data.get("which") == "best":
            self.history.mark_checkpoint(event.epoch + 1, float(event.step))

    def _flush_history(self) -> None:
        if self._pending:
            steps, losses, lrs = zip(*self._pending)
            self._pending = []
            self.history.append_steps(np.array(steps), np.array(losses), np.array(lrs))

    def _evaluate(self, epoch: int) -> None:
        job = self.job
        if job is None or not job.is_classification or job.val_set is None:
            return
        if self._eval_cache is None:
            self._eval_cache = collect_samples(job.val_set)
        batches, samples, labels = self._eval_cache
        result = evaluate_classifier(self.trainer.net, batches, job.batch_fn, samples, labels,
                                     job.class_names, epoch)
        self.bridge.sigEvaluation.emit(result)
