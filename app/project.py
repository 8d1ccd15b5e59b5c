"""The project document: a JSON file holding the graph, the dataset choice, the training settings
and the trained runs. No Qt here: the GUI, the CLI and the tests share it.

File layout (``format_version`` 1)::

    {"format_version": 1, "app": "layerforge", "name": "...",
     "graph": {"nodes": [{"name", "type", "params", "pos"}], "edges": [{"src", "dst", ...}]},
     "dataset": {"name": "Digits", "options": {...}, "validation_split": 0.1,
                 "split_seed": 0, "transforms": [...], "normalize": {"mean": [], "std": []}},
     "training": {"optimizer": {"name": "SGD", "lr": ...}, "schedule": {"name": "none"},
                  "batch_size", "epochs", "devices", "seed", "early_stopping", ...},
     "runs": [{"id", "weights", "metrics", "created", "epochs", "final"}]}

Loading never writes: a damaged, hand-edited or newer file raises ``ProjectError`` naming the file
and the place in it (``line 12, column 5`` or ``training.batch_size``), and the file stays as it
was. Keys this version does not know are kept and written back. Saves are atomic.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from engine._resources import resources_dir
from engine.export.weights import atomic_write_bytes
from engine.graph import DataSpec, Graph, GraphError, Problem, validate

from .datasets import data_spec

FORMAT_VERSION = 1
TEMPLATES_DIR = resources_dir() / "templates"  # checkout, wheel or frozen build

OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad")
SCHEDULES = ("none", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
             "OneCycleLR", "ReduceLROnPlateau")

DEFAULT_DATASET: dict[str, Any] = {
    "name": "Digits", "options": {"size": 28}, "validation_split": 0.1, "split_seed": 0,
    "transforms": [], "normalize": None,
}
DEFAULT_TRAINING: dict[str, Any] = {
    "optimizer": {"name": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0},
    "schedule": {"name": "none"},
    "batch_size": 64, "epochs": 10, "devices": ["cpu"], "seed": 0,
    "early_stopping": {"enabled": False, "monitor": "val_loss", "patience": 5},
    "grad_accumulation": 1, "grad_clip": None,
}
_KNOWN_KEYS = ("format_version", "app", "name", "graph", "dataset", "training", "runs")


class ProjectError(ValueError):
    """A project file that cannot be read or used; the message names the file and the place."""

    def __init__(self, path: str | os.PathLike[str] | None, location: str, message: str) -> None:
        self.path = None if path is None else str(path)
        self.location = location
        where = ": ".join(x for x in (self.path, location) if x)
        super().__init__(f"{where}: {message}" if where else message)


def _merged(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` over a copy of ``defaults``: missing keys get their default. Only sections with
    a fixed set of keys (early stopping) merge inside; ``options`` and ``optimizer`` belong to the
    chosen dataset or optimizer, so a given one replaces the default whole. Unknown keys stay."""
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        if key == "early_stopping" and isinstance(value, dict):
            out[key] = {**out[key], **copy.deepcopy(value)}
        else:
            out[key] = copy.deepcopy(value)
    return out


