"""One training run of a project, assembled from a snapshot of it: no Qt here.

Why a snapshot: the dashboard trains a compiled *copy* of the graph, taken when Start is pressed,
so the editor stays fully usable during training and the run's weights always belong to the
graph they were trained on (saved next to them as ``project.json``). Everything slow (loading a
dataset, compiling, training) runs on the worker thread from this snapshot.

A run folder holds::

    weights.safetensors    the weights after the last finished step (PyTorch state_dict names)
    project.json           the project as it was when the run started (graph + settings)
    history.npz            per-step loss and learning rate
    epochs.json            per-epoch metrics, the best epoch
    checkpoints/           the Trainer's last.safetensors and best.safetensors (resumable)
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from app.project import Project, dumps

from .errors import TrainingSetupError

LOSS_MODULES = {"cross_entropy": "CrossEntropyLoss", "nll": "NLLLoss", "mse": "MSELoss",
                "l1": "L1Loss", "bce_with_logits": "BCEWithLogitsLoss", "bce": "BCELoss"}
CLASSIFICATION_LOSSES = ("cross_entropy", "nll")
WEIGHTS_FILE = "weights.safetensors"
PROJECT_FILE = "project.json"
CHECKPOINT_DIR = "checkpoints"


@dataclass
class TrainingJob:
    """Everything ``Trainer`` needs, built from a project snapshot (see ``build_job``)."""

    project: Project
    model: Any
    loss_fn: Any
    loss_name: str
    optimizer: Any
    scheduler: Any
    scheduler_interval: str
    train_set: Any
    val_set: Any
    train_loader: Any
    val_loader: Any
    batch_fn: Any
    devices: list[str]
    epochs: int
    seed: int | None
    accumulate: int
    clip: float | None
    patience: int | None
    monitor: str
    run_dir: Path
    class_names: list[str] | None = None
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def is_classification(self) -> bool:
        return self.loss_name in CLASSIFICATION_LOSSES

    def make_trainer(self, callbacks: Sequence[Any] = ()) -> Any:
        from app.training_loop import sync_batchnorm_for  # noqa: PLC0415
        from engine.training import Trainer  # noqa: PLC0415

        kwargs = {"sync_batchnorm": sync_batchnorm_for(self.devices), **self.trainer_kwargs}
        return Trainer(self.model, self.loss_fn, self.optimizer, self.train_loader,
                       self.val_loader, epochs=self.epochs, scheduler=self.scheduler,
                       scheduler_interval=self.scheduler_interval, devices=self.devices,
                       accumulate_grad_batches=self.accumulate, clip_grad_norm=self.clip,
                       seed=self.seed, monitor=self.monitor,
                       early_stopping_patience=self.patience,
                       checkpoint_dir=self.run_dir / CHECKPOINT_DIR, callbacks=list(callbacks),
                       batch_fn=self.batch_fn, topk=(1,), **kwargs)


# ---------------------------------------------------------------------- run folders
def runs_root(project: Project) -> Path:
    """``runs/`` next to the project file, or a temporary folder for an unsaved project."""
    if project.path is not None:
        return Path(project.path).parent / "runs"
    return Path(tempfile.gettempdir()) / "layerforge-runs"


def new_run_dir(root: Path) -> Path:
    """A fresh ``root/<date-time>`` folder (a suffix keeps two runs in one second apart)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1000):
        p = root / (stamp if i == 0 else f"{stamp}-{i}")
        try:
            p.mkdir()
            return p
        except FileExistsError:
            continue
    raise TrainingSetupError(f"cannot create a run folder in {root}: too many runs this second")


# ---------------------------------------------------------------------- building
def check_devices(devices: Sequence[str], batch_size: int) -> str | None:
    """Why these devices cannot train (None when they can): the reason the training panel shows
    and the job refuses with."""
    if not devices:
        return "choose at least one device (CPU or a GPU)"
    if len(devices) > 1 and batch_size < len(devices):
        return (f"batch size {batch_size} is smaller than the {len(devices)} devices chosen: "
                f"each device needs at least one sample; raise the batch size to "
                f"{len(devices)} or more, or choose fewer devices")
    import engine  # noqa: PLC0415

    if any(d.startswith("cuda") for d in devices):
        reason = engine.cuda.unavailable_reason()
        if reason:
            return reason
        count = engine.cuda.device_count()
        if count == 0:
            return "no GPU was found on this machine; train on the CPU"
        for d in devices:
            if d.startswith("cuda:") and int(d.split(":")[1]) >= count:
                return f"{d} does not exist: this machine has {count} GPU(s)"
    cpu = [d for d in devices if d == "cpu"]
    if cpu and len(cpu) != len(devices):
        return ("the CPU cannot be combined with GPUs in one data-parallel run (the slowest "
                "device would hold every step back); choose GPUs only, or the CPU alone")
    return None


