"""Headless training of a project: ``layerforge train`` on the engine's ``Trainer``.

This module only assembles a project into a ``Trainer`` (model, loss, optimizer, schedule,
loaders, the batch function with the project's normalisation, devices) and presents the run on a
terminal; the loop itself (steps, accumulation, clipping, scheduling, validation, early stopping,
NaN detection, checkpoints, exact resume, data parallelism and distributed ranks) is the
Trainer's, shared with the dashboard. What it writes to the output folder:

- ``weights.safetensors``: the weights after the last finished epoch (or the last good step when
  stopped), written atomically, PyTorch state_dict names;
- ``best.safetensors``: the weights with the best monitored metric;
- ``checkpoints/last.safetensors`` (and ``checkpoints/best.safetensors``): the Trainer's
  checkpoints, what ``--resume`` continues from bit for bit;
- ``metrics.jsonl``: one JSON object per epoch, and a last line saying why the run ended.

Ctrl-C asks the Trainer to stop before the next batch (a second Ctrl-C stops at once); a NaN or
infinite loss stops the run before the bad update. Either way the last good weights are kept.
Several devices train with data parallelism; ``distributed`` runs one rank per process under
``mpiexec``, where only rank 0 prints and writes files.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

import engine
import engine.data
import engine.nn
import engine.optim
from engine.export import Normalization, load_weights, save_weights, to_numpy_state
from engine.graph import CompileError, compile_graph, errors
from engine.training import (
    LAST,
    Callback,
    CheckpointError,
    Event,
    EventKind,
    Trainer,
    TrainingError,
    load_checkpoint,
)

from .datasets import build_datasets
from .project import Project

__all__ = ["StopFlag", "TrainOptions", "TrainResult", "TrainingError", "check_devices",
           "sync_batchnorm_for", "train_project"]

LOSS_MODULES = {"cross_entropy": "CrossEntropyLoss", "nll": "NLLLoss", "mse": "MSELoss",
                "l1": "L1Loss", "bce_with_logits": "BCEWithLogitsLoss", "bce": "BCELoss"}
CHECKPOINT_DIR = "checkpoints"
# the Trainer's metric names -> the names of this command's lines and log (kept from before)
_RENAME = {"train_loss": "loss", "train_accuracy": "acc", "val_accuracy": "val_acc",
           "epoch_time_s": "time_s"}
_MONITOR = {"loss": "train_loss", "acc": "train_accuracy", "val_acc": "val_accuracy"}
_REASONS = {"early_stopped": "early_stopping", "completed": "completed", "nan": "nan"}


@dataclass
class TrainOptions:
    """Overrides of the project's training settings (None: keep the project's)."""

    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int | None = None
    devices: list[str] | None = None
    out_dir: Path | None = None
    resume: Path | None = None
    init_weights: Path | None = None  # a state dict (e.g. saved by PyTorch) to fine-tune from
    distributed: bool = False  # one rank per process, started by mpiexec
    progress: bool = True
    record: bool = True
    max_steps_per_epoch: int | None = None  # tests and smoke runs


@dataclass
class TrainResult:
    reason: str  # completed, early_stopping, interrupted, nan
    epochs_completed: int
    out_dir: Path
    weights: Path | None
    metrics: Path
    checkpoint: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


class StopFlag:
    """Cooperative stop: set from a signal handler, another thread or a callback; the run asks
    its Trainer to stop, which happens before the next batch, so the model is never left
    half-updated."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "interrupted"

    def set(self, reason: str = "interrupted") -> None:
        self.reason = reason
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()


# -------------------------------------------------------------------- assembly
@dataclass
class _Setup:
    model: Any
    loss_fn: Any
    optimizer: Any
    scheduler: Any
    interval: str
    train_loader: Any
    val_loader: Any
    batch_fn: Any
    train_size: int
    val_size: int
    devices: list[str]


def sync_batchnorm_for(devices: Sequence[str]) -> bool:
    """Whether BatchNorm takes its statistics over the whole batch (``SyncBatchNorm``): yes for
    CPU replicas, which stand for one CPU made faster, so they must train as one CPU does."""
    return len(devices) > 1 and all(str(d).split(":")[0] == "cpu" for d in devices)