class Project:
    """A LayerForge project: a graph plus what training it needs."""

    def __init__(self, graph: Graph | None = None, name: str = "Untitled",
                 dataset: dict[str, Any] | None = None, training: dict[str, Any] | None = None,
                 runs: list[dict[str, Any]] | None = None, path: str | os.PathLike | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.graph = graph if graph is not None else Graph()
        self.name = name
        self.dataset = _merged(DEFAULT_DATASET, dataset or {})
        self.training = _merged(DEFAULT_TRAINING, training or {})
        self.runs = list(runs or [])
        self.path = None if path is None else Path(path)
        self.extra = dict(extra or {})  # top-level keys of newer versions, written back as read

    # ---------------------------------------------------------------- dict form
    def to_dict(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "app": "layerforge", "name": self.name,
                "graph": self.graph.to_dict(), "dataset": copy.deepcopy(self.dataset),
                "training": copy.deepcopy(self.training), "runs": copy.deepcopy(self.runs),
                **copy.deepcopy(self.extra)}

    @classmethod
    def from_dict(cls, data: Any, path: str | os.PathLike | None = None) -> Project:
        if not isinstance(data, dict):
            raise ProjectError(path, "", "expected a JSON object at the top level; is this a "
                                         "LayerForge project?")
        version = data.get("format_version")
        if version is None:
            raise ProjectError(path, "format_version", "missing; is this a LayerForge project?")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ProjectError(path, "format_version", f"expected a positive integer, got "
                                                        f"{version!r}")
        if version > FORMAT_VERSION:
            raise ProjectError(path, "format_version",
                               f"{version} is newer than this LayerForge reads "
                               f"({FORMAT_VERSION}); open it with a newer LayerForge (the file "
                               "was not changed)")
        name = data.get("name", "Untitled")
        if not isinstance(name, str):
            raise ProjectError(path, "name", f"expected a string, got {name!r}")
        try:
            graph = Graph.from_dict(data.get("graph", {"nodes": [], "edges": []}))
        except GraphError as exc:
            msg = str(exc)
            loc, _, rest = msg.partition(": ")
            raise ProjectError(path, loc, rest) from None
        sections = {}
        for key in ("dataset", "training"):
            value = data.get(key, {})
            if not isinstance(value, dict):
                raise ProjectError(path, key, f"expected an object, got {value!r}")
            sections[key] = value
        runs = data.get("runs", [])
        if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
            raise ProjectError(path, "runs", "expected a list of objects")
        project = cls(graph, name, sections["dataset"], sections["training"], runs, path,
                      {k: v for k, v in data.items() if k not in _KNOWN_KEYS})
        for location, message in check_settings(project.dataset, project.training):
            raise ProjectError(path, location, message)
        return project

    # ---------------------------------------------------------------- files
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Project:
        """Read a project file; ProjectError with the location of any problem (never writes)."""
        p = Path(path)
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            raise ProjectError(p, "", "no such file") from None
        except IsADirectoryError:
            raise ProjectError(p, "", "is a folder, not a project file") from None
        except OSError as exc:
            raise ProjectError(p, "", f"cannot be read ({exc.strerror or exc})") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ProjectError(p, f"byte {exc.start}", "not a UTF-8 text file; is this a "
                                                        "LayerForge project?") from None
        if not text.strip():
            raise ProjectError(p, "", "the file is empty")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProjectError(p, f"line {exc.lineno}, column {exc.colno}",
                               f"invalid JSON ({exc.msg})") from None
        return cls.from_dict(data, p)

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the project atomically (a temporary file renamed over the target), so a crash
        mid-save leaves the previous file whole; returns the path written."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ProjectError(None, "", "the project has no file yet; give a path to save to")
        text = dumps(self.to_dict()) + "\n"
        atomic_write_text(target, text)
        self.path = target
        return target

    @classmethod
    def from_template(cls, name: str) -> Project:
        """A new, unsaved project from ``resources/templates/<name>.json``."""
        path = TEMPLATES_DIR / f"{name}.json"
        if not path.is_file():
            names = ", ".join(list_templates()) or (
                f"none in {TEMPLATES_DIR}: the installation is incomplete; reinstall LayerForge "
                "or set LAYERFORGE_RESOURCES to its resources folder")
            raise ProjectError(None, "", f"no template named {name!r} (templates: {names})")
        project = cls.load(path)
        project.path = None
        return project

    # ---------------------------------------------------------------- use
    def data_spec(self) -> DataSpec | None:
        """What the chosen dataset gives (input shape, labels), when it is known without
        loading it."""
        return data_spec(self.dataset)

    def validate(self) -> list[Problem]:
        """Graph problems, checked against the dataset when its shape and labels are known."""
        return validate(self.graph, self.data_spec())

    def resolve(self, relative: str | os.PathLike[str]) -> Path:
        """A path stored in the project, relative to the project's folder."""
        p = Path(relative)
        if p.is_absolute() or self.path is None:
            return p
        return self.path.parent / p

    def relative(self, path: str | os.PathLike[str]) -> str:
        """How to store ``path`` in the project: relative to its folder when inside it."""
        p = Path(path).resolve()
        if self.path is not None:
            try:
                return p.relative_to(self.path.resolve().parent).as_posix()
            except ValueError:
                pass
        return str(p)

    def add_run(self, run: dict[str, Any]) -> None:
        stored = dict(run)
        for key in ("weights", "metrics", "checkpoint"):
            if stored.get(key):
                stored[key] = self.relative(stored[key])
        self.runs.append(stored)

    def latest_weights(self) -> Path | None:
        """The weights of the most recent run that has them."""
        for run in reversed(self.runs):
            if run.get("weights"):
                return self.resolve(run["weights"])
        return None


def dumps(obj: Any, indent: int = 0, width: int = 100) -> str:
    """JSON that people can read and diff: a container stays on one line when it fits, so a
    node is one line and a project file reads like a table."""
    flat = json.dumps(obj, ensure_ascii=False)
    if len(flat) + indent <= width or not isinstance(obj, dict | list) or not obj:
        return flat
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            key = json.dumps(k, ensure_ascii=False)
            items.append(f"{inner}{key}: {dumps(v, indent + 2, width - len(key) - 2)}")
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    items = [inner + dumps(v, indent + 2, width) for v in obj]
    return "[\n" + ",\n".join(items) + f"\n{pad}]"


def list_templates() -> list[str]:
    return sorted(p.stem for p in TEMPLATES_DIR.glob("*.json"))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 text atomically (see ``engine.export.weights.atomic_write_bytes``)."""
    atomic_write_bytes(path, text.encode("utf-8"))


# -------------------------------------------------------------------- settings checks
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def check_settings(dataset: dict[str, Any], training: dict[str, Any]) -> list[tuple[str, str]]:
    """(location, message) for every dataset/training setting of the wrong type or range."""
    bad: list[tuple[str, str]] = []

    def need(ok: bool, where: str, rule: str, value: Any) -> None:
        if not ok:
            bad.append((where, f"expected {rule}, got {json.dumps(value)}"))

    d, t = dataset, training
    need(isinstance(d.get("name"), str) and d["name"], "dataset.name", "a dataset name",
         d.get("name"))
    need(isinstance(d.get("options"), dict), "dataset.options", "an object", d.get("options"))
    vs = d.get("validation_split")
    need(_is_num(vs) and 0 <= vs < 1, "dataset.validation_split", "a number in [0, 1)", vs)
    need(_is_int(d.get("split_seed")), "dataset.split_seed", "an integer", d.get("split_seed"))
    need(isinstance(d.get("transforms"), list), "dataset.transforms", "a list",
         d.get("transforms"))
    norm = d.get("normalize")
    if norm is not None:
        ok = (isinstance(norm, dict) and isinstance(norm.get("mean"), list)
              and isinstance(norm.get("std"), list) and len(norm["mean"]) == len(norm["std"]) >= 1
              and all(_is_num(v) for v in norm["mean"])
              and all(_is_num(v) and v > 0 for v in norm["std"]))
        need(ok, "dataset.normalize", 'null or {"mean": [...], "std": [...]} with equal '
                                      "lengths and positive std", norm)

    opt = t.get("optimizer")
    if not isinstance(opt, dict):
        need(False, "training.optimizer", "an object", opt)
    else:
        need(opt.get("name") in OPTIMIZERS, "training.optimizer.name",
             "one of " + ", ".join(OPTIMIZERS), opt.get("name"))
        lr = opt.get("lr")
        need(_is_num(lr) and lr > 0, "training.optimizer.lr", "a number > 0", lr)
        for key, value in opt.items():
            if key not in ("name", "lr") and not (_is_num(value) or isinstance(value, bool | list)):
                need(False, f"training.optimizer.{key}", "a number", value)
    sched = t.get("schedule")
    if not isinstance(sched, dict):
        need(False, "training.schedule", "an object", sched)
    else:
        need(sched.get("name") in SCHEDULES, "training.schedule.name",
             "one of " + ", ".join(SCHEDULES), sched.get("name"))
    for key in ("batch_size", "epochs", "grad_accumulation"):
        v = t.get(key)
        need(_is_int(v) and v >= 1, f"training.{key}", "an integer >= 1", v)
    devices = t.get("devices")
    need(isinstance(devices, list) and devices and all(isinstance(x, str) for x in devices),
         "training.devices", 'a list of device names like ["cpu"] or ["cuda:0", "cuda:1"]',
         devices)
    seed = t.get("seed")
    need(seed is None or (_is_int(seed) and seed >= 0), "training.seed",
         "null or an integer >= 0", seed)
    clip = t.get("grad_clip")
    need(clip is None or (_is_num(clip) and clip > 0), "training.grad_clip", "null or a number > 0",
         clip)
    es = t.get("early_stopping")
    if not isinstance(es, dict):
        need(False, "training.early_stopping", "an object", es)
    else:
        need(isinstance(es.get("enabled"), bool), "training.early_stopping.enabled",
             "true or false", es.get("enabled"))
        need(_is_int(es.get("patience")) and es["patience"] >= 1,
             "training.early_stopping.patience", "an integer >= 1", es.get("patience"))
        need(isinstance(es.get("monitor"), str), "training.early_stopping.monitor",
             'a metric name like "val_loss"', es.get("monitor"))
    return bad
