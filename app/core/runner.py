"""Training a project: ``train(project, overrides, ...)`` builds the run (``build_run``), claims
its folder (``runs``), trains it with the engine's ``Trainer`` and keeps its files, and returns a
``RunResult``. The window (on a worker thread), ``layerforge train`` and every ``mpiexec`` rank
call this same function; they differ only in the callbacks they pass (a progress bar, a Qt
bridge) and in how they ask a run to stop (``RunControl``).

What a run writes (rank 0 only) is described in ``app.core.runs``. The weights of every
finished epoch are kept; a stop, a Ctrl-C or a NaN keeps the last good weights (never NaN ones);
a run that fails says so in its record, and keeps weights only if it trained at least one step.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from engine.training import LAST, Callback

from .errors import RunSetupError
from .paths import input_file
from .project import Project, atomic_write_text, dumps
from .run import TOPK, Run, build_run
from .runs import (
    CHECKPOINT_DIR,
    SNAPSHOT_FILE,
    RunFolder,
    link_run,
    read_record,
    runs_root,
)
from .settings import DEFAULT_RANK_TIMEOUT_S, RunOverrides, cpu_replicas, is_number

RECORD_EVERY_S = 2.0  # a running run's record is rewritten at most this often
REASON_TEXT = {"completed": "training finished", "early_stopped": "early stopping",
               "stopped": "stopped", "interrupted": "interrupted",
               "nan": "stopped: non-finite loss", "failed": "failed"}


class RunControl(Callback):
    """Stop, pause and resume a run from another thread or a signal handler. Requests made
    before the Trainer exists are applied when it is attached; every request takes effect
    before the next batch, so the weights are always those of a whole step."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trainer: Any = None
        self._stop = threading.Event()
        self._paused = False
        self.reason = "stopped"

    def attach(self, trainer: Any) -> None:
        with self._lock:
            self._trainer = trainer
            stop, paused = self._stop.is_set(), self._paused
        if stop:
            trainer.stop()
        elif paused:
            trainer.pause()

    def stop(self, reason: str = "stopped") -> None:
        with self._lock:
            if not self._stop.is_set():
                self.reason = reason
            self._stop.set()
            trainer = self._trainer
        if trainer is not None:
            trainer.stop()  # also wakes a paused run

    def pause(self) -> None:
        with self._lock:
            self._paused = True
            trainer = self._trainer
        if trainer is not None:
            trainer.pause()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            trainer = self._trainer
        if trainer is not None:
            trainer.resume()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def on_fit_start(self, trainer: Any, event: Any) -> None:
        """``fit`` clears a stop asked for before it began: ask again (no step is taken)."""
        self.attach(trainer)


@dataclass
class RunResult:
    """How a run ended. ``reason``: completed, early_stopped, stopped, interrupted, nan or
    failed; ``history``: one dict of metrics per finished epoch (the Trainer's names)."""

    reason: str
    message: str
    folder: Path
    record: dict[str, Any]
    epochs_completed: int = 0
    global_step: int = 0
    weights: Path | None = None
    checkpoint: Path | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    run: Run | None = None

    @property
    def ok(self) -> bool:
        return self.reason in ("completed", "early_stopped")


# on_ready(run, folder, trainer): called once the run is built and its Trainer made, before the
# first batch (a presenter prints its first line, the window draws its charts' frame).
OnReady = Callable[[Run, Path, Any], None]


def train(project: Project, overrides: RunOverrides | None = None, *,
          out: str | Path | None = None, resume: str | Path | None = None,
          init_weights: str | Path | None = None, distributed: bool = False,
          timeout: float | None = None, source: str = "cli", callbacks: Sequence[Any] = (),
          control: RunControl | None = None, on_ready: OnReady | None = None,
          listed: bool = True, diagnostics: bool | int = False) -> RunResult:
    """Train ``project`` (see the module docstring); raises what ``build_run`` raises when the
    run cannot start, and re-raises an error that ends training after recording it.

    ``diagnostics``: collect layer statistics and warn about dead, saturated, vanishing or
    exploding layers and non-finite losses (``engine.training.diagnostics`` and ``health``):
    True samples as often as the collector's time budget allows, a number every that many
    batches. The records and warnings reach ``callbacks`` as events, and the run's TensorBoard
    file gets their scalars and histograms. Every rank of an ``mpiexec`` run must pass the
    same value (rank 0 merges the ranks' statistics)."""
    control = RunControl() if control is None else control
    group = _process_group(timeout) if distributed else None
    main = group is None or group.rank == 0
    run = folder = None
    try:
        if resume is not None:
            input_file(resume, "--resume")
        run = build_run(project, overrides, init_weights=init_weights, distributed=distributed)
        _check_resume(resume, run, group.size if group is not None else 1)
        if main:
            folder = _claim_folder(project, out, resume, source if not distributed else "mpi")
        error = None
    except Exception as exc:  # noqa: BLE001 - every rank must hear of it; see _agree_to_start
        error = exc
    ranks = _agree_to_start(group, error, folder,
                            run_fingerprint(run) if run is not None else None)
    assert run is not None
    run.ranks = ranks
    path = _shared_path(group, folder)
    if folder is not None:
        _start_record(folder, run, project, listed)
    if diagnostics is not False:
        every = None if diagnostics is True else int(diagnostics)
        callbacks = [*diagnostic_callbacks(every), *callbacks]
    with _blas_for(run):
        return _fit(run, path, folder, control, callbacks, on_ready, resume)


