"""Image kernels behind the transforms, torchvision's ``transforms.functional`` conventions.

Images are NumPy arrays laid out as PIL gives them (H x W or H x W x C, usually uint8) or engine
Tensors laid out as PyTorch's (..., C, H, W). Every kernel works on one image or, with
``batch=True``, on a stack of them (N x H x W [x C] arrays, N x C x H x W tensors), and returns
the same kind and layout it got. Inside, everything is viewed as N x C x H x W, so each kernel is
written once; per-sample parameters (crop offsets, angles) are arrays of length N.

Geometry follows torchvision's tensor path: pixel centres at integer coordinates, rotation about
the image centre ((W - 1) / 2, (H - 1) / 2) counter-clockwise for positive angles, sampling as
``grid_sample(..., align_corners=False)``, and resizing with antialiasing (PIL's filters).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..._backend import CPU
from ...tensor import Tensor

__all__ = [
    "affine", "center_crop", "crop", "get_dimensions", "hflip", "inverse_affine_matrix",
    "normalize", "pad", "resize", "rotate", "to_tensor", "vflip",
]

NEAREST, BILINEAR = "nearest", "bilinear"


def _interp(mode: Any) -> str:
    name = str(getattr(mode, "value", mode)).lower()
    if name not in (NEAREST, BILINEAR):
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {mode!r}")
    return name


# --------------------------------------------------------------------- layout


def _as_array_image(img: Any) -> Any:
    if isinstance(img, np.ndarray | Tensor):
        return img
    if hasattr(img, "getbands") and hasattr(img, "size"):  # a PIL image
        return np.asarray(img)
    raise TypeError(f"expected an image as a NumPy array, an engine Tensor or a PIL image, got "
                    f"{type(img).__name__}")


def to_nchw(img: Any, batch: bool) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """View ``img`` as an N x C x H x W array, plus the function that turns a result of the same
    N and C back into the caller's kind and layout (H and W may have changed)."""
    img = _as_array_image(img)
    if isinstance(img, Tensor):
        if img.device.type != "cpu":
            raise TypeError("transforms run on CPU data; apply them before moving the batch to "
                            f"the GPU (got a tensor on {img.device})")
        arr = img._data
        if arr.ndim < (3 if batch else 2):
            raise ValueError(f"expected a tensor image (..., H, W)"
                             f"{' with a batch dimension' if batch else ''}, got shape "
                             f"{tuple(arr.shape)}")
        lead = arr.shape[:-2]
        n = lead[0] if batch else 1
        mid = lead[1:] if batch else lead
        x = arr.reshape((n, int(np.prod(mid, dtype=np.int64)), *arr.shape[-2:]))

        def back(out: np.ndarray) -> Tensor:
            shape = ((n,) if batch else ()) + mid + out.shape[-2:]
            return Tensor._make(np.ascontiguousarray(out).reshape(shape), img.device)

        return x, back
    arr = img
    spatial_ndim = arr.ndim - (1 if batch else 0)
    if spatial_ndim not in (2, 3):
        raise ValueError(f"expected a{' batch of' if batch else 'n'} image array"
                         f"{'s' if batch else ''} H x W or H x W x C"
                         f"{' with a leading batch dimension' if batch else ''}, got shape "
                         f"{tuple(arr.shape)}")
    b = arr if batch else arr[None]
    if spatial_ndim == 2:
        return b[:, None], (lambda out: np.ascontiguousarray(out[:, 0] if batch else out[0, 0]))
    x = b.transpose(0, 3, 1, 2)
    return x, (lambda out: np.ascontiguousarray(
        out.transpose(0, 2, 3, 1) if batch else out[0].transpose(1, 2, 0)))


def get_dimensions(img: Any) -> list[int]:
    """[channels, height, width] of one image (array or tensor)."""
    x, _ = to_nchw(img, batch=False)
    return [x.shape[1], x.shape[2], x.shape[3]]


