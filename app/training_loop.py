"""Headless training of a project: the loop behind ``layerforge train``.

A small, plain loop kept in its own module so the engine's ``Trainer`` (the training-loop issue)
can replace it: datasets and loaders from the project's settings, the optimizer and schedule it
names, a tqdm progress bar per epoch and one metrics line per epoch, and in the output folder:

- ``weights.safetensors``: the weights after the last finished epoch (or the last good step when
  stopped), written atomically, PyTorch state_dict names;
- ``best.safetensors``: the weights with the best monitored metric;
- ``checkpoint.safetensors``: model, optimizer, scheduler, epoch and RNG state for ``--resume``;
- ``metrics.jsonl``: one JSON object per epoch, and a last line saying why the run ended.

Ctrl-C asks the loop to stop after the current batch (a second Ctrl-C stops at once); a NaN or
infinite loss stops the run. Either way the last good weights are kept.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

import engine
import engine.data
import engine.nn
import engine.nn.utils
import engine.optim
from engine.export import Normalization, load_weights, save_weights
from engine.graph import CompileError, compile_graph, errors

from .datasets import build_datasets
from .project import Project

LOSS_MODULES = {"cross_entropy": "CrossEntropyLoss", "nll": "NLLLoss", "mse": "MSELoss",
                "l1": "L1Loss", "bce_with_logits": "BCEWithLogitsLoss", "bce": "BCELoss"}


class TrainingError(engine.EngineError):
    """Training cannot start or go on; the message says why and what to change."""


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
    """Cooperative stop: set from a signal handler, another thread or a callback; the loop checks
    it after every batch, so the model is never left half-updated."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "interrupted"

    def set(self, reason: str = "interrupted") -> None:
        self.reason = reason
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()


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
    devices = settings["devices"]
    if len(devices) != 1:
        raise TrainingError(f"training on several devices ({', '.join(devices)}) needs the "
                            "engine's data parallelism, which this build's command line does "
                            "not use yet; give one device, e.g. --devices cuda:0")
    try:
        device = engine.device(devices[0])
    except ValueError as exc:
        raise TrainingError(f"training.devices: {exc}") from None

    seed = settings["seed"]
    if seed is not None:
        engine.manual_seed(seed)
    model = compile_graph(graph, project.data_spec(), seed=seed)
    if options.init_weights is not None:
        load_weights(model, options.init_weights)  # names and shapes checked, all listed
    model = model.to(device)
    loss_name = trained[0].values()[0]["loss"]
    criterion = getattr(engine.nn, LOSS_MODULES[loss_name])()
    input_type = model.input_types[0]
    output_type = model.output_types[model.output_names.index(trained[0].name)]
    norm = Normalization.from_settings(project.dataset.get("normalize"))
    norm_arrays = None
    if norm is not None:
        mean, std = norm.arrays(input_type)
        norm_arrays = (engine.tensor(mean, device=device), engine.tensor(std, device=device))

    train_ds, val_ds = build_datasets(project.dataset, project.path.parent if project.path
                                      else None)
    batch_size = settings["batch_size"]
    steps_per_epoch = math.ceil(len(train_ds) / batch_size)
    if options.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, options.max_steps_per_epoch)
    optimizer = _optimizer(model, opt_settings)
    scheduler = _scheduler(optimizer, settings["schedule"], settings["epochs"], steps_per_epoch)

    out_dir = Path(options.out_dir) if options.out_dir else _default_out(project)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {k: out_dir / f for k, f in (("weights", "weights.safetensors"),
                                         ("best", "best.safetensors"),
                                         ("checkpoint", "checkpoint.safetensors"),
                                         ("metrics", "metrics.jsonl"))}
    start_epoch, best = 1, None
    if options.resume is not None:
        start_epoch, best = _resume(options.resume, model, optimizer, scheduler)

    es = settings["early_stopping"]
    monitor = es.get("monitor", "val_loss") if val_ds is not None else "loss"
    maximize = "acc" in monitor
    epochs = settings["epochs"]
    accum = settings.get("grad_accumulation", 1)
    clip = settings.get("grad_clip")
    history: list[dict[str, Any]] = []
    reason, message, bad_epochs, weights_written = "completed", "", 0, False
    step_batches = _batch_fn(input_type, output_type, loss_name, device, norm_arrays)
    classify = loss_name in ("cross_entropy", "nll", "bce_with_logits", "bce")

    n_params = sum(p.numel() for p in model.parameters())
    print(f"training {project.name!r}: {len(train_ds)} training / "
          f"{len(val_ds) if val_ds is not None else 0} validation samples, {n_params:,} "
          f"parameters, on {device}; writing to {out_dir}", flush=True)
    log = paths["metrics"].open("a", encoding="utf-8")
    restore_sigint = _install_sigint(stop)
    try:
        for epoch in range(start_epoch, epochs + 1):
            t0 = time.perf_counter()
            model.train()
            loader = engine.data.DataLoader(train_ds, batch_size=batch_size, shuffle=True,
                                            generator=np.random.default_rng([seed or 0, epoch]))
            bar = _progress(options.progress, steps_per_epoch, f"epoch {epoch}/{epochs}")
            total_loss, correct, seen, step = 0.0, 0, 0, 0
            optimizer.zero_grad()
            for x, y in loader:
                if step >= steps_per_epoch:
                    break
                x, y = step_batches(x, y)
                out = model(x)
                loss = criterion(out, y)
                value = float(loss.item())
                if not math.isfinite(value):
                    reason = "nan"
                    message = (f"the loss became {value} at epoch {epoch}, step {step + 1}; "
                               "try a smaller learning rate")
                    break
                (loss / accum if accum > 1 else loss).backward()
                step += 1
                if step % accum == 0 or step == steps_per_epoch:
                    if clip:
                        engine.nn.utils.clip_grad_norm_(model.parameters(), clip)
                    optimizer.step()
                    optimizer.zero_grad()
                    if scheduler is not None and scheduler[1] == "step":
                        scheduler[0].step()
                n = int(x.shape[0])
                seen += n
                total_loss += value * n
                if classify:
                    correct += _correct(out, y, loss_name)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{value:.4f}", refresh=False)
                if stop:
                    reason = stop.reason
                    break
            if bar is not None:
                bar.close()
            if reason != "completed":
                break
            metrics: dict[str, Any] = {"epoch": epoch, "loss": total_loss / max(seen, 1)}
            if classify:
                metrics["acc"] = correct / max(seen, 1)
            if val_ds is not None:
                metrics.update(_evaluate(model, criterion, val_ds, batch_size, step_batches,
                                         loss_name, classify))
            metrics["lr"] = optimizer.param_groups[0]["lr"]
            elapsed = time.perf_counter() - t0
            metrics["samples_per_s"] = seen / elapsed if elapsed > 0 else 0.0
            metrics["time_s"] = elapsed
            if scheduler is not None and scheduler[1] == "epoch":
                sched = scheduler[0]
                if type(sched).__name__ == "ReduceLROnPlateau":
                    sched.step(metrics.get("val_loss", metrics["loss"]))
                else:
                    sched.step()
            value = metrics.get(monitor)
            improved = value is not None and (best is None or (value > best if maximize
                                                                else value < best))
            save_weights(model.state_dict(), paths["weights"])
            weights_written = True
            if improved:
                best, bad_epochs = value, 0
                save_weights(model.state_dict(), paths["best"])
            else:
                bad_epochs += 1
            _checkpoint(paths["checkpoint"], model, optimizer, scheduler, epoch, best)
            history.append(metrics)
            log.write(json.dumps(metrics) + "\n")
            log.flush()
            _print_line(metrics, epochs, options.progress)
            if on_epoch is not None:
                on_epoch(metrics)
            if es.get("enabled") and bad_epochs >= es.get("patience", 5):
                reason = "early_stopping"
                message = f"{monitor} did not improve for {bad_epochs} epochs"
                break
            if stop:
                reason = stop.reason
                break
    except KeyboardInterrupt:
        reason = "interrupted"
        message = "stopped at once (second Ctrl-C); the weights of the last finished epoch kept"
    finally:
        restore_sigint()
    if reason in ("interrupted", "nan") and not message.startswith("stopped at once"):
        weights_written = _keep_last_good(model, paths["weights"], weights_written)
        message = message or "stopped by the user"
        message += ("; the weights after the last good step were saved" if weights_written
                    else "; no weights were saved")
    log.write(json.dumps({"event": "end", "reason": reason, "message": message,
                          "epochs_completed": len(history)}) + "\n")
    log.close()
    result = TrainResult(reason, len(history), out_dir,
                         paths["weights"] if paths["weights"].exists() else None,
                         paths["metrics"],
                         paths["checkpoint"] if paths["checkpoint"].exists() else None,
                         history, message)
    _report_end(result, options.progress)
    if options.record and project.path is not None and result.weights is not None:
        project.add_run({"id": out_dir.name, "created": datetime.now().isoformat(
            timespec="seconds"), "weights": result.weights, "metrics": result.metrics,
            "checkpoint": result.checkpoint, "epochs": len(history), "reason": reason,
            "final": history[-1] if history else {}})
        project.save()
    return result


