"""Training checkpoints: one safetensors file (``engine.save``, written atomically) holding
everything a run needs to continue exactly where it was.

Layout of the saved dict (``FORMAT`` marks it, ``VERSION`` lets a later reader adapt)::

    {"format": "layerforge-checkpoint", "version": 1,
     "model": model.state_dict(),           # keys of the plain model (no "module." prefix)
     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict() or None,
     "trainer": {epoch, step, batches_done, best, bad_epochs, history, epoch sums, ...},
     "rng": {"now": engine.random state, "epoch_start": state when this epoch's loader
             iterator was made}, "loader": {numpy generator states of the loader/sampler}}

``last.safetensors`` is rewritten at every epoch end (and when a run is stopped), and
``best.safetensors`` whenever the monitored metric improves; ``engine.load(path)["model"]`` is a
plain state dict for ``model.load_state_dict``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .. import load as _load
from .. import save as _save
from .._readers import _is_count, short_repr
from ..errors import FileFormatError
from ..tensor import Tensor
from ._setup import len_or_none
from .errors import CheckpointError

FORMAT = "layerforge-checkpoint"
VERSION = 1
LAST = "last.safetensors"
BEST = "best.safetensors"
# The NumPy bit generators whose states a checkpoint may hold (checked by setting the state on
# a fresh one of the named kind, never by looking a name up on numpy.random).
_BIT_GENERATORS = {"PCG64": np.random.PCG64, "PCG64DXSM": np.random.PCG64DXSM,
                   "MT19937": np.random.MT19937, "Philox": np.random.Philox,
                   "SFC64": np.random.SFC64}
_LISTED = 4  # differences named in a message before "and n more"


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` (plus the format marker) atomically; creates the folder. A full disk
    raises FileWriteError and leaves the previous checkpoint as it was."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    _save({"format": FORMAT, "version": VERSION, **state}, p)
    return p


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = None) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` and check its structure (see
    ``check_checkpoint``); a plain state dict is refused with a message saying how to use it
    instead. Every problem is a CheckpointError naming the file."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"checkpoint {p} does not exist; pick a file written by a "
                              f"previous run (its {LAST} or {BEST})")
    try:
        obj = _load(p, map_location=map_location)
    except FileFormatError as exc:
        raise CheckpointError(str(exc)) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read the checkpoint {p}: {exc.strerror or exc}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(
            f"{p} is not a LayerForge training checkpoint (no 'format': '{FORMAT}' entry); if "
            f"it is a model state dict, load it with model.load_state_dict(engine.load(path))"
        )
    version = obj.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"{p}: the checkpoint version is {version!r}, not a number; the "
                              f"file was edited")
    if version > VERSION:
        raise CheckpointError(f"{p} was written by a newer LayerForge (checkpoint version "
                              f"{obj['version']}, this one reads up to {VERSION}); upgrade")
    check_checkpoint(obj, str(p))
    return obj


# ----------------------------------------------------------------------------- checks
def check_checkpoint(ck: Any, source: str = "the checkpoint") -> None:
    """Raise CheckpointError unless ``ck`` has the structure ``Trainer.state_dict`` writes:
    every entry present with its type, counters within their ranges (epoch in [0, epochs],
    batches_done only within an unfinished epoch) and random states a generator accepts.
    Why here: a truncated or edited file otherwise fails later, deep in resuming, as a
    KeyError, a ValueError from NumPy or a bare StopIteration."""
    where = _Where(source)
    where.mapping(ck, "", ("model", "optimizer", "trainer", "rng"))
    where.mapping(ck["model"], "model", ())
    for name, value in ck["model"].items():
        if not isinstance(value, Tensor):
            raise where.error(f"model.{name}", f"is a {type(value).__name__}, not a tensor")
    where.mapping(ck["optimizer"], "optimizer", ("state", "param_groups"))
    groups = ck["optimizer"]["param_groups"]
    if not isinstance(groups, list) or not all(
            isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups):
        raise where.error("optimizer.param_groups", "is not a list of groups with 'params'")
    ids = [i for g in groups for i in g["params"]]
    if not all(_is_count(i) for i in ids) or len(set(ids)) != len(ids):
        raise where.error("optimizer.param_groups", "'params' are not distinct parameter "
                                                    "numbers")
    where.mapping(ck["optimizer"]["state"], "optimizer.state", ())
    for key, per_param in ck["optimizer"]["state"].items():
        where.mapping(per_param, f"optimizer.state.{key}", ())
        for name, value in per_param.items():
            if isinstance(value, str | dict | bool):
                raise where.error(f"optimizer.state.{key}.{name}",
                                  f"is a {type(value).__name__}, not a tensor or a number")
    if ck.get("scheduler") is not None and not isinstance(ck["scheduler"], dict):
        raise where.error("scheduler", f"is a {type(ck['scheduler']).__name__}, not a dict")
    t = ck["trainer"]
    where.mapping(t, "trainer", ("epoch", "epochs", "global_step", "batches_done", "best",
                                 "best_epoch", "bad_epochs", "history", "train_sums"))
    epochs = where.count(t, "epochs", low=1)
    epoch = where.count(t, "epoch", high=epochs)
    where.count(t, "global_step")
    where.count(t, "bad_epochs")
    batches_done = where.count(t, "batches_done")
    if batches_done and epoch == epochs:
        raise where.error("trainer.batches_done", f"is {batches_done} but all {epochs} epochs "
                                                  f"are done")
    if t["best_epoch"] is not None:
        where.count(t, "best_epoch", low=1, high=epoch)
    if t["best"] is not None and not _is_number(t["best"]):
        raise where.error("trainer.best", f"is {t['best']!r}, not a number")
    if not isinstance(t["history"], list) or not all(isinstance(h, dict) for h in t["history"]):
        raise where.error("trainer.history", "is not a list of per-epoch metrics")
    vector = t["train_sums"].get("vector") if isinstance(t["train_sums"], dict) else None
    if not (isinstance(vector, list) and len(vector) >= 3 and all(map(_is_number, vector))):
        raise where.error("trainer.train_sums", "is not the running sums of an epoch")
    world = where.count(t, "world_size", low=1) if "world_size" in t else 1
    rngs = ck["rng"] if isinstance(ck["rng"], list) else [ck["rng"]]
    if len(rngs) != world:
        raise where.error("rng", f"holds {len(rngs)} rank(s)' random states for a run of "
                                 f"{world}")
    for i, rng in enumerate(rngs):
        at = f"rng[{i}]" if isinstance(ck["rng"], list) else "rng"
        where.mapping(rng, at, ("now", "epoch_start"))
        _check_random_state(rng["now"], f"{at}.now", where)
        if rng["epoch_start"] is not None:
            _check_random_state(rng["epoch_start"], f"{at}.epoch_start", where)
        elif batches_done:
            raise where.error(f"{at}.epoch_start", "is missing, and the run stopped mid-epoch")


def check_resumable(ck: Any, trainer: Any, source: str = "the checkpoint", *,
                    _checked: bool = False) -> None:
    """Raise CheckpointError unless ``ck`` is a sound checkpoint (``check_checkpoint``) that
    can continue ``trainer``'s run: the same network (every name and shape), the same number of
    ranks, epochs left to train, its mid-epoch position within this loader's batches, running
    sums kept for the same top-k metrics. ``_checked``: ``ck`` comes straight from
    ``load_checkpoint``, which ran ``check_checkpoint`` on it already."""
    if not _checked:
        check_checkpoint(ck, source)
    mine = {k: tuple(v.shape) for k, v in trainer.model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in ck["model"].items()}
    from ..export.weights import state_differences  # noqa: PLC0415 - only when resuming

    wrong, only_here, only_there = state_differences(mine, theirs)
    if wrong or only_here or only_there:
        parts = [f"{k} is {theirs[k]} there and {mine[k]} here" for k in wrong]
        parts += [f"{k} is only there" for k in only_there]
        parts += [f"{k} is only here" for k in only_here]
        more = f" (and {len(parts) - _LISTED} more)" if len(parts) > _LISTED else ""
        raise CheckpointError(
            f"{source} was saved from a different network: {'; '.join(parts[:_LISTED])}{more}; "
            f"resume only with the graph it was trained on, or start a new run")
    t, epochs, ks = ck["trainer"], trainer.epochs, trainer.ks
    batches_per_epoch = len_or_none(trainer.train_loader)
    if t.get("world_size", 1) != trainer.world:
        raise CheckpointError(
            f"{source} was written by a run of {t.get('world_size', 1)} rank(s) but this run "
            f"has {trainer.world}; resume with the same number of processes")
    if t["epoch"] >= epochs:
        raise CheckpointError(
            f"{source} has already trained {t['epoch']} epoch(s) and this run is set to "
            f"{epochs}; to train further set epochs above {t['epoch']}")
    if batches_per_epoch is not None and t["batches_done"] > batches_per_epoch:
        raise CheckpointError(
            f"{source} stopped after batch {t['batches_done']} of epoch {t['epoch'] + 1}, but "
            f"an epoch of this data has {batches_per_epoch} batches; resume with the dataset "
            f"and batch size it was trained with, or start a new run")
    for i, (saved, group) in enumerate(zip(ck["optimizer"]["param_groups"],
                                           trainer.optimizer.param_groups)):
        for key in saved.keys() & group.keys() - {"params", "param_names"}:
            _check_like(saved[key], group[key], f"optimizer.param_groups.{i}.{key}", source)
    if trainer.scheduler is not None and ck.get("scheduler") is not None:
        current = trainer.scheduler.state_dict()
        for key in ck["scheduler"].keys() & current.keys():
            _check_like(ck["scheduler"][key], current[key], f"scheduler.{key}", source)
    if t["batches_done"] and len(t["train_sums"]["vector"]) != 3 + 2 * len(ks):
        raise CheckpointError(
            f"{source} kept its running metrics for other top-k accuracies than this run's "
            f"{list(ks)}; resume with the topk= it was trained with")


def _check_like(saved: Any, current: Any, at: str, source: str) -> None:
    """A hyperparameter or counter of the checkpoint's optimizer or scheduler must be plain
    data of the kind this run's holds there (a number for a number, a list as long for a
    list...): what an edit put in otherwise fails at the first step, as a TypeError."""
    kinds = ((bool,), (int, float), (str,), (list, tuple), (dict,))
    if current is None or isinstance(current, Tensor | np.ndarray):
        return
    kind = next((k for k in kinds if isinstance(current, k)), None)
    ok = kind is not None and isinstance(saved, kind) and (kind != (int, float) or not
                                                           isinstance(saved, bool))
    if ok and kind == (list, tuple):
        ok = len(saved) == len(current)
        for i, (a, b) in enumerate(zip(saved, current) if ok else ()):
            _check_like(a, b, f"{at}.{i}", source)
    if not ok:
        raise CheckpointError(
            f"{source}: {at} is {short_repr(saved, 40)} where this run keeps "
            f"{short_repr(current, 40)}; the "
            f"file was edited, or saved with another optimizer or scheduler: resume with the "
            f"settings it was trained with")


def _check_random_state(state: Any, at: str, where: _Where) -> None:
    where.mapping(state, at, ("engine", "loader"))
    where.mapping(state["engine"], f"{at}.engine", ("cpu",))
    _check_bit_generator(state["engine"]["cpu"], f"{at}.engine.cpu", where)
    if not isinstance(state["loader"], list):
        raise where.error(f"{at}.loader", "is not a list of generator states")
    for i, s in enumerate(state["loader"]):
        _check_bit_generator(s, f"{at}.loader[{i}]", where)


def _check_bit_generator(state: Any, at: str, where: _Where) -> None:
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if not isinstance(name, str) or name not in _BIT_GENERATORS:
        raise where.error(at, f"is not a NumPy generator state (bit_generator "
                              f"{name!r}; expected one of {', '.join(_BIT_GENERATORS)})")
    try:
        _BIT_GENERATORS[name]().state = state
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise where.error(at, f"is not a valid {name} state ({type(exc).__name__}: "
                              f"{exc})") from None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class _Where:
    """Builds the located messages of ``check_checkpoint`` ("<file>: trainer.epoch is -5,
    ...")."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, at: str, what: str) -> CheckpointError:
        return CheckpointError(f"{self.source}: {at or 'the checkpoint'} {what}; the file is "
                               f"damaged or was edited, resume from another checkpoint (the "
                               f"run's {LAST} or {BEST}) or start a new run")

    def mapping(self, obj: Any, at: str, keys: tuple[str, ...]) -> None:
        if not isinstance(obj, Mapping):
            raise self.error(at, f"is a {type(obj).__name__}, not a dict")
        missing = [k for k in keys if k not in obj]
        if missing:
            raise self.error(at, f"lacks {', '.join(repr(k) for k in missing)}")

    def count(self, t: Mapping[str, Any], key: str, low: int = 0,
              high: int | None = None) -> int:
        v = t[key]
        if not isinstance(v, int) or isinstance(v, bool) or v < low or (
                high is not None and v > high):
            bound = f"a whole number >= {low}" if high is None else \
                f"a whole number in [{low}, {high}]"
            raise self.error(f"trainer.{key}", f"is {v!r}, not {bound}")
        return v
