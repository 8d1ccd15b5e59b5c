"""The one run builder: ``build_run(project, overrides) -> Run``, everything a training run needs
assembled from a snapshot of a project. The window, ``layerforge train`` and ``mpiexec``
ranks all build their runs here, so the same project and seed give the same numbers everywhere.

What "the same" takes: the settings are checked and typed in one place (``settings``); the
engine's random state is seeded right before the model is built, and the training loader
shuffles with its own generator of the same seed; the network is checked against the data the
run will really see (sample shape, class count) before anything is allocated for training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .datasets import build_datasets, class_names_of, described_spec, source_name, spec_of
from .errors import ProjectError, RunSetupError
from .memory import memory_problem
from .paths import input_file
from .project import Project
from .settings import (
    AUTO_DEVICE,
    CLASSIFICATION_LOSSES,
    LOSS_MODULES,
    RunOverrides,
    TrainingSettings,
    device_problem,
    resolve_devices,
    schedule_defaults,
    sync_batchnorm_for,
)

TOPK = (1,)  # the accuracies a run keeps (top-1): the Trainer's and a checkpoint's alike


def _steps_per_epoch(batches: int, accumulation: int) -> int:
    """Optimizer steps in an epoch of ``batches`` batches (a last partial accumulation counts)."""
    return -(-batches // accumulation)


@dataclass
class Run:
    """A run ready to train: call ``trainer()`` for the engine ``Trainer`` that trains it."""

    project: Project  # the snapshot this run trains (the editor may go on changing its own)
    settings: TrainingSettings
    model: Any
    loss_name: str
    loss_fn: Any
    optimizer: Any
    scheduler: Any
    scheduler_interval: str
    train_set: Any
    val_set: Any
    train_loader: Any
    val_loader: Any
    batch_fn: Any
    data: Any  # the DataSpec of what the dataset gives
    class_names: list[str] | None
    distributed: bool = False
    ranks: list[str] | None = None  # where each rank runs (distributed runs, after start-up)

    @property
    def is_classification(self) -> bool:
        return self.loss_name in CLASSIFICATION_LOSSES

    @property
    def monitor(self) -> str:
        """The monitored metric as the Trainer will follow it (``val_`` needs a validation
        split; without one the training metric of the same name stands in)."""
        m = self.settings.monitor
        return "train_" + m[4:] if self.val_set is None and m.startswith("val_") else m

    @property
    def steps_per_epoch(self) -> int:
        return _steps_per_epoch(len(self.train_loader), self.settings.grad_accumulation)

    def describe(self) -> dict[str, Any]:
        """What a run record and the dashboard say about the run before it starts."""
        return {"settings": self.settings.summary(), "dataset": self.project.dataset["name"],
                "train_samples": len(self.train_set),
                "val_samples": 0 if self.val_set is None else len(self.val_set),
                "batches": len(self.train_loader), "steps_per_epoch": self.steps_per_epoch,
                "classes": self.class_names, "classification": self.is_classification,
                "monitor": self.monitor, "devices": list(self.settings.devices),
                "parameters": sum(p.numel() for p in self.model.parameters()),
                **({"ranks": self.ranks} if self.ranks else {})}

    def trainer(self, checkpoint_dir: str | Path | None, callbacks: Sequence[Any] = ()) -> Any:
        from engine.training import Trainer  # noqa: PLC0415

        s = self.settings
        devices = list(s.devices)
        return Trainer(
            self.model, self.loss_fn, self.optimizer, self.train_loader, self.val_loader,
            epochs=s.epochs, scheduler=self.scheduler, scheduler_interval=self.scheduler_interval,
            devices=devices, distributed=self.distributed,
            sync_batchnorm=sync_batchnorm_for(devices) and not self.distributed,
            accumulate_grad_batches=s.grad_accumulation, clip_grad_norm=s.grad_clip,
            seed=s.seed, monitor=self.monitor,
            early_stopping_patience=s.patience if s.early_stopping else None,
            checkpoint_dir=checkpoint_dir, callbacks=list(callbacks), batch_fn=self.batch_fn,
            topk=TOPK)


def build_run(project: Project, overrides: RunOverrides | None = None, *,
              init_weights: str | Path | None = None, distributed: bool = False) -> Run:
    """See ``_build_run``; a setting's error names the project file it is in."""
    try:
        return _build_run(project, overrides, init_weights, distributed)
    except ProjectError as exc:
        if exc.path is not None or project.path is None:
            raise
        raise type(exc)(project.path, exc.location, exc.detail) from None