# -------------------------------------------------------------------- pieces
def _optimizer(model: Any, settings: dict[str, Any]) -> Any:
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in settings.items()
              if k != "name"}
    cls = getattr(engine.optim, settings["name"])
    try:
        return cls(model.parameters(), **kwargs)
    except TypeError as exc:
        raise TrainingError(f"training.optimizer: {exc}") from None


def _scheduler(optimizer: Any, settings: dict[str, Any], epochs: int,
               steps_per_epoch: int) -> tuple[Any, str] | None:
    """The scheduler and when it steps (``epoch``, or ``step`` for OneCycleLR)."""
    name = settings.get("name", "none")
    if name == "none":
        return None
    from engine.optim import lr_scheduler  # noqa: PLC0415

    kwargs = {k: v for k, v in settings.items() if k != "name"}
    if name == "OneCycleLR":
        kwargs.setdefault("max_lr", optimizer.param_groups[0]["lr"])
        kwargs.setdefault("total_steps", epochs * steps_per_epoch)
    if name == "CosineAnnealingLR":
        kwargs.setdefault("T_max", epochs)
    try:
        return getattr(lr_scheduler, name)(optimizer, **kwargs), (
            "step" if name == "OneCycleLR" else "epoch")
    except TypeError as exc:
        raise TrainingError(f"training.schedule: {exc}") from None


