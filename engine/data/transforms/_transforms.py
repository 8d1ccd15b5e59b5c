"""Transform classes with torchvision's names and arguments.

Each transform is called on one sample (``t(img)``) and, where it can, on a whole batch
(``t.apply_batch(imgs)``, ``batchable = True``): random transforms then draw their parameters per
sample, so a batch is augmented exactly as its samples would be one by one (with other draws).
Random draws come from the engine's generator, which DataLoader workers seed per worker, so
``engine.manual_seed`` reproduces an augmentation run.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ... import random as _engine_random
from . import functional as F

__all__ = [
    "CenterCrop", "Compose", "Lambda", "Normalize", "Pad", "RandomAffine", "RandomCrop",
    "RandomHorizontalFlip", "RandomRotation", "RandomVerticalFlip", "Resize", "ToTensor",
    "Transform",
]


def _rng() -> np.random.Generator:
    return _engine_random.generator()


def _count(img: Any, batch: bool) -> int:
    return len(img) if batch else 1


def _one_or_many(values: np.ndarray, batch: bool) -> Any:
    return values if batch else values[0]


class Transform:
    """Base class: subclasses implement ``_apply(img, batch)``."""

    batchable = True

    def __call__(self, img: Any) -> Any:
        return self._apply(img, False)

    def apply_batch(self, imgs: Any) -> Any:
        """The transform on a batch (leading dimension N), with per-sample random parameters."""
        return self._apply(imgs, True)

    def _apply(self, img: Any, batch: bool) -> Any:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class Compose(Transform):
    """Several transforms in a row. Batch-capable when every one of them is.

    A ``ToTensor`` directly followed by ``Normalize`` runs as one step that normalizes the fresh
    float array in place: the same arithmetic, one allocation fewer.
    """

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    @property
    def batchable(self) -> bool:  # type: ignore[override]
        return all(getattr(t, "batchable", False) for t in self.transforms)

    def _apply(self, img: Any, batch: bool) -> Any:
        ts = self.transforms
        i = 0
        while i < len(ts):
            t = ts[i]
            nxt = ts[i + 1] if i + 1 < len(ts) else None
            if type(t) is ToTensor and type(nxt) is Normalize:
                img = F.to_tensor_normalize(img, nxt._consts, batch)
                i += 2
                continue
            img = t.apply_batch(img) if batch else t(img)
            i += 1
        return img

    def __repr__(self) -> str:
        body = "".join(f"\n    {t}" for t in self.transforms)
        return f"Compose({body}\n)"


class ToTensor(Transform):
    """uint8 H x W [x C] image -> float32 C x H x W tensor in [0, 1] (batches: N x C x H x W).
    Arrays of other dtypes only change layout, as in torchvision."""

    def _apply(self, pic: Any, batch: bool) -> Any:
        return F.to_tensor(pic, batch)


class Normalize(Transform):
    """``(x - mean) / std`` per channel on a float tensor image (..., C, H, W)."""

    def __init__(self, mean: Sequence[float] | float, std: Sequence[float] | float,
                 inplace: bool = False) -> None:
        self.mean = list(mean) if isinstance(mean, Sequence) else [float(mean)]
        self.std = list(std) if isinstance(std, Sequence) else [float(std)]
        self.inplace = inplace
        self._consts = F.NormalizeConstants(self.mean, self.std)

    def _apply(self, tensor: Any, batch: bool) -> Any:
        return F.normalize(tensor, self._consts, inplace=self.inplace)

    def extra_repr(self) -> str:
        return f"mean={self.mean}, std={self.std}"


class Lambda(Transform):
    """A user function as a transform (one sample at a time)."""

    batchable = False

    def __init__(self, lambd: Callable[[Any], Any]) -> None:
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, img: Any) -> Any:
        return self.lambd(img)

    def _apply(self, img: Any, batch: bool) -> Any:
        if batch:
            raise TypeError("Lambda works on one sample at a time; it has no batch form")
        return self.lambd(img)


class Resize(Transform):
    """Resize to ``size``: (h, w), or an int for the smaller edge (aspect ratio kept)."""

    def __init__(self, size: int | Sequence[int], interpolation: Any = F.BILINEAR,
                 max_size: int | None = None, antialias: bool = True) -> None:
        if not isinstance(size, int | Sequence) or (isinstance(size, Sequence)
                                                   and len(size) not in (1, 2)):
            raise TypeError(f"Size should be int or sequence of one or two ints. Got {size!r}")
        self.size = size
        self.interpolation = F._interp(interpolation)
        self.max_size = max_size
        self.antialias = antialias

    def _apply(self, img: Any, batch: bool) -> Any:
        return F.resize(img, self.size, self.interpolation, self.max_size, self.antialias, batch)

    def extra_repr(self) -> str:
        return f"size={self.size}, interpolation={self.interpolation}"


class CenterCrop(Transform):
    """The central ``size`` window (zero-padded when the image is smaller)."""

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = F._pair(size, "size")

    def _apply(self, img: Any, batch: bool) -> Any:
        return F.center_crop(img, self.size, batch)

    def extra_repr(self) -> str:
        return f"size={self.size}"


class Pad(Transform):
    """Pad every side by ``padding`` (int, (lr, tb) or (l, t, r, b))."""

    def __init__(self, padding: Any, fill: Any = 0, padding_mode: str = "constant") -> None:
        F._padding_ltrb(padding)
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def _apply(self, img: Any, batch: bool) -> Any:
        return F.pad(img, self.padding, self.fill, self.padding_mode, batch)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, fill={self.fill}, padding_mode={self.padding_mode}"


class RandomCrop(Transform):
    """A random ``size`` window, after optional ``padding`` (the classic CIFAR augmentation is
    ``RandomCrop(32, padding=4)``).

    Args:
        size: (h, w) or an int for a square.
        padding: added to every side first (int, (lr, tb) or (l, t, r, b)).
        pad_if_needed: pad images smaller than ``size`` instead of failing.
        fill, padding_mode: how padding is filled ("constant", "edge", "reflect", "symmetric").
    """

    def __init__(self, size: int | Sequence[int], padding: Any = None,
                 pad_if_needed: bool = False, fill: Any = 0,
                 padding_mode: str = "constant") -> None:
        self.size = F._pair(size, "size")
        if padding is not None:
            F._padding_ltrb(padding)
        self.padding, self.pad_if_needed = padding, pad_if_needed
        self.fill, self.padding_mode = fill, padding_mode

    def _apply(self, img: Any, batch: bool) -> Any:
        x, back = F.to_nchw(img, batch)
        if self.padding is not None:
            x = F._pad_nchw(x, F._padding_ltrb(self.padding), self.fill, self.padding_mode)
        th, tw = self.size
        h, w = x.shape[-2:]
        if self.pad_if_needed and (w < tw or h < th):
            x = F._pad_nchw(x, (max(tw - w, 0), max(th - h, 0), max(tw - w, 0), max(th - h, 0)),
                            self.fill, self.padding_mode)
            h, w = x.shape[-2:]
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size "
                             f"{(h, w)}. Fix: pad_if_needed=True, padding=, or a smaller size")
        n = x.shape[0]
        rng = _rng()
        tops = rng.integers(0, h - th + 1, n)
        lefts = rng.integers(0, w - tw + 1, n)
        return back(F._crop_nchw(x, tops, lefts, th, tw))

    def extra_repr(self) -> str:
        return f"size={self.size}, padding={self.padding}"


class _RandomFlip(Transform):
    """Mirror with probability ``p`` (decided per sample) along the subclass's ``_flip``."""

    _flip: Any = None

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def _apply(self, img: Any, batch: bool) -> Any:
        mask = _rng().random(_count(img, batch)) < self.p
        if not mask.any():
            return img
        return type(self)._flip(img, batch, mask if batch else None)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class RandomHorizontalFlip(_RandomFlip):
    """Mirror left-right with probability ``p`` (decided per sample)."""

    _flip = staticmethod(F.hflip)


