"""The terminal side of a run: a progress bar per epoch, one line per epoch, one line at the
end, and Ctrl-C (or SIGTERM) turned into a stop after the current batch. Only rank 0 of an
``mpiexec`` run prints.

The run itself is ``app.core.runner.train``, the same as the window's; this is a Trainer
callback plus the few lines around it.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.core.run import Run
from app.core.runner import REASON_TEXT, RunControl, RunResult
from engine.training import Callback

# How the terminal labels the Trainer's metrics (the log keeps the Trainer's own names).
_SHORT = (("train_loss", "loss"), ("train_accuracy", "acc"), ("val_loss", "val_loss"),
          ("val_accuracy", "val_acc"))


def format_metrics(metrics: dict[str, Any], digits: int = 4) -> str:
    """``loss 0.5267  acc 0.7113  val_loss 0.4876  val_acc 0.7250``: an epoch's metrics as the
    terminal shows them."""
    return "  ".join(f"{label} {metrics[key]:.{digits}f}" for key, label in _SHORT
                     if key in metrics)


def format_diagnostics(record: Any) -> list[str]:
    """The layers of a diagnostics sample as a table (``--diagnostics``, after each epoch)."""
    def num(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    width = max([5, *(len(n) for n in record.layers)])
    lines = [f"  layers at step {record.step}:",
             f"  {'layer':<{width}}  {'type':<10} {'act mean':>9} {'act std':>9} "
             f"{'zero/sat':>8} {'grad norm':>9} {'update/w':>9}"]
    for name, s in record.layers.items():
        a = s.activation
        frac = None
        if a is not None and a.n and s.kind != "other":
            frac = a.zero_fraction if s.kind == "relu" else a.saturation_fraction
        lines.append(f"  {name:<{width}}  {s.type[:10]:<10} "
                     f"{num(a.mean if a is not None and a.n else None, '9.4f'):>9} "
                     f"{num(a.std if a is not None and a.n else None, '9.4f'):>9} "
                     f"{num(frac, '8.0%'):>8} {num(s.grad_norm, '9.1e'):>9} "
                     f"{num(s.update_ratio, '9.1e'):>9}")
    return lines


def format_lr_sweep(result: Any, rows: int = 16, bar: int = 40) -> list[str]:
    """``layerforge lr-find``'s answer: the smoothed loss against the learning rate as a text
    chart (a row every few steps, the suggestion and the minimum marked), then one line."""
    n = len(result.lrs)
    if n == 0:
        return ["no step was taken"]
    marks = {result.suggestion_index: "<- suggested", result.min_index: "<- minimum"}
    shown = sorted({*range(0, n, max(1, n // rows)), n - 1,
                    *(i for i in marks if i is not None)})
    sm = result.smoothed
    low = min(sm)
    high = max(min(max(sm), 2 * sm[0] - low), low + 1e-12)  # a divergent tail goes off scale
    lines = ["        lr   loss (smoothed)"]
    for i in shown:
        filled = int(round(bar * (min(sm[i], high) - low) / (high - low)))
        tail = ">" if sm[i] > high else ""
        lines.append(f"  {result.lrs[i]:8.2e}   {sm[i]:8.4f} {'#' * filled}{tail}"
                     f"{'  ' + marks[i] if i in marks else ''}")
    if result.reason != "completed":
        why = "the loss diverged" if result.reason == "diverged" else "the loss became NaN"
        lines.append(f"stopped at lr {result.lrs[-1]:.2e}: {why}")
    if result.suggestion is None:
        lines.append("no suggestion: the loss did not fall during the sweep; try a wider range "
                     "(--start, --end) or more --steps")
    else:
        lines.append(f"suggested learning rate: {result.suggestion:.3g} (steepest descent of "
                     f"the smoothed loss before its minimum at {result.min_lr:.3g})")
    return lines


class TerminalPresenter(Callback):
    """Progress bar and lines for one run; ``ready`` is the runner's ``on_ready``. With
    diagnostics, warnings are printed as they come and a table of the layers after each
    epoch."""

    def __init__(self, name: str, progress: bool = True) -> None:
        self.name = name
        self.progress = progress
        self.main = True
        self.bar: Any = None
        self.samples_per_s = 0.0
        self.diagnostics: Any = None  # the latest sample of the epoch

    def ready(self, run: Run, folder: Path, trainer: Any) -> None:
        self.main = trainer.is_main_process
        if not self.main:
            return
        info = run.describe()
        where = (f"{trainer.world} ranks" if run.distributed
                 else ", ".join(run.settings.devices))
        if run.ranks:  # a launcher's "BAD TERMINATION ... PID n" can then be read as a rank
            where += " (" + ", ".join(f"rank {i}: {at}" for i, at in enumerate(run.ranks)) + ")"
        print(f"training {self.name!r}: {info['train_samples']} training / "
              f"{info['val_samples']} validation samples, {info['parameters']:,} parameters, on "
              f"{where}; writing to {folder}", flush=True)

    def on_epoch_start(self, trainer: Any, event: Any) -> None:
        self.samples_per_s = 0.0
        if self.progress and self.main:
            from tqdm import tqdm  # noqa: PLC0415

            # disable=None: no bar when stderr is not a terminal (logs, CI), only the lines
            self.bar = tqdm(total=event.batches, desc=f"epoch {event.epoch + 1}/{event.epochs}",
                            unit="batch", leave=False, file=sys.stderr, dynamic_ncols=True,
                            disable=None)

    def on_batch_end(self, trainer: Any, event: Any) -> None:
        self.samples_per_s = event.metrics.get("samples_per_s", 0.0)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{event.metrics['loss']:.4f}", refresh=False)

    def on_epoch_end(self, trainer: Any, event: Any) -> None:
        self.close_bar()
        if not self.main:
            return
        m = event.metrics
        parts = [f"epoch {event.epoch + 1}/{event.epochs}", format_metrics(m),
                 f"lr {m['lr']:.3g}", f"{self.samples_per_s:.0f} samples/s",
                 f"{m.get('epoch_time_s', 0.0):.1f}s"]
        print("  ".join(parts), flush=True)
        if self.diagnostics is not None:
            print("\n".join(format_diagnostics(self.diagnostics)), flush=True)
            self.diagnostics = None

    def on_diagnostics(self, trainer: Any, event: Any) -> None:
        self.diagnostics = event.data["diagnostics"]

    def on_warning(self, trainer: Any, event: Any) -> None:
        if not self.main:
            return
        text = ("warning: " if event.data.get("active", True) else "") + event.message
        if self.bar is not None:
            self.bar.write(text, file=sys.stdout)
        else:
            print(text, flush=True)

    def on_fit_end(self, trainer: Any, event: Any) -> None:
        self.close_bar()

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def report_end(self, result: RunResult) -> None:
        """The last line: how the run ended and where its weights are (stderr when it did not
        end well)."""
        self.close_bar()
        if not self.main:
            return
        where = (f"weights in {result.weights}" if result.weights is not None
                 else "no weights written")
        text = REASON_TEXT.get(result.reason, result.reason)
        detail = "" if result.reason == "completed" else result.message
        line = f"{text}" + (f": {detail}" if detail else "") + f"; {where}"
        print(line, file=sys.stdout if result.ok else sys.stderr, flush=True)


@contextlib.contextmanager
def stop_on_signals(control: RunControl, presenter: TerminalPresenter) -> Iterator[None]:
    """First Ctrl-C or SIGTERM: stop before the next batch (the run ends as usual, its record
    and weights kept). A second Ctrl-C: the usual KeyboardInterrupt, at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous = {s: signal.getsignal(s) for s in wanted}

    def handler(signum: int, frame: Any) -> None:
        if control.stopped and signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        control.stop("interrupted")
        if presenter.main:
            what = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
            again = " (Ctrl-C again to stop at once)" if signum == signal.SIGINT else ""
            print(f"\n{what}: stopping after this batch{again}", file=sys.stderr, flush=True)

    for s in wanted:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