def _cast_back(out: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind in "iub":
        info = np.iinfo(dtype) if dtype.kind != "b" else None
        out = np.rint(out)
        if info is not None:
            out = np.clip(out, info.min, info.max)
        return out.astype(dtype)
    return out.astype(dtype, copy=False)


# --------------------------------------------------------------------- ToTensor / Normalize


_F255 = np.float32(255)
# uint8 value -> value / 255 in float32: the very numbers the division gives, looked up. For
# small images a lookup beats the division's per-call overhead; big batches use the arithmetic.
_LUT255 = np.arange(256, dtype=np.float32) / _F255
_LUT_MAX = 4096  # elements per image up to which lookups are the faster way


def _uint8_to_float(x: np.ndarray, lut: np.ndarray | None = None,
                    scale: Any = None, offset: Any = None) -> np.ndarray:
    """float32 copy of an N x C x H x W uint8 view, divided by 255, or normalized when ``scale``
    and ``offset`` are given (``lut`` being the per-channel table of the same values)."""
    n, c, h, w = x.shape
    if x.size <= _LUT_MAX:
        if c == 1:
            table = _LUT255 if lut is None else lut[0]
            return table.take(x)
        out = np.empty(x.shape, dtype=np.float32)
        for ch in range(c):
            table = _LUT255 if lut is None else lut[ch if lut.shape[0] > 1 else 0]
            out[:, ch] = table.take(x[:, ch])
        return out
    if scale is not None:
        return _scale_offset(x, scale, offset)
    out = np.empty(x.shape, dtype=np.float32)
    np.copyto(out, x, casting="unsafe")  # a plain cast, then in-place arithmetic: fastest
    out /= _F255
    return out


def to_tensor(pic: Any, batch: bool = False) -> Tensor:
    """uint8 H x W [x C] (or N x H x W [x C]) -> float32 C x H x W (N x C x H x W) in [0, 1];
    arrays of other dtypes keep their values and dtype (only the layout changes), as in
    torchvision."""
    if isinstance(pic, Tensor):
        raise TypeError("to_tensor: pic should be a PIL image or a NumPy array, got a Tensor "
                        "(it already is one: leave ToTensor out)")
    arr = pic if isinstance(pic, np.ndarray) else _as_array_image(pic)
    x, _ = to_nchw(arr, batch)
    if arr.dtype == np.uint8:
        out = _uint8_to_float(x)
    else:
        out = np.ascontiguousarray(x)
    return Tensor._make(out if batch else out[0], CPU)


class NormalizeConstants:
    """Mean and std of ``Normalize`` as ready-to-use arrays per dtype (built once, reused for
    every sample: the per-sample cost is then just the arithmetic)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = [float(v) for v in np.asarray(mean, dtype=np.float64).reshape(-1)]
        self.std = [float(v) for v in np.asarray(std, dtype=np.float64).reshape(-1)]
        if not self.mean or not self.std:
            raise ValueError("Normalize: mean and std need at least one value each")
        self._cache: dict[tuple[np.dtype, int], tuple[Any, Any]] = {}
        self._prepared: dict[int, tuple[Any, Any, np.ndarray]] = {}

    def get(self, dtype: np.dtype, channels: int) -> tuple[Any, Any]:
        pair = self._cache.get((dtype, channels))
        if pair is not None:
            return pair
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, channels):
                raise ValueError(f"Normalize: {name} has {len(v)} values but the image has "
                                 f"{channels} channels; give one value per channel (or one "
                                 f"for all)")
        m = np.asarray(self.mean, dtype=dtype)
        s = np.asarray(self.std, dtype=dtype)
        if np.any(s == 0):
            raise ValueError(f"std evaluated to zero after conversion to {dtype}, leading "
                             f"to division by zero.")
        pair = (m[0] if m.size == 1 else m.reshape(-1, 1, 1),
                s[0] if s.size == 1 else s.reshape(-1, 1, 1))
        self._cache[(dtype, channels)] = pair
        return pair

    def prepared(self, channels: int) -> tuple[Any, Any, np.ndarray]:
        """float32 ``scale`` and ``offset`` (shaped (C, 1, 1)) with ``v * scale + offset ==
        (v / 255 - mean) / std`` to within ~1e-7, and the (C or 1) x 256 table of exactly those
        values, so the lookup (small images) and the arithmetic (batches) agree bit for bit."""
        prep = self._prepared.get(channels)
        if prep is None:
            m, s = self.get(np.dtype(np.float64), channels)
            m, s = np.asarray(m).reshape(-1), np.asarray(s).reshape(-1)
            k = max(m.size, s.size)
            scale = np.broadcast_to(1.0 / (255.0 * s), (k,)).astype(np.float32).reshape(k, 1, 1)
            offset = np.broadcast_to(-m / s, (k,)).astype(np.float32).reshape(k, 1, 1)
            table = _scale_offset(np.arange(256, dtype=np.uint8)[None, :], scale[:, :, 0],
                                  offset[:, :, 0])
            prep = self._prepared[channels] = (scale, offset, table)
        return prep


def _scale_offset(x: np.ndarray, scale: Any, offset: Any) -> np.ndarray:
    """``x * scale + offset`` in float32 from uint8: ToTensor + Normalize folded into one scale
    and one offset, two passes instead of four (what the fast path's 1M samples/s needs)."""
    out = np.multiply(x, scale, dtype=np.float32)
    out += offset
    return out


def normalize(tensor: Any, mean: Any, std: Any = None, inplace: bool = False) -> Any:
    """``(tensor - mean) / std`` per channel on a float (..., C, H, W) tensor (or array).
    ``mean`` may also be a ready ``NormalizeConstants`` (then ``std`` is left out)."""
    arr = tensor._data if isinstance(tensor, Tensor) else np.asarray(tensor)
    if arr.dtype.kind != "f":
        raise TypeError(f"Input tensor should be a float tensor. Got {arr.dtype}.")
    if arr.ndim < 3:
        raise ValueError(f"Expected tensor to be a tensor image of size (..., C, H, W). Got "
                         f"tensor.size() = {tuple(arr.shape)}.")
    consts = mean if isinstance(mean, NormalizeConstants) else NormalizeConstants(mean, std)
    m, s = consts.get(arr.dtype, arr.shape[-3])
    if inplace:
        out = arr
        out -= m
    else:
        out = arr - m
    out /= s
    if isinstance(tensor, Tensor):
        if inplace:
            tensor._vc.value += 1
            return tensor
        return Tensor._make(out, tensor.device)
    return out


def to_tensor_normalize(pic: Any, consts: NormalizeConstants, batch: bool = False) -> Tensor:
    """``normalize(to_tensor(pic), mean, std)`` fused (what ``Compose`` runs for the pair): a
    table lookup per pixel for small images, one scale and one offset for batches; both give the
    same numbers, within ~1e-7 of the two transforms run one after the other."""
    if type(pic) is np.ndarray and pic.dtype == np.uint8 and pic.ndim == (3 if batch else 2):
        scale, offset, lut = consts.prepared(1)  # greyscale, the hot path
        if pic.size <= _LUT_MAX:
            out = lut[0].take(pic)
        else:
            out = _scale_offset(pic, scale.reshape(()), offset.reshape(()))
        return Tensor._make(out.reshape(out.shape[:-2] + (1,) + out.shape[-2:]), CPU)
    arr = pic if isinstance(pic, np.ndarray) else _as_array_image(pic)
    if arr.dtype != np.uint8:
        return normalize(to_tensor(arr, batch), consts, inplace=True)
    x, _ = to_nchw(arr, batch)
    scale, offset, lut = consts.prepared(x.shape[1])
    out = _uint8_to_float(x, lut, scale, offset)
    return Tensor._make(out if batch else out[0], CPU)


# --------------------------------------------------------------------- flips, crops, padding


def hflip(img: Any, batch: bool = False, mask: np.ndarray | None = None) -> Any:
    """Mirror left-right (only the samples where ``mask`` is True, when given)."""
    x, back = to_nchw(img, batch)
    if mask is None:
        return back(x[..., ::-1])
    out = x.copy()
    out[mask] = x[mask][..., ::-1]
    return back(out)


def vflip(img: Any, batch: bool = False, mask: np.ndarray | None = None) -> Any:
    """Mirror top-bottom (only the samples where ``mask`` is True, when given)."""
    x, back = to_nchw(img, batch)
    if mask is None:
        return back(x[..., ::-1, :])
    out = x.copy()
    out[mask] = x[mask][..., ::-1, :]
    return back(out)


def _crop_nchw(x: np.ndarray, top: Any, left: Any, height: int, width: int) -> np.ndarray:
    n = x.shape[0]
    tops = np.asarray(top, dtype=np.int64).reshape(-1)
    lefts = np.asarray(left, dtype=np.int64).reshape(-1)
    if tops.size == 1 and n > 1:
        tops = np.repeat(tops, n)
    if lefts.size == 1 and n > 1:
        lefts = np.repeat(lefts, n)
    h, w = x.shape[-2:]
    t_min, t_max, l_min, l_max = int(tops.min()), int(tops.max()), int(lefts.min()), int(
        lefts.max())
    if t_min < 0 or l_min < 0 or t_max + height > h or l_max + width > w:
        pad_t, pad_l = max(0, -t_min), max(0, -l_min)
        x = _pad_nchw(x, (pad_l, pad_t, max(0, l_max + width - w), max(0, t_max + height - h)),
                      0, "constant")
        tops, lefts = tops + pad_t, lefts + pad_l
    if n == 1 or (t_min == t_max and l_min == l_max):
        t, lf = int(tops[0]), int(lefts[0])
        return x[:, :, t:t + height, lf:lf + width]
    out = np.empty((n, x.shape[1], height, width), dtype=x.dtype)
    for i, (t, lf) in enumerate(zip(tops.tolist(), lefts.tolist())):
        out[i] = x[i, :, t:t + height, lf:lf + width]
    return out


def crop(img: Any, top: Any, left: Any, height: int, width: int, batch: bool = False) -> Any:
    """The ``height`` x ``width`` window at (``top``, ``left``); per-sample offsets may be
    arrays. Parts outside the image are zero, as in torchvision."""
    x, back = to_nchw(img, batch)
    return back(_crop_nchw(x, top, left, int(height), int(width)))


def _pair(size: Any, name: str) -> tuple[int, int]:
    if isinstance(size, int | np.integer):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) == 1:
        return int(size[0]), int(size[0])
    if isinstance(size, Sequence) and len(size) == 2:
        return int(size[0]), int(size[1])
    raise ValueError(f"{name} should be an int or a sequence of one or two ints (h, w), "
                     f"got {size!r}")


def center_crop(img: Any, output_size: Any, batch: bool = False) -> Any:
    """The central ``output_size`` window (zero-padded when the image is smaller)."""
    th, tw = _pair(output_size, "output_size")
    x, back = to_nchw(img, batch)
    h, w = x.shape[-2:]
    if th > h or tw > w:
        x = _pad_nchw(x, ((tw - w) // 2 if tw > w else 0, (th - h) // 2 if th > h else 0,
                          (tw - w + 1) // 2 if tw > w else 0, (th - h + 1) // 2 if th > h else 0),
                      0, "constant")
        h, w = x.shape[-2:]
        if (h, w) == (th, tw):
            return back(x)
    top = int(round((h - th) / 2.0))
    left = int(round((w - tw) / 2.0))
    return back(x[:, :, top:top + th, left:left + tw])


def _padding_ltrb(padding: Any) -> tuple[int, int, int, int]:
    if isinstance(padding, int | np.integer):
        p = int(padding)
        return p, p, p, p
    padding = [int(p) for p in padding]
    if len(padding) == 1:
        return padding[0], padding[0], padding[0], padding[0]
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    if len(padding) == 4:
        return padding[0], padding[1], padding[2], padding[3]
    raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a "
                     f"{len(padding)} element tuple")


def _pad_nchw(x: np.ndarray, ltrb: tuple[int, int, int, int], fill: Any,
              padding_mode: str) -> np.ndarray:
    left, top, right, bottom = ltrb
    if min(ltrb) < 0:
        raise ValueError(f"padding must be non-negative, got {ltrb}")
    n, c, h, w = x.shape
    if padding_mode == "constant":
        fills = np.asarray(fill, dtype=np.float64).reshape(-1)
        if fills.size not in (1, c):
            raise ValueError(f"fill has {fills.size} values but the image has {c} channels")
        # A filled canvas and one copy: much cheaper than np.pad for small images.
        out = np.empty((n, c, h + top + bottom, w + left + right), dtype=x.dtype)
        out[...] = fills.astype(x.dtype).reshape(1, -1, 1, 1) if fills.size > 1 else \
            fills[0].astype(x.dtype)
        out[:, :, top:top + h, left:left + w] = x
        return out
    modes = {"edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}
    if padding_mode not in modes:
        raise ValueError(f"Padding mode should be either constant, edge, reflect or symmetric, "
                         f"got {padding_mode!r}")
    widths = ((0, 0), (0, 0), (top, bottom), (left, right))
    return np.pad(x, widths, mode=modes[padding_mode])


def pad(img: Any, padding: Any, fill: Any = 0, padding_mode: str = "constant",
        batch: bool = False) -> Any:
    """Pad every side: an int, (left/right, top/bottom) or (left, top, right, bottom)."""
    x, back = to_nchw(img, batch)
    return back(_pad_nchw(x, _padding_ltrb(padding), fill, padding_mode))


# --------------------------------------------------------------------- resize


def _aa_weights(in_size: int, out_size: int) -> np.ndarray:
    """out_size x in_size interpolation matrix of the triangle (bilinear) filter, widened by
    the scale when shrinking (antialiasing): PIL's and PyTorch's ``antialias=True`` weights."""
    scale = in_size / out_size
    support = scale if scale >= 1.0 else 1.0
    inv = 1.0 / scale if scale >= 1.0 else 1.0
    weights = np.zeros((out_size, in_size), dtype=np.float64)
    for i in range(out_size):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        j = np.arange(lo, hi)
        w = np.maximum(0.0, 1.0 - np.abs((j - center + 0.5) * inv))
        total = w.sum()
        if total > 0:
            weights[i, lo:hi] = w / total
    return weights


def resize_output_size(h: int, w: int, size: Any, max_size: int | None = None) -> tuple[int, int]:
    """torchvision's rule: an int matches the smaller edge (keeping the aspect ratio)."""
    if isinstance(size, Sequence) and len(size) == 2:
        return int(size[0]), int(size[1])
    requested = int(size[0] if isinstance(size, Sequence) else size)
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = requested, int(requested * long / short)
    if max_size is not None:
        if max_size <= requested:
            raise ValueError(f"max_size = {max_size} must be strictly greater than the requested "
                             f"size for the smaller edge size = {size}")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if w <= h else (new_short, new_long)


def resize(img: Any, size: Any, interpolation: Any = BILINEAR, max_size: int | None = None,
           antialias: bool = True, batch: bool = False) -> Any:
    """Resize to ``size`` ((h, w), or an int for the smaller edge)."""
    mode = _interp(interpolation)
    x, back = to_nchw(img, batch)
    h, w = x.shape[-2:]
    oh, ow = resize_output_size(h, w, size, max_size)
    if (oh, ow) == (h, w):
        return back(x)
    if mode == NEAREST:
        rows = np.minimum((np.arange(oh) * (h / oh)).astype(np.int64), h - 1)
        cols = np.minimum((np.arange(ow) * (w / ow)).astype(np.int64), w - 1)
        return back(x[:, :, rows[:, None], cols[None, :]])
    wy = _aa_weights(h, oh) if antialias or oh > h else _aa_weights_plain(h, oh)
    wx = _aa_weights(w, ow) if antialias or ow > w else _aa_weights_plain(w, ow)
    ftype = x.dtype if x.dtype.kind == "f" else np.float32
    out = wy.astype(ftype) @ (x.astype(ftype, copy=False) @ wx.T.astype(ftype))
    return back(_cast_back(out, x.dtype))


def _aa_weights_plain(in_size: int, out_size: int) -> np.ndarray:
    """Bilinear weights without antialiasing (``antialias=False``): a two-tap filter."""
    scale = in_size / out_size
    src = np.maximum((np.arange(out_size) + 0.5) * scale - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = src - lo
    weights = np.zeros((out_size, in_size))
    np.add.at(weights, (np.arange(out_size), lo), 1.0 - frac)
    np.add.at(weights, (np.arange(out_size), hi), frac)
    return weights


# --------------------------------------------------------------------- rotate / affine


def inverse_affine_matrix(center: Sequence[float], angle: float, translate: Sequence[float],
                          scale: float, shear: Sequence[float]) -> list[float]:
    """torchvision's ``_get_inverse_affine_matrix``: output pixel -> input pixel, as the six
    numbers of a 2 x 3 matrix in coordinates centred on ``center``."""
    rot = math.radians(angle)
    sx, sy = math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = [d / scale, -b / scale, 0.0, -c / scale, a / scale, 0.0]
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty)
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty)
    m[2] += cx
    m[5] += cy
    return m


def _gather(x: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """x[n, :, flat[n]] for flat pixel indices of shape (N, H', W') -> N x C x H' x W'."""
    n, c, h, w = x.shape
    xr = x.reshape(n, c, h * w)
    if n == 1:
        return xr[0][:, flat[0]][None]
    return xr[np.arange(n)[:, None, None], :, flat].transpose(0, 3, 1, 2)


@functools.lru_cache(maxsize=32)
def _base_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Output pixel centres in centred coordinates, float32 as torchvision's linspace gives."""
    xs = np.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, w).astype(np.float32)[None, None, :]
    ys = np.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, h).astype(np.float32)[None, :, None]
    return xs, ys


