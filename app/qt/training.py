"""Training on a background thread: a ``QThread`` that trains a project through
``app.core.runner.train`` (the very function ``layerforge train`` calls, so the window's numbers
are the command line's) and a small ``QObject`` bridge that turns the Trainer's callbacks into
throttled, queued Qt signals.

The rules (Orange3's ``concurrent.py``): the training loop is plain engine code; the only thing
its callback does on the training thread is append the step's numbers to a list and, at most
``UPDATES_PER_S`` times a second, emit one signal carrying everything gathered since the last
one. Signals reach slots on the GUI thread through queued connections, so no widget is ever
touched from the training thread. Pause, Resume and Stop call the Trainer's thread-safe
``pause()``, ``resume()`` and ``stop()``, which take effect before the next batch, so Stop keeps
the weights of the last finished step.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore

from app.core.failures import Failure, describe_failure
from app.core.predictions import collect_samples, evaluate_classifier
from app.core.project import Project
from app.core.run import Run
from app.core.runner import RunControl, train
from app.core.runs import describe, read_record
from app.core.settings import RunOverrides

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
    """How a run ended (``reason``: completed, early_stopped, stopped, nan, failed); ``record``
    is the run's record as its folder now holds it (None when no folder was claimed)."""

    reason: str
    message: str
    run_dir: Path | None
    weights: Path | None
    record: dict[str, Any] | None
    failure: Failure | None = None
    epochs_completed: int = 0
    global_step: int = 0
    model: Any = None  # the trained engine model (what the weights file holds)


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
        sigDiagnostics(list): the layer diagnostics sampled since the last update
            (``DiagnosticsRecord``s), with the steps, at most ``UPDATES_PER_S`` times a second.
        sigWarning(HealthWarning): a training-health warning raised or cleared.
        sigFinished(RunOutcome): the run is over (whatever the reason).
    """

    sigState = QtCore.Signal(str)
    sigStarted = QtCore.Signal(object)
    sigSteps = QtCore.Signal(object)
    sigEpoch = QtCore.Signal(object)
    sigCheckpoint = QtCore.Signal(object)
    sigEvaluation = QtCore.Signal(object)
    sigMessage = QtCore.Signal(str)
    sigDiagnostics = QtCore.Signal(object)
    sigWarning = QtCore.Signal(object)
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
        self._records: list[Any] = []
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
        elif kind == "diagnostics":
            self._records.append(event.data["diagnostics"])  # sent with the next steps
        elif kind == "warning":
            self.sigWarning.emit(event.data["warning"])
        elif kind == "fit_start":
            self.sigState.emit("running")

    def flush(self, now: float | None = None) -> None:
        """Emit the gathered steps (if any) as one ``sigSteps``, and the diagnostics."""
        self._last_emit = time.monotonic() if now is None else now
        if self._records:
            records, self._records = self._records, []
            self.sigDiagnostics.emit(records)
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
    """Trains a snapshot of a project off the GUI thread.

    Args:
        project: the project as it was when Train was pressed (a copy: the editor goes on).
        bridge: where the events go.
        overrides: what this run changes of the project's settings (tests cap the batches).
        evaluate: compute the confusion matrix after each epoch (classification only).
        callbacks: more Trainer callbacks (they run on the training thread).
        diagnostics: collect layer diagnostics and warnings (``runner.train``'s).
    """

    def __init__(self, project: Project, bridge: TrainingBridge,
                 overrides: RunOverrides | None = None, evaluate: bool = True,
                 parent: QtCore.QObject | None = None, callbacks: Sequence[Any] = (),
                 diagnostics: bool | int = True) -> None:
        super().__init__(parent)
        self.diagnostics = diagnostics
        self.project = project
        self.bridge = bridge
        self.overrides = overrides
        self.evaluate = evaluate
        self.callbacks = list(callbacks)
        self.control = RunControl()
        self.run_info: Run | None = None
        self.run_dir: Path | None = None
        self.trainer: Any = None
        self.outcome: RunOutcome | None = None
        self._eval_cache: tuple[Any, np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ control (GUI thread)
    def request_stop(self) -> None:
        """Stop before the next batch; the weights of the last finished step are kept."""
        self.control.stop("stopped")

    def request_pause(self) -> None:
        self.control.pause()

    def request_resume(self) -> None:
        self.control.resume()
        self.bridge.sigState.emit("running")

    @property
    def stop_requested(self) -> bool:
        return self.control.stopped

    # ------------------------------------------------------------------ the thread
    def run(self) -> None:
        self.bridge.sigState.emit("preparing")
        settings = self.project.training
        try:
            result = train(self.project, self.overrides, source="app",
                           callbacks=[self.bridge.on_event, self._on_event, *self.callbacks],
                           control=self.control, on_ready=self._ready,
                           diagnostics=self.diagnostics)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a dialog
            self.bridge.flush()
            failure = describe_failure(exc, settings=settings)
            record = self._record()
            weights = self._weights(record)
            failure.weights = str(weights) if weights is not None else None
            self.outcome = RunOutcome("failed", failure.title, self.run_dir, weights, record,
                                      failure, model=self._model())
        else:
            self.bridge.flush()
            failure = None
            if result.reason == "nan":
                failure = describe_failure(reason="nan", message=result.message,
                                           weights=result.weights, settings=settings)
            self.outcome = RunOutcome(result.reason, result.message, result.folder,
                                      result.weights, self._record(), failure,
                                      result.epochs_completed, result.global_step,
                                      model=self._model())
        self.bridge.sigState.emit("finished")
        self.bridge.sigFinished.emit(self.outcome)

    def _ready(self, run: Run, folder: Path, trainer: Any) -> None:
        self.run_info, self.run_dir, self.trainer = run, folder, trainer
        self.bridge.sigStarted.emit({"run_dir": str(folder), "epochs": run.settings.epochs,
                                     **run.describe()})

    def _record(self) -> dict[str, Any] | None:
        if self.run_dir is None:
            return None
        record = read_record(self.run_dir)
        return None if record is None else describe(self.run_dir, record)

    def _weights(self, record: dict[str, Any] | None) -> Path | None:
        """The weights this run kept (a run that failed before its first step kept none)."""
        if record is None or not record.get("weights"):
            return None
        path = self.run_dir / record["weights"]
        return path if path.is_file() else None

    def _model(self) -> Any:
        return self.run_info.model if self.run_info is not None else None

    def _on_event(self, event: Any) -> None:
        """After each epoch, the predictions on the validation set (the evaluation view)."""
        if event.kind.value == "epoch_end" and self.evaluate:
            self._evaluate(event.epoch + 1)

    def _evaluate(self, epoch: int) -> None:
        run = self.run_info
        if run is None or not run.is_classification or run.val_set is None:
            return
        if self._eval_cache is None:
            self._eval_cache = collect_samples(run.val_set)
        batches, samples, labels = self._eval_cache
        result = evaluate_classifier(self.trainer.net, batches, run.batch_fn, samples, labels,
                                     run.class_names, epoch)
        self.bridge.sigEvaluation.emit(result)
