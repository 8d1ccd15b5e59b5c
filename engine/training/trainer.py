"""``Trainer``: the training loop the app (from a QThread) and the CLI both run.

One model, one loss, one optimizer and the loaders, for ``epochs`` epochs, with gradient
accumulation, clipping, an LR scheduler (per step, per epoch, or ``ReduceLROnPlateau`` on the
monitored metric), devices (one, several through ``DataParallel``, or ranks through
``DistributedDataParallel``), validation each epoch (or every n steps), early stopping,
checkpoints that resume bit for bit, and NaN/inf detection that stops before the bad update.

Everything it does is reported as ``Event``s to callbacks; ``pause()``, ``resume()`` and
``stop()`` may be called from any thread and take effect before the next batch starts, so the
model is always left after a whole optimizer step.

Example::

    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                      train_loader, val_loader, epochs=10, checkpoint_dir="runs/a",
                      callbacks=[CSVLogger("runs/a/metrics.csv")])
    result = trainer.fit()          # FitResult(reason="completed", ...)
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import random as engine_random
from ..autograd.grad_mode import no_grad
from . import _setup
from ._setup import grads_finite, is_data_parallel, len_or_none
from .checkpoint import BEST, LAST, check_resumable, load_checkpoint, save_checkpoint
from .errors import CheckpointError, TrainingError
from .events import CallbackList, Event, EventKind
from .metrics import MetricSums
from .result import FitResult, StopTraining


class Trainer:
    """Run a training loop; see the module docstring.

    Args:
        model: the ``nn.Module`` (its parameters are what ``optimizer`` holds).
        loss_fn: ``loss_fn(output, target) -> scalar Tensor`` (e.g. ``nn.CrossEntropyLoss()``).
        optimizer: an ``engine.optim`` optimizer over ``model.parameters()``.
        train_loader / val_loader: DataLoaders (or any iterables) yielding ``(input, target)``
            batches; ``batch_fn(batch) -> (input, target)`` adapts other layouts.
        epochs: how many epochs in total (a resumed run continues up to this number).
        scheduler: an ``engine.optim.lr_scheduler`` scheduler; ``scheduler_interval`` "epoch"
            or "step" (``ReduceLROnPlateau`` always steps per epoch on ``monitor``).
        devices: e.g. ``["cpu"]``, ``["cuda:0", "cuda:1"]`` (DataParallel), ``["cpu", "cpu"]``.
        distributed: one rank per process under mpiexec (DistributedDataParallel); the global
            batch is ``batch_size * world_size``.
        sync_batchnorm: BatchNorm over the whole global batch (DataParallel or distributed).
        accumulate_grad_batches: optimizer step every k batches (loss divided by k).
        clip_grad_norm / clip_grad_value: gradient clipping before each step.
        seed: ``engine.manual_seed(seed)`` at the start of a fresh fit (build the model after
            seeding too, for a fully reproducible run).
        monitor / mode: the metric for best checkpoints, early stopping and plateau
            scheduling ("val_loss" by default; "train_..." without validation); mode "min",
            "max" or "auto" (min for losses).
        early_stopping_patience: stop after this many epochs without improvement (None: off);
            ``early_stopping_min_delta``: the least change that counts.
        checkpoint_dir: where ``last.safetensors`` and ``best.safetensors`` go (None: none).
        val_every_n_steps: validate also every n optimizer steps (events only).
        topk: which top-k accuracies to report for classification (k=1 is "accuracy").
        callbacks: ``Callback`` objects or functions ``fn(event)``.
        detect_anomaly: stop on non-finite loss or gradients.
        exit_on_rank_failure: distributed only: an exception on this rank (or a failure notice
            from another) ends every rank with a message naming the failing one, instead of
            propagating (the other ranks could not continue anyway).
    """

    def __init__(self, model: Any, loss_fn: Callable[[Any, Any], Any], optimizer: Any,
                 train_loader: Any, val_loader: Any = None, *, epochs: int = 1,
                 scheduler: Any = None, scheduler_interval: str = "epoch",
                 devices: Sequence[Any] | None = None, distributed: bool = False,
                 sync_batchnorm: bool = False, accumulate_grad_batches: int = 1,
                 clip_grad_norm: float | None = None, clip_grad_value: float | None = None,
                 seed: int | None = None, monitor: str = "val_loss", mode: str = "auto",
                 early_stopping_patience: int | None = None,
                 early_stopping_min_delta: float = 0.0, checkpoint_dir: Any = None,
                 val_every_n_steps: int | None = None, topk: Sequence[int] = (1, 5),
                 callbacks: Sequence[Any] = (), detect_anomaly: bool = True,
                 batch_fn: Callable[[Any], tuple[Any, Any]] | None = None,
                 exit_on_rank_failure: bool = True) -> None:
        if not isinstance(epochs, int) or epochs < 1:
            raise TrainingError(f"epochs must be a positive integer, got {epochs!r}")
        if scheduler_interval == "batch":
            scheduler_interval = "step"
        if scheduler_interval not in ("epoch", "step"):
            raise TrainingError(f"scheduler_interval must be 'epoch' or 'step', got "
                                f"{scheduler_interval!r}")
        if not isinstance(accumulate_grad_batches, int) or accumulate_grad_batches < 1:
            raise TrainingError(f"accumulate_grad_batches must be an integer >= 1, got "
                                f"{accumulate_grad_batches!r}")
        if val_every_n_steps is not None and val_every_n_steps < 1:
            raise TrainingError(f"val_every_n_steps must be >= 1, got {val_every_n_steps}")
        if val_loader is None and monitor.startswith("val_"):
            monitor = "train_" + monitor[4:]
        if mode == "auto":
            mode = "min" if "loss" in monitor else "max"
        if mode not in ("min", "max"):
            raise TrainingError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.epochs = epochs
        self.distributed = distributed
        self.accumulate = accumulate_grad_batches
        self.clip_grad_norm = clip_grad_norm
        self.clip_grad_value = clip_grad_value
        self.seed = seed
        self.monitor, self.mode = monitor, mode
        self.patience = early_stopping_patience
        self.min_delta = float(early_stopping_min_delta)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.val_every = val_every_n_steps
        self.ks = tuple(sorted({1, *(int(k) for k in topk if int(k) >= 1)}))
        self.callbacks = CallbackList(callbacks)
        self.detect_anomaly = detect_anomaly
        self.batch_fn = batch_fn
        self.exit_on_rank_failure = exit_on_rank_failure
        self.net, self.device = _setup.place_model(model, devices, distributed, sync_batchnorm)
        self.rank, self.world = 0, 1
        if distributed:
            from .. import distributed as dist  # noqa: PLC0415

            self.rank, self.world = dist.get_rank(), dist.get_world_size()
            train_loader = _setup.distributed_loader(train_loader, True, seed or 0)
            if val_loader is not None:
                val_loader = _setup.distributed_loader(val_loader, False, 0)
        self.train_loader, self.val_loader = train_loader, val_loader
        self._plateau = type(scheduler).__name__ == "ReduceLROnPlateau"
        # control (set from other threads)
        self._stop_requested = threading.Event()
        self._pause_requested = threading.Event()
        self._wake = threading.Condition()
        self._running = False
        self._reset_progress()

    # ------------------------------------------------------------------ control
    def stop(self) -> None:
        """Stop before the next batch (thread-safe); ``fit`` returns reason "stopped"."""
        self._stop_requested.set()
        with self._wake:
            self._wake.notify_all()

    def pause(self) -> None:
        """Pause before the next batch until ``resume()`` or ``stop()`` (thread-safe)."""
        self._pause_requested.set()

    def resume(self) -> None:
        self._pause_requested.clear()
        with self._wake:
            self._wake.notify_all()

    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def is_paused(self) -> bool:
        return self._pause_requested.is_set() and self._running

    @property
    def is_main_process(self) -> bool:
        """Rank 0 (the only one that writes checkpoints and logs)."""
        return self.rank == 0

    # ------------------------------------------------------------------ state
    def _reset_progress(self) -> None:
        self.epoch = 0  # epochs completed
        self.global_step = 0
        self.history: list[dict[str, float]] = []
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0
        self._batches_done = 0  # batches of the current epoch already applied (resume point)
        self._train_sums = MetricSums(self.ks)
        self._rng_epoch_start: Any = None
        self._resume_point: dict[str, Any] | None = None
        self._last_ckpt: Path | None = None
        self._best_ckpt: Path | None = None

    def _trainer_state(self, point: dict[str, Any]) -> dict[str, Any]:
        return {"epoch": self.epoch, "global_step": point["global_step"],
                "batches_done": point["batches_done"], "best": self.best,
                "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs,
                "history": self.history, "train_sums": point["train_sums"],
                "epochs": self.epochs, "world_size": self.world}

    def state_dict(self, point: dict[str, Any] | None = None) -> dict[str, Any]:
        """The checkpoint dict (see ``checkpoint``); ``point`` is a mid-epoch resume point."""
        if point is None:
            point = {"global_step": self.global_step, "batches_done": 0,
                     "train_sums": MetricSums(self.ks).state_dict(),
                     "random": _setup.capture_random_state(self.train_loader)}
        rng = {"now": point["random"], "epoch_start": self._rng_epoch_start}
        if self.distributed and self.world > 1:
            from .. import distributed as dist  # noqa: PLC0415

            rng = dist.default_group().all_gather_object(rng)  # each rank continues its own
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "trainer": self._trainer_state(point), "rng": rng}

    def load_state_dict(self, ck: dict[str, Any], source: str = "the checkpoint", *,
                        _checked: bool = False) -> None:
        """Continue from a checkpoint dict; CheckpointError (naming ``source``) when it is damaged
        or belongs to another network or run, before anything is changed. (``_checked``: ``ck``
        is ``load_checkpoint``'s result, untouched, so its structure is checked already.)"""
        check_resumable(ck, self, source, _checked=_checked)
        self.model.load_state_dict(ck["model"])
        try:
            self.optimizer.load_state_dict(ck["optimizer"])
        except ValueError as exc:
            raise CheckpointError(f"{source}: its optimizer state does not fit this optimizer "
                                  f"({exc}); use the optimizer it was trained with") from None
        if self.scheduler is not None and ck.get("scheduler") is not None:
            self.scheduler.load_state_dict(ck["scheduler"])
        t = ck["trainer"]
        self.epoch, self.global_step = int(t["epoch"]), int(t["global_step"])
        self._batches_done = int(t["batches_done"])
        self.best, self.best_epoch = t["best"], t["best_epoch"]
        self.bad_epochs = int(t["bad_epochs"])
        self.history = list(t["history"])
        if self._batches_done:  # (an epoch's start resets them)
            self._train_sums.load_state_dict(t["train_sums"])
        rng = ck["rng"]
        if isinstance(rng, list):
            rng = rng[self.rank]
        self._rng_epoch_start = rng["epoch_start"]
        _setup.restore_random_state(rng["now"], self.train_loader)
        self._resume_rng_now = rng["now"]

    # ------------------------------------------------------------------ events
    def _emit(self, kind: EventKind, batch: int = -1, metrics: dict[str, float] | None = None,
              message: str = "", epoch: int | None = None, **data: Any) -> None:
        if not len(self.callbacks):
            return
        at = self.epoch if epoch is None else epoch
        self.callbacks(self, Event(kind, epoch=min(at, self.epochs - 1), epochs=self.epochs,
                                   batch=batch,
                                   batches=self._batches_per_epoch, step=self.global_step,
                                   metrics=metrics or {}, message=message, data=data,
                                   rank=self.rank))

    def _control_point(self) -> None:
        """Where stop and pause take effect: before each batch."""
        if self._stop_requested.is_set() and not self.distributed:
            raise StopTraining("stopped", "training was stopped")
        if self._pause_requested.is_set():
            paused_at = time.perf_counter()
            self._emit(EventKind.PAUSED, message="training paused")
            with self._wake:
                while self._pause_requested.is_set() and not self._stop_requested.is_set():
                    self._wake.wait(0.1)
            self._paused_s += time.perf_counter() - paused_at
            if self._stop_requested.is_set() and not self.distributed:
                raise StopTraining("stopped", "training was stopped while paused")
            self._emit(EventKind.RESUMED, message="training resumed")

    # ------------------------------------------------------------------ fit
    def fit(self, resume_from: Any = None) -> FitResult:
        """Train until ``epochs`` are done, early stopping, ``stop()`` or a NaN; see FitResult.
        ``resume_from``: a checkpoint path; the run continues exactly where it was saved."""
        if self._running:
            raise TrainingError("fit() is already running on this Trainer")
        self._running = True
        self._stop_requested.clear()
        self._t0 = time.perf_counter()
        self._paused_s = 0.0
        self._batches_run = 0
        self._batches_per_epoch = len_or_none(self.train_loader)
        self._resume_rng_now = None
        try:
            if resume_from is not None:
                self._reset_progress()
                self.load_state_dict(load_checkpoint(resume_from, map_location=self.device),
                                     f"the checkpoint {resume_from}", _checked=True)
            else:
                self._reset_progress()
                if self.seed is not None:
                    engine_random.manual_seed(self.seed)
            self._emit(EventKind.FIT_START, message=self._start_message(resume_from))
            result = self._loop()
        except Exception as exc:
            self._emit(EventKind.ERROR, message=f"training failed: {type(exc).__name__}: {exc}")
            if self.distributed and self.world > 1 and self.exit_on_rank_failure:
                # The other ranks cannot go on without this one (their next collective would
                # wait for it): end every rank now, each saying which rank failed and why.
                from .. import distributed as dist  # noqa: PLC0415

                dist.fail_all_ranks(exc)
            raise
        finally:
            self._running = False
            self._pause_requested.clear()
        self._emit(EventKind.FIT_END, metrics=result.metrics, message=result.message,
                   reason=result.reason)
        return result

    def _start_message(self, resume_from: Any) -> str:
        where = f" from {resume_from} (epoch {self.epoch + 1}, step {self.global_step})" \
            if resume_from is not None else ""
        return f"training {self.epochs} epoch(s){where}"

    def _loop(self) -> FitResult:
        reason, message = "completed", f"finished {self.epochs} epoch(s)"
        try:
            while self.epoch < self.epochs:
                self._train_epoch()
                self._end_epoch()
        except StopTraining as s:
            reason, message = s.reason, s.message
            self.optimizer.zero_grad()
            if reason == "stopped":
                self._checkpoint_on_stop()
                self._emit(EventKind.STOPPED, message=message)
        metrics = self.history[-1] if self.history else {}
        return FitResult(reason, message, self.epoch, self.global_step, dict(metrics),
                         list(self.history), self.best, self.best_epoch,
                         str(self._last_ckpt) if self._last_ckpt else None,
                         str(self._best_ckpt) if self._best_ckpt else None)

    # ------------------------------------------------------------------ one epoch
    def _train_epoch(self) -> None:
        loader = self.train_loader
        self.net.train()
        sampler = getattr(loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epoch)
        skip = self._batches_done
        if skip:  # resuming mid-epoch: replay the same order up to where the run was saved
            _setup.restore_random_state(self._rng_epoch_start, loader)
        else:
            self._train_sums.reset()
            self._rng_epoch_start = _setup.capture_random_state(loader)
        it = iter(loader)
        _setup.skip_batches(it, skip)
        if skip:
            _setup.restore_random_state(self._resume_rng_now, loader)
        # Stopped before this epoch's first step: resume from the state before iter(loader)
        # (or, mid-epoch, from the point this run itself resumed from).
        self._resume_point = {"global_step": self.global_step, "batches_done": skip,
                              "train_sums": self._train_sums.state_dict(),
                              "random": self._resume_rng_now if skip else self._rng_epoch_start}
        self._emit(EventKind.EPOCH_START)
        self._epoch_t0 = time.perf_counter()
        self._epoch_samples = 0
        self._pending = 0
        self._unsynced = False
        b = skip
        while True:
            self._control_point()
            try:
                batch = next(it)
            except StopIteration:
                break
            self._train_batch(batch, b)
            b += 1
        if self._pending:  # a partial accumulation window (loaders without a length)
            if self._unsynced:
                self.net.reduce_gradients()  # its last backward ran under no_sync()
            self._optimizer_step(b)

    def _split(self, batch: Any) -> tuple[Any, Any]:
        if self.batch_fn is not None:
            return self.batch_fn(batch)
        if isinstance(batch, tuple | list) and len(batch) >= 2:
            return batch[0], batch[1]
        raise TrainingError(
            f"a batch must be (input, target), got a {type(batch).__name__}"
            f"{' of length ' + str(len(batch)) if isinstance(batch, tuple | list) else ''}; "
            f"pass batch_fn=lambda b: (inputs, target) for other layouts")

    def _forward(self, x: Any) -> Any:
        return self.net(*x) if isinstance(x, tuple) else self.net(x)

    def _train_batch(self, batch: Any, b: int) -> None:
        x, y = self._split(batch)
        if not is_data_parallel(self.net):
            x = _setup.move_to(x, self.device)
        y = _setup.move_to(y, self.device)
        n = _setup.batch_size_of(x)
        last = self._batches_per_epoch is not None and b == self._batches_per_epoch - 1
        sync_now = self._pending + 1 >= self.accumulate or last
        no_sync = getattr(self.net, "no_sync", None)
        ctx = no_sync() if (no_sync is not None and not sync_now) else contextlib.nullcontext()
        with ctx:
            out = self._forward(x)
            loss = self.loss_fn(out, y)
            value = float(loss.item())
            self._check_batch(value, b)
            (loss / self.accumulate if self.accumulate > 1 else loss).backward()
        self._pending += 1
        self._unsynced = no_sync is not None and not sync_now
        batch_metrics = self._train_sums.update(value, n, out.detach() if hasattr(
            out, "detach") else None, y)
        self._epoch_samples += n
        self._batches_run += 1
        if sync_now:
            self._optimizer_step(b + 1)
        self._emit(EventKind.BATCH_END, batch=b, metrics=self._batch_metrics(batch_metrics, b))

    def _check_batch(self, loss_value: float, b: int) -> None:
        """Non-finite loss (and, distributed, every rank's stop request) before backward, so the
        weights stay those of the last good step and every rank decides alike."""
        bad = self.detect_anomaly and not math.isfinite(loss_value)
        stop = self._stop_requested.is_set()
        if self.distributed and self.world > 1:
            from .. import distributed as dist  # noqa: PLC0415

            flags = np.array([float(bad), float(stop)])
            dist.default_group().all_reduce_array(flags, dist.ReduceOp.MAX)
            bad, stop = bool(flags[0]), bool(flags[1])
        if bad:
            msg = (f"the loss became non-finite ({loss_value}) at epoch {self.epoch + 1}, batch "
                   f"{b + 1}; training stopped and the model keeps the weights of step "
                   f"{self.global_step}. Lower the learning rate, clip gradients, or check the "
                   f"data for NaN/inf")
            self._emit(EventKind.NAN_DETECTED, batch=b, message=msg, what="loss",
                       value=loss_value)
            raise StopTraining("nan", msg)
        if stop:
            raise StopTraining("stopped", "training was stopped")

    def _optimizer_step(self, batches_done: int) -> None:
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        if self.clip_grad_norm is not None:
            from ..nn.utils import clip_grad_norm_  # noqa: PLC0415

            clip_grad_norm_(params, self.clip_grad_norm)
        if self.clip_grad_value is not None:
            from ..nn.utils import clip_grad_value_  # noqa: PLC0415

            clip_grad_value_(params, self.clip_grad_value)
        if self.detect_anomaly and not grads_finite(params):
            msg = (f"gradients became non-finite at epoch {self.epoch + 1}, step "
                   f"{self.global_step + 1}; training stopped before the update, so the model "
                   f"keeps the weights of step {self.global_step}. Lower the learning rate or "
                   f"clip gradients (clip_grad_norm=1.0)")
            self._emit(EventKind.NAN_DETECTED, message=msg, what="gradients")
            raise StopTraining("nan", msg)
        self.optimizer.step()
        self.optimizer.zero_grad()
        self.global_step += 1
        self._pending = 0
        if self.scheduler is not None and self.scheduler_interval == "step" and \
                not self._plateau:
            self.scheduler.step()
        self._resume_point = self._make_point(batches_done)
        if self.val_every and self.val_loader is not None and \
                self.global_step % self.val_every == 0:
            self._validate()

    def _make_point(self, batches_done: int) -> dict[str, Any]:
        """What a checkpoint written now (after a whole step) needs to resume mid-epoch."""
        return {"global_step": self.global_step, "batches_done": batches_done,
                "train_sums": self._train_sums.state_dict(),
                "random": _setup.capture_random_state(self.train_loader)}

    def _batch_metrics(self, m: dict[str, float], b: int) -> dict[str, float]:
        now = time.perf_counter()
        active = max(now - self._t0 - self._paused_s, 1e-9)
        epoch_active = max(now - self._epoch_t0, 1e-9)
        m = dict(m)
        m["lr"] = float(self.optimizer.param_groups[0]["lr"])
        m["samples_per_s"] = self._epoch_samples * self.world / epoch_active
        m["elapsed_s"] = now - self._t0
        if self._batches_per_epoch is not None:
            remaining = (self._batches_per_epoch - b - 1) + \
                self._batches_per_epoch * (self.epochs - self.epoch - 1)
            m["eta_s"] = active / max(self._batches_run, 1) * remaining
        return m

    # ------------------------------------------------------------------ epoch end
    def _end_epoch(self) -> None:
        if hasattr(self.net, "average_buffers"):
            self.net.average_buffers()
        sums = self._reduced(self._train_sums)
        metrics = sums.compute("train_")
        if self.val_loader is not None:
            metrics.update(self._validate())
        metrics["lr"] = float(self.optimizer.param_groups[0]["lr"])
        metrics["epoch_time_s"] = time.perf_counter() - self._epoch_t0
        if self.monitor not in metrics:
            raise TrainingError(
                f"monitor={self.monitor!r} is not among this run's metrics "
                f"{sorted(k for k in metrics if not k.endswith('_s'))}; pick one of those")
        value = metrics[self.monitor]
        if self.scheduler is not None:
            if self._plateau:
                self.scheduler.step(value)
            elif self.scheduler_interval == "epoch":
                self.scheduler.step()
        improved = self._is_improvement(value)
        if improved:
            self.best, self.best_epoch, self.bad_epochs = value, self.epoch + 1, 0
        else:
            self.bad_epochs += 1
        self.epoch += 1
        self._batches_done = 0
        metrics["epoch"] = float(self.epoch)
        self.history.append(metrics)
        # Reported before the checkpoints are written, so that callbacks save the weights
        # first: when the (larger) checkpoint then fails (disk full), the epoch's weights exist.
        self._emit(EventKind.EPOCH_END, metrics=metrics, epoch=self.epoch - 1,
                   message=f"epoch {self.epoch}/{self.epochs}: {self.monitor}={value:.6g}")
        self._save_epoch_checkpoints(improved)
        if self.patience is not None and self.bad_epochs >= self.patience:
            msg = (f"early stopping: {self.monitor} has not improved for {self.bad_epochs} "
                   f"epoch(s) (best {self.best:.6g} at epoch {self.best_epoch})")
            self._emit(EventKind.EARLY_STOP, message=msg)
            raise StopTraining("early_stopped", msg)

    def _is_improvement(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def _reduced(self, sums: MetricSums) -> MetricSums:
        if not (self.distributed and self.world > 1):
            return sums
        from .. import distributed as dist  # noqa: PLC0415

        out = MetricSums(sums.ks)
        v = sums.as_vector()
        dist.default_group().all_reduce_array(v)
        out.load_vector(v)
        return out

    def _validate(self) -> dict[str, float]:
        was_training = self.net.training
        self.net.eval()
        sums = MetricSums(self.ks)
        try:
            with no_grad():
                for batch in self.val_loader:
                    self._control_point()
                    x, y = self._split(batch)
                    if not is_data_parallel(self.net):
                        x = _setup.move_to(x, self.device)
                    y = _setup.move_to(y, self.device)
                    out = self._forward(x)
                    loss = self.loss_fn(out, y)
                    sums.update(float(loss.item()), _setup.batch_size_of(x), out, y)
        finally:
            self.net.train(was_training)
        metrics = self._reduced(sums).compute("val_")
        self._emit(EventKind.VALIDATION_END, metrics=metrics)
        return metrics

    # ------------------------------------------------------------------ checkpoints
    def _save(self, name: str, point: dict[str, Any] | None = None) -> Path | None:
        if self.checkpoint_dir is None:
            return None
        state = self.state_dict(point)  # collective when distributed: every rank calls it
        if not self.is_main_process:
            return None
        path = save_checkpoint(state, self.checkpoint_dir / name)
        self._emit(EventKind.CHECKPOINT, message=f"checkpoint saved to {path}", path=str(path),
                   which=name.split(".")[0], epoch=self.epoch - 1 if point is None else None)
        return path

    def _save_epoch_checkpoints(self, improved: bool) -> None:
        if self.checkpoint_dir is None:
            return
        self._last_ckpt = self._save(LAST) or self._last_ckpt
        if improved:
            self._best_ckpt = self._save(BEST) or self._best_ckpt

    def _checkpoint_on_stop(self) -> None:
        """A stopped run saves where its last whole step left it, to resume mid-epoch."""
        if self.checkpoint_dir is None or self._resume_point is None:
            return
        self._last_ckpt = self._save(LAST, self._resume_point) or self._last_ckpt


def fit(model: Any, loss_fn: Callable[[Any, Any], Any], optimizer: Any, train_loader: Any,
        val_loader: Any = None, **kwargs: Any) -> FitResult:
    """One-call form: ``Trainer(model, loss_fn, optimizer, train_loader, val_loader,
    **kwargs).fit(resume_from=kwargs.pop("resume_from", None))``."""
    resume_from = kwargs.pop("resume_from", None)
    return Trainer(model, loss_fn, optimizer, train_loader, val_loader, **kwargs).fit(
        resume_from=resume_from)
