"""Synthetic datasets, seeded and of any size: 2-D classification toys (Spirals, Moons, Circles,
Blobs, XOR) for first experiments and the app's playground, and sequence tasks (parity, the
adding problem) for recurrent networks.

Points are float32, labels int64; classes are balanced (the remainder goes to the first
classes) and samples shuffled, so any prefix or ``random_split`` is balanced too. The same
arguments and ``seed`` always give the same data, independent of ``engine.manual_seed``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..dataset import ArrayDataset

__all__ = ["XOR", "Blobs", "Circles", "Moons", "SequenceTask", "Spirals"]

Transform = Callable[[Any], Any] | None


def _counts(n: int, k: int) -> list[int]:
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _check(n_samples: int, noise: float) -> None:
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")


class _PointSet(ArrayDataset):
    """Shuffles the generated points and stores them as float32 / int64."""

    def _finish(self, rng: np.random.Generator, x: np.ndarray, y: np.ndarray,
                transform: Transform, target_transform: Transform) -> None:
        order = rng.permutation(len(x))
        super().__init__(np.ascontiguousarray(x[order], dtype=np.float32),
                         y[order].astype(np.int64), transform, target_transform)

    @property
    def num_classes(self) -> int:
        return int(self.targets.max()) + 1


class Spirals(_PointSet):
    """``n_classes`` interleaved spiral arms in [-1, 1]^2.

    Args:
        n_samples: points in all.
        n_classes: arms (one class each).
        noise: standard deviation of the Gaussian jitter (in units of the radius).
        turns: how many times each arm winds around the centre.
        seed: the data's seed.
    """

    def __init__(self, n_samples: int = 1000, n_classes: int = 2, noise: float = 0.05,
                 turns: float = 1.0, seed: int = 0, transform: Transform = None,
                 target_transform: Transform = None) -> None:
        _check(n_samples, noise)
        if n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {n_classes}")
        rng = np.random.default_rng(seed)
        xs, ys = [], []
        for c, n in enumerate(_counts(n_samples, n_classes)):
            r = np.sqrt(rng.uniform(0.0, 1.0, n))  # even density along the arm
            theta = r * turns * 2 * np.pi + c * 2 * np.pi / n_classes
            pts = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
            xs.append(pts + rng.normal(0.0, noise, pts.shape))
            ys.append(np.full(n, c))
        self._finish(rng, np.concatenate(xs), np.concatenate(ys), transform, target_transform)


class Moons(_PointSet):
    """Two interleaving half circles (scikit-learn's ``make_moons``)."""

    def __init__(self, n_samples: int = 1000, noise: float = 0.1, seed: int = 0,
                 transform: Transform = None, target_transform: Transform = None) -> None:
        _check(n_samples, noise)
        rng = np.random.default_rng(seed)
        n_out, n_in = _counts(n_samples, 2)
        t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
        outer = np.stack([np.cos(t_out), np.sin(t_out)], axis=1)
        inner = np.stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5], axis=1)
        x = np.concatenate([outer, inner])
        x += rng.normal(0.0, noise, x.shape)
        y = np.concatenate([np.zeros(n_out), np.ones(n_in)])
        self._finish(rng, x, y, transform, target_transform)


class Circles(_PointSet):
    """A small circle (class 1) inside a large one (class 0)."""

    def __init__(self, n_samples: int = 1000, noise: float = 0.05, factor: float = 0.5,
                 seed: int = 0, transform: Transform = None,
                 target_transform: Transform = None) -> None:
        _check(n_samples, noise)
        if not 0 < factor < 1:
            raise ValueError(f"factor (inner radius / outer radius) must be in (0, 1), got "
                             f"{factor}")
        rng = np.random.default_rng(seed)
        n_out, n_in = _counts(n_samples, 2)
        t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
        t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
        x = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], axis=1),
                            factor * np.stack([np.cos(t_in), np.sin(t_in)], axis=1)])
        x += rng.normal(0.0, noise, x.shape)
        y = np.concatenate([np.zeros(n_out), np.ones(n_in)])
        self._finish(rng, x, y, transform, target_transform)


class Blobs(_PointSet):
    """Gaussian clusters, one class each.

    Args:
        centers: how many clusters (placed at random in ``center_box``), or their coordinates.
        n_features: the points' dimension (2 for the plane).
        cluster_std: the clusters' standard deviation.
    """

    def __init__(self, n_samples: int = 1000, centers: int | Sequence[Sequence[float]] = 3,
                 n_features: int = 2, cluster_std: float = 1.0,
                 center_box: tuple[float, float] = (-10.0, 10.0), seed: int = 0,
                 transform: Transform = None, target_transform: Transform = None) -> None:
        _check(n_samples, cluster_std)
        rng = np.random.default_rng(seed)
        if isinstance(centers, int):
            if centers < 1:
                raise ValueError(f"centers must be >= 1, got {centers}")
            points = rng.uniform(center_box[0], center_box[1], (centers, n_features))
        else:
            points = np.asarray(centers, dtype=np.float64)
            if points.ndim != 2:
                raise ValueError(f"centers must be an int or a list of points, got shape "
                                 f"{points.shape}")
        self.centers = points.astype(np.float32)
        xs, ys = [], []
        for c, n in enumerate(_counts(n_samples, len(points))):
            xs.append(points[c] + rng.normal(0.0, cluster_std, (n, points.shape[1])))
            ys.append(np.full(n, c))
        self._finish(rng, np.concatenate(xs), np.concatenate(ys), transform, target_transform)


