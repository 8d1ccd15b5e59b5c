"""``Digits``: the UCI handwritten digits shipped in ``resources/datasets/digits.npz``, so a
network trains offline on first launch (8 x 8, or resized to 28 x 28 for MNIST-shaped nets)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..dataset import ArrayDataset
from ..errors import DatasetFormatError
from ..transforms import functional as F
from .resources import resource_path

__all__ = ["Digits"]

TRAIN_FRACTION = 0.8


def _split(labels: np.ndarray, train: bool) -> np.ndarray:
    """A fixed, stratified split: the same 80 % of every class is the training set."""
    rng = np.random.default_rng(0)
    picked = []
    for c in range(int(labels.max()) + 1):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        cut = int(round(len(idx) * TRAIN_FRACTION))
        picked.append(idx[:cut] if train else idx[cut:])
    return np.sort(np.concatenate(picked))


class Digits(ArrayDataset):
    """1 797 handwritten digits (UCI, CC BY 4.0), 10 classes, greyscale uint8 images.

    Args:
        train: None for all 1 797 images; True for a fixed, stratified 80 % (1 438 images),
            False for the other 359.
        size: the image side: 8 (the original) or e.g. 28 to match MNIST-shaped networks
            (bilinear upscaling).
        transform: applied to each image (a size x size uint8 array, values 0..255).
        target_transform: applied to each label (an int).
    """

    classes = [str(d) for d in range(10)]

    def __init__(self, train: bool | None = None, size: int = 8,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None) -> None:
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"Digits: size must be a positive int (8 = original, 28 = MNIST "
                             f"size), got {size!r}")
        path = resource_path("datasets", "digits.npz")
        try:
            with np.load(path, allow_pickle=False) as z:
                images, labels = z["images"], z["labels"]
        except (OSError, KeyError, ValueError) as exc:
            raise DatasetFormatError(f"{path}: unreadable ({exc}); reinstall LayerForge") from exc
        if images.shape[1:] != (8, 8) or len(images) != len(labels):
            raise DatasetFormatError(f"{path}: expected N x 8 x 8 images with N labels, got "
                                     f"{images.shape} and {labels.shape}")
        # 0..16 ("on" pixels per 4 x 4 block) -> 0..255, so ToTensor gives [0, 1] as for MNIST.
        images = ((images.astype(np.uint16) * 255 + 8) // 16).astype(np.uint8)
        if size != 8:
            images = F.resize(images, (size, size), F.BILINEAR, batch=True)
        if train is not None:
            keep = _split(labels, bool(train))
            images, labels = images[keep], labels[keep]
        self.train = train
        self.size = size
        super().__init__(np.ascontiguousarray(images), labels.astype(np.int64), transform,
                         target_transform)

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def extra_repr(self) -> str:
        split = {None: "All", True: "Train", False: "Test"}[self.train]
        return f"Split: {split}\nSize: {self.size}x{self.size}"
