"""Metric logs and a plain-text progress printer, as Trainer callbacks.

Only rank 0 of a distributed run writes (every rank sees the same epoch metrics, which are
reduced across ranks before the event is sent).
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from .events import Callback, Event, EventKind

_EPOCH_FIRST = ("epoch", "step")


class JSONLinesLogger(Callback):
    """Append one JSON object per event to ``path`` (``batches=False`` keeps only epoch-level
    events). Appending is what makes a resumed run continue the same log.

    The file stays open while training runs: a batch line costs a buffered write, not an open
    and a close. Everything but batch lines is flushed at once (a reader following a live run
    sees each epoch as it ends), batch lines at least every ``flush_s`` seconds; the file is
    closed at the end of ``fit`` (or by ``close``)."""

    def __init__(self, path: str | os.PathLike[str], batches: bool = True,
                 kinds: tuple[EventKind, ...] | None = None, flush_s: float = 1.0) -> None:
        self.path = Path(path)
        self.batches = batches
        self.kinds = kinds
        self.flush_s = flush_s
        self._file: IO[str] | None = None
        self._flushed = 0.0

    def on_event(self, trainer: Any, event: Event) -> None:
        if event.rank != 0:
            return
        if self.kinds is not None and event.kind not in self.kinds:
            return
        if event.kind is EventKind.BATCH_END and not self.batches:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json.dumps(_json_safe(event.to_dict())) + "\n")
        now = time.monotonic()
        if event.kind is not EventKind.BATCH_END or now - self._flushed >= self.flush_s:
            self._file.flush()
            self._flushed = now
        if event.kind in (EventKind.FIT_END, EventKind.ERROR):
            self.close()

    def close(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            f.close()


class CSVLogger(Callback):
    """One CSV row per epoch (``epoch``, ``step``, then every epoch metric); with
    ``batches=True`` one row per batch instead. When a metric appears that earlier rows lacked,
    the file is rewritten with the wider header (logs are small: one row per epoch)."""

    def __init__(self, path: str | os.PathLike[str], batches: bool = False) -> None:
        self.path = Path(path)
        self.batches = batches
        self._rows: list[dict[str, Any]] = []
        self._fields: list[str] = []

    def on_event(self, trainer: Any, event: Event) -> None:
        if event.rank != 0:
            return
        wanted = EventKind.BATCH_END if self.batches else EventKind.EPOCH_END
        if event.kind is not wanted:
            return
        row: dict[str, Any] = {"epoch": event.epoch + 1, "step": event.step}
        if self.batches:
            row["batch"] = event.batch + 1
        row.update(event.metrics)
        if not self._rows and self.path.exists():
            self._load_existing()
        new = [k for k in row if k not in self._fields]
        self._rows.append(row)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if new or not self.path.exists():
            self._fields += new
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            with tmp.open("w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, fieldnames=self._fields, restval="")
                w.writeheader()
                w.writerows(self._rows)
            os.replace(tmp, self.path)
        else:
            with self.path.open("a", newline="", encoding="utf-8") as f:
                csv.DictWriter(f, fieldnames=self._fields, restval="").writerow(row)

    def _load_existing(self) -> None:
        """Continue a log written before a resume (keeping its rows and columns)."""
        with self.path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            self._fields = list(reader.fieldnames or [])
            self._rows = [dict(r) for r in reader]


class ProgressPrinter(Callback):
    """Human-readable progress lines for terminals and logs (the CLI may use tqdm instead)."""

    def __init__(self, stream: IO[str] | None = None, every_n_batches: int = 50) -> None:
        self.stream = stream
        self.every = max(1, int(every_n_batches))

    def _write(self, text: str) -> None:
        out = self.stream or sys.stderr
        out.write(text + "\n")
        out.flush()

    def on_event(self, trainer: Any, event: Event) -> None:
        if event.rank != 0:
            return
        m = event.metrics
        if event.kind is EventKind.BATCH_END:
            if (event.batch + 1) % self.every:
                return
            total = f"/{event.batches}" if event.batches else ""
            self._write(f"epoch {event.epoch + 1}/{event.epochs} batch {event.batch + 1}{total}"
                        f"  {_fmt(m, ('loss', 'accuracy', 'lr', 'samples_per_s', 'eta_s'))}")
        elif event.kind is EventKind.EPOCH_END:
            self._write(f"epoch {event.epoch + 1}/{event.epochs} done  {_fmt(m, tuple(m))}")
        elif event.message and event.kind in (EventKind.EARLY_STOP, EventKind.NAN_DETECTED,
                                              EventKind.STOPPED, EventKind.CHECKPOINT,
                                              EventKind.FIT_END, EventKind.ERROR,
                                              EventKind.WARNING):
            self._write(event.message)


def _fmt(m: dict[str, float], keys: tuple[str, ...]) -> str:
    parts = []
    for k in keys:
        if k in m:
            v = m[k]
            parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return "  ".join(parts)


def _json_safe(d: dict[str, Any]) -> dict[str, Any]:
    """Non-finite floats as strings ("nan", "inf"): strict JSON has no NaN."""
    return {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in d.items()}