class XOR(_PointSet):
    """Points uniform in [-1, 1]^2, class 1 where exactly one coordinate is positive (the
    classic problem a single linear layer cannot solve); ``noise`` jitters the points after
    labelling, blurring the boundary."""

    def __init__(self, n_samples: int = 1000, noise: float = 0.0, seed: int = 0,
                 transform: Transform = None, target_transform: Transform = None) -> None:
        _check(n_samples, noise)
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1.0, 1.0, (n_samples, 2))
        y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)
        x += rng.normal(0.0, noise, x.shape)
        self._finish(rng, x, y, transform, target_transform)


class SequenceTask(ArrayDataset):
    """Sequence problems for recurrent networks; samples are ``seq_len x input_size`` float32
    tensors (batches are batch-first: N x seq_len x input_size).

    Tasks:
        ``"parity"``: bits (input_size 1); the label (int64, 2 classes) is 1 when the number of
            ones is odd. Needs memory of the whole sequence.
        ``"adding"``: the adding problem (Hochreiter & Schmidhuber, 1997): channel 0 holds random
            values in [0, 1], channel 1 marks one position in each half of the sequence; the
            target (float32) is the sum of the two marked values. A regression task.
    """

    tasks = ("parity", "adding")

    def __init__(self, task: str = "parity", n_samples: int = 1000, seq_len: int = 20,
                 seed: int = 0, transform: Transform = None,
                 target_transform: Transform = None) -> None:
        _check(n_samples, 0.0)
        if task not in self.tasks:
            raise ValueError(f"SequenceTask: unknown task {task!r}; choose one of {self.tasks}")
        if seq_len < 2:
            raise ValueError(f"seq_len must be >= 2, got {seq_len}")
        rng = np.random.default_rng(seed)
        if task == "parity":
            x = rng.integers(0, 2, (n_samples, seq_len, 1)).astype(np.float32)
            y = (x.sum(axis=(1, 2)) % 2).astype(np.int64)
        else:
            values = rng.uniform(0.0, 1.0, (n_samples, seq_len)).astype(np.float32)
            half = seq_len // 2
            first = rng.integers(0, half, n_samples)
            second = rng.integers(half, seq_len, n_samples)
            marks = np.zeros((n_samples, seq_len), dtype=np.float32)
            rows = np.arange(n_samples)
            marks[rows, first] = 1.0
            marks[rows, second] = 1.0
            x = np.stack([values, marks], axis=2)
            y = (values[rows, first] + values[rows, second]).astype(np.float32)
        self.task, self.seq_len = task, seq_len
        super().__init__(x, y, transform, target_transform)

    @property
    def input_size(self) -> int:
        return self.data.shape[2]

    @property
    def num_classes(self) -> int | None:
        """2 for parity; None for the adding problem (regression)."""
        return 2 if self.task == "parity" else None


class SyntheticText(ArrayDataset):
    """Token sequences for text classifiers (Embedding, attention, Transformers), made up offline.

    Each sample is ``seq_len`` int64 token indices from a vocabulary of ``vocab_size`` (0 is
    padding: every sequence ends in a few). A handful of tokens are "positive" and as many
    "negative" words; the label (2 classes) is 1 when a sequence holds more positive than
    negative words: a bag-of-words task a one-layer Transformer learns in a few epochs.
    """

    def __init__(self, n_samples: int = 2000, seq_len: int = 16, vocab_size: int = 64,
                 n_keywords: int = 6, seed: int = 0, transform: Transform = None,
                 target_transform: Transform = None) -> None:
        _check(n_samples, 0.0)
        if seq_len < 4 or vocab_size < 2 * n_keywords + 3:
            raise ValueError(f"SyntheticText: need seq_len >= 4 and vocab_size >= "
                             f"{2 * n_keywords + 3} (got seq_len={seq_len}, "
                             f"vocab_size={vocab_size})")
        rng = np.random.default_rng(seed)
        positive = np.arange(1, 1 + n_keywords)
        negative = np.arange(1 + n_keywords, 1 + 2 * n_keywords)
        x = rng.integers(1 + 2 * n_keywords, vocab_size, (n_samples, seq_len))
        lengths = rng.integers(seq_len * 3 // 4, seq_len + 1, n_samples)
        n_pos = rng.integers(0, 4, n_samples)
        n_neg = rng.integers(0, 4, n_samples)
        n_neg = np.where(n_neg == n_pos, (n_neg + 1) % 4, n_neg)  # no ties: every label is clear
        for i in range(n_samples):
            slots = rng.permutation(lengths[i])[:n_pos[i] + n_neg[i]]
            x[i, slots[:n_pos[i]]] = rng.choice(positive, n_pos[i])
            x[i, slots[n_pos[i]:]] = rng.choice(negative, n_neg[i])
            x[i, lengths[i]:] = 0
        self.seq_len, self.vocab_size = seq_len, vocab_size
        super().__init__(x.astype(np.int64), (n_pos > n_neg).astype(np.int64), transform,
                         target_transform)

    @property
    def num_classes(self) -> int:
        return 2
