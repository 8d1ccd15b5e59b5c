"""The data panel's slow work as plain functions, run off the GUI thread by ``app.qt.tasks``:
loading a dataset for its preview, suggesting normalisation statistics, and downloading
MNIST-like sets and CIFAR-10 with progress and cancel.

Each takes a ``TaskContext``: ``progress(done, total, text)`` reports (and raises ``Cancelled``
once the user cancelled), so the functions know nothing of threads or Qt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import as_numpy, build_datasets, class_names_of, remember_spec

PREVIEW_SAMPLES = 48
SCATTER_POINTS = 3000


class Cancelled(Exception):
    """The user pressed Cancel; whatever was half-done can be resumed later."""


class TaskContext:
    """What a background function gets: ``progress(done, total, text)`` and ``cancelled``."""

    def __init__(self, report: Callable[[int, int, str], None] | None = None) -> None:
        self._report = report
        self._cancel = threading.Event()

    def progress(self, done: int, total: int | None = None, text: str = "") -> None:
        if self._cancel.is_set():
            raise Cancelled("cancelled")
        if self._report is not None:
            self._report(int(done), int(total or 0), text)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()


# ---------------------------------------------------------------------- preview
@dataclass
class DatasetPreview:
    """What the data panel shows of a dataset.

    Attributes:
        size: number of samples.
        sample_shape: the shape of one input as the model receives it (after ToTensor).
        dtype: ``float32`` or ``int64`` (the Input node's dtype).
        samples / labels: the first ``PREVIEW_SAMPLES`` samples (NumPy) and their labels.
        class_names: one per class (None for regression targets).
        class_counts: samples per class (None for regression).
        points / point_labels: up to ``SCATTER_POINTS`` 2-D points (2-D datasets only).
        regression: the targets are numbers, not classes.
    """

    size: int
    sample_shape: tuple[int, ...]
    dtype: str
    samples: np.ndarray
    labels: np.ndarray
    class_names: list[str] | None = None
    class_counts: np.ndarray | None = None
    points: np.ndarray | None = None
    point_labels: np.ndarray | None = None
    regression: bool = False
    notes: list[str] = field(default_factory=list)
    feature_names: list[str] | None = None  # a table's column names (a CSV file's header)

    @property
    def is_image(self) -> bool:
        return len(self.sample_shape) == 3 or (len(self.sample_shape) == 2 and
                                               min(self.sample_shape) > 4)


def _all_targets(dataset: Any) -> np.ndarray | None:
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        return np.asarray(targets)
    return None


def _as_is(dataset_settings: dict[str, Any]) -> dict[str, Any]:
    """The whole dataset, unsplit, without augmentation, and never downloaded: looking at a
    dataset must not fetch 170 MB (the Data panel's Download button does that)."""
    options = {k: v for k, v in (dataset_settings.get("options") or {}).items()
               if k != "download"}
    return {**dataset_settings, "options": options, "validation_split": 0.0, "transforms": []}


def load_preview(dataset_settings: dict[str, Any], base_dir: str | Path | None,
                 ctx: TaskContext | None = None) -> DatasetPreview:
    """Load the whole dataset (no split, no augmentation) and describe it."""
    dataset, _ = build_datasets(_as_is(dataset_settings), base_dir)
    if ctx is not None:
        ctx.progress(1, 3, "loaded")
    n = len(dataset)
    if n == 0:
        raise ValueError("the dataset is empty")
    spec = remember_spec(dataset_settings, base_dir, dataset)  # validation reads it too
    first = [dataset[i] for i in range(min(n, PREVIEW_SAMPLES))]
    samples = np.stack([as_numpy(s[0]) for s in first])
    labels = np.stack([as_numpy(s[1]) for s in first])
    shape, dtype = tuple(spec.input.shape), spec.input.dtype
    targets = _all_targets(dataset)
    if targets is None:
        targets = labels
    targets = np.asarray(targets)
    regression = spec.label_kind == "regression"
    names = class_names_of(dataset)
    counts = None
    if not regression and targets.size:
        k = int(targets.max()) + 1
        counts = np.bincount(targets.reshape(-1).astype(np.int64), minlength=max(k, len(
            names or [])))
        if names is None:
            names = [str(i) for i in range(len(counts))]
    points = point_labels = None
    data = getattr(dataset, "data", None)
    if len(shape) == 1 and shape[0] == 2 and isinstance(data, np.ndarray):
        m = min(n, SCATTER_POINTS)
        points = np.asarray(data[:m], dtype=np.float64)
        point_labels = targets[:m] if targets.shape[:1] == (n,) else None
    if ctx is not None:
        ctx.progress(3, 3, "described")
    features = getattr(dataset, "feature_names", None)
    return DatasetPreview(n, shape, dtype, samples, labels, None if regression else names,
                          counts, points, point_labels, regression,
                          feature_names=list(features) if features else None)


def suggest_normalization(dataset_settings: dict[str, Any], base_dir: str | Path | None,
                          ctx: TaskContext | None = None) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the training images on the [0, 1] scale (for images) or per
    feature (for vectors), from up to 10 000 samples."""
    from engine.data.datasets import channel_stats  # noqa: PLC0415

    dataset, _ = build_datasets(_as_is(dataset_settings), base_dir)
    data = getattr(dataset, "data", None)
    if isinstance(data, np.ndarray) and data.dtype != np.uint8 and data.ndim == 2:
        x = data[:10000].astype(np.float64)
        std = x.std(axis=0)
        return [round(float(v), 4) for v in x.mean(axis=0)], \
            [round(float(v), 4) if v > 0 else 1.0 for v in std]
    stats = channel_stats(dataset, max_samples=10000)
    return [round(float(v), 4) for v in stats.mean], \
        [round(float(v), 4) if v > 0 else 1.0 for v in stats.std]


# ---------------------------------------------------------------------- downloads
def download_dataset(name: str, root: str | Path, ctx: TaskContext) -> Path:
    """Fetch MNIST / FashionMNIST / KMNIST (four IDX files) or CIFAR10 (one archive) into
    ``root``, MD5-checked; ``ctx.progress`` reports bytes and raises ``Cancelled`` when the user
    cancels (the partial file stays and the next download resumes it)."""
    from engine.data import datasets as D  # noqa: PLC0415
    from engine.data.datasets.download import download_url  # noqa: PLC0415

    root = Path(root).expanduser()
    cls = getattr(D, name, None)
    if name == "CIFAR10":
        from engine.data.datasets.cifar import extract_tar  # noqa: PLC0415

        archive = root / cls.filename
        root.mkdir(parents=True, exist_ok=True)
        download_url(cls.url, archive, cls.tgz_md5,
                     progress=lambda got, total: ctx.progress(got, total,
                                                              f"{cls.filename}"))
        ctx.progress(0, 0, "unpacking")
        extract_tar(archive, root, cls.base_folder)
        return root / cls.base_folder
    if cls is None or not hasattr(cls, "resources"):
        raise ValueError(f"{name} cannot be downloaded; choose MNIST, FashionMNIST, KMNIST or "
                         "CIFAR10")
    raw = root / name / "raw"
    cls.fetch(raw, progress=ctx.progress)
    return raw
