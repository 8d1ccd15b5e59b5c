"""The numbers of one training run, apart from any view: per-step loss and learning rate in
growing preallocated arrays, one record per epoch, the best epoch and the lr changes.

Why a separate model: the charts only draw a ``RunHistory``; the Qt bridge fills it from the
Trainer's events while a run trains; a finished run's is read back from its folder's
``metrics.jsonl`` (the Trainer's events, one JSON object a line: the one run log every run
writes, whether the window, ``layerforge train`` or ``mpiexec`` trained it). No Qt here.

Runs of older versions are still read: the window's ``history.npz`` + ``epochs.json``, the
command line's per-epoch lines with short metric names, and CSV epoch logs.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .runs import LOG_FILE, read_record
from .settings import canonical_monitor

HISTORY_FILE = "history.npz"  # runs of older versions
EPOCHS_FILE = "epochs.json"
# A learning-rate move of more than this (relative) between two steps is an "lr change" marker;
# smaller moves (a cosine schedule stepped every batch) are drawn by the lr curve alone.
LR_CHANGE_RTOL = 0.01
MAX_LR_MARKERS = 200


class GrowingArray:
    """An append-only 1-D array with amortised O(1) appends: a preallocated buffer that doubles
    when full, so live charts can call ``setData(view)`` without copying 100 000 points."""

    def __init__(self, capacity: int = 1024, dtype: Any = np.float64) -> None:
        self._buf = np.empty(max(int(capacity), 16), dtype=dtype)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def data(self) -> np.ndarray:
        """The filled part (a view: later appends never change what it shows)."""
        return self._buf[:self._n]

    def _reserve(self, n: int) -> None:
        if n > len(self._buf):
            new = np.empty(max(n, 2 * len(self._buf)), dtype=self._buf.dtype)
            new[:self._n] = self._buf[:self._n]
            self._buf = new

    def append(self, value: float) -> None:
        self._reserve(self._n + 1)
        self._buf[self._n] = value
        self._n += 1

    def extend(self, values: Sequence[float] | np.ndarray) -> None:
        values = np.asarray(values, dtype=self._buf.dtype).reshape(-1)
        self._reserve(self._n + len(values))
        self._buf[self._n:self._n + len(values)] = values
        self._n += len(values)

    def clear(self) -> None:
        self._n = 0


def ema(values: np.ndarray, smoothing: float, start: float | None = None) -> np.ndarray:
    """Exponential moving average ``y[i] = s*y[i-1] + (1-s)*x[i]`` starting from the first
    value (or ``start``, to continue an earlier call), as TensorBoard's smoothing slider does.
    Non-finite values are carried over instead of poisoning every later point."""
    s = float(smoothing)
    if not 0.0 <= s < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    out = np.empty(len(values), dtype=np.float64)
    if not len(values):
        return out
    y = start
    b = 1.0 - s
    # A Python loop over floats: ~10 ms for 100 000 points, and only whole recomputes (a slider
    # move) pay it; live updates continue from the last value.
    for i, x in enumerate(np.asarray(values, dtype=np.float64).tolist()):
        if not math.isfinite(x):
            out[i] = y if y is not None else x
            continue
        y = x if y is None else s * y + b * x
        out[i] = y
    return out


class RunHistory:
    """Per-step and per-epoch metrics of one run.

    Attributes:
        step, loss, lr: per optimizer step (``GrowingArray``s of equal length).
        epochs: one dict per finished epoch: ``epoch`` (1-based), ``step`` (global step at its
            end) and the Trainer's epoch metrics (``train_loss``, ``val_loss``,
            ``train_accuracy``, ``val_accuracy``, ...).
        best: the best epoch's record (lowest ``val_loss``, else lowest ``train_loss``), or None.
        lr_changes: ``(step, lr)`` where the learning rate jumped.
        name: a label for legends (the run id).
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.step = GrowingArray(dtype=np.float64)
        self.loss = GrowingArray(dtype=np.float64)
        self.lr = GrowingArray(dtype=np.float64)
        self.epochs: list[dict[str, float]] = []
        self.best: dict[str, float] | None = None
        self._checkpoint_epoch: int | None = None
        self.lr_changes: list[tuple[float, float]] = []
        self.monitor = "val_loss"
        self.version = 0  # bumped on every change, so views redraw only when needed

    def __len__(self) -> int:
        return len(self.step)

    def clear(self) -> None:
        for arr in (self.step, self.loss, self.lr):
            arr.clear()
        self.epochs.clear()
        self.best = None
        self._checkpoint_epoch = None
        self.lr_changes.clear()
        self.version += 1

    # ------------------------------------------------------------------ filling
    def append_steps(self, steps: Iterable[float], losses: Iterable[float],
                     lrs: Iterable[float] | None = None) -> None:
        """Add per-step points (the bridge delivers them in bunches)."""
        steps = np.asarray(list(steps) if not isinstance(steps, np.ndarray) else steps,
                           dtype=np.float64)
        losses = np.asarray(list(losses) if not isinstance(losses, np.ndarray) else losses,
                            dtype=np.float64)
        if lrs is None:
            lrs_arr = np.full(len(steps), np.nan)
        else:
            lrs_arr = np.asarray(list(lrs) if not isinstance(lrs, np.ndarray) else lrs,
                                 dtype=np.float64)
        if not (len(steps) == len(losses) == len(lrs_arr)):
            raise ValueError(f"append_steps: {len(steps)} steps, {len(losses)} losses and "
                             f"{len(lrs_arr)} learning rates; give one of each per step")
        if not len(steps):
            return
        prev = self.lr.data[-1] if len(self.lr) else None
        for s, v in zip(steps.tolist(), lrs_arr.tolist()):
            if math.isfinite(v):
                if prev is not None and math.isfinite(prev) and \
                        abs(v - prev) > LR_CHANGE_RTOL * max(abs(prev), 1e-30) and \
                        len(self.lr_changes) < MAX_LR_MARKERS:
                    self.lr_changes.append((s, v))
                prev = v
        self.step.extend(steps)
        self.loss.extend(losses)
        self.lr.extend(lrs_arr)
        self.version += 1

    def add_epoch(self, record: dict[str, Any]) -> None:
        """Add one epoch's metrics (``epoch`` 1-based and ``step`` are required)."""
        rec = {k: float(v) for k, v in record.items()
               if isinstance(v, int | float) and not isinstance(v, bool)}
        if "epoch" not in rec:
            raise ValueError("add_epoch: the record needs its 'epoch' (1-based)")
        rec.setdefault("step", float(self.step.data[-1]) if len(self.step) else 0.0)
        self.epochs.append(rec)
        key = self.monitor if self.monitor in rec else \
            ("val_loss" if "val_loss" in rec else "train_loss")
        value = rec.get(key)
        if value is not None and math.isfinite(value):
            higher = "accuracy" in key
            if self.best is None or key not in self.best or \
                    (value > self.best[key] if higher else value < self.best[key]):
                self.best = rec
        self.version += 1

    def mark_checkpoint(self, epoch: int, step: float) -> None:
        """Where the Trainer wrote its best checkpoint (drawn as a star). The Trainer writes it
        just after it reports the epoch (the run's weights are written first, so a full disk
        keeps them), so the epoch's record is already here."""
        self._checkpoint_epoch = int(epoch)
        self.version += 1

    @property
    def best_checkpoint(self) -> dict[str, float] | None:
        """The record of the epoch whose weights are in the best checkpoint (None before one)."""
        e = getattr(self, "_checkpoint_epoch", None)
        if e is None:
            return None
        for rec in reversed(self.epochs):
            if int(rec["epoch"]) == e:
                return rec
        return None

    # ------------------------------------------------------------------ series
    def epoch_series(self, key: str, x: str = "epoch") -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of one epoch metric over the epochs that have it."""
        rows = [r for r in self.epochs if key in r]
        return (np.array([r[x] for r in rows], dtype=np.float64),
                np.array([r[key] for r in rows], dtype=np.float64))

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.epochs:
            seen.update(dict.fromkeys(r))
        return list(seen)

    # ------------------------------------------------------------------ files
    def save(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Write ``history.npz`` and ``epochs.json`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        npz = folder / HISTORY_FILE
        np.savez(npz, step=self.step.data, loss=self.loss.data, lr=self.lr.data)
        js = folder / EPOCHS_FILE
        js.write_text(json.dumps({"epochs": self.epochs, "best": self.best,
                                  "best_checkpoint": self.best_checkpoint,
                                  "monitor": self.monitor}, indent=1), encoding="utf-8")
        return [npz, js]

    @classmethod
    def load(cls, source: str | os.PathLike[str], name: str = "",
             monitor: str | None = None) -> RunHistory:
        """A run's history from its folder (its ``metrics.jsonl``, or the files of older
        versions) or from a metrics log (``.jsonl`` events or ``.csv`` epoch rows)."""
        path = Path(source)
        hist = cls(name or path.stem)
        if monitor:
            hist.monitor = monitor
        if path.is_dir():
            if (path / LOG_FILE).exists():
                return cls.load(path / LOG_FILE, name or path.name,
                                monitor or (read_record(path) or {}).get("monitor"))
            npz, js = path / HISTORY_FILE, path / EPOCHS_FILE
            if npz.exists():
                with np.load(npz) as d:
                    hist.append_steps(d["step"], d["loss"], d["lr"])
            if js.exists():
                data = json.loads(js.read_text(encoding="utf-8"))
                hist.monitor = data.get("monitor", "val_loss")
                for rec in data.get("epochs", []):
                    hist.add_epoch(rec)
                if data.get("best_checkpoint"):
                    hist.mark_checkpoint(int(data["best_checkpoint"]["epoch"]), 0.0)
            if not (npz.exists() or js.exists()):
                for log in sorted(path.glob("*.jsonl")) + sorted(path.glob("*.csv")):
                    return cls.load(log, name or path.name)
                raise FileNotFoundError(f"{path}: no {HISTORY_FILE}, {EPOCHS_FILE} or metrics "
                                        "log in this run folder")
            return hist
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such metrics file")
        if path.suffix == ".jsonl":
            steps, losses, lrs = [], [], []
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    ev = json.loads(line)
                except ValueError:  # a line cut short by a crash mid-write: the rest is good
                    continue
                if not isinstance(ev, dict):
                    continue
                kind = ev.get("kind")
                if kind == "batch_end" and "loss" in ev:
                    steps.append(float(ev.get("step", len(steps) + 1)))
                    losses.append(_num(ev["loss"]))
                    lrs.append(_num(ev.get("lr", "nan")))
                elif kind == "epoch_end":
                    rec = {k: _num(v) for k, v in ev.items()
                           if k not in ("kind", "epochs", "batch", "batches", "message")
                           and isinstance(v, int | float | str) and _is_number(v)}
                    rec["epoch"] = float(ev.get("epoch", len(hist.epochs))) + 1
                    hist.append_steps(steps, losses, lrs)  # in order: epochs mark steps
                    steps, losses, lrs = [], [], []
                    hist.add_epoch(rec)
                elif kind == "checkpoint" and ev.get("which") == "best":
                    hist.mark_checkpoint(int(ev.get("epoch", 0)) + 1, float(ev.get("step", 0)))
                elif kind is None and "epoch" in ev:  # one line per epoch, 1-based, short names
                    rec = {canonical_monitor(k): _num(v) for k, v in ev.items()
                           if _is_number(v)}
                    rec.setdefault("step", float("nan"))
                    hist.add_epoch(rec)
            hist.append_steps(steps, losses, lrs)
        elif path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    rec = {k: _num(v) for k, v in row.items() if k and _is_number(v)}
                    if "epoch" in rec and "batch" not in rec:
                        hist.add_epoch(rec)
        else:
            raise ValueError(f"{path}: unknown metrics file type {path.suffix!r}; expected a "
                             "run folder, .jsonl or .csv")
        return hist


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int | float):
        return True
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def sample_history(points: int = 3000, steps_per_epoch: int = 100, seed: int = 0,
                   name: str = "sample") -> RunHistory:
    """A plausible run: loss decaying with noise, accuracy rising, StepLR halving the lr."""
    rng = np.random.default_rng(seed)
    h = RunHistory(name)
    steps = np.arange(1, points + 1, dtype=np.float64)
    base = 2.3 * np.exp(-steps / (points / 4)) + 0.1
    loss = base * np.exp(rng.normal(0, 0.25, points))
    lr = 0.1 * 0.5 ** np.floor(steps / (points / 3))
    h.append_steps(steps, loss, lr)
    for e in range(1, points // steps_per_epoch + 1):
        s = e * steps_per_epoch
        tl = float(base[s - 1])
        h.add_epoch({"epoch": e, "step": s, "train_loss": tl, "val_loss": tl * 1.1 + 0.02,
                     "train_accuracy": 1 - tl / 2.5, "val_accuracy": 1 - tl / 2.3 - 0.02})
    return h
