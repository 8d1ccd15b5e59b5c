"""The training loop (``Trainer`` / ``fit``), its events and callbacks, metrics, checkpoints and
metric logs. Plain engine code: the GUI drives it from a QThread through callbacks, the CLI from
the main thread; nothing here imports Qt."""

from __future__ import annotations

from .checkpoint import BEST, LAST, load_checkpoint, save_checkpoint
from .diagnostics import DiagnosticsCollector, DiagnosticsRecord, LayerStats
from .errors import CheckpointError, TrainingError
from .events import Callback, CallbackList, Event, EventKind, LambdaCallback
from .health import HealthMonitor, HealthWarning
from .loggers import CSVLogger, JSONLinesLogger, ProgressPrinter
from .lr_finder import LRFinderResult, lr_range_test
from .metrics import MetricSums, accuracy, topk_accuracy, topk_correct
from .tensorboard import TensorBoardLogger
from .trainer import FitResult, Trainer, fit

__all__ = [
    "BEST", "LAST", "CSVLogger", "Callback", "CallbackList", "CheckpointError",
    "DiagnosticsCollector", "DiagnosticsRecord", "Event", "EventKind", "FitResult",
    "HealthMonitor", "HealthWarning", "JSONLinesLogger", "LRFinderResult", "LambdaCallback",
    "LayerStats", "MetricSums", "TensorBoardLogger", "lr_range_test",
    "ProgressPrinter", "Trainer", "TrainingError", "accuracy", "fit", "load_checkpoint",
    "save_checkpoint", "topk_accuracy", "topk_correct",
]