def _optimizer(model: Any, settings: dict[str, Any]) -> Any:
    from app.training_loop import TrainingError, build_optimizer  # noqa: PLC0415

    try:
        return build_optimizer(model, settings)
    except TrainingError as exc:
        raise TrainingSetupError(str(exc)) from None


def _scheduler(optimizer: Any, settings: dict[str, Any], epochs: int,
               steps_per_epoch: int) -> tuple[Any, str]:
    """The scheduler and when it steps (shared with the command line's ``build_scheduler``)."""
    from app.training_loop import TrainingError, build_scheduler  # noqa: PLC0415

    try:
        return build_scheduler(optimizer, settings, epochs, steps_per_epoch)
    except TrainingError as exc:
        raise TrainingSetupError(str(exc)) from None


def build_job(snapshot: dict[str, Any], project_path: str | Path | None, run_dir: Path,
              max_batches: int | None = None) -> TrainingJob:
    """Build the run of ``snapshot`` (a ``Project.to_dict()``): datasets, compiled model,
    optimizer, schedule and loaders. Raises ``CompileError`` for graph problems,
    ``engine.data`` errors for data problems and ``TrainingSetupError`` for settings.

    ``max_batches`` caps the batches per epoch (quick smoke runs and tests)."""
    import engine  # noqa: PLC0415
    import engine.nn  # noqa: PLC0415
    from app.training_loop import (  # noqa: PLC0415 - engine loads only when a run starts
        TrainingError,
        make_batch_fn,
        trained_output,
    )
    from engine.data import DataLoader, Subset  # noqa: PLC0415
    from engine.graph import compile_graph  # noqa: PLC0415

    from ..datasets import build_datasets  # noqa: PLC0415

    project = Project.from_dict(copy.deepcopy(snapshot), project_path)
    try:
        outputs = [trained_output(project)]
    except TrainingError as exc:
        raise TrainingSetupError(str(exc)) from None
    graph = project.graph
    t = project.training
    devices = list(t["devices"])
    reason = check_devices(devices, t["batch_size"])
    if reason:
        raise TrainingSetupError(reason)
    seed = t.get("seed")
    model = compile_graph(graph, project.data_spec(), seed=seed)
    loss_name = outputs[0].values()[0]["loss"]
    if loss_name not in LOSS_MODULES:
        raise TrainingSetupError(f"the Output's loss {loss_name!r} cannot be trained; choose "
                                 f"one of {', '.join(LOSS_MODULES)}")
    loss_fn = getattr(engine.nn, LOSS_MODULES[loss_name])()
    input_type = model.input_types[0]
    output_type = model.output_types[model.output_names.index(outputs[0].name)]

    base = Path(project_path).parent if project_path else None
    train_set, val_set = build_datasets(project.dataset, base)
    if max_batches:
        n = min(len(train_set), max_batches * t["batch_size"])
        train_set = Subset(train_set, list(range(n)))
    batch_size = t["batch_size"]
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=max(batch_size, 256)) if val_set is not None \
        else None
    steps = math.ceil(len(train_loader) / t.get("grad_accumulation", 1))
    optimizer = _optimizer(model, t["optimizer"])
    scheduler, interval = _scheduler(optimizer, t["schedule"], t["epochs"], steps)
    es = t["early_stopping"]
    monitor = es.get("monitor", "val_loss")
    if val_set is None and monitor.startswith("val_"):
        monitor = "train_" + monitor[4:]
    monitor = monitor.replace("_acc", "_accuracy") if monitor.endswith("_acc") else monitor
    return TrainingJob(
        project=project, model=model, loss_fn=loss_fn, loss_name=loss_name,
        optimizer=optimizer, scheduler=scheduler, scheduler_interval=interval,
        train_set=train_set, val_set=val_set, train_loader=train_loader, val_loader=val_loader,
        batch_fn=make_batch_fn(input_type, output_type, loss_name,
                               project.dataset.get("normalize")),
        devices=devices, epochs=int(t["epochs"]), seed=seed,
        accumulate=int(t.get("grad_accumulation", 1)), clip=t.get("grad_clip"),
        patience=int(es["patience"]) if es.get("enabled") else None, monitor=monitor,
        run_dir=run_dir, class_names=class_names_of(train_set))


