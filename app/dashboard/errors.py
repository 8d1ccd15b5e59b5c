"""What went wrong in a training run, said so a person can act on it: the dashboard's exceptions,
the turning of an exception (or a run that ended on a NaN) into a ``Failure`` with a title, what
happened and what to try, and the dialog that shows it.

The classification is plain Python (tests check it without a window); Qt is imported only by the
dialog. ``python -m app.dashboard.errors`` shows one dialog per kind.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class DashboardError(Exception):
    """Base of the dashboard's own errors."""


class TrainingSetupError(DashboardError, ValueError):
    """The run cannot start with these settings; the message says which and what to change."""


@dataclass
class Failure:
    """A run that ended badly, for the dialog and the status line.

    Attributes:
        kind: ``nan``, ``oom``, ``data``, ``worker``, ``graph``, ``settings``, ``device`` or
            ``crash``.
        title: one line (the dialog's heading).
        what: what happened, in a sentence or two.
        tips: what to try, most likely first.
        details: the traceback or the full message (the dialog's "Show Details").
        weights: where the last good weights were kept, if anywhere.
    """

    kind: str
    title: str
    what: str
    tips: list[str] = field(default_factory=list)
    details: str = ""
    weights: str | None = None

    def text(self) -> str:
        """Everything in plain text (logs, the status bar's tooltip, tests)."""
        out = [self.title, "", self.what]
        if self.weights:
            out += ["", f"The last good weights were kept in {self.weights}."]
        if self.tips:
            out += ["", "What to try:"] + [f"  - {t}" for t in self.tips]
        return "\n".join(out)


def _is_oom(exc: BaseException) -> bool:
    """MemoryError (the engine's and CuPy's out-of-memory errors derive from it) or a driver
    error that says so."""
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


def describe_failure(exc: BaseException | None = None, *, reason: str | None = None,
                     message: str = "", weights: str | Path | None = None,
                     settings: dict[str, Any] | None = None) -> Failure:
    """A ``Failure`` for an exception raised by a run, or for a run that ended with ``reason``
    ``"nan"`` (``message`` is then the Trainer's). ``settings`` (the project's training
    section) lets the tips name concrete values."""
    settings = settings or {}
    w = str(weights) if weights else None
    details = "".join(traceback.format_exception(exc)) if exc is not None else message
    opt = settings.get("optimizer", {}) if isinstance(settings.get("optimizer"), dict) else {}
    lr = opt.get("lr")
    batch = settings.get("batch_size")
    if exc is None and reason == "nan":
        tips = [f"Lower the learning rate (now {lr:g}; try {lr / 10:g})." if lr else
                "Lower the learning rate (ten times smaller is a good first step).",
                "Turn on gradient clipping (max norm 1.0) in the training panel."]
        tips.append("Normalise the inputs (Data panel > Normalise, with the suggested mean and "
                    "std).")
        tips.append("Check the data for NaN or infinite values (CSV/NPZ files).")
        return Failure("nan", "Training stopped: the loss became NaN or infinite",
                       message or "The loss was not a finite number, so the update was not "
                       "applied.", tips, details, w)
    if exc is None:
        raise ValueError("describe_failure needs an exception or reason='nan'")
    from engine.data import DataError, WorkerError  # noqa: PLC0415
    from engine.errors import DeviceError  # noqa: PLC0415
    from engine.graph import CompileError  # noqa: PLC0415

    text = str(exc) or type(exc).__name__
    if _is_oom(exc):
        smaller = f" (now {batch}; try {max(batch // 2, 1)})" if batch else ""
        return Failure("oom", "Training stopped: out of memory",
                       f"The device ran out of memory: {text}",
                       [f"Use a smaller batch size{smaller}.",
                        "Use a smaller model (fewer channels or units) or a smaller input size.",
                        "Close other programs that use the GPU, or train on several GPUs so "
                        "each holds a part of the batch.",
                        "Train on the CPU, which has more memory (slower)."], details, w)
    if isinstance(exc, WorkerError):
        return Failure("worker", "Training stopped: a data-loading worker crashed", text,
                       ["Run again: a worker killed by the system (out of memory) may not "
                        "crash twice.",
                        "Use fewer or no worker processes (num_workers = 0).",
                        "Check the dataset's files: a corrupt image can crash a decoder."],
                       details, w)
    if isinstance(exc, DataError | FileNotFoundError | UnicodeDecodeError):
        return Failure("data", "The dataset could not be used", text,
                       ["Check the folder or file chosen in the Data panel.",
                        "For MNIST, Fashion-MNIST, KMNIST and CIFAR-10: use Download, or put "
                        "the files named above in that folder.",
                        "Try the built-in Digits dataset to check the rest of the setup."],
                       details, w)
    if isinstance(exc, CompileError):
        return Failure("graph", "The graph cannot be trained yet", text,
                       ["Fix the problems listed in the Problems panel (click one to find "
                        "its node).",
                        "Check that the Input shape matches the dataset (the Data panel sets "
                        "it)."], details, w)
    if isinstance(exc, DeviceError):
        return Failure("device", "The chosen device cannot be used", text,
                       ["Choose the CPU in the training panel's device list.",
                        "For GPUs: install CuPy for your CUDA version "
                        "(pip install 'layerforge[cuda12]')."], details, w)
    if isinstance(exc, TrainingSetupError | ValueError | TypeError) and \
            type(exc).__module__.startswith(("app.", "engine.")):
        return Failure("settings", "Training cannot start with these settings", text,
                       ["Change the setting named above in the training or data panel."],
                       details, w)
    return Failure("crash", "Training stopped because of an unexpected error",
                   f"{type(exc).__name__}: {text}",
                   ["Save the project, then try again.",
                    "If it happens again, report it with the details below (Show Details)."],
                   details, w)


