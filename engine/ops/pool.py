"""Pooling and separable resampling, vectorised.

Every pooling window is read from one contiguous copy of the strided view ``(kh, kw, N, C, OH,
OW)`` of the padded input, so each kernel offset is a contiguous block and the reductions are
``kh*kw`` full-speed NumPy calls (strided elementwise ops are several times slower than contiguous
ones). Max pooling keeps, per output, the offset of the FIRST maximum in window order (row-major
over the kernel), which is where PyTorch sends the gradient on ties.

Adaptive average pooling with uneven windows, and interpolation, are separable linear maps:
``out = Ah @ x @ Aw^T`` with small constant matrices, so forward and backward are two GEMMs each.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _cuda_kernels
from .._backend import xp_of
from .._blas import split_map
from .._cuda_kernels import on_gpu
from ..autograd.function import Function
from .conv import one_piece, pad2d, thread_parts

# Max pooling splits its batch chunks over the op threads (as convolution does) when its window
# copies take at least this many bytes: LeNet-5's at batch 256 (9.6 MB) and the CIFAR CNNs'. At
# batch 64 (2.4 MB and 0.8 MB) the hand-over cost more than it gave: the LeNet-5 step took 6.60
# ms split at 512 KB, 5.93 ms at this bound (2 threads, medians of 15 alternating rounds).
POOL_SPLIT_MIN_BYTES = 4 << 20


def pool_out_size(size: int, k: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output length (``pooling_output_shape``), ceil_mode included."""
    span = size + 2 * pad - dilation * (k - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _windows(x: Any, k: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
             dilation: tuple[int, int], out_hw: tuple[int, int], fill: float) -> Any:
    """Contiguous ``(kh*kw, N, C, OH, OW)`` copy of every window element."""
    xp = xp_of(x)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = k, stride, pad, dilation, out_hw
    h, w = x.shape[2:]
    need_h = (oh - 1) * sh + (kh - 1) * dh + 1
    need_w = (ow - 1) * sw + (kw - 1) * dw + 1
    extra = (max(need_h - h - 2 * ph, 0), max(need_w - w - 2 * pw, 0))
    xpad = pad2d(x, (ph, ph, pw, pw), fill, extra)
    sn, sc, s_h, s_w = xpad.strides
    view = xp.lib.stride_tricks.as_strided(
        xpad, shape=(kh, kw, x.shape[0], x.shape[1], oh, ow),
        strides=(s_h * dh, s_w * dw, sn, sc, s_h * sh, s_w * sw))
    return xp.ascontiguousarray(view).reshape((kh * kw,) + view.shape[2:])


def _scatter_windows(per_offset: Any, x_shape: tuple[int, ...], k: tuple[int, int],
                     stride: tuple[int, int], pad: tuple[int, int], dilation: tuple[int, int],
                     out_hw: tuple[int, int], dtype: Any, xp: Any) -> Any:
    """Adjoint of ``_windows``: ``per_offset(q) -> (N, C, OH, OW)`` gradient of offset ``q``,
    summed back onto an input-shaped array (one strided write per kernel offset)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = k, stride, pad, dilation, out_hw
    n, c, h, w = x_shape
    hp = max(h + 2 * ph, (oh - 1) * sh + (kh - 1) * dh + 1)
    wp = max(w + 2 * pw, (ow - 1) * sw + (kw - 1) * dw + 1)
    # Windows never share an element when the stride covers the dilated kernel: assign, not add.
    disjoint = sh >= (kh - 1) * dh + 1 and sw >= (kw - 1) * dw + 1
    # When they also tile the (padded) input exactly (e.g. 2x2, stride 2, even sizes), every
    # element is assigned once and the zero fill can be skipped.
    tiles = (disjoint and (dh, dw) == (1, 1) and (sh, sw) == (kh, kw)
             and oh * sh == hp and ow * sw == wp)
    gx = (xp.empty if tiles else xp.zeros)((n, c, hp, wp), dtype=dtype)
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
        for j in range(kw):
            target = gx[:, :, rows, j * dw:j * dw + sw * (ow - 1) + 1:sw]
            if disjoint:
                per_offset(i * kw + j, target)
            else:
                target += per_offset(i * kw + j, None)  # in place on the view
    if ph or pw or hp != h or wp != w:
        gx = gx[:, :, ph:ph + h, pw:pw + w]
    return gx


def _index_dtype(xp: Any, kk: int) -> Any:
    """The dtype of max pooling's per-output window offsets (0 .. kk-1): one byte when it fits."""
    return xp.uint8 if kk < 256 else xp.int32


def _max_windows(x: Any, k: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
                 dilation: tuple[int, int], out_hw: tuple[int, int]) -> tuple[Any, Any]:
    """(max, offset of the first max) over every window of ``x``."""
    xp = xp_of(x)
    win = _windows(x, k, stride, pad, dilation, out_hw, -math.inf)
    out = win[0].copy()
    kk = win.shape[0]
    idx = xp.zeros(out.shape, dtype=_index_dtype(xp, kk))
    tmp = xp.empty(out.shape, dtype=bool)
    step = xp.empty(out.shape, dtype=idx.dtype)
    for q in range(1, kk):
        # Strictly greater: ties keep the earlier offset. Offsets grow with q, so the index of
        # the current maximum is max(idx, q * is_new_max).
        xp.greater(win[q], out, out=tmp)
        xp.maximum(out, win[q], out=out)
        xp.copyto(step, tmp)  # bool -> index dtype, then * q: explicit types on NumPy and
        step *= idx.dtype.type(q)  # CuPy alike
        xp.maximum(idx, step, out=idx)
    return out, idx


class MaxPool2d(Function):
    """Max over windows; the gradient goes to the first maximum of each window. On the CPU the
    batch is processed in cache-sized chunks (like convolution): the window copy and the
    per-offset passes then stay in cache; large batches deal the chunks to the op threads."""

    def forward(self, x: Any, k: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
                dilation: tuple[int, int], ceil_mode: bool) -> Any:
        xp = xp_of(x)
        n, c, h, w = x.shape
        oh = pool_out_size(h, k[0], stride[0], pad[0], dilation[0], ceil_mode)
        ow = pool_out_size(w, k[1], stride[1], pad[1], dilation[1], ceil_mode)
        kk = k[0] * k[1]
        idx_dtype = _index_dtype(xp, kk)
        sample_bytes = 2 * c * kk * oh * ow * x.itemsize
        parts = thread_parts(xp, n * sample_bytes, n, sample_bytes, POOL_SPLIT_MIN_BYTES)
        if on_gpu(xp, x.dtype):  # one kernel, same maxima and indices (~20 launches in array form)
            out, idx = _cuda_kernels.max_pool2d(x, k, stride, pad, dilation, (oh, ow), idx_dtype)
        elif one_piece(parts):
            out, idx = _max_windows(x, k, stride, pad, dilation, (oh, ow))
        else:
            out = xp.empty((n, c, oh, ow), dtype=x.dtype)
            idx = xp.empty((n, c, oh, ow), dtype=idx_dtype)

            def run(part: list[tuple[int, slice]]) -> None:
                for _, sl in part:
                    out[sl], idx[sl] = _max_windows(x[sl], k, stride, pad, dilation, (oh, ow))

            split_map(run, parts)
        self.idx, self.parts = idx, parts
        self.cfg = (x.shape, k, stride, pad, dilation, (oh, ow))
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        x_shape, k, stride, pad, dilation, out_hw = self.cfg
        xp = xp_of(g)
        parts = self.parts
        if on_gpu(xp, g.dtype):
            gx = _cuda_kernels.max_pool2d_backward(g, self.idx, x_shape, k, stride, pad, dilation)
            return gx, None, None, None, None, None
        if one_piece(parts):
            return (self._scatter(g, self.idx, x_shape), None, None, None, None, None)
        gx = xp.empty(x_shape, dtype=g.dtype)

        def run(part: list[tuple[int, slice]]) -> None:
            for _, sl in part:
                gc = g[sl]
                gx[sl] = self._scatter(gc, self.idx[sl], (gc.shape[0],) + tuple(x_shape[1:]))

        split_map(run, parts)
        return gx, None, None, None, None, None

    def _scatter(self, g: Any, idx: Any, x_shape: tuple[int, ...]) -> Any:
        _, k, stride, pad, dilation, out_hw = self.cfg
        xp = xp_of(g)

        def per_offset(q: int, out: Any) -> Any:
            return xp.multiply(g, idx == q, out=out)

        return _scatter_windows(per_offset, x_shape, k, stride, pad, dilation, out_hw, g.dtype,
                                xp)

    def indices(self, x_shape: tuple[int, ...]) -> Any:
        """Flat ``H*W`` input positions of the chosen maxima (``return_indices=True``)."""
        _, k, stride, pad, dilation, (oh, ow) = self.cfg
        xp = xp_of(self.idx)
        di = (self.idx // k[1]).astype(xp.int64)
        dj = (self.idx % k[1]).astype(xp.int64)
        rows = xp.arange(oh).reshape(-1, 1) * stride[0] - pad[0] + di * dilation[0]
        cols = xp.arange(ow).reshape(1, -1) * stride[1] - pad[1] + dj * dilation[1]
        return rows * x_shape[3] + cols


def avg_divisor(size: int, k: int, stride: int, pad: int, out: int,
                count_include_pad: bool) -> np.ndarray:
    """Per-output window size along one axis, as PyTorch's avg_pool2d counts it."""
    start = np.arange(out) * stride - pad
    end = np.minimum(start + k, size + pad)
    incl = end - start
    excl = np.minimum(end, size) - np.maximum(start, 0)
    return (incl if count_include_pad else excl).astype(np.float64)


class AvgPool2d(Function):
    """Mean over windows with PyTorch's divisor rules (count_include_pad, divisor_override)."""

    def forward(self, x: Any, k: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
                ceil_mode: bool, count_include_pad: bool, divisor_override: int | None) -> Any:
        xp = xp_of(x)
        h, w = x.shape[2:]
        oh = pool_out_size(h, k[0], stride[0], pad[0], 1, ceil_mode)
        ow = pool_out_size(w, k[1], stride[1], pad[1], 1, ceil_mode)
        if divisor_override:
            inv = 1.0 / divisor_override
        else:
            dh = avg_divisor(h, k[0], stride[0], pad[0], oh, count_include_pad)
            dw = avg_divisor(w, k[1], stride[1], pad[1], ow, count_include_pad)
            d = np.outer(dh, dw)
            inv = float(1.0 / d[0, 0]) if (d == d[0, 0]).all() else xp.asarray(
                (1.0 / d).astype(x.dtype))
        win = _windows(x, k, stride, pad, (1, 1), (oh, ow), 0.0)
        out = win.sum(axis=0)
        out *= inv
        self.inv = inv
        self.cfg = (x.shape, k, stride, pad, (1, 1), (oh, ow))
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        x_shape, k, stride, pad, dilation, out_hw = self.cfg
        xp = xp_of(g)
        gs = g * self.inv

        def per_offset(q: int, out: Any) -> Any:
            if out is None:
                return gs
            out[...] = gs
            return out

        gx = _scatter_windows(per_offset, x_shape, k, stride, pad, dilation, out_hw, g.dtype, xp)
        return gx, None, None, None, None, None, None


def adaptive_bounds(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's adaptive pooling windows: [floor(i*size/out), ceil((i+1)*size/out))."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def adaptive_avg_matrix(size: int, out: int) -> np.ndarray:
    """(out, size) matrix whose rows average each adaptive window."""
    start, end = adaptive_bounds(size, out)
    pos = np.arange(size)
    inside = (pos >= start[:, None]) & (pos < end[:, None])
    return inside / (end - start)[:, None]


class Resample2d(Function):
    """``out = Ah @ x @ Aw^T`` over the last two axes (constant matrices): adaptive average
    pooling with uneven windows, nearest and bilinear interpolation."""

    def forward(self, x: Any, ah: Any, aw: Any) -> Any:
        self.ah, self.aw = ah, aw
        return ah @ (x @ aw.T)

    def backward(self, g: Any) -> tuple[Any, None, None]:
        return (self.ah.T @ (g @ self.aw), None, None)


class AdaptiveMaxPool2d(Function):
    """Max over adaptive windows of uneven size, gathered with index arrays (windows padded to the
    largest size with -inf); the gradient goes to the first maximum of each window."""

    def forward(self, x: Any, out_hw: tuple[int, int]) -> Any:
        xp = xp_of(x)
        n, c, h, w = x.shape
        oh, ow = out_hw
        hs, he = adaptive_bounds(h, oh)
        ws, we = adaptive_bounds(w, ow)
        kh, kw = int((he - hs).max()), int((we - ws).max())
        rows = hs[:, None] + np.arange(kh)  # (OH, kh)
        cols = ws[:, None] + np.arange(kw)  # (OW, kw)
        valid = ((rows < he[:, None])[:, None, :, None] & (cols < we[:, None])[None, :, None, :])
        rows = np.minimum(rows, h - 1)
        cols = np.minimum(cols, w - 1)
        flat = (rows[:, None, :, None] * w + cols[None, :, None, :]).reshape(oh, ow, kh * kw)
        flat_x = xp.asarray(flat)
        gathered = x.reshape(n, c, h * w)[:, :, flat_x]  # (N, C, OH, OW, kh*kw)
        if not valid.all():
            gathered = xp.where(xp.asarray(valid.reshape(oh, ow, -1)), gathered,
                                x.dtype.type(-np.inf))
        arg = gathered.argmax(axis=-1)
        out = xp.take_along_axis(gathered, arg[..., None], axis=-1)[..., 0]
        self.src = xp.take_along_axis(xp.broadcast_to(flat_x, gathered.shape), arg[..., None],
                                      axis=-1)[..., 0]
        self.shape = x.shape
        return out

    def backward(self, g: Any) -> tuple[Any, None]:
        from .util import scatter_add  # noqa: PLC0415

        xp = xp_of(g)
        n, c, h, w = self.shape
        gx = xp.zeros((n * c, h * w), dtype=g.dtype)
        rowsel = xp.arange(n * c).reshape(-1, 1)
        scatter_add(xp, gx, (rowsel, self.src.reshape(n * c, -1)), g.reshape(n * c, -1))
        return gx.reshape(self.shape), None