def warp_affine(x: np.ndarray, matrices: np.ndarray, interpolation: str, fill: Any) -> np.ndarray:
    """Sample N x C x H x W images through per-sample inverse affine matrices (N x 6, in
    centred coordinates), as torchvision's tensor ``affine`` (grid_sample, zero padding, then
    ``fill`` outside the image)."""
    n, c, h, w = x.shape
    # The sampling grid is built in float32 with torchvision's order of operations (base grid,
    # matrix scaled by half the size, grid_sample's unnormalisation), so nearest-neighbour
    # rounding ties fall the same way and results match torchvision exactly.
    f32 = np.float32
    mats = np.asarray(matrices, dtype=np.float64).reshape(n, 6).astype(f32)
    mats[:, :3] /= f32(0.5 * w)
    mats[:, 3:] /= f32(0.5 * h)
    xs, ys = _base_grid(h, w)
    a, b, c0, d, e, f = (mats[:, k, None, None] for k in range(6))
    src_x = ((((xs * a + ys * b) + c0) + f32(1)) * f32(w) - f32(1)) / f32(2)
    src_y = ((((xs * d + ys * e) + f) + f32(1)) * f32(h) - f32(1)) / f32(2)
    fills = np.asarray(0 if fill is None else fill, dtype=np.float64).reshape(-1)
    if interpolation == NEAREST:
        ix = np.rint(src_x).astype(np.intp)
        iy = np.rint(src_y).astype(np.intp)
        inside = (ix.astype(np.uintp) < w) & (iy.astype(np.uintp) < h)  # negatives wrap high
        flat = np.where(inside, iy * w + ix, 0)
        gathered = _gather(x, flat)
        fill_px = (fills.reshape(1, -1, 1, 1) if fills.size > 1 else fills[0])
        if x.dtype.kind in "iub":
            fill_px = _cast_back(np.asarray(fill_px, dtype=np.float64), x.dtype)
        return np.where(inside[:, None], gathered, np.asarray(fill_px, dtype=x.dtype))
    ftype = x.dtype.type if x.dtype.kind == "f" else np.float32
    fill_f = fills.astype(ftype).reshape(1, -1, 1, 1) if fills.size > 1 else ftype(fills[0])
    x0 = np.floor(src_x)
    y0 = np.floor(src_y)
    fx = (src_x - x0).astype(ftype)[:, None]
    fy = (src_y - y0).astype(ftype)[:, None]
    x0 = x0.astype(np.intp)
    y0 = y0.astype(np.intp)
    xf = x.astype(ftype, copy=False)
    out = np.zeros((n, c, h, w), dtype=ftype)
    mask = np.zeros((n, 1, h, w), dtype=ftype)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            iy, ix = y0 + dy, x0 + dx
            valid = ((ix.astype(np.uintp) < w) & (iy.astype(np.uintp) < h))[:, None]
            wgt = np.where(valid, wy * wx, ftype(0))
            out += wgt * _gather(xf, np.where(valid[:, 0], iy * w + ix, 0))
            mask += wgt
    out = out * mask + (1 - mask) * fill_f
    return _cast_back(out, x.dtype)