def diagnostic_callbacks(every: int | None = None) -> list[Callback]:
    """The collector of layer statistics (every ``every`` batches; None: adaptive) and the
    monitor that turns them into warnings."""
    from engine.training import DiagnosticsCollector, HealthMonitor  # noqa: PLC0415

    return [DiagnosticsCollector(every=every), HealthMonitor()]


def _blas_for(run: Run) -> Any:
    """CPU replicas take the cores for the run (and give them back after it: see
    ``engine._blas``)."""
    from engine._blas import one_blas_thread  # noqa: PLC0415

    if cpu_replicas(run.settings.devices) and not run.distributed:
        return one_blas_thread()
    return contextlib.nullcontext()


def _fit(run: Run, path: Path, folder: RunFolder | None, control: RunControl,
         callbacks: Sequence[Any], on_ready: OnReady | None, resume: Any) -> RunResult:
    trainer = run.trainer(path / CHECKPOINT_DIR, [control])
    keeper = _Keeper(run, folder) if folder is not None else None
    if keeper is not None:
        trainer.callbacks.append(keeper)
    for callback in callbacks:
        trainer.callbacks.append(callback)
    control.attach(trainer)
    if on_ready is not None:
        on_ready(run, path, trainer)
    reason, message = "failed", ""
    try:
        fit = trainer.fit(resume_from=resume)
        reason = control.reason if fit.reason == "stopped" else fit.reason
        message = fit.message
    except KeyboardInterrupt:
        reason, message = "interrupted", "stopped at once (second Ctrl-C)"
        raise
    except Exception as exc:
        reason, message = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if keeper is not None:
            keeper.finish(trainer, reason, message)
    result = RunResult(reason, message, path, keeper.record if keeper else {"id": path.name},
                       trainer.epoch, trainer.global_step,
                       keeper.weights_kept if keeper else None,
                       _existing(path / CHECKPOINT_DIR / LAST),
                       list(trainer.history), run)
    return result


def _existing(path: Path) -> Path | None:
    return path if path.exists() else None


def _claim_folder(project: Project, out: Any, resume: Any, source: str) -> RunFolder:
    if out is not None:
        return RunFolder.claim(out, source, resume_of=resume)
    if resume is not None:  # continue in the folder of the run that wrote the checkpoint
        ckpt = Path(resume).resolve()
        home = ckpt.parent.parent if ckpt.parent.name == CHECKPOINT_DIR else None
        if home is not None and read_record(home) is not None:
            return RunFolder.claim(home, source, resume_of=resume)
    return RunFolder.claim_new(runs_root(project), source)


def _start_record(folder: RunFolder, run: Run, project: Project, listed: bool) -> None:
    atomic_write_text(folder.file(SNAPSHOT_FILE), dumps(run.project.to_dict()) + "\n")
    root = runs_root(project)
    inside = folder.path.resolve().parent == root.resolve()
    if listed and not inside:
        link_run(root, folder.path)
    folder.update(project={"name": project.name,
                           "file": None if project.path is None else str(project.path)},
                  epochs=run.settings.epochs, listed=listed, **run.describe())