def check_devices(devices: list[str], batch_size: int, distributed: bool = False) -> None:
    """Refuse devices that cannot train, with one line saying why and what to pick instead."""
    if not devices:
        raise TrainingError("--devices: give cpu, cuda:0, or a list like cuda:0,cuda:1")
    for d in devices:
        try:
            engine.device(d)  # an unknown name, no CuPy, or no such GPU: the engine says which
        except ValueError as exc:
            raise TrainingError(f"training.devices: {exc}") from None
    kinds = {d.split(":")[0] for d in devices}
    if len(kinds) > 1:
        raise TrainingError(f"devices {', '.join(devices)} mix the CPU and GPUs; data "
                            "parallelism needs devices of one kind (the slowest would hold "
                            "every step back): choose GPUs only, or the CPU alone")
    if len(devices) > 1 and not distributed and batch_size < len(devices):
        raise TrainingError(f"batch size {batch_size} is smaller than the {len(devices)} "
                            f"devices ({', '.join(devices)}): each device needs at least one "
                            f"sample; raise --batch-size to {len(devices)} or more, or give "
                            "fewer devices")


def trained_output(project: Project) -> Any:
    """The one Output node with a loss, after checking the graph can be trained at all (valid,
    one Input, one trained Output); the CLI and the dashboard both start here."""
    problems = errors(project.validate())
    if problems:
        raise CompileError(problems)
    graph = project.graph
    if len(graph.nodes_of_type("Input")) != 1:
        raise TrainingError("training needs exactly one Input node (the dataset gives one "
                            "tensor per sample)")
    trained = [n for n in graph.nodes_of_type("Output") if n.values()[0]["loss"] != "none"]
    if len(trained) != 1:
        raise TrainingError("training needs exactly one Output with a loss (the dataset gives "
                            "one target per sample); set loss 'none' on the others")
    return trained[0]


def _assemble(project: Project, settings: dict[str, Any], opt_settings: dict[str, Any],
              options: TrainOptions) -> _Setup:
    graph = project.graph
    trained = [trained_output(project)]
    devices = list(settings["devices"])
    batch_size = settings["batch_size"]
    check_devices(devices, batch_size, options.distributed)
    seed = settings["seed"]
    if seed is not None:
        engine.manual_seed(seed)
    model = compile_graph(graph, project.data_spec(), seed=seed)
    if options.init_weights is not None:
        load_weights(model, options.init_weights)  # names and shapes checked, all listed
    loss_name = trained[0].values()[0]["loss"]
    loss_fn = getattr(engine.nn, LOSS_MODULES[loss_name])()
    input_type = model.input_types[0]
    output_type = model.output_types[model.output_names.index(trained[0].name)]

    train_ds, val_ds = build_datasets(project.dataset, project.path.parent if project.path
                                      else None)
    if options.max_steps_per_epoch:
        n = min(len(train_ds), options.max_steps_per_epoch * batch_size)
        train_ds = engine.data.Subset(train_ds, list(range(n)))
    generator = np.random.default_rng(seed) if seed is not None else None
    train_loader = engine.data.DataLoader(train_ds, batch_size=batch_size, shuffle=True,
                                          generator=generator)
    val_loader = None if val_ds is None else engine.data.DataLoader(
        val_ds, batch_size=max(batch_size, 256))
    steps = math.ceil(len(train_loader) / settings.get("grad_accumulation", 1))
    optimizer = build_optimizer(model, opt_settings)
    scheduler, interval = build_scheduler(optimizer, settings["schedule"], settings["epochs"],
                                          steps)
    return _Setup(model, loss_fn, optimizer, scheduler, interval, train_loader, val_loader,
                  make_batch_fn(input_type, output_type, loss_name,
                            project.dataset.get("normalize")),
                  len(train_ds), 0 if val_ds is None else len(val_ds), devices)


def build_optimizer(model: Any, settings: dict[str, Any]) -> Any:
    """The project's ``training.optimizer`` settings as an engine optimizer (CLI and GUI)."""
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in settings.items()
              if k != "name"}
    cls = getattr(engine.optim, settings["name"], None)
    if cls is None:
        raise TrainingError(f"training.optimizer: no optimizer named {settings['name']!r}")
    try:
        return cls(model.parameters(), **kwargs)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"training.optimizer ({settings['name']}): {exc}") from None