def _batch_fn(input_type: Any, output_type: Any, loss_name: str, device: Any,
              norm: tuple[Any, Any] | None) -> Any:
    def prepare(x: Any, y: Any) -> tuple[Any, Any]:
        x = engine.as_tensor(x)
        if input_type.dtype == "float32":
            x = x.float()
        else:
            x = x.long()
        x = x.to(device)
        if norm is not None:
            x = (x - norm[0]) / norm[1]
        y = engine.as_tensor(y).to(device)
        if loss_name in ("cross_entropy", "nll"):
            y = y.long()
        else:  # float targets shaped like the output (class 0/1 labels for the binary losses)
            y = y.float().reshape(y.shape[0], *output_type.shape)
        return x, y
    return prepare


def _correct(out: Any, y: Any, loss_name: str) -> int:
    if loss_name in ("cross_entropy", "nll"):
        return int((out.argmax(dim=1) == y).sum().item())
    threshold = 0.0 if loss_name == "bce_with_logits" else 0.5
    return int(((out > threshold).float() == y).sum().item())


def _evaluate(model: Any, criterion: Any, dataset: Any, batch_size: int, prepare: Any,
              loss_name: str, classify: bool) -> dict[str, float]:
    model.eval()
    total, correct, seen = 0.0, 0, 0
    with engine.no_grad():
        for x, y in engine.data.DataLoader(dataset, batch_size=batch_size):
            x, y = prepare(x, y)
            out = model(x)
            n = int(x.shape[0])
            total += float(criterion(out, y).item()) * n
            seen += n
            if classify:
                correct += _correct(out, y, loss_name)
    metrics = {"val_loss": total / max(seen, 1)}
    if classify:
        metrics["val_acc"] = correct / max(seen, 1)
    return metrics