class _Keeper(Callback):
    """Rank 0's files of a run: the weights of every finished epoch (and of the best one), the
    metrics log, and the record kept current; on the way out, the last good weights."""

    def __init__(self, run: Run, folder: RunFolder) -> None:
        from engine.training.loggers import JSONLinesLogger  # noqa: PLC0415
        from engine.training.tensorboard import TensorBoardLogger  # noqa: PLC0415

        self.run, self.folder = run, folder
        self.log = JSONLinesLogger(folder.log)
        self.tensorboard = TensorBoardLogger(folder.path)
        self.weights_kept: Path | None = folder.weights if folder.weights.exists() else None
        self._recorded = 0.0

    @property
    def record(self) -> dict[str, Any]:
        return self.folder.record

    def on_event(self, trainer: Any, event: Any) -> None:
        self.log.on_event(trainer, event)
        self.tensorboard.on_event(trainer, event)
        if event.kind.value == "epoch_end":
            self._epoch_end(trainer, event)

    def _epoch_end(self, trainer: Any, event: Any) -> None:
        from engine.export import save_weights  # noqa: PLC0415

        state = trainer.model.state_dict()
        save_weights(state, self.folder.weights)
        self.weights_kept = self.folder.weights
        if trainer.best_epoch == trainer.epoch:  # this epoch improved the monitored metric
            save_weights(state, self.folder.best)
        now = time.monotonic()
        if now - self._recorded >= RECORD_EVERY_S:  # the log has every epoch; this is a glance
            self._recorded = now
            self.folder.update(epochs_completed=trainer.epoch, global_step=trainer.global_step,
                               final=_numbers(event.metrics), weights=self.folder.weights.name,
                               best=self._best(trainer))
        else:
            self.folder.record.update(final=_numbers(event.metrics))

    def _best(self, trainer: Any) -> dict[str, Any] | None:
        if trainer.best_epoch is None:
            return None
        return {"epoch": trainer.best_epoch, "monitor": trainer.monitor,
                "value": float(trainer.best), "weights": self.folder.best.name}

    def finish(self, trainer: Any, reason: str, message: str) -> None:
        """The run is over (however it ended): keep the last good weights when it stopped
        between epochs, write the end of the record, let go of the folder."""
        try:
            if reason in ("stopped", "interrupted", "nan", "failed") and trainer.global_step and \
                    not message.startswith("stopped at once"):
                if _save_if_finite(trainer.model, self.folder.weights):
                    self.weights_kept = self.folder.weights
            weights = self.weights_kept
            self.folder.update(
                status=reason, message=message,
                finished=datetime.now().isoformat(timespec="seconds"),
                epochs_completed=trainer.epoch, global_step=trainer.global_step,
                weights=weights.name if weights is not None else None,
                checkpoint=f"{CHECKPOINT_DIR}/{LAST}"
                if (self.folder.checkpoints / LAST).exists() else None,
                best=self._best(trainer))
        finally:
            self.log.close()
            self.tensorboard.close()
            self.folder.release()


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if is_number(v)}


def _save_if_finite(model: Any, path: Path) -> bool:
    """Save the current weights when every value is finite (a NaN step never replaces the
    last good file); returns whether it saved."""
    from engine.export import save_weights, to_numpy_state  # noqa: PLC0415

    state = to_numpy_state(model.state_dict())
    if all(np.isfinite(v).all() for v in state.values() if v.dtype.kind == "f"):
        save_weights(state, path)
        return True
    return False


# -------------------------------------------------------------------- ranks
def _process_group(timeout: float | None) -> Any:
    """The ranks started by mpiexec (joined here, before the model is built, so that a rank
    that cannot start is known to every rank); the Trainer reuses this group. A collective
    waits at most ``timeout`` seconds (``DEFAULT_RANK_TIMEOUT_S``): a stopped rank is named
    within minutes, not after PyTorch's half hour."""
    from engine import distributed as dist  # noqa: PLC0415

    dist.init_process_group("mpi", timeout=DEFAULT_RANK_TIMEOUT_S if timeout is None else
                            timeout)
    return dist.default_group()


