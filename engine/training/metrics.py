"""Classification metrics on raw arrays (NumPy or CuPy) and the running sums the Trainer keeps.

Metrics are kept as *sums with counts*, not as averages, so that batches of different sizes,
gradient-accumulation windows and ranks of a distributed run combine exactly (sum the sums).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .._backend import xp_of
from ..tensor import Tensor


def _raw(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def is_classification(output: Any, target: Any) -> bool:
    """Class scores ``(N, C, *)`` against integer labels ``(N, *)``."""
    out, tgt = _raw(output), _raw(target)
    if not hasattr(out, "ndim") or not hasattr(tgt, "ndim"):
        return False
    return (out.ndim >= 2 and tgt.ndim == out.ndim - 1 and tgt.dtype.kind in "iu"
            and out.shape[0] == tgt.shape[0] and out.shape[2:] == tgt.shape[1:])


def topk_correct(output: Any, target: Any, ks: Sequence[int]) -> dict[int, int]:
    """How many samples have their label among the ``k`` highest scores, for each k.

    ``output`` is ``(N, C, *)``, ``target`` ``(N, *)`` integer labels; positions beyond the
    batch dimension count as samples (segmentation-style outputs). A k larger than C counts
    every sample as correct.
    """
    out, tgt = _raw(output), _raw(target)
    xp = xp_of(out)
    c = out.shape[1]
    scores = xp.moveaxis(out, 1, -1).reshape(-1, c)
    labels = tgt.reshape(-1).astype(np.int64)
    result: dict[int, int] = {}
    if not len(ks):
        return result
    kmax = min(max(ks), c)
    if kmax == 1:
        top = scores.argmax(axis=1)[:, None]
    else:
        # Ties are broken the way argmax breaks them (lowest index first), so top-1 here equals
        # accuracy computed by argmax.
        order = xp.argsort(-scores, axis=1, kind="stable")
        top = order[:, :kmax]
    hits = top == labels[:, None]
    for k in ks:
        kk = min(int(k), c)
        result[int(k)] = int(hits[:, :kk].any(axis=1).sum())
    return result


def accuracy(output: Any, target: Any) -> float:
    """Fraction of samples whose highest score is their label."""
    n = int(np.prod(_raw(target).shape))
    return topk_correct(output, target, (1,))[1] / max(n, 1)


def topk_accuracy(output: Any, target: Any, k: int) -> float:
    """Fraction of samples whose label is among the ``k`` highest scores."""
    n = int(np.prod(_raw(target).shape))
    return topk_correct(output, target, (k,))[k] / max(n, 1)


class MetricSums:
    """Running ``loss`` sum, sample count and top-k hit counts of one phase (train or val)."""

    def __init__(self, ks: Iterable[int] = (1,)) -> None:
        self.ks = tuple(sorted(set(int(k) for k in ks)))
        self.reset()

    def reset(self) -> None:
        self.loss_sum = 0.0
        self.samples = 0
        self.labelled = 0  # samples that had class labels (positions, for dense outputs)
        self.hits = {k: 0 for k in self.ks}
        self.reported: set[int] = set()

    def update(self, loss: float, batch_size: int, output: Any = None, target: Any = None) -> dict:
        """Add one batch (``loss`` is its mean); returns this batch's own metrics."""
        self.loss_sum += float(loss) * batch_size
        self.samples += batch_size
        batch = {"loss": float(loss)}
        if output is not None and target is not None and self.ks and \
                is_classification(output, target):
            # top-k with k >= the number of classes is always 1: not worth reporting
            ks = [k for k in self.ks if k == 1 or k < _raw(output).shape[1]]
            self.reported.update(ks)
            hits = topk_correct(output, target, ks)
            n = int(np.prod(_raw(target).shape))
            self.labelled += n
            for k, h in hits.items():
                self.hits[k] += h
                batch[_name(k)] = h / max(n, 1)
        return batch

    def as_vector(self) -> np.ndarray:
        """The sums as one float64 vector (an all-reduce combines every rank's; the
        "reported" flags combine as counts > 0)."""
        return np.array([self.loss_sum, self.samples, self.labelled,
                         *[self.hits[k] for k in self.ks],
                         *[float(k in self.reported) for k in self.ks]], dtype=np.float64)

    def load_vector(self, v: np.ndarray) -> None:
        self.loss_sum = float(v[0])
        self.samples = int(round(v[1]))
        self.labelled = int(round(v[2]))
        n = len(self.ks)
        for i, k in enumerate(self.ks):
            self.hits[k] = int(round(v[3 + i]))
        self.reported = {k for i, k in enumerate(self.ks) if v[3 + n + i] > 0}

    def compute(self, prefix: str = "") -> dict[str, float]:
        out: dict[str, float] = {}
        if self.samples:
            out[prefix + "loss"] = self.loss_sum / self.samples
        if self.labelled:
            for k in sorted(self.reported):
                out[prefix + _name(k)] = self.hits[k] / self.labelled
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"vector": self.as_vector().tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.load_vector(np.asarray(state["vector"], dtype=np.float64))


def _name(k: int) -> str:
    return "accuracy" if k == 1 else f"top{k}_accuracy"