# ---------------------------------------------------------------------- the dialog
def failure_dialog(failure: Failure, parent: Any = None) -> Any:
    """A warning box: the title, what happened, where the weights are, what to try; the
    traceback under "Show Details". Returned unshown: call ``open()`` (non-blocking)."""
    from PySide6 import QtWidgets  # noqa: PLC0415

    box = QtWidgets.QMessageBox(parent)
    box.setIcon(QtWidgets.QMessageBox.Warning)
    box.setWindowTitle("Training stopped" if failure.kind not in ("settings", "graph")
                       else "Cannot train")
    box.setText(f"<b>{_html(failure.title)}</b>")
    info = [f"<p>{_html(failure.what)}</p>"]
    if failure.weights:
        info.append(f"<p>The last good weights were kept in <code>{_html(failure.weights)}"
                    f"</code>.</p>")
    if failure.tips:
        info.append("<p>What to try:</p><ul>" +
                    "".join(f"<li>{_html(t)}</li>" for t in failure.tips) + "</ul>")
    box.setInformativeText("".join(info))
    if failure.details and failure.details != failure.what:
        box.setDetailedText(failure.details)
    box.setStandardButtons(QtWidgets.QMessageBox.Ok)
    box.setObjectName(f"failure_{failure.kind}")
    return box


def _html(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\n", "<br>"))


def _samples() -> list[Failure]:
    from engine.data import DatasetNotFoundError, WorkerError  # noqa: PLC0415

    train = {"optimizer": {"name": "SGD", "lr": 0.5}, "batch_size": 256}
    return [describe_failure(reason="nan", message="the loss became non-finite (nan) at epoch 3, "
                             "batch 17; training stopped", weights="runs/x/weights.safetensors",
                             settings=train),
            describe_failure(MemoryError("cannot allocate 3.1 GiB"), settings=train),
            describe_failure(DatasetNotFoundError("MNIST files not found in data/MNIST/raw: "
                                                  "train-images-idx3-ubyte.gz, ...")),
            describe_failure(WorkerError("DataLoader worker 1 (pid 4242) exited unexpectedly "
                                         "with signal 9 (killed)")),
            describe_failure(RuntimeError("something unexpected"))]


def main(argv: list[str] | None = None) -> int:
    """Show the dialog of one kind of failure (``--kind nan|oom|data|worker|crash``)."""
    from . import _standalone  # noqa: PLC0415

    def build(args: Any) -> Any:
        failures = {f.kind: f for f in _samples()}
        return failure_dialog(failures[args.kind])

    return _standalone.run(build, "LayerForge - training failure", argv, (560, 300),
                           lambda ap: ap.add_argument("--kind", default="nan", choices=(
                               "nan", "oom", "data", "worker", "crash")))


if __name__ == "__main__":
    import sys

    sys.exit(main())