def _centre(center: Sequence[float] | None, h: int, w: int) -> list[float]:
    if center is None:
        return [0.0, 0.0]
    return [float(center[0]) - w * 0.5, float(center[1]) - h * 0.5]


def rotate(img: Any, angle: Any, interpolation: Any = NEAREST, center: Any = None,
           fill: Any = 0, batch: bool = False) -> Any:
    """Rotate counter-clockwise by ``angle`` degrees (one angle per sample for a batch) about
    the centre (or ``center``, (x, y) from the top-left); corners outside get ``fill``."""
    x, back = to_nchw(img, batch)
    h, w = x.shape[-2:]
    angles = np.broadcast_to(np.asarray(angle, dtype=np.float64), (x.shape[0],))
    cen = _centre(center, h, w)
    mats = np.array([inverse_affine_matrix(cen, -float(a), [0.0, 0.0], 1.0, [0.0, 0.0])
                     for a in angles])
    return back(warp_affine(x, mats, _interp(interpolation), fill))


def affine(img: Any, angle: Any, translate: Any, scale: Any, shear: Any,
           interpolation: Any = NEAREST, fill: Any = 0, center: Any = None,
           batch: bool = False) -> Any:
    """Rotate (clockwise, as torchvision's ``affine``), scale, shear and translate (pixels)
    about the centre; for a batch every parameter may be one value per sample."""
    x, back = to_nchw(img, batch)
    n, h, w = x.shape[0], x.shape[2], x.shape[3]
    angles = np.broadcast_to(np.asarray(angle, dtype=np.float64), (n,))
    trans = np.broadcast_to(np.asarray(translate, dtype=np.float64), (n, 2))
    scales = np.broadcast_to(np.asarray(scale, dtype=np.float64), (n,))
    shear_arr = np.asarray(shear, dtype=np.float64)
    if shear_arr.ndim == 0 or (shear_arr.ndim == 1 and shear_arr.size == 1):
        shear_arr = np.stack([np.broadcast_to(shear_arr.reshape(()), (n,)), np.zeros(n)], 1)
    shears = np.broadcast_to(shear_arr, (n, 2))
    if np.any(scales <= 0):
        raise ValueError("Argument scale should be positive")
    cen = _centre(center, h, w)
    mats = np.array([inverse_affine_matrix(cen, float(angles[i]), trans[i].tolist(),
                                           float(scales[i]), shears[i].tolist())
                     for i in range(n)])
    return back(warp_affine(x, mats, _interp(interpolation), fill))
