"""Per-channel mean and standard deviation of a dataset's images, on the [0, 1] scale that
``ToTensor`` produces: the numbers ``Normalize(mean, std)`` wants, so the app can suggest them."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ...tensor import Tensor
from ..dataset import Dataset

__all__ = ["ChannelStats", "channel_stats"]


class ChannelStats(NamedTuple):
    mean: tuple[float, ...]
    std: tuple[float, ...]
    count: int  # images used


def _as_nchw(batch: np.ndarray, layout: str) -> np.ndarray:
    """N x C x H x W float64 view of a batch in ``layout``, uint8 scaled to [0, 1]."""
    if layout == "NHW":
        x = batch[:, None]
    elif layout == "NHWC":
        x = batch.transpose(0, 3, 1, 2)
    else:
        x = batch
    x = x.astype(np.float64)
    if batch.dtype == np.uint8:
        x /= 255.0
    return x


def _layout(sample: np.ndarray, is_tensor: bool) -> str:
    if is_tensor:
        if sample.ndim == 2:
            return "NHW"
        if sample.ndim == 3:
            return "NCHW"
    elif sample.ndim == 2:
        return "NHW"
    elif sample.ndim == 3:
        return "NHWC"
    raise ValueError(f"channel_stats: expected images (H x W, H x W x C arrays or C x H x W "
                     f"tensors), got samples of shape {sample.shape}")


def channel_stats(source: Any, max_samples: int | None = None,
                  batch_size: int = 1024) -> ChannelStats:
    """Mean and (population) standard deviation per channel.

    Args:
        source: an array of images (N x H x W or N x H x W x C uint8, N x C x H x W float), a
            Tensor (N x C x H x W), or a dataset. A dataset with a ``data`` array (the built-in
            ones) is read directly, ignoring its transform; any other dataset is read sample by
            sample (its first field when samples are tuples), uint8 images scaled to [0, 1].
        max_samples: use only the first ``max_samples`` images (a quick estimate).
        batch_size: images per chunk (bounds the memory used).

    Example:
        >>> mean, std, _ = channel_stats(datasets.Digits(size=28))
        >>> T.Normalize(mean, std)
    """
    if isinstance(source, Tensor):
        data, is_tensor = source.numpy(), True
    elif isinstance(source, np.ndarray):
        data, is_tensor = source, source.dtype != np.uint8 and source.ndim == 4
    elif isinstance(getattr(source, "data", None), np.ndarray):
        data, is_tensor = source.data, False
    elif isinstance(source, Dataset) or hasattr(source, "__getitem__"):
        data, is_tensor = None, False
    else:
        raise TypeError(f"channel_stats: expected an array, a Tensor or a dataset, got "
                        f"{type(source).__name__}")
    n = len(data) if data is not None else len(source)
    if max_samples is not None:
        n = min(n, max_samples)
    if n == 0:
        raise ValueError("channel_stats: no images to measure")
    # Chan et al.'s pairwise merge of per-chunk (count, mean, M2): stable for any size.
    count, mean, m2 = 0, None, None
    layout = None
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        if data is not None:
            chunk = np.asarray(data[start:stop])
            if layout is None:
                layout = _layout(chunk[0], is_tensor)
        else:
            samples = []
            for i in range(start, stop):
                s = source[i]
                s = s[0] if isinstance(s, tuple | list) else s
                samples.append(s)
            first = samples[0]
            tensor_like = isinstance(first, Tensor)
            arrays = [s.numpy() if isinstance(s, Tensor) else np.asarray(s) for s in samples]
            chunk = np.stack(arrays)
            if layout is None:
                layout = _layout(arrays[0], tensor_like)
        x = _as_nchw(chunk, layout)
        c = x.shape[1]
        flat = x.transpose(1, 0, 2, 3).reshape(c, -1)
        k = flat.shape[1]
        cm = flat.mean(axis=1)
        cm2 = ((flat - cm[:, None]) ** 2).sum(axis=1)
        if mean is None:
            count, mean, m2 = k, cm, cm2
        else:
            delta = cm - mean
            total = count + k
            mean = mean + delta * k / total
            m2 = m2 + cm2 + delta ** 2 * count * k / total
            count = total
    std = np.sqrt(m2 / count)
    return ChannelStats(tuple(float(v) for v in mean), tuple(float(v) for v in std), n)
