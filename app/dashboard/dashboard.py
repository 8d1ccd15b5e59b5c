"""The training dashboard: the data and training panels on the left; Start/Pause/Stop with the
progress, and the charts, evaluation and runs on the right.

Start takes a snapshot of the project and trains it on a background thread
(``app.qt.training.TrainingWorker``, through the same ``app.core.runner.train`` as the command
line), so the window, the editor included, stays usable: the graph may be edited during
training, and the run keeps the graph it started with (saved in its folder). Only the data and
training settings in use are locked until the run ends. Stop keeps the weights of the last
finished step. Runs are listed from the project's runs folder, so runs made by ``layerforge
train`` meanwhile appear too.

``python -m app.qt.preview dashboard [--template spiral] [--train]`` shows it alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from app.core.failures import Failure, describe_failure
from app.core.history import RunHistory
from app.core.predictions import EvalResult
from app.core.project import Project
from app.core.run import evaluate_run
from app.core.runs import runs_root, weights_of
from app.core.settings import RunOverrides
from app.qt.tasks import BackgroundTask, start_task, wait_all
from app.qt.training import RunOutcome, StepBatch, TrainingBridge, TrainingWorker

from .charts import TrainingCharts
from .data_panel import DataPanel
from .evaluation import EvaluationView
from .export_dialog import ExportDialog
from .failure_dialog import failure_dialog
from .progress import ProgressPanel
from .runs import RunsPanel, run_history
from .settings import Settings
from .training_panel import TrainingPanel

REASON_TEXT = {"completed": "Finished", "early_stopped": "Early stopping",
               "stopped": "Stopped", "nan": "Stopped: the loss became NaN",
               "failed": "Failed"}


def _scroll(widget: QtWidgets.QWidget) -> QtWidgets.QScrollArea:
    area = QtWidgets.QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QtWidgets.QFrame.NoFrame)
    area.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)  # panels fit the width
    area.setWidget(widget)
    return area


class TrainingDashboard(QtWidgets.QWidget):
    """Train the project of ``source`` (a ``Project``, or the editor's ``GraphDocument``).

    Signals:
        sigTrainingStarted(str): the runs folder the run will claim its folder in.
        sigTrainingFinished(RunOutcome): the run ended (any reason).
        sigRunRecorded(dict): a run of this project ended with a record in its runs folder.
        sigDiagnostics(list): layer diagnostics of the live run (``DiagnosticsRecord``s).
        sigWarning(HealthWarning): a training-health warning raised or cleared.
    """

    sigTrainingStarted = QtCore.Signal(str)
    sigTrainingFinished = QtCore.Signal(object)
    sigRunRecorded = QtCore.Signal(object)
    sigDiagnostics = QtCore.Signal(object)
    sigWarning = QtCore.Signal(object)

    def __init__(self, source: Any, parent: QtWidgets.QWidget | None = None,
                 auto_preview: bool = True) -> None:
        super().__init__(parent)
        self.settings = Settings(source, self)
        self.show_dialogs = True
        self.diagnostics: bool | int = True
        self.failure_box: QtWidgets.QMessageBox | None = None
        self.last_failure: Failure | None = None
        self.last_outcome: RunOutcome | None = None
        self.current_run: dict[str, Any] | None = None
        self.worker: TrainingWorker | None = None
        self.bridge: TrainingBridge | None = None
        self._eval_task: BackgroundTask | None = None
        self._training_project: Project | None = None

        self.data_panel = DataPanel(self.settings, auto_preview=auto_preview)
        self.training_panel = TrainingPanel(self.settings)
        self.progress = ProgressPanel()
        self.charts = TrainingCharts()
        self.evaluation = EvaluationView()
        self.runs = RunsPanel(self.project)
        self.export_button = QtWidgets.QPushButton("Export…")
        self.export_button.setToolTip("Save the trained weights as safetensors, npz, ONNX or "
                                      "PyTorch code")
        self.message_label = QtWidgets.QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)

        self.settings_tabs = QtWidgets.QTabWidget()
        self.settings_tabs.addTab(_scroll(self.data_panel), "Data")
        self.settings_tabs.addTab(_scroll(self.training_panel), "Training")
        self.settings_tabs.setMinimumWidth(400)
        self.view_tabs = QtWidgets.QTabWidget()
        self.view_tabs.addTab(self.charts, "Charts")
        self.view_tabs.addTab(self.evaluation, "Evaluation")
        self.view_tabs.addTab(self.runs, "Runs")
        right = QtWidgets.QWidget()
        rv = QtWidgets.QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.progress, 1)
        top.addWidget(self.export_button, 0, QtCore.Qt.AlignTop)
        rv.addLayout(top)
        rv.addWidget(self.message_label)
        rv.addWidget(self.view_tabs, 1)
        self.splitter = QtWidgets.QSplitter()
        self.splitter.addWidget(self.settings_tabs)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([420, 1000])
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.splitter)

        self.progress.sigStart.connect(self.start_training)
        self.progress.sigPause.connect(self.pause)
        self.progress.sigResume.connect(self.resume)
        self.progress.sigStop.connect(self.stop)
        self.export_button.clicked.connect(lambda: self.open_export())
        self.training_panel.sigValidityChanged.connect(self.progress.set_can_start)
        self.progress.set_can_start(self.training_panel.can_train, self.training_panel.reason)
        self.runs.sigOverlayChanged.connect(self._on_overlays)
        self.runs.sigReload.connect(self.show_run)
        self.runs.sigExport.connect(self.open_export)
        self.runs.sigRunsChanged.connect(self._update_export)
        self.settings.sigReset.connect(self._on_project_replaced)
        self._update_export()

    # ------------------------------------------------------------------ properties
    @property
    def project(self) -> Project:
        return self.settings.project

    @property
    def is_training(self) -> bool:
        return self.worker is not None

    @property
    def history(self) -> RunHistory:
        return self.charts.history

    # ------------------------------------------------------------------ control
    def start_training(self, max_batches: int | None = None,
                       callbacks: Sequence[Any] = ()) -> bool:
        """Start a run of the project as it is now; False (with the reason shown) when it
        cannot start. ``callbacks``: more Trainer callbacks (run on the training thread).
        Layer diagnostics are collected as ``diagnostics`` says (True: as often as their time
        budget allows; a number: every that many batches)."""
        if self.worker is not None:
            return False
        from engine.graph import CompileError, errors  # noqa: PLC0415

        problems = errors(self.project.validate())
        if problems:
            self._fail(describe_failure(CompileError(problems)))
            return False
        if not self.training_panel.can_train:
            self._fail(Failure("settings", "Training cannot start with these settings",
                               self.training_panel.reason,
                               ["Change the devices or the batch size in the Training tab."]))
            return False
        snapshot = self.project.copy()
        history = RunHistory("this run")
        history.monitor = snapshot.training["early_stopping"].get("monitor", "val_loss")
        self.charts.set_history(history)
        self.evaluation.reset()
        self.message_label.setText("")
        self.last_failure = None
        bridge = TrainingBridge(parent=self)
        q = QtCore.Qt.QueuedConnection
        bridge.sigState.connect(self._on_state, q)
        bridge.sigStarted.connect(self._on_started, q)
        bridge.sigSteps.connect(self._on_steps, q)
        bridge.sigEpoch.connect(self._on_epoch, q)
        bridge.sigCheckpoint.connect(self._on_checkpoint, q)
        bridge.sigEvaluation.connect(self._on_evaluation, q)
        bridge.sigMessage.connect(self._on_message, q)
        bridge.sigDiagnostics.connect(self.sigDiagnostics, q)
        bridge.sigWarning.connect(self.sigWarning, q)
        bridge.sigFinished.connect(self._on_finished, q)
        overrides = RunOverrides(max_batches=max_batches) if max_batches else None
        worker = TrainingWorker(snapshot, bridge, overrides, parent=self, callbacks=callbacks,
                                diagnostics=self.diagnostics)
        self.bridge, self.worker = bridge, worker
        self._training_project = self.project
        self._lock(True)
        self.progress.set_state("preparing")
        worker.start()
        self.sigTrainingStarted.emit(str(runs_root(snapshot)))
        return True

    def pause(self) -> None:
        if self.worker is not None:
            self.worker.request_pause()

    def resume(self) -> None:
        if self.worker is not None:
            self.worker.request_resume()

    def stop(self) -> None:
        """Stop after the current batch; the weights of the last finished step are kept."""
        if self.worker is not None:
            self.worker.request_stop()
            self.progress.set_state("stopping")

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Stop a run and wait for its thread (closing the window)."""
        if self.worker is not None:
            self.worker.request_stop()  # also wakes a paused run
            self.worker.wait(timeout_ms)
        self.data_panel.cancel_tasks()
        wait_all(timeout_ms)  # no QThread may outlive the app

    def _lock(self, locked: bool) -> None:
        self.data_panel.set_locked(locked)
        self.training_panel.set_locked(locked)
        self.runs.reload_button.setEnabled(not locked)
        self._update_export()

    # ------------------------------------------------------------------ from the bridge
    def _on_state(self, state: str) -> None:
        if self.worker is None and state != "finished":
            return
        if state == "finished":
            return  # _on_finished resets the panel
        if self.worker.stop_requested:
            state = "stopping"  # a "running" or "paused" sent before Stop was seen
        self.progress.set_state(state)

    def _on_started(self, info: dict[str, Any]) -> None:
        self.history.name = Path(info["run_dir"]).name
        self.history.monitor = info.get("monitor", self.history.monitor)
        self.charts.set_expected(info["epochs"] * info["steps_per_epoch"], info["epochs"])
        devices = ", ".join(info.get("devices", []))
        self.message_label.setText(
            f"Training {info['train_samples']:,} samples ({info['val_samples']:,} for "
            f"validation) on {devices}; run folder {info['run_dir']}")

    def _on_steps(self, batch: StepBatch) -> None:
        self.history.append_steps(batch.steps, batch.losses, batch.lrs)
        self.progress.show_progress(batch.progress)

    def _on_epoch(self, record: dict[str, Any]) -> None:
        self.history.add_epoch(record)

    def _on_checkpoint(self, info: dict[str, Any]) -> None:
        if info.get("which") == "best":
            self.history.mark_checkpoint(int(info["epoch"]), float(info["step"]))

    def _on_evaluation(self, result: EvalResult) -> None:
        self.evaluation.set_result(result)

    def _on_message(self, text: str) -> None:
        self.message_label.setText(text)

    def _on_finished(self, outcome: RunOutcome) -> None:
        worker, bridge = self.worker, self.bridge
        self.worker = None
        self.bridge = None
        if worker is not None:
            worker.wait(10000)  # it sent sigFinished as its last act: this returns at once
            worker.deleteLater()
        if bridge is not None:
            bridge.deleteLater()
        self.last_outcome = outcome
        self._lock(False)
        trained, self._training_project = self._training_project, None
        if trained is self.project:  # else another project was opened meanwhile
            self.runs.refresh()
            if outcome.record is not None:
                self.current_run = outcome.record
                self.history.name = self.runs.name_of(outcome.record)
                self.sigRunRecorded.emit(outcome.record)
            self._update_export()
        text = REASON_TEXT.get(outcome.reason, outcome.reason)
        h = self.history
        if h.epochs:
            last = h.epochs[-1]
            bits = [f"{len(h.epochs)} epoch(s)"]
            for key, label in (("val_accuracy", "val acc"), ("val_loss", "val loss")):
                if key in last:
                    bits.append(f"{label} {last[key]:.4g}" if "loss" in key else
                                f"{label} {last[key]:.1%}")
            text += ": " + ", ".join(bits)
        if outcome.weights is not None:
            text += f" · weights in {outcome.weights}"
        elif outcome.reason != "failed":
            text += " · no weights saved"
        self.progress.show_finished(text, outcome.reason == "completed")
        if outcome.message and outcome.reason in ("early_stopped", "stopped"):
            self.message_label.setText(outcome.message)
        self.sigTrainingFinished.emit(outcome)
        if outcome.failure is not None:
            self._fail(outcome.failure)

    def _fail(self, failure: Failure) -> None:
        """Keep the failure, say it in the status line and, unless tests turned it off, show
        the dialog (non-blocking)."""
        self.last_failure = failure
        self.message_label.setText(f"<b>{failure.title}</b>: {failure.what}")
        self.message_label.setToolTip(failure.text())
        if not self.show_dialogs:
            return
        if self.failure_box is not None:
            self.failure_box.close()
        self.failure_box = failure_dialog(failure, self)
        self.failure_box.open()

    # ------------------------------------------------------------------ runs, export
    def _update_export(self) -> None:
        has = any(weights_of(r) is not None for r in self.runs.records)
        self.export_button.setEnabled(has and self.worker is None)

    def _on_overlays(self, runs: list[dict[str, Any]]) -> None:
        """Draw the selected runs under the one shown (which is never drawn twice)."""
        self.charts.clear_overlays()
        shown = self._shown_folder()
        for run in runs:
            if run["folder"] == shown:
                continue
            try:
                self.charts.add_overlay(run_history(run, self.runs.name_of(run)))
            except (FileNotFoundError, ValueError, OSError) as exc:
                self.message_label.setText(f"Cannot overlay run {run.get('id')}: {exc}")

    def _shown_folder(self) -> str | None:
        """The folder of the run the charts show (the live one, or the one reloaded)."""
        if self.worker is not None and self.worker.run_dir is not None:
            return str(Path(self.worker.run_dir).resolve())
        if self.current_run is not None:
            return self.current_run.get("folder")
        return None

    def show_run(self, run: dict[str, Any]) -> None:
        """Reload a run: its charts, and its weights evaluated on the validation set (in the
        background); Export then defaults to it."""
        if self.worker is not None:
            return
        self.current_run = run
        try:
            hist = run_history(run, self.runs.name_of(run))
            last = int(hist.step.data[-1]) if len(hist) else None
            self.charts.set_history(hist, last, len(hist.epochs) or None)
        except (FileNotFoundError, ValueError, OSError) as exc:
            self.message_label.setText(str(exc))
        if weights_of(run) is None:
            return
        project = self.project
        self.message_label.setText(f"Showing run {run.get('id')} (evaluating its weights…)")
        self._eval_task = start_task(lambda ctx: evaluate_run(project, run),
                                     self._on_run_evaluated, self._on_run_evaluation_failed)

    def _on_run_evaluation_failed(self, exc: BaseException) -> None:
        self._eval_task = None
        run = self.current_run or {}
        self.message_label.setText(f"Cannot evaluate run {run.get('id')}: {exc}")

    def _on_run_evaluated(self, result: EvalResult | None) -> None:
        self._eval_task = None
        if result is not None:
            self.evaluation.set_result(result)
        run = self.current_run or {}
        self.message_label.setText(f"Showing run {run.get('id')}"
                                   + (f": {result.accuracy:.1%} correct on the validation set"
                                      if result is not None else ""))

    def open_export(self, run: dict[str, Any] | None = None) -> ExportDialog:
        """The export dialog on ``run`` (default: the run shown last), opened non-modally."""
        dialog = ExportDialog(self.project, run or self.current_run, self)
        dialog.sigExported.connect(lambda paths: self.message_label.setText(
            "Exported: " + ", ".join(str(p) for p in paths)))
        dialog.setAttribute(QtCore.Qt.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _on_project_replaced(self) -> None:
        """Another project (New, Open, a reload): every view of the old one's runs goes."""
        if self.worker is not None:
            self.worker.request_stop()
        self.runs.set_project(self.project)
        self.charts.reset()
        self.evaluation.reset()
        self.progress.reset()
        self.message_label.setText("")
        self.message_label.setToolTip("")
        self.current_run = None
        self.last_outcome = None
        self.last_failure = None
        self._update_export()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self.shutdown()
        super().closeEvent(event)