def _agree_to_start(group: Any, error: Exception | None, folder: RunFolder | None,
                    fingerprint: dict[str, Any] | None = None) -> list[str] | None:
    """Raise ``error`` so that one line reaches the user, whichever rank it happened on: rank 0
    raises it (or one naming the failing rank); the other ranks end quietly (exit status 1),
    or with their traceback when the error is a bug. Without distribution: just raise it.

    When every rank could start, their ``fingerprint``s must agree: ranks that would train
    different graphs, epochs or batch counts would wait for each other in a collective until
    the timeout (or, with different optimizers, train to the end without a word).

    Returns where each rank runs ("pid 4242 on node1"), so that a launcher's message naming
    a process id can be matched to a rank; None without distribution."""
    if group is None or group.size == 1:
        if error is not None:
            raise error
        return None
    import socket  # noqa: PLC0415

    import engine  # noqa: PLC0415

    here = f"pid {os.getpid()} on {socket.gethostname()}"
    reports = group.all_gather_object((None if error is None else str(error), fingerprint,
                                       here))
    failed = [(rank, text) for rank, (text, _fp, _at) in enumerate(reports) if text is not None]
    if not failed:
        differ = fingerprint_differences([fp for _text, fp, _at in reports])
        if not differ:
            return [at for _text, _fp, at in reports]
        failed = [(None, differ)]
    if folder is not None:  # rank 0 claimed a folder for a run that will not happen
        folder.update(status="failed", message=failed[0][1])
        folder.release()
    if group.rank == 0:
        if error is not None:
            raise error
        rank, text = failed[0]
        if rank is None:
            raise RunSetupError(text)
        raise RunSetupError(f"rank {rank} of {group.size} could not start: {text}")
    from .errors import AppError  # noqa: PLC0415

    if error is not None and not isinstance(error, AppError | engine.EngineError | OSError |
                                            ValueError):
        raise error
    raise SystemExit(1)


def run_fingerprint(run: Run) -> dict[str, Any]:
    """What every rank of one run must have alike, by the words a message uses for each."""
    import hashlib  # noqa: PLC0415

    layout = run.project.graph.to_dict()
    for node in layout.get("nodes", []):
        node.pop("pos", None)  # where a card sits on the canvas does not change the network
    graph = json.dumps(layout, sort_keys=True, default=str)
    s = run.settings
    return {"graph": hashlib.sha1(graph.encode("utf-8")).hexdigest()[:12],
            "optimizer": f"{s.optimizer} {json.dumps(s.optimizer_args, sort_keys=True)}",
            "learning rate": s.lr,
            "schedule": f"{s.schedule} {json.dumps(s.schedule_args, sort_keys=True)}",
            "epochs": s.epochs, "batch size": s.batch_size, "seed": s.seed,
            "gradient accumulation": s.grad_accumulation,
            "dataset length": len(run.train_set),
            "batches per epoch": len(run.train_loader),
            "validation length": 0 if run.val_set is None else len(run.val_set)}


def fingerprint_differences(prints: list[dict[str, Any] | None]) -> str | None:
    """One sentence naming each rank whose fingerprint differs from rank 0's, and how; None
    when all agree."""
    first = prints[0]
    if first is None:
        return None
    parts = []
    for rank, fp in enumerate(prints[1:], 1):
        if fp is None:
            continue
        diffs = [f"{key} {fp[key]} (rank 0: {first[key]})" for key in first
                 if fp.get(key) != first[key]]
        if diffs:
            parts.append(f"rank {rank} has " + ", ".join(diffs))
    if not parts:
        return None
    return (f"the {len(prints)} ranks were not started alike: " + "; ".join(parts) +
            ". Start every rank with the same project file and options")


def _shared_path(group: Any, folder: RunFolder | None) -> Path:
    """The run folder, as every rank needs its name (only rank 0 writes in it)."""
    if group is None or group.size == 1:
        assert folder is not None
        return folder.path
    paths = group.all_gather_object(str(folder.path) if folder is not None else None)
    return Path(paths[0])


def _check_resume(path: Any, run: Run, world: int) -> None:
    """Refuse a ``--resume`` file that cannot continue this run (damaged, another network,
    other ranks, no epochs left...), before a run folder is claimed for it."""
    if path is None:
        return
    from types import SimpleNamespace  # noqa: PLC0415

    from engine.training import CheckpointError, load_checkpoint  # noqa: PLC0415
    from engine.training.checkpoint import check_resumable  # noqa: PLC0415

    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError as exc:
        raise RunSetupError(f"--resume: {exc}; to start from plain weights use "
                            "--init-weights") from None
    # what check_resumable reads of a Trainer, without building one (replicas, devices)
    trainer = SimpleNamespace(model=run.model, epochs=run.settings.epochs, ks=TOPK,
                              train_loader=run.train_loader, world=world,
                              optimizer=run.optimizer, scheduler=run.scheduler)
    try:
        check_resumable(checkpoint, trainer, f"--resume: {path}")
    except CheckpointError as exc:
        raise RunSetupError(str(exc)) from None