def build_scheduler(optimizer: Any, settings: dict[str, Any], epochs: int,
                    steps_per_epoch: int) -> tuple[Any, str]:
    """The scheduler and when it steps ("step" for OneCycleLR, else "epoch"), with defaults
    that fit the run's length for the schedules that need one."""
    name = settings.get("name", "none")
    if name == "none":
        return None, "epoch"
    from engine.optim import lr_scheduler  # noqa: PLC0415

    kwargs = {k: v for k, v in settings.items() if k != "name"}
    if name == "OneCycleLR":
        kwargs.setdefault("max_lr", optimizer.param_groups[0]["lr"])
        kwargs.setdefault("total_steps", epochs * steps_per_epoch)
    elif name == "CosineAnnealingLR":
        kwargs.setdefault("T_max", epochs)
    elif name == "StepLR":
        kwargs.setdefault("step_size", max(epochs // 3, 1))
    elif name == "MultiStepLR":
        kwargs.setdefault("milestones", [max(epochs // 2, 1), max(3 * epochs // 4, 1)])
    elif name == "ExponentialLR":
        kwargs.setdefault("gamma", 0.95)
    cls = getattr(lr_scheduler, name, None)
    if cls is None:
        raise TrainingError(f"training.schedule: no schedule named {name!r}")
    try:
        return cls(optimizer, **kwargs), ("step" if name == "OneCycleLR" else "epoch")
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"training.schedule ({name}): {exc}") from None


def make_batch_fn(input_type: Any, output_type: Any, loss_name: str,
                  normalize: Any = None) -> Any:
    """``(x, y) -> (input, target)`` with the graph's dtypes and the project's normalisation
    (the same rule the exporters write into exported models); the Trainer moves them."""
    norm = Normalization.from_settings(normalize)
    arrays = None
    if norm is not None:
        mean, std = norm.arrays(input_type)
        arrays = (engine.tensor(mean), engine.tensor(std))
    float_input = input_type.dtype == "float32"
    out_shape = tuple(output_type.shape)

    def prepare(batch: Any) -> tuple[Any, Any]:
        x, y = engine.as_tensor(batch[0]), engine.as_tensor(batch[1])
        x = x.float() if float_input else x.long()
        if arrays is not None:
            x = (x - arrays[0]) / arrays[1]
        if loss_name in ("cross_entropy", "nll"):
            y = y.long()
        else:  # float targets shaped like the output (class 0/1 labels for the binary losses)
            y = y.float().reshape(y.shape[0], *out_shape)
        return x, y
    return prepare


# -------------------------------------------------------------------- the run
def train_project(project: Project, options: TrainOptions | None = None,
                  stop: StopFlag | None = None, on_epoch: Any = None) -> TrainResult:
    """Train ``project``'s graph on its dataset; see the module docstring for what is written."""
    options = options or TrainOptions()
    stop = stop or StopFlag()
    settings = dict(project.training)
    for key in ("epochs", "batch_size", "seed", "devices"):
        if getattr(options, key) is not None:
            settings[key] = getattr(options, key)
    opt_settings = dict(settings["optimizer"])
    if options.lr is not None:
        opt_settings["lr"] = options.lr
    group = _process_group() if options.distributed else None
    try:
        _check_resume(options.resume, group.size if group is not None else 1)
        s = _assemble(project, settings, opt_settings, options)
        error = None
    except Exception as exc:  # noqa: BLE001 - every rank must hear of it; see _agree_to_start
        error = exc
    _agree_to_start(group, error)

    out_dir = Path(options.out_dir) if options.out_dir else _default_out(project)
    es = settings["early_stopping"]
    monitor = es.get("monitor", "val_loss")
    trainer = Trainer(
        s.model, s.loss_fn, s.optimizer, s.train_loader, s.val_loader,
        epochs=int(settings["epochs"]), scheduler=s.scheduler, scheduler_interval=s.interval,
        devices=s.devices, distributed=options.distributed,
        sync_batchnorm=sync_batchnorm_for(s.devices) and not options.distributed,
        accumulate_grad_batches=int(settings.get("grad_accumulation", 1)),
        clip_grad_norm=settings.get("grad_clip") or None, seed=settings["seed"],
        monitor=_MONITOR.get(monitor, monitor),
        early_stopping_patience=int(es.get("patience", 5)) if es.get("enabled") else None,
        checkpoint_dir=out_dir / CHECKPOINT_DIR, batch_fn=s.batch_fn, topk=(1,))
    main = trainer.is_main_process
    paths = {k: out_dir / f for k, f in (("weights", "weights.safetensors"),
                                         ("best", "best.safetensors"),
                                         ("metrics", "metrics.jsonl"))}
    view = _Presenter(trainer, stop, paths, options.progress and main, main, on_epoch)
    trainer.callbacks.append(view)
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        n_params = sum(p.numel() for p in s.model.parameters())
        where = (f"{trainer.world} ranks" if options.distributed
                 else ", ".join(s.devices))
        print(f"training {project.name!r}: {s.train_size} training / {s.val_size} validation "
              f"samples, {n_params:,} parameters, on {where}; writing to {out_dir}", flush=True)

    restore_sigint = _install_sigint(stop, main)
    reason, message = "completed", ""
    try:
        fit = trainer.fit(resume_from=options.resume)
        reason = stop.reason if fit.reason == "stopped" else _REASONS[fit.reason]
        message = "" if fit.reason == "completed" else fit.message
    except KeyboardInterrupt:
        reason = "interrupted"
        message = "stopped at once (second Ctrl-C); the weights of the last finished epoch kept"
    finally:
        restore_sigint()
        view.close_bar()
    if main and reason in ("interrupted", "nan") and not message.startswith("stopped at once"):
        kept = _save_if_finite(s.model, paths["weights"])
        message = message or "stopped by the user"
        message += ("; the weights after the last good step were saved" if kept
                    else "; no weights were saved")
    checkpoint = out_dir / CHECKPOINT_DIR / LAST
    result = TrainResult(reason, trainer.epoch, out_dir,
                         paths["weights"] if paths["weights"].exists() else None,
                         paths["metrics"], checkpoint if checkpoint.exists() else None,
                         view.history, message)
    if not main:
        return result
    with paths["metrics"].open("a", encoding="utf-8") as log:
        log.write(json.dumps({"event": "end", "reason": reason, "message": message,
                              "epochs_completed": len(view.history)}) + "\n")
    _report_end(result)
    if options.record and project.path is not None and result.weights is not None:
        project.add_run({"id": out_dir.name, "created": datetime.now().isoformat(
            timespec="seconds"), "weights": result.weights, "metrics": result.metrics,
            "checkpoint": result.checkpoint, "epochs": trainer.epoch, "reason": reason,
            "final": view.history[-1] if view.history else {}})
        project.save()
    return result


def _process_group() -> Any:
    """The ranks started by mpiexec (joined here, before the model is built, so that a rank
    that cannot start is known to every rank); the Trainer reuses this group."""
    from engine import distributed as dist  # noqa: PLC0415

    if not dist.is_initialized():
        dist.init_process_group("mpi")
    return dist.default_group()


def _agree_to_start(group: Any, error: Exception | None) -> None:
    """Raise ``error`` so that one line reaches the user, whichever rank it happened on: rank 0
    raises it (or one naming the failing rank); the other ranks end quietly (exit status 1),
    or with their traceback when the error is a bug. Without distribution: just raise it."""
    if group is None or group.size == 1:
        if error is not None:
            raise error
        return
    reports = group.all_gather_object(None if error is None else str(error))
    failed = [(rank, text) for rank, text in enumerate(reports) if text is not None]
    if not failed:
        return
    if group.rank == 0:
        if error is not None:
            raise error
        rank, text = failed[0]
        raise TrainingError(f"rank {rank} of {group.size} could not start: {text}")
    if error is not None and not isinstance(error, engine.EngineError | OSError | ValueError):
        raise error
    raise SystemExit(1)


def _check_resume(path: Path | None, world: int) -> None:
    """Refuse a ``--resume`` file that cannot continue this run, before anything is built."""
    if path is None:
        return
    if not Path(path).is_file():
        raise TrainingError(f"--resume: no checkpoint at {path}")
    try:
        trainer_state = load_checkpoint(path)["trainer"]
    except CheckpointError as exc:
        raise TrainingError(f"--resume: {exc}; to start from plain weights use "
                            "--init-weights") from None
    ranks = int(trainer_state.get("world_size", 1))
    if ranks != world:
        raise TrainingError(f"--resume: {path} was written by a run of {ranks} rank(s) but "
                            f"this run has {world}; resume with the same number of processes")


class _Presenter(Callback):
    """The terminal side of a run: a tqdm bar per epoch, one metrics line per epoch, the
    ``metrics.jsonl`` log and the weights files (rank 0 only), and the stop flag passed on."""

    def __init__(self, trainer: Trainer, stop: StopFlag, paths: dict[str, Path],
                 progress: bool, main: bool, on_epoch: Any) -> None:
        self.trainer, self.stop, self.paths = trainer, stop, paths
        self.progress, self.main, self.on_epoch = progress, main, on_epoch
        self.history: list[dict[str, Any]] = []
        self.bar: Any = None
        self.samples_per_s = 0.0

    def on_event(self, trainer: Any, event: Event) -> None:
        super().on_event(trainer, event)
        if self.stop and event.kind in (EventKind.BATCH_END, EventKind.EPOCH_END):
            trainer.stop()  # after the current batch: the Trainer stops before the next one

    def on_epoch_start(self, trainer: Any, event: Event) -> None:
        self.samples_per_s = 0.0
        if self.progress:
            from tqdm import tqdm  # noqa: PLC0415

            # disable=None: no bar when stderr is not a terminal (logs, CI), only the lines
            self.bar = tqdm(total=event.batches, desc=f"epoch {event.epoch + 1}/{event.epochs}",
                            unit="batch", leave=False, file=sys.stderr, dynamic_ncols=True,
                            disable=None)

    def on_batch_end(self, trainer: Any, event: Event) -> None:
        self.samples_per_s = event.metrics.get("samples_per_s", 0.0)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{event.metrics['loss']:.4f}", refresh=False)

    def on_epoch_end(self, trainer: Any, event: Event) -> None:
        self.close_bar()
        metrics: dict[str, Any] = {"epoch": event.epoch + 1}
        for key, value in event.metrics.items():
            if key != "epoch":
                metrics[_RENAME.get(key, key)] = value
        metrics["samples_per_s"] = self.samples_per_s
        self.history.append(metrics)
        if self.main:
            state = trainer.model.state_dict()
            save_weights(state, self.paths["weights"])
            if trainer.best_epoch == trainer.epoch:  # this epoch improved the monitored metric
                save_weights(state, self.paths["best"])
            with self.paths["metrics"].open("a", encoding="utf-8") as log:
                log.write(json.dumps(metrics) + "\n")
            _print_line(metrics, event.epochs)
        if self.on_epoch is not None:
            self.on_epoch(metrics)

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _save_if_finite(model: Any, path: Path) -> bool:
    """Save the current weights if every value is finite; otherwise keep the file of the last
    finished epoch. Returns whether a weights file exists."""
    state = to_numpy_state(model.state_dict())
    if all(np.isfinite(v).all() for v in state.values() if v.dtype.kind == "f"):
        save_weights(state, path)
        return True
    return path.exists()


def _install_sigint(stop: StopFlag, main: bool) -> Any:
    """First Ctrl-C: stop before the next batch. Second: the usual KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        if stop:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        stop.set("interrupted")
        if main:
            print("\nstopping after this batch (Ctrl-C again to stop at once)", file=sys.stderr)

    signal.signal(signal.SIGINT, handler)
    return lambda: signal.signal(signal.SIGINT, previous)


def _print_line(m: dict[str, Any], epochs: int) -> None:
    parts = [f"epoch {m['epoch']}/{epochs}", f"loss {m['loss']:.4f}"]
    for key in ("acc", "val_loss", "val_acc"):
        if key in m:
            parts.append(f"{key} {m[key]:.4f}")
    parts += [f"lr {m['lr']:.3g}", f"{m['samples_per_s']:.0f} samples/s", f"{m['time_s']:.1f}s"]
    print("  ".join(parts), flush=True)


def _report_end(result: TrainResult) -> None:
    where = f"weights in {result.weights}" if result.weights else "no weights written"
    text = {"completed": "training finished", "early_stopping": "early stopping",
            "interrupted": "interrupted", "nan": "stopped: non-finite loss"}[result.reason]
    line = f"{text}" + (f": {result.message}" if result.message else "") + f"; {where}"
    print(line, file=sys.stderr if result.reason in ("interrupted", "nan") else sys.stdout,
          flush=True)


def _default_out(project: Project) -> Path:
    base = project.path.parent if project.path is not None else Path.cwd()
    return base / "runs" / datetime.now().strftime("%Y%m%d-%H%M%S")
