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


class TerminalPresenter(Callback):
    """Progress bar and lines for one run; ``ready`` is the runner's ``on_ready``."""

    def __init__(self, name: str, progress: bool = True) -> None:
        self.name = name
        self.progress = progress
        self.main = True
        self.bar: Any = None
        self.samples_per_s = 0.0

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