def _checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any, epoch: int,
                best: Any) -> None:
    engine.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler[0].state_dict() if scheduler else None,
                 "epoch": epoch, "best": best, "rng": engine.get_rng_state()}, path)


def _resume(path: Path, model: Any, optimizer: Any, scheduler: Any) -> tuple[int, Any]:
    if not Path(path).is_file():
        raise TrainingError(f"--resume: no checkpoint at {path}")
    try:
        ckpt = engine.load(path)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None and ckpt.get("scheduler") is not None:
            scheduler[0].load_state_dict(ckpt["scheduler"])
        engine.set_rng_state(ckpt["rng"])
        return int(ckpt["epoch"]) + 1, ckpt.get("best")
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise TrainingError(f"--resume: {path} is not a checkpoint of this project's graph "
                            f"({exc})") from None


def _keep_last_good(model: Any, path: Path, already: bool) -> bool:
    """Save the current weights if every value is finite; otherwise keep the file of the last
    finished epoch. Returns whether a weights file exists."""
    state = model.state_dict()
    if all(bool(np.isfinite(v.detach().cpu().numpy()).all()) for v in state.values()):
        save_weights(state, path)
        return True
    return already


def _install_sigint(stop: StopFlag) -> Any:
    """First Ctrl-C: stop after this batch. Second: the usual KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        if stop:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        stop.set("interrupted")
        print("\nstopping after this batch (Ctrl-C again to stop at once)", file=sys.stderr)

    signal.signal(signal.SIGINT, handler)
    return lambda: signal.signal(signal.SIGINT, previous)


def _progress(enabled: bool, total: int, desc: str) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm  # noqa: PLC0415

    # disable=None: no bar when stderr is not a terminal (logs, CI), only the epoch lines
    return tqdm(total=total, desc=desc, unit="batch", leave=False, file=sys.stderr,
                dynamic_ncols=True, disable=None)


def _print_line(m: dict[str, Any], epochs: int, progress: bool) -> None:
    parts = [f"epoch {m['epoch']}/{epochs}", f"loss {m['loss']:.4f}"]
    for key in ("acc", "val_loss", "val_acc"):
        if key in m:
            parts.append(f"{key} {m[key]:.4f}")
    parts += [f"lr {m['lr']:.3g}", f"{m['samples_per_s']:.0f} samples/s", f"{m['time_s']:.1f}s"]
    print("  ".join(parts), flush=True)


def _report_end(result: TrainResult, progress: bool) -> None:
    where = f"weights in {result.weights}" if result.weights else "no weights written"
    text = {"completed": "training finished", "early_stopping": "early stopping",
            "interrupted": "interrupted", "nan": "stopped: non-finite loss"}[result.reason]
    line = f"{text}" + (f": {result.message}" if result.message else "") + f"; {where}"
    print(line, file=sys.stderr if result.reason in ("interrupted", "nan") else sys.stdout,
          flush=True)


def _default_out(project: Project) -> Path:
    base = project.path.parent if project.path is not None else Path.cwd()
    return base / "runs" / datetime.now().strftime("%Y%m%d-%H%M%S")