def class_names_of(dataset: Any) -> list[str] | None:
    """The dataset's class names (``classes``), looking through Subsets."""
    seen = 0
    while dataset is not None and seen < 8:
        names = getattr(dataset, "classes", None)
        if names:
            return [str(c) for c in names]
        dataset = getattr(dataset, "dataset", None)
        seen += 1
    return None


# ---------------------------------------------------------------------- saving
def save_weights_if_finite(model: Any, path: Path) -> bool:
    """Write the model's weights unless a value is NaN/inf (then the file of an earlier step,
    if any, is kept). Returns whether ``path`` exists afterwards."""
    from engine.export import save_weights, to_numpy_state  # noqa: PLC0415

    state = to_numpy_state(model.state_dict())
    if all(np.isfinite(v).all() for v in state.values() if v.dtype.kind == "f"):
        save_weights(state, path)
        return True
    return path.exists()


def write_snapshot(snapshot: dict[str, Any], run_dir: Path) -> Path:
    path = run_dir / PROJECT_FILE
    path.write_text(dumps(snapshot) + "\n", encoding="utf-8")
    return path


def run_record(run_dir: Path, reason: str, epochs: int, final: dict[str, Any],
               started: float, message: str = "") -> dict[str, Any]:
    """The entry ``Project.add_run`` stores for a run trained in the app."""
    weights = run_dir / WEIGHTS_FILE
    best = run_dir / CHECKPOINT_DIR / "best.safetensors"
    last = run_dir / CHECKPOINT_DIR / "last.safetensors"
    record: dict[str, Any] = {
        "id": run_dir.name, "created": datetime.fromtimestamp(started).isoformat(
            timespec="seconds"),
        "weights": str(weights) if weights.exists() else None,
        "metrics": str(run_dir / "epochs.json"),
        "checkpoint": str(best if best.exists() else last) if (best.exists() or last.exists())
        else None,
        "epochs": epochs, "reason": reason, "source": "app",
        "duration_s": round(time.time() - started, 1),
        "final": {k: v for k, v in final.items() if isinstance(v, int | float)
                  and math.isfinite(v)},
    }
    if message:
        record["message"] = message
    return record


def load_run_project(project: Project, run: dict[str, Any]) -> Project:
    """The project a run was trained from (its ``project.json``), or ``project`` itself for runs
    without one (``layerforge train`` runs use the project file as it is)."""
    weights = run.get("weights")
    if weights:
        snap = project.resolve(weights).parent / PROJECT_FILE
        if snap.is_file():
            data = json.loads(snap.read_text(encoding="utf-8"))
            p = Project.from_dict(data, project.path)
            p.path = project.path
            p.runs = project.runs
            return p
    return project


def evaluate_saved_run(project: Project, run: dict[str, Any]) -> Any:
    """Predictions of a saved run's weights on its validation set (an ``EvalResult``), for a
    reloaded run; None when its graph is not a classifier or it has no validation split."""
    from engine.export import load_weights  # noqa: PLC0415

    from .predictions import collect_samples, evaluate_classifier  # noqa: PLC0415

    source = load_run_project(project, run)
    # no Trainer is made, so the run folder given here is never written to
    job = build_job(source.to_dict(), project.path, Path(tempfile.gettempdir()))
    if not job.is_classification or job.val_set is None:
        return None
    load_weights(job.model, project.resolve(run["weights"]))
    batches, samples, labels = collect_samples(job.val_set)
    return evaluate_classifier(job.model, batches, job.batch_fn, samples, labels,
                               job.class_names, int(run.get("epochs", 0) or 0))
