"""A project's training and dataset settings: every name, type and range, checked in one place.

Why one table: the Training panel builds its widgets (labels, ranges, defaults) from it, project
files are checked against it when they are read, and the run builder reads typed values from it,
so a setting the window accepts always trains from the command line and the other way round.
The names are the engine's (``engine.optim.Adam(betas=...)``), so a project file reads like the
PyTorch code it stands for.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .dataset_options import OPTIONS
from .datasets import DATASETS


@dataclass(frozen=True)
class Param:
    """One setting of an optimizer or a schedule.

    ``kind``: ``float``, ``int``, ``bool``, ``pair`` (two floats, e.g. Adam's betas) or ``ints``
    (a list of whole numbers, e.g. milestones). ``lo``/``hi`` bound numbers (and each element of
    a pair or list); ``open_lo``/``open_hi`` exclude the bound itself. ``panel``: shown in the
    Training panel (the others are accepted from project files and the API).
    """

    key: str
    label: str
    default: Any
    kind: str = "float"
    lo: float = 0.0
    hi: float = math.inf
    open_lo: bool = False
    open_hi: bool = False
    panel: bool = True

    def rule(self) -> str:
        """What is allowed, in words: ``a whole number from 1 to 1,048,576``, ``a number in
        (0, 100]``."""
        what = {"float": "a number", "int": "a whole number", "pair": "two numbers",
                "ints": "a list of whole numbers", "bool": "true or false"}[self.kind]
        if self.kind == "bool":
            return what
        if self.kind in ("int", "ints"):
            lo = int(self.lo) + (1 if self.open_lo else 0)
            if self.hi >= 2 ** 62:
                return f"{what} from {lo:,} up"
            return f"{what} from {lo:,} to {int(self.hi) - (1 if self.open_hi else 0):,}"
        lo = ("(" if self.open_lo else "[") + _plain(self.lo)
        hi = _plain(self.hi) + (")" if self.open_hi else "]")
        return f"{what} in {lo}, {hi}"

    def check(self, value: Any) -> bool:
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "pair":
            return (isinstance(value, list | tuple) and len(value) == 2
                    and all(self._in_range(v, float) for v in value))
        if self.kind == "ints":
            return isinstance(value, list | tuple) and all(self._in_range(v, int) for v in value)
        return self._in_range(value, int if self.kind == "int" else float)

    def check_one(self, value: Any) -> bool:
        """One number of it (an element of a pair or a list), as a form field holds one."""
        if self.kind in ("pair", "ints"):
            return self._in_range(value, int if self.kind == "ints" else float)
        return self.check(value)

    def _in_range(self, v: Any, kind: type) -> bool:
        if kind is int and not is_int(v):
            return False
        if not is_number(v):
            return False
        above = v > self.lo if self.open_lo else v >= self.lo
        below = v < self.hi if self.open_hi else v <= self.hi
        return above and below


def _plain(v: float) -> str:
    """1000000.0 -> 1,000,000; 0.001 -> 0.001; 1e-08 stays."""
    return f"{int(v):,}" if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"


_EPS = Param("eps", "Epsilon", 1e-8, lo=0.0, hi=1.0, open_lo=True)
_WD = Param("weight_decay", "Weight decay", 0.0, hi=1.0)
_MAXIMIZE = Param("maximize", "Maximize", False, "bool", panel=False)
_BETAS = Param("betas", "Betas", (0.9, 0.999), "pair", hi=1.0, open_hi=True)
_AMSGRAD = Param("amsgrad", "AMSGrad", False, "bool")

# The optimizers a project can name, with every constructor setting the app accepts.
OPTIMIZERS: dict[str, tuple[Param, ...]] = {
    "SGD": (Param("momentum", "Momentum", 0.9, hi=1.0, open_hi=True),
            Param("nesterov", "Nesterov", False, "bool"), _WD,
            Param("dampening", "Dampening", 0.0, hi=1.0, panel=False), _MAXIMIZE),
    "Adam": (_BETAS, _EPS, _WD, _AMSGRAD, _MAXIMIZE),
    "AdamW": (_BETAS, _EPS, Param("weight_decay", "Weight decay", 0.01, hi=1.0), _AMSGRAD,
              _MAXIMIZE),
    "RMSprop": (Param("alpha", "Alpha", 0.99, hi=1.0, open_hi=True),
                Param("momentum", "Momentum", 0.0, hi=1.0, open_hi=True), _EPS, _WD,
                Param("centered", "Centered", False, "bool"), _MAXIMIZE),
    "Adagrad": (Param("lr_decay", "LR decay", 0.0, hi=1.0), _WD,
                Param("eps", "Epsilon", 1e-10, lo=0.0, hi=1.0, open_lo=True),
                Param("initial_accumulator_value", "Initial accumulator", 0.0, panel=False),
                _MAXIMIZE),
}
# How long a rank of a distributed run waits in a collective for the others: far below
# PyTorch's 30 minutes (a stopped rank is named in minutes), far above any step, validation
# or checkpoint a rank does alone. ``layerforge train --timeout`` changes it.
DEFAULT_RANK_TIMEOUT_S = 300.0
DEFAULT_LR = {"SGD": 0.01, "Adam": 0.001, "AdamW": 0.001, "RMSprop": 0.001, "Adagrad": 0.01}
LR = Param("lr", "Learning rate", 0.01, lo=0.0, hi=100.0, open_lo=True)

_GAMMA = Param("gamma", "Multiply by", 0.1, lo=0.0, hi=1.0, open_lo=True)
# The learning-rate schedules; a missing setting whose default depends on the run's length
# (T_max, step_size, milestones, total_steps, max_lr) is filled in by ``schedule_defaults``.
SCHEDULES: dict[str, tuple[Param, ...]] = {
    "none": (),
    "StepLR": (Param("step_size", "Every (epochs)", 10, "int", lo=1, hi=1_000_000), _GAMMA),
    "MultiStepLR": (Param("milestones", "At epochs", [30, 60], "ints", lo=1, hi=1_000_000),
                    _GAMMA),
    "ExponentialLR": (Param("gamma", "Multiply by (per epoch)", 0.95, lo=0.0, hi=1.0,
                            open_lo=True),),
    "CosineAnnealingLR": (Param("T_max", "Period (epochs)", 10, "int", lo=1, hi=1_000_000),
                          Param("eta_min", "Minimum LR", 0.0, hi=100.0)),
    "OneCycleLR": (Param("max_lr", "Peak LR", 0.1, lo=0.0, hi=100.0, open_lo=True),
                   Param("pct_start", "Warm-up fraction", 0.3, lo=0.0, hi=1.0, open_lo=True,
                         open_hi=True),
                   Param("div_factor", "Start = peak /", 25.0, lo=1.0, hi=1e6, panel=False),
                   Param("final_div_factor", "End = start /", 1e4, lo=1.0, hi=1e9,
                         panel=False),
                   Param("total_steps", "Total steps", 100, "int", lo=1, hi=1e12,
                         panel=False)),
    "ReduceLROnPlateau": (Param("factor", "Multiply by", 0.1, lo=0.0, hi=1.0, open_lo=True,
                                open_hi=True),
                          Param("patience", "Patience (epochs)", 10, "int", lo=0, hi=1_000_000),
                          Param("threshold", "Threshold", 1e-4, hi=1.0, panel=False),
                          Param("cooldown", "Cooldown (epochs)", 0, "int", hi=1_000_000,
                                panel=False),
                          Param("min_lr", "Minimum LR", 0.0, hi=100.0, panel=False)),
}

# Metrics the best checkpoint, early stopping and ReduceLROnPlateau can follow, as the Trainer
# names them; the short names people type (and older files hold) mean the same.
MONITORS = ("val_loss", "val_accuracy", "train_loss", "train_accuracy")
MONITOR_ALIASES = {"loss": "train_loss", "acc": "train_accuracy", "accuracy": "train_accuracy",
                   "train_acc": "train_accuracy", "val_acc": "val_accuracy"}

# An Output's loss -> the engine module that computes it.
LOSS_MODULES = {"cross_entropy": "CrossEntropyLoss", "nll": "NLLLoss", "mse": "MSELoss",
                "l1": "L1Loss", "bce_with_logits": "BCEWithLogitsLoss", "bce": "BCELoss"}
CLASSIFICATION_LOSSES = ("cross_entropy", "nll")

# The run's own numbers (the Training panel's fields and the checks of project files).
LOOP: dict[str, Param] = {p.key: p for p in (
    Param("batch_size", "Batch size", 64, "int", lo=1, hi=1 << 20),
    Param("epochs", "Epochs", 10, "int", lo=1, hi=1_000_000),
    Param("grad_accumulation", "Accumulate batches", 1, "int", lo=1, hi=1 << 16),
    Param("grad_clip", "Clip gradient norm at", 1.0, lo=0.0, hi=1e6, open_lo=True),
    Param("seed", "Seed", 0, "int", lo=0, hi=2 ** 63 - 1),
    Param("patience", "Patience (epochs)", 5, "int", lo=1, hi=1_000_000),
)}

DEFAULT_DATASET: dict[str, Any] = {
    "name": "Digits", "options": {"size": 28}, "validation_split": 0.1, "split_seed": 0,
    "transforms": [], "normalize": None,
}
AUTO_DEVICE = "auto"  # the CPU, over one replica per core where that trains faster
MAX_CPU_REPLICAS = 8
DEFAULT_TRAINING: dict[str, Any] = {
    "optimizer": {"name": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0},
    "schedule": {"name": "none"},
    "batch_size": 64, "epochs": 10, "devices": [AUTO_DEVICE], "seed": 0,
    "early_stopping": {"enabled": False, "monitor": "val_loss", "patience": 5},
    "grad_accumulation": 1, "grad_clip": None,
}


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    """A finite int or float (not a bool): NaN and infinity are never a valid setting."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def canonical_monitor(name: str) -> str:
    """``"acc"`` -> ``"train_accuracy"``: the one translation of a monitor name."""
    return MONITOR_ALIASES.get(name, name)


# -------------------------------------------------------------------- checks
def check_settings(dataset: Mapping[str, Any],
                   training: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(location, message) for every dataset or training setting of the wrong type or range."""
    return check_dataset(dataset) + check_training(training)


def _need(bad: list[tuple[str, str]], ok: bool, where: str, rule: str, value: Any) -> None:
    if not ok:
        bad.append((where, f"expected {rule}, got {_show(value)}"))


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, allow_nan=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_dataset(d: Mapping[str, Any]) -> list[tuple[str, str]]:
    bad: list[tuple[str, str]] = []
    name = d.get("name")
    _need(bad, name in DATASETS, "dataset.name", "one of " + ", ".join(DATASETS), name)
    _need(bad, isinstance(d.get("options"), dict), "dataset.options", "an object",
          d.get("options"))
    if isinstance(d.get("options"), dict):
        bad += check_dataset_options(str(name), d["options"])
    vs = d.get("validation_split")
    _need(bad, is_number(vs) and 0 <= vs < 1, "dataset.validation_split",
          "a number in [0, 1)", vs)
    _need(bad, is_int(d.get("split_seed")) and d["split_seed"] >= 0, "dataset.split_seed",
          "an integer >= 0", d.get("split_seed"))
    _need(bad, isinstance(d.get("transforms"), list), "dataset.transforms", "a list",
          d.get("transforms"))
    norm = d.get("normalize")
    if norm is not None:
        ok = (isinstance(norm, dict) and isinstance(norm.get("mean"), list)
              and isinstance(norm.get("std"), list) and len(norm["mean"]) == len(norm["std"]) >= 1
              and all(is_number(v) for v in norm["mean"])
              and all(is_number(v) and v > 0 for v in norm["std"]))
        _need(bad, ok, "dataset.normalize", 'null or {"mean": [...], "std": [...]} of finite '
                                            "numbers, equal lengths and std > 0", norm)
    return bad


def check_dataset_options(name: str, options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The dataset's numbers and choices against the Data panel's table (``OPTIONS``), so a
    file asking for 10^13 samples is refused when read, not when NumPy tries to allocate."""
    bad: list[tuple[str, str]] = []
    for key, _label, kind, _default, extra in OPTIONS.get(name, []):
        if key not in options:
            continue
        value, where = options[key], f"dataset.options.{key}"
        if kind == "int":
            lo, hi = extra
            _need(bad, is_int(value) and lo <= value <= hi, where,
                  f"a whole number from {lo:,} to {hi:,}", value)
        elif kind == "float":
            lo, hi = extra
            _need(bad, is_number(value) and lo <= value <= hi, where,
                  f"a number from {lo:g} to {hi:g}", value)
        elif kind == "choice":
            _need(bad, value in extra, where,
                  "one of " + ", ".join(str(c) for c in extra), value)
        elif kind in ("file", "folder"):
            _need(bad, isinstance(value, str), where, "a path (a string)", value)
    return bad


def check_training(t: Mapping[str, Any]) -> list[tuple[str, str]]:
    bad: list[tuple[str, str]] = []
    opt = t.get("optimizer")
    _check_named(bad, "training.optimizer", opt, OPTIMIZERS)
    if isinstance(opt, dict):
        _need(bad, LR.check(opt.get("lr")), "training.optimizer.lr", LR.rule(), opt.get("lr"))
    _check_named(bad, "training.schedule", t.get("schedule"), SCHEDULES)
    for key in ("batch_size", "epochs", "grad_accumulation"):
        _need(bad, LOOP[key].check(t.get(key)), f"training.{key}", LOOP[key].rule(),
              t.get(key))
    devices = t.get("devices")
    _need(bad, isinstance(devices, list) and bool(devices)
          and all(isinstance(x, str) and x for x in devices), "training.devices",
          'a list of device names like ["auto"], ["cpu"] or ["cuda:0", "cuda:1"]', devices)
    for key in ("seed", "grad_clip"):
        _need(bad, t.get(key) is None or LOOP[key].check(t.get(key)), f"training.{key}",
              f"null or {LOOP[key].rule()}", t.get(key))
    es = t.get("early_stopping")
    if not isinstance(es, dict):
        _need(bad, False, "training.early_stopping", "an object", es)
    else:
        _need(bad, isinstance(es.get("enabled"), bool), "training.early_stopping.enabled",
              "true or false", es.get("enabled"))
        _need(bad, LOOP["patience"].check(es.get("patience")),
              "training.early_stopping.patience", LOOP["patience"].rule(), es.get("patience"))
        monitor = es.get("monitor")
        _need(bad, isinstance(monitor, str) and canonical_monitor(monitor) in MONITORS,
              "training.early_stopping.monitor", "one of " + ", ".join(MONITORS), monitor)
    return bad


def _check_named(bad: list[tuple[str, str]], where: str, given: Any,
                 table: Mapping[str, Sequence[Param]]) -> None:
    """An optimizer or a schedule: an object whose ``name`` is in ``table`` and whose other
    keys are that entry's settings, each in its range."""
    if not isinstance(given, dict):
        _need(bad, False, where, "an object", given)
        return
    name = given.get("name")
    _need(bad, name in table, f"{where}.name", "one of " + ", ".join(table), name)
    if name not in table:
        return
    known = {p.key: p for p in table[name]}
    for key, value in given.items():
        if key == "name" or (key == "lr" and where.endswith("optimizer")):
            continue
        p = known.get(key)
        if p is None:
            names = ", ".join(known) or "none"
            bad.append((f"{where}.{key}", f"{name} has no setting {key!r} (it has: {names})"))
        elif not p.check(value):
            _need(bad, False, f"{where}.{key}", p.rule(), value)


# -------------------------------------------------------------------- typed settings
@dataclass(frozen=True)
class RunOverrides:
    """What a run changes of the project's settings (None: keep the project's)."""

    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int | None = None
    devices: Sequence[str] | None = None
    max_batches: int | None = None  # cap on batches per epoch: smoke runs and tests


@dataclass(frozen=True)
class TrainingSettings:
    """A project's ``training`` section with the run's overrides, checked and typed."""

    optimizer: str
    lr: float
    optimizer_args: dict[str, Any]
    schedule: str
    schedule_args: dict[str, Any]
    batch_size: int
    epochs: int
    devices: tuple[str, ...]
    seed: int | None
    grad_accumulation: int
    grad_clip: float | None
    early_stopping: bool
    monitor: str
    patience: int
    max_batches: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, training: Mapping[str, Any],
                  overrides: RunOverrides | None = None) -> TrainingSettings:
        """Apply ``overrides`` and check the result (``SettingsError`` at the first bad
        setting, named by its place)."""
        from .errors import SettingsError  # noqa: PLC0415 - errors imports nothing back

        t = json.loads(json.dumps(training, allow_nan=True))  # a deep copy of plain JSON
        o = overrides or RunOverrides()
        for key in ("epochs", "batch_size", "seed"):
            if getattr(o, key) is not None:
                t[key] = getattr(o, key)
        if o.devices is not None:
            t["devices"] = list(o.devices)
        if o.lr is not None and isinstance(t.get("optimizer"), dict):
            t["optimizer"]["lr"] = o.lr
        for location, message in check_training(t):
            raise SettingsError(None, location, message)
        opt, sched, es = dict(t["optimizer"]), dict(t["schedule"]), t["early_stopping"]
        name, lr = opt.pop("name"), float(opt.pop("lr"))
        return cls(optimizer=name, lr=lr,
                   optimizer_args={k: tuple(v) if isinstance(v, list) else v
                                   for k, v in opt.items()},
                   schedule=sched.pop("name"), schedule_args=sched,
                   batch_size=int(t["batch_size"]), epochs=int(t["epochs"]),
                   devices=tuple(t["devices"]), seed=t["seed"],
                   grad_accumulation=int(t["grad_accumulation"]), grad_clip=t["grad_clip"],
                   early_stopping=bool(es["enabled"]),
                   monitor=canonical_monitor(es["monitor"]), patience=int(es["patience"]),
                   max_batches=o.max_batches, raw=t)

    def summary(self) -> dict[str, Any]:
        """The settings a run list shows in its columns."""
        return {"optimizer": self.optimizer, "lr": self.lr, "schedule": self.schedule,
                "batch_size": self.batch_size, "epochs": self.epochs,
                "devices": list(self.devices), "seed": self.seed}


def schedule_defaults(name: str, args: Mapping[str, Any], epochs: int, steps_per_epoch: int,
                      lr: float) -> dict[str, Any]:
    """The schedule's settings with the run-length defaults filled in (a cosine over the whole
    run, a one-cycle peaking at the learning rate, steps at a third of the run)."""
    out = dict(args)
    if name == "OneCycleLR":
        out.setdefault("max_lr", lr)
        out.setdefault("total_steps", epochs * steps_per_epoch)
    elif name == "CosineAnnealingLR":
        out.setdefault("T_max", epochs)
    elif name == "StepLR":
        out.setdefault("step_size", max(epochs // 3, 1))
    elif name == "MultiStepLR":
        out.setdefault("milestones", [max(epochs // 2, 1), max(3 * epochs // 4, 1)])
    elif name == "ExponentialLR":
        out.setdefault("gamma", 0.95)
    return out


def resolve_devices(devices: Sequence[str], model: Any, batch_size: int,
                    distributed: bool = False, cores: int | None = None) -> tuple[str, ...]:
    """The devices a run trains on: ``["auto"]`` becomes one CPU replica per core when
    ``engine.parallel.prefer_cpu_replicas`` says the network trains faster so (convolutional
    networks without recurrent layers), else the plain CPU; a rank of a distributed run is one
    process already, so it takes the plain CPU. Other lists stand as given."""
    if list(devices) != [AUTO_DEVICE]:
        return tuple(devices)
    from engine.parallel import prefer_cpu_replicas  # noqa: PLC0415

    cores = min(os.cpu_count() or 1, MAX_CPU_REPLICAS) if cores is None else cores
    if distributed or not prefer_cpu_replicas(model, batch_size, cores):
        return ("cpu",)
    return ("cpu",) * cores


def device_problem(devices: Sequence[str], batch_size: int,
                   distributed: bool = False) -> str | None:
    """Why these devices cannot train (None when they can): what the Training panel shows under
    the device list and what a run refuses to start with."""
    if not devices:
        return "choose at least one device (the CPU or a GPU)"
    if AUTO_DEVICE in devices:
        return None if list(devices) == [AUTO_DEVICE] else (
            f'"{AUTO_DEVICE}" stands alone (it picks the CPU or its cores itself); choose it '
            "or a list of devices")
    import engine  # noqa: PLC0415 - only when devices are checked
    from engine.errors import EngineError  # noqa: PLC0415

    for d in devices:
        try:
            engine.device(d)  # an unknown name, no CuPy, no such GPU: the engine says which
        except (ValueError, EngineError) as exc:
            return f"device {d!r}: {exc}"
    if any(str(d).startswith("cuda") for d in devices):
        reason = engine.cuda.unavailable_reason()
        if reason:
            return reason
        count = engine.cuda.device_count()
        if count == 0:
            return "no GPU was found on this machine; train on the CPU"
        for d in devices:
            index = str(d).partition(":")[2]
            if index.isdigit() and int(index) >= count:
                return f"{d} does not exist: this machine has {count} GPU(s)"
    kinds = {str(d).split(":")[0] for d in devices}
    if len(kinds) > 1:
        return (f"devices {', '.join(devices)} mix the CPU and GPUs; data parallelism needs "
                "devices of one kind (the slowest would hold every step back): choose GPUs "
                "only, or the CPU alone")
    if len(devices) > 1 and not distributed and batch_size < len(devices):
        return (f"batch size {batch_size} is smaller than the {len(devices)} devices "
                f"({', '.join(devices)}): each device needs at least one sample; raise the "
                f"batch size to {len(devices)} or more, or choose fewer devices")
    return None


def cpu_replicas(devices: Sequence[str]) -> bool:
    """Several CPU devices: replicas that stand for one CPU made faster, so they must train as
    one CPU does (``SyncBatchNorm``) and take the cores from BLAS while they run."""
    return len(devices) > 1 and all(str(d).split(":")[0] == "cpu" for d in devices)


def sync_batchnorm_for(devices: Sequence[str]) -> bool:
    """Whether BatchNorm takes its statistics over the whole batch (``SyncBatchNorm``)."""
    return cpu_replicas(devices)