def _build_run(project: Project, overrides: RunOverrides | None,
               init_weights: str | Path | None, distributed: bool) -> Run:
    """Assemble the run of ``project`` with ``overrides``: settings, datasets, the network
    checked against them, the compiled model (seeded), loss, optimizer, schedule and loaders.

    Raises ``SettingsError`` for settings, ``CompileError`` for the network (also against its
    data, each problem on the node to change), ``RunSetupError`` for devices and the shape of
    the run, and the dataset's own errors (naming the file and row) for data.
    """
    import numpy as np  # noqa: PLC0415

    import engine  # noqa: PLC0415
    import engine.nn  # noqa: PLC0415
    from engine.data import DataLoader, Subset  # noqa: PLC0415
    from engine.graph import CompileError, compile_graph, errors, validate  # noqa: PLC0415

    snapshot = project.copy()
    settings = TrainingSettings.from_dict(snapshot.training, overrides)
    graph = snapshot.graph
    described = described_spec(snapshot.dataset)
    problems = errors(validate(graph, described))
    if problems:
        raise CompileError(problems)
    output = _trained_output(snapshot)
    reason = device_problem(settings.devices, settings.batch_size, distributed) or \
        memory_problem(snapshot, settings.batch_size,
                       ["cpu" if d == AUTO_DEVICE else d for d in settings.devices])
    if reason:
        raise RunSetupError(reason)

    train_set, val_set = build_datasets(snapshot.dataset, snapshot.folder)
    data = described
    if data is None:  # a file: check the network against what it really holds
        data = spec_of(source_name(snapshot.dataset), getattr(train_set, "dataset", train_set))
        problems = errors(validate(graph, data))
        if problems:
            raise CompileError(problems)
    if settings.max_batches:
        n = min(len(train_set), settings.max_batches * settings.batch_size)
        train_set = Subset(train_set, list(range(n)))

    seed = settings.seed
    if seed is not None:
        engine.manual_seed(seed)
    model = compile_graph(graph, data, seed=seed)
    settings = replace(settings, devices=resolve_devices(
        settings.devices, model, settings.batch_size, distributed))
    if init_weights is not None:
        from engine.export import load_weights  # noqa: PLC0415

        # names and shapes checked, every mismatch listed
        load_weights(model, input_file(init_weights, "--init-weights"))
    loss_name = output.values()[0]["loss"]
    loss_fn = getattr(engine.nn, LOSS_MODULES[loss_name])()
    input_type = model.input_types[0]
    output_type = model.output_types[model.output_names.index(output.name)]

    generator = np.random.default_rng(seed) if seed is not None else None
    train_loader = DataLoader(train_set, batch_size=settings.batch_size, shuffle=True,
                              generator=generator)
    val_loader = None if val_set is None else DataLoader(
        val_set, batch_size=max(settings.batch_size, 256))
    optimizer = build_optimizer(model, settings)
    scheduler, interval = build_scheduler(
        optimizer, settings, _steps_per_epoch(len(train_loader), settings.grad_accumulation))
    return Run(snapshot, settings, model, loss_name, loss_fn, optimizer, scheduler, interval,
               train_set, val_set, train_loader, val_loader,
               make_batch_fn(input_type, output_type, loss_name,
                             snapshot.dataset.get("normalize")),
               data, class_names_of(train_set), distributed)


def _trained_output(project: Project) -> Any:
    """The one Output node with a loss (the dataset gives one input and one target per
    sample, so a run trains exactly one Input to one Output)."""
    graph = project.graph
    if len(graph.nodes_of_type("Input")) != 1:
        raise RunSetupError("training needs exactly one Input node (the dataset gives one "
                            "tensor per sample)")
    trained = [n for n in graph.nodes_of_type("Output") if n.values()[0]["loss"] != "none"]
    if len(trained) != 1:
        raise RunSetupError("training needs exactly one Output with a loss (the dataset gives "
                            "one target per sample); set loss 'none' on the others")
    return trained[0]


def build_optimizer(model: Any, settings: TrainingSettings) -> Any:
    """The settings' optimizer over the model's parameters."""
    import engine.optim  # noqa: PLC0415

    cls = getattr(engine.optim, settings.optimizer)
    try:
        return cls(model.parameters(), lr=settings.lr, **settings.optimizer_args)
    except (TypeError, ValueError) as exc:
        raise RunSetupError(f"training.optimizer ({settings.optimizer}): {exc}") from None


def build_scheduler(optimizer: Any, settings: TrainingSettings,
                    steps_per_epoch: int) -> tuple[Any, str]:
    """The scheduler and when it steps ("step" for OneCycleLR, else "epoch")."""
    name = settings.schedule
    if name == "none":
        return None, "epoch"
    from engine.optim import lr_scheduler  # noqa: PLC0415

    kwargs = schedule_defaults(name, settings.schedule_args, settings.epochs, steps_per_epoch,
                               settings.lr)
    try:
        return (getattr(lr_scheduler, name)(optimizer, **kwargs),
                "step" if name == "OneCycleLR" else "epoch")
    except (TypeError, ValueError) as exc:
        raise RunSetupError(f"training.schedule ({name}): {exc}") from None


def make_batch_fn(input_type: Any, output_type: Any, loss_name: str,
                  normalize: Any = None) -> Any:
    """``(x, y) -> (input, target)`` with the graph's dtypes and the project's normalisation
    (the same rule the exporters write into exported models); the Trainer moves them."""
    import engine  # noqa: PLC0415
    from engine.export import Normalization  # noqa: PLC0415

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
        if loss_name in CLASSIFICATION_LOSSES:
            y = y.long()
        else:  # float targets shaped like the output (class 0/1 labels for the binary losses)
            y = y.float().reshape(y.shape[0], *out_shape)
        return x, y
    return prepare


def evaluate_run(project: Project, record: dict[str, Any]) -> Any:
    """Predictions of a saved run's weights on its validation set (an ``EvalResult``); None
    when its network is not a classifier or its data has no validation split."""
    from engine.export import load_weights  # noqa: PLC0415

    from .predictions import collect_samples, evaluate_classifier  # noqa: PLC0415
    from .runs import run_project, weights_of  # noqa: PLC0415

    weights = weights_of(record)
    if weights is None:
        raise RunSetupError(f"run {record.get('id')} has no weights file any more")
    run = build_run(run_project(project, record))
    if not run.is_classification or run.val_set is None:
        return None
    load_weights(run.model, weights)
    batches, samples, labels = collect_samples(run.val_set)
    return evaluate_classifier(run.model, batches, run.batch_fn, samples, labels,
                               run.class_names, int(record.get("epochs_completed") or 0))
