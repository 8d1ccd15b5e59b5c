"""What went wrong in a training run, said so a person can act on it: an exception (or a run
that ended on a NaN) turned into a ``Failure`` with a title, what happened and what to try.

Plain Python: the window shows a ``Failure`` in a dialog (``app.dashboard.errors``), and tests
check the classification without a window.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import AppError


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
    if isinstance(exc, AppError) or (isinstance(exc, ValueError | TypeError) and
                                     type(exc).__module__.startswith(("app.", "engine."))):
        return Failure("settings", "Training cannot start with these settings", text,
                       ["Change the setting named above in the training or data panel."],
                       details, w)
    from .logfile import bug_report_hint, log_bug  # noqa: PLC0415

    log = log_bug(exc, "training")
    return Failure("crash", "Training stopped because of an unexpected error",
                   f"{type(exc).__name__}: {text}",
                   ["Save the project, then try again.", bug_report_hint(log)],
                   details, w)