class RandomVerticalFlip(_RandomFlip):
    """Mirror top-bottom with probability ``p`` (decided per sample)."""

    _flip = staticmethod(F.vflip)


def _range(value: Any, name: str, center: float = 0.0) -> tuple[float, float]:
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"If {name} is a single number, it must be positive.")
        return center - float(value), center + float(value)
    if isinstance(value, Sequence) and len(value) == 2:
        return float(value[0]), float(value[1])
    raise ValueError(f"If {name} is a sequence, it must be of len 2.")


class RandomRotation(Transform):
    """Rotate by an angle drawn uniformly from ``degrees`` ((-d, d) for a number),
    counter-clockwise for positive angles; ``fill`` outside the rotated image."""

    def __init__(self, degrees: Any, interpolation: Any = F.NEAREST, expand: bool = False,
                 center: Sequence[float] | None = None, fill: Any = 0) -> None:
        self.degrees = _range(degrees, "degrees")
        self.interpolation = F._interp(interpolation)
        if expand:
            raise ValueError("RandomRotation(expand=True) is not supported: the output keeps the "
                             "input's size. Pad the image first (transforms.Pad) to keep corners")
        self.center, self.fill = center, fill

    def _apply(self, img: Any, batch: bool) -> Any:
        angles = _rng().uniform(self.degrees[0], self.degrees[1], _count(img, batch))
        return F.rotate(img, _one_or_many(angles, batch), self.interpolation, self.center,
                        self.fill, batch)

    def extra_repr(self) -> str:
        return f"degrees={self.degrees}, interpolation={self.interpolation}"


