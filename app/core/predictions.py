"""Predictions on the validation set after an epoch, and what the evaluation view shows of them:
the confusion matrix, the misclassified samples of one cell sorted by confidence, and a sample of
predictions. No Qt here: the worker thread computes an ``EvalResult``, the GUI only draws it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .datasets import as_numpy

# The evaluation looks at no more than this many validation samples: enough for a confusion
# matrix and a grid, cheap enough to run after every epoch without slowing training.
MAX_EVAL_SAMPLES = 2000


@dataclass
class EvalResult:
    """Predictions of one epoch.

    Attributes:
        epoch: 1-based epoch the model had finished.
        y_true, y_pred: labels and predicted classes, ``(N,)`` int64.
        confidence: probability the model gave its prediction, ``(N,)``.
        samples: the inputs as the dataset gives them (before normalisation), ``(N, ...)``,
            for thumbnails; shared between epochs (the validation set does not change).
        class_names: one name per class.
        confusion: ``(C, C)`` counts, rows true class, columns predicted.
    """

    epoch: int
    y_true: np.ndarray
    y_pred: np.ndarray
    confidence: np.ndarray
    samples: np.ndarray
    class_names: list[str]
    confusion: np.ndarray

    @property
    def accuracy(self) -> float:
        return float((self.y_true == self.y_pred).mean()) if len(self.y_true) else 0.0

    def cell(self, true: int, pred: int) -> np.ndarray:
        """Indices of the samples of class ``true`` predicted as ``pred``, most confident
        first (the confidently wrong ones are the interesting ones)."""
        idx = np.flatnonzero((self.y_true == true) & (self.y_pred == pred))
        return idx[np.argsort(-self.confidence[idx], kind="stable")]

    def misclassified(self) -> np.ndarray:
        idx = np.flatnonzero(self.y_true != self.y_pred)
        return idx[np.argsort(-self.confidence[idx], kind="stable")]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts, rows the true class and columns the predicted one."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return m


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def collect_samples(dataset: Any, limit: int = MAX_EVAL_SAMPLES,
                    batch_size: int = 256) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """The first ``limit`` validation batches (as the loader gives them), and their inputs and
    labels as NumPy arrays. Done once per run: the validation set is fixed."""
    from engine.data import DataLoader, Subset  # noqa: PLC0415

    n = min(len(dataset), limit)
    part = dataset if n == len(dataset) else Subset(dataset, list(range(n)))
    # Its own generator: a loader draws a seed when iterated, and a draw from the engine's
    # global stream here would shift the run's dropout masks (the window would then train to
    # other numbers than the command line, which shows no predictions).
    batches = list(DataLoader(part, batch_size=batch_size, generator=np.random.default_rng(0)))
    xs = np.concatenate([as_numpy(b[0]) for b in batches]) if batches else np.zeros((0,))
    ys = np.concatenate([as_numpy(b[1]).reshape(-1) for b in batches]) if batches else \
        np.zeros((0,), np.int64)
    return batches, xs, ys.astype(np.int64)


def evaluate_classifier(net: Any, batches: list[Any], batch_fn: Any, samples: np.ndarray,
                        labels: np.ndarray, class_names: list[str] | None,
                        epoch: int) -> EvalResult:
    """Run ``net`` (in eval mode, no gradients) over ``batches`` and gather an EvalResult."""
    from engine import no_grad  # noqa: PLC0415

    was_training = net.training
    net.eval()
    logits = []
    try:
        with no_grad():
            for batch in batches:
                x, _ = batch_fn(batch)
                logits.append(as_numpy(net(x)).reshape(len(as_numpy(batch[1])), -1))
    finally:
        net.train(was_training)
    z = np.concatenate(logits).astype(np.float64) if logits else np.zeros((0, 1))
    n_classes = max(z.shape[1], int(labels.max()) + 1 if len(labels) else 1)
    names = list(class_names or [])[:n_classes]
    names += [str(i) for i in range(len(names), n_classes)]
    p = softmax(z) if len(z) else z
    pred = p.argmax(axis=1).astype(np.int64) if len(z) else np.zeros((0,), np.int64)
    conf = p[np.arange(len(pred)), pred] if len(z) else np.zeros((0,))
    return EvalResult(epoch, labels, pred, conf, samples, names,
                      confusion_matrix(labels, pred, n_classes))


def sample_result(n: int = 300, classes: int = 10, seed: int = 0,
                  image: tuple[int, ...] = (1, 8, 8)) -> EvalResult:
    """Made-up predictions with images (for the widget's standalone view and tests)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    wrong = rng.random(n) < 0.15
    pred = np.where(wrong, (y + rng.integers(1, classes, n)) % classes, y)
    conf = np.where(wrong, rng.uniform(0.3, 0.95, n), rng.uniform(0.6, 1.0, n))
    samples = rng.random((n, *image)).astype(np.float32)
    for i in range(n):  # a bright bar whose position depends on the class
        samples[i, ..., y[i] % image[-1]] += 1.0
    samples = np.clip(samples / 2, 0, 1)
    return EvalResult(1, y, pred, conf, samples, [str(c) for c in range(classes)],
                      confusion_matrix(y, pred, classes))