class RandomAffine(Transform):
    """A random affine map that keeps the centre: rotation from ``degrees``, shifts up to
    ``translate`` = (fraction of width, fraction of height), zoom from ``scale`` = (lo, hi),
    shear from ``shear`` (x only for a number or a pair, x and y for four values).

    Example: ``RandomAffine(degrees=10, translate=(0.1, 0.1))`` for small shifts of digits.
    """

    def __init__(self, degrees: Any, translate: Sequence[float] | None = None,
                 scale: Sequence[float] | None = None, shear: Any = None,
                 interpolation: Any = F.NEAREST, fill: Any = 0,
                 center: Sequence[float] | None = None) -> None:
        self.degrees = _range(degrees, "degrees")
        if translate is not None:
            if len(translate) != 2 or not all(0.0 <= t <= 1.0 for t in translate):
                raise ValueError("translate should be a sequence of two values between 0 and 1")
        if scale is not None:
            if len(scale) != 2 or any(s <= 0 for s in scale):
                raise ValueError("scale should be a sequence of two positive values")
        if shear is not None:
            if isinstance(shear, numbers.Number):
                shear = _range(shear, "shear")
            elif len(shear) not in (2, 4):
                raise ValueError("shear should be a number or a sequence of 2 or 4 values")
        self.translate, self.scale, self.shear = translate, scale, shear
        self.interpolation = F._interp(interpolation)
        self.fill, self.center = fill, center

    def _apply(self, img: Any, batch: bool) -> Any:
        rng = _rng()
        n = _count(img, batch)
        x, _ = F.to_nchw(img, batch)
        h, w = x.shape[-2:]
        angles = rng.uniform(self.degrees[0], self.degrees[1], n)
        if self.translate is not None:
            max_dx, max_dy = self.translate[0] * w, self.translate[1] * h
            trans = np.stack([np.round(rng.uniform(-max_dx, max_dx, n)),
                              np.round(rng.uniform(-max_dy, max_dy, n))], axis=1)
        else:
            trans = np.zeros((n, 2))
        scales = (rng.uniform(self.scale[0], self.scale[1], n) if self.scale is not None
                  else np.ones(n))
        shears = np.zeros((n, 2))
        if self.shear is not None:
            shears[:, 0] = rng.uniform(self.shear[0], self.shear[1], n)
            if len(self.shear) == 4:
                shears[:, 1] = rng.uniform(self.shear[2], self.shear[3], n)
        if not batch:
            return F.affine(img, angles[0], trans[0], scales[0], shears[0],
                            self.interpolation, self.fill, self.center)
        return F.affine(img, angles, trans, scales, shears, self.interpolation, self.fill,
                        self.center, batch=True)

    def extra_repr(self) -> str:
        return (f"degrees={self.degrees}, translate={self.translate}, scale={self.scale}, "
                f"shear={self.shear}")
