"""Convolution by im2col + GEMM, and its adjoint (col2im) for input gradients and transposed
convolution.

Two column layouts. Per sample (CPU, output maps of ``PER_SAMPLE_MIN_PIXELS`` or more):
``(N, G, Cg*kh*kw, OH*OW)``, one GEMM per sample whose result is already in NCHW order. Batch
inside (GPU, and small maps on the CPU): ``(G, Cg*kh*kw, N*OH*OW)``, one GEMM per group over the
whole batch, with one transposing copy of the output and of its gradient; made and scattered back
by the fused kernels of ``_cuda_kernels`` on a GPU (each pass one launch: there the step is bound
by launches) and by their array-code twins here. Unit-stride input gradients use the flat
long-run col2im (``_input_grad_flat``) where the zero margins are small.

On the CPU a large batch is cut into a few cache-sized chunks (``CHUNK_BYTES`` of columns each):
a 20 MB column buffer made every pass over it memory-bound and cost LeNet-5 at batch 256 ~20% of
its step time. A large convolution deals its chunks to ``op_threads()`` threads
(``engine._blas.split_map``: BLAS single-threaded meanwhile), so the memory-bound copies use every
core as the GEMMs do.
"""

from __future__ import annotations

from typing import Any

from .. import _cuda_kernels
from .._backend import xp_of
from .._blas import op_threads, split_map
from .._cuda_kernels import on_gpu
from ..autograd.function import Function

Pads = tuple[int, int, int, int]  # top, bottom, left, right
# On the CPU the batch is processed in chunks whose column buffer stays in cache (see Conv2d).
CHUNK_BYTES = 2 << 20
# The forward keeps its columns for the weight gradient when they take at most this many bytes
# (LeNet-5 at batch 256: 20 MB and 15 MB): the backward then skips the im2col copies, ~10% of a
# LeNet step. Larger columns (kh*kw times the activations) are rebuilt chunk by chunk instead,
# so a big network's memory stays near its activations: at 64 MB ResNet-18 at batch 32 kept
# 240 MB of columns and its training added 515 MB to the process against PyTorch's 344 MB.
KEEP_COLUMNS_BYTES = 24 << 20


def out_size(size: int, k: int, stride: int, pad_lo: int, pad_hi: int, dilation: int) -> int:
    """Output length of a convolution along one axis (PyTorch's formula)."""
    return (size + pad_lo + pad_hi - dilation * (k - 1) - 1) // stride + 1


def pad2d(x: Any, pads: Pads, value: float = 0.0, extra: tuple[int, int] = (0, 0)) -> Any:
    """``x`` (N, C, H, W) padded with ``value``; ``extra`` adds rows/cols at the bottom/right
    (ceil-mode pooling). Returns ``x`` itself when there is nothing to pad."""
    top, bottom, left, right = pads
    bottom += extra[0]
    right += extra[1]
    if not (top or bottom or left or right):
        return x
    xp = xp_of(x)
    n, c, h, w = x.shape
    out = xp.full((n, c, h + top + bottom, w + left + right), value, dtype=x.dtype)
    out[:, :, top:top + h, left:left + w] = x
    return out


def window_view(xpad: Any, kh: int, kw: int, oh: int, ow: int, stride: tuple[int, int],
                dilation: tuple[int, int]) -> Any:
    """A read-only strided view ``(N, C, kh, kw, OH, OW)`` of the padded input: element
    ``[n, c, i, j, y, x]`` is ``xpad[n, c, y*sh + i*dh, x*sw + j*dw]``. No data is copied."""
    xp = xp_of(xpad)
    sn, sc, sh, sw = xpad.strides
    return xp.lib.stride_tricks.as_strided(
        xpad, shape=(xpad.shape[0], xpad.shape[1], kh, kw, oh, ow),
        strides=(sn, sc, sh * dilation[0], sw * dilation[1], sh * stride[0], sw * stride[1]),
    )


def _im2col_array(x: Any, k: tuple[int, int], stride: tuple[int, int],
                  top_left: tuple[int, int], dilation: tuple[int, int], out_hw: tuple[int, int],
                  groups: int, ones_row: bool) -> Any:
    """Array-code twin of ``_cuda_kernels.im2col`` (same signature and layout): columns
    ``(G, Cg*kh*kw [+1], N*OH*OW)`` with the batch inside, from one pad and one strided copy.

    Why this layout for small output maps on the CPU too: each group's forward, weight gradient
    and column gradient is then ONE GEMM over the batch. With one GEMM per sample a 4x4 map of
    512 channels gave 32 GEMMs of 16 columns each, and the weight gradient a (K, OC) partial sum
    per sample: ResNet-18's convolutions ran at 30-37 GFLOP/s, against 125-200 for GEMMs of
    that size on this 2-core machine."""
    xp = xp_of(x)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (top, left), (dh, dw), (oh, ow) = k, stride, top_left, dilation, out_hw
    bottom = max(0, (oh - 1) * sh + (kh - 1) * dh + 1 - h - top)
    right = max(0, (ow - 1) * sw + (kw - 1) * dw + 1 - w - left)
    view = window_view(pad2d(x, (top, bottom, left, right)), kh, kw, oh, ow, stride, dilation)
    cg = c // groups
    kq = cg * kh * kw
    cols = xp.empty((groups, kq + int(ones_row), n * oh * ow), dtype=x.dtype)
    cols[:, :kq].reshape(groups, cg, kh, kw, n, oh, ow)[...] = view.reshape(
        n, groups, cg, kh, kw, oh, ow).transpose(1, 2, 3, 4, 0, 5, 6)
    if ones_row:
        cols[:, kq] = 1
    return cols


def col2im(gcols: Any, x_shape: tuple[int, ...], stride: tuple[int, int], pads: Pads,
           dilation: tuple[int, int]) -> Any:
    """Adjoint of the window view: sum ``gcols`` (N, C, kh, kw, OH, OW) (any strides) back onto
    an input-shaped array.

    One strided ``+=`` per kernel offset; within one offset the target positions are distinct, so
    plain slicing accumulates correctly (no ``add.at``)."""
    xp = xp_of(gcols)
    n, c, kh, kw, oh, ow = gcols.shape
    h, w = x_shape[2:]
    top, bottom, left, right = pads
    sh, sw = stride
    dh, dw = dilation
    hp, wp = h + top + bottom, w + left + right
    # Room for windows that stop short of the padded edge (strides that don't divide evenly).
    hp = max(hp, (oh - 1) * sh + (kh - 1) * dh + 1)
    wp = max(wp, (ow - 1) * sw + (kw - 1) * dw + 1)
    gx = xp.zeros((n, c, hp, wp), dtype=gcols.dtype)
    for i in range(kh):
        r0 = i * dh
        rows = slice(r0, r0 + sh * (oh - 1) + 1, sh)
        for j in range(kw):
            c0 = j * dw
            target = gx[:, :, rows, c0:c0 + sw * (ow - 1) + 1:sw]
            target += gcols[:, :, i, j]
    if top or left or hp != h + top or wp != w + left:
        gx = gx[:, :, top:top + h, left:left + w]
    return gx


def _col2im_array(gcols: Any, x_shape: tuple[int, ...], out_hw: tuple[int, int],
                  k: tuple[int, int], stride: tuple[int, int], top_left: tuple[int, int],
                  dilation: tuple[int, int], groups: int) -> Any:
    """Array-code twin of ``_cuda_kernels.col2im``: ``gcols`` (G, Cg*kh*kw, N*OH*OW) summed
    onto ``x_shape`` (N, C, H, W); may return a non-contiguous view."""
    n, c = x_shape[:2]
    g6 = gcols.reshape(c, k[0], k[1], n, out_hw[0], out_hw[1]).transpose(3, 0, 1, 2, 4, 5)
    return col2im(g6, x_shape, stride, (top_left[0], 0, top_left[1], 0), dilation)


def _im2col(x: Any, *args: Any) -> Any:
    """Batch-inside columns of ``x``: the fused kernel on a GPU, array code elsewhere."""
    if on_gpu(xp_of(x), x.dtype):
        return _cuda_kernels.im2col(x, *args)
    return _im2col_array(x, *args)


def _col2im(gcols: Any, *args: Any) -> Any:
    if on_gpu(xp_of(gcols), gcols.dtype):
        return _cuda_kernels.col2im(gcols, *args)
    return _col2im_array(gcols, *args)


def _input_grad_flat(g_cn: Any, w: Any, x_shape: tuple[int, ...], pads: Pads,
                     dilation: tuple[int, int], groups: int) -> Any:
    """dx of a unit-stride convolution from g viewed (OC, N, OH, OW) (any strides), as a
    (N, C, H, W) strided view (not copied).

    The column gradient is built as ``(kh, kw, C, N, Hp, Wp)`` by one GEMM per group, from ``g``
    laid out ``(OC, N, Hp, Wp)`` with zeros past ``(OH, OW)``. In that layout every kernel
    offset (i, j) of a group is ONE contiguous run that lands on the flat padded input shifted by
    ``i*dh*Wp + j*dw``, so col2im is ``kh*kw`` long contiguous adds: 3-4x faster than adding
    row by row, for the GEMM work on the zero margins (``_FLAT_MARGIN`` bounds it). What the
    zero margins add spills only onto other zeros' targets or the slack at the end."""
    xp = xp_of(g_cn)
    oc, _, oh, ow = g_cn.shape
    n, c, h, wd = x_shape
    kh, kw = w.shape[2:]
    top, bottom, left, right = pads
    hp, wp = h + top + bottom, wd + left + right
    cg, ocg = c // groups, oc // groups
    g_wide = xp.zeros((oc, n, hp, wp), dtype=g_cn.dtype)
    g_wide[:, :, :oh, :ow] = g_cn
    # W^T with rows ordered (group, i, j, cg), so one offset's rows are adjacent.
    wt = w.reshape(groups, ocg, cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(groups, -1, ocg)
    run = cg * n * hp * wp
    gcols = (wt @ g_wide.reshape(groups, ocg, -1)).reshape(groups, kh * kw, run)
    gbuf = xp.zeros(groups * run + (kh - 1) * dilation[0] * wp + (kw - 1) * dilation[1],
                    dtype=g_cn.dtype)
    for gi in range(groups):
        for i in range(kh):
            for j in range(kw):
                start = gi * run + i * dilation[0] * wp + j * dilation[1]
                target = gbuf[start:start + run]
                target += gcols[gi, i * kw + j]
    gx = gbuf[:groups * run].reshape(c, n, hp, wp)[:, :, top:top + h, left:left + wd]
    return gx.transpose(1, 0, 2, 3)


def _check_dtypes(name: str, x: Any, w: Any, b: Any) -> None:
    if x.dtype != w.dtype or (b is not None and b.dtype != x.dtype):
        raise TypeError(
            f"{name}: input is {x.dtype} but weight is {w.dtype}"
            + (f" and bias {b.dtype}" if b is not None else "")
            + "; convert them to one dtype first (e.g. model.to(input.dtype) or input.float())"
        )


# The flat unit-stride input gradient does GEMM work on the zero margins of the padded map
# ((H+2p)*(W+2p) / (OH*OW) of the exact work): it pays while that ratio is small (LeNet's 28x28
# and ResNet's 32x32 and 16x16 maps), not on 8x8 and 4x4 maps (1.56x and 2.25x).
_FLAT_MARGIN = 1.3


def _input_grad(g_k: Any, w: Any, x_shape: tuple[int, ...], out_hw: tuple[int, int],
                stride: tuple[int, int], pads: Pads, dilation: tuple[int, int],
                groups: int) -> Any:
    """dx (N, C, H, W) of a convolution from g in the batch-inside layout (G, OCg, N*OH*OW):
    one GEMM per group for the column gradient, then col2im (the gather kernel on a GPU, the
    flat long-run adds for unit strides on the CPU). May return a non-contiguous view."""
    xp = xp_of(g_k)
    h, wd = x_shape[2:]
    padded = (h + pads[0] + pads[1]) * (wd + pads[2] + pads[3])
    if (stride == (1, 1) and not on_gpu(xp, g_k.dtype)
            and padded <= _FLAT_MARGIN * out_hw[0] * out_hw[1]):
        return _input_grad_flat(g_k.reshape((-1, x_shape[0]) + tuple(out_hw)), w, x_shape,
                                pads, dilation, groups)
    kh, kw = w.shape[2:]
    wt = w.reshape(groups, w.shape[0] // groups, -1).swapaxes(-1, -2)  # (G, K, OCg)
    return _col2im(_group_matmul(wt, g_k), x_shape, out_hw, (kh, kw), stride,
                   (pads[0], pads[2]), dilation, groups)


def batch_chunks(xp: Any, n: int, bytes_per_sample: int, min_chunks: int = 1) -> list[slice]:
    """Slices of the batch whose im2col buffers fit ``CHUNK_BYTES``, at least ``min_chunks`` of
    them when the batch allows (CPU only; a GPU takes the whole batch at once). Why: a column
    buffer larger than the CPU cache makes the copy and every GEMM that reads it memory-bound; a
    cache-sized chunk is ~2x faster per sample."""
    if xp.__name__ != "numpy":
        return [slice(0, n)]
    size = max(1, min(CHUNK_BYTES // max(bytes_per_sample, 1), -(-n // max(min_chunks, 1))))
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


# A convolution splits its batch over ``op_threads()`` threads when its GEMMs do at least this
# many FLOPs (forward), or when its columns take at least SPLIT_MIN_COLUMN_BYTES: then the
# im2col copy, not the GEMM, is most of the work, and it splits well. Below both, the hand-over
# costs more than the second core gives: LeNet-5's 6->16 layer at batch 32 (15 MFLOP, 1.9 MB
# of columns) split made the step ~8% slower; its 1->6 layer at batch 64 (15 MFLOP, 5.2 MB)
# split made it 4% faster (2 threads, medians of 41 paired rounds).
SPLIT_MIN_FLOPS = 20e6
SPLIT_MIN_COLUMN_BYTES = 4 << 20


def thread_parts(xp: Any, work: float, n: int, bytes_per_sample: int,
                 min_work: float | None = None) -> list[list[tuple[int, slice]]]:
    """The batch chunks (index, slice), dealt round-robin to one part per thread, or one part
    when ``work`` is below ``min_work`` (default ``SPLIT_MIN_FLOPS``): the same parts every
    call, so sums are reproducible."""
    min_work = SPLIT_MIN_FLOPS if min_work is None else min_work
    threads = op_threads() if xp.__name__ == "numpy" and work >= min_work else 1
    chunks = list(enumerate(batch_chunks(xp, n, bytes_per_sample, threads)))
    threads = min(threads, len(chunks))
    return [chunks[t::threads] for t in range(threads)]


def one_piece(parts: list[list[tuple[int, slice]]]) -> bool:
    """True when ``thread_parts`` gave the whole batch as one chunk: the op then runs on the
    arrays as they are, without per-chunk slicing or threads."""
    return len(parts) == 1 and len(parts[0]) == 1


# BatchNorm and ReLU split their batch over the op threads (as convolution and pooling do) from
# this many bytes of activations: NumPy's ufuncs release the GIL, and a second core nearly
# halves a memory-bound pass (a ResNet-18 activation of 8 MB: 1.6 -> 0.9 ms per pass; per
# ResNet-18 step at batch 32, 2 threads: BatchNorm 97 -> 54 ms, ReLU 25 -> 16 ms). Below,
# the hand-over costs more than it gives: split at 1 MB, LeNet-5's step at batch 64 (1.2 MB
# activations) was 3.5% slower.
ELEMENTWISE_SPLIT_MIN_BYTES = 2 << 20


def batch_parts(xp: Any, a: Any) -> list[list[tuple[int, slice]]]:
    """``conv.thread_parts`` of ``a``'s batch (axis 0) for an elementwise op: one part (the whole
    array) below ``ELEMENTWISE_SPLIT_MIN_BYTES`` or on a GPU. The small case returns at once:
    ReLU asks on every call, and the general path cost it nearly as much as the op itself."""
    n = a.shape[0] if a.ndim else 1
    if a.nbytes < ELEMENTWISE_SPLIT_MIN_BYTES or xp.__name__ != "numpy":
        return [[(0, slice(0, n))]]
    return thread_parts(xp, a.nbytes, n, a.nbytes // max(n, 1), ELEMENTWISE_SPLIT_MIN_BYTES)


def part_sum(results: list[Any]) -> Any:
    """The parts' partial sums added in part order: the same total every run."""
    total = results[0]
    for r in results[1:]:
        total = total + r
    return total


def _group_matmul(a: Any, b: Any) -> Any:
    """(G, m, k) @ (G, k, n): a plain 2-D GEMM when G == 1 (no batched-GEMM set-up)."""
    if a.shape[0] == 1:
        return (a[0] @ b[0])[None]
    return a @ b


def _batch_inside(a: Any, groups: int) -> Any:
    """(N, C, *spatial) -> (G, C/G, N*L), contiguous (one transposing copy)."""
    n, c = a.shape[:2]
    moved = a.reshape(n, groups, c // groups, -1).transpose(1, 2, 0, 3)
    return xp_of(a).ascontiguousarray(moved).reshape(groups, c // groups, -1)


def _batch_outside(a: Any, n: int, spatial: tuple[int, ...]) -> Any:
    """(G, Cg, N*L) -> (N, G*Cg, *spatial) as a strided view (the copy is the caller's)."""
    groups, cg = a.shape[:2]
    return a.reshape((groups * cg, n) + tuple(spatial)).swapaxes(0, 1)


def _weight_matrix(w: Any, b: Any, groups: int) -> Any:
    """The forward GEMM's left side, (G, OCg, Cg*kh*kw [+1]): with a bias, its column is
    appended to meet the columns' row of ones (``_im2col``)."""
    ocg = w.shape[0] // groups
    wmat = w.reshape(groups, ocg, -1)
    if b is None:
        return wmat
    return xp_of(w).concatenate([wmat, b.reshape(groups, ocg, 1)], axis=2)


# ------------------------------------------------------------------ CPU per-sample layout
# When a sample's output map is large (LeNet's 28x28 and 10x10, ResNet's 32x32 and 16x16), one
# GEMM per sample is wide enough to run at full speed and writes the output in NCHW order
# directly: no transposing copies of the output and of its gradient, which the batch-inside
# layout needs. Below ``PER_SAMPLE_MIN_PIXELS`` output pixels the per-sample GEMMs get skinny
# and the weight gradient's per-sample partial sums (K x OC each) dominate: measured forward +
# backward, batch 32, per-sample vs batch-inside: 512ch 4x4 305 vs 138 ms, 256ch 8x8 162 vs
# 135 ms; LeNet's 1->6 28x28 at batch 256 6.1 vs 9.4 ms, 6->16 10x10 24 vs 32 ms.
PER_SAMPLE_MIN_PIXELS = 100


def _columns(view: Any, groups: int, ones_row: bool) -> Any:
    """The per-sample im2col columns of a batch chunk, (n, G, Cg*kh*kw [+1], OH*OW), copied
    once from the strided ``view`` (n, C, kh, kw, OH, OW); ``ones_row`` as in ``_im2col``."""
    xp = xp_of(view)
    n, c, kh, kw, oh, ow = view.shape
    k = c // groups * kh * kw
    if not ones_row:
        return xp.ascontiguousarray(view).reshape(n, groups, k, oh * ow)
    cols = xp.empty((n, groups, k + 1, oh * ow), dtype=view.dtype)
    cols[:, :, :k].reshape(n, groups, c // groups, kh, kw, oh, ow)[...] = view.reshape(
        n, groups, c // groups, kh, kw, oh, ow)
    cols[:, :, k] = 1
    return cols


def _weight_grad(cols: Any, g: Any, groups: int) -> Any:
    """(G, K [+1], OCg): sum over the batch of cols (K, L) @ g^T (L, OCg), per group (the
    transposed weight gradient; with the ones row its last row is the bias gradient).

    Computed in this orientation, not g @ cols^T: OpenBLAS runs it 2-4x faster for the small
    per-sample matrices of a CNN (e.g. 150x100 @ 100x16)."""
    n, l_ = cols.shape[0], cols.shape[-1]
    g = g.reshape(n, groups, -1, l_)
    return (cols @ g.swapaxes(-1, -2)).sum(axis=0)


def _per_sample_input_grad(g3: Any, w: Any, x_shape: tuple[int, ...], stride: tuple[int, int],
                           pads: Pads, dilation: tuple[int, int], groups: int,
                           out_hw: tuple[int, int]) -> Any:
    """dx from g (n, OC, OH*OW): the flat col2im for unit strides, else W^T @ g per sample and a
    strided col2im. May return a non-contiguous view."""
    n, oc = g3.shape[:2]
    kh, kw = w.shape[2:]
    if stride == (1, 1):
        g_cn = g3.reshape((n, oc) + tuple(out_hw)).transpose(1, 0, 2, 3)
        return _input_grad_flat(g_cn, w, x_shape, pads, dilation, groups)
    wg = w.reshape(groups, oc // groups, -1).swapaxes(-1, -2)  # (G, K, OCg)
    gc = wg @ g3.reshape(n, groups, oc // groups, -1)
    return col2im(gc.reshape((n, x_shape[1], kh, kw) + tuple(out_hw)), x_shape, stride, pads,
                  dilation)


# The input gradient of a unit-stride convolution is itself a convolution: of g, padded by
# dilation*(k-1) - pad, with the weights flipped and their channel axes swapped. Its GEMM has
# K = OCg*kh*kw (1152 for 128 channels 3x3) where the flat col2im's has K = OCg, which OpenBLAS
# runs slower, and it needs no margins' work nor kh*kw adds. Measured dx alone in a convolution's
# backward (batch 32, 2 threads, col2im -> transposed): 128ch 16x16 19.1 -> 14.7 ms, 256ch 8x8
# 19.2 -> 16.7, 512ch 4x4 22.4 -> 21.1; even at 64->128 16x16 and 128->256 8x8 (9.5 -> 9.3,
# 9.9 -> 10.3); but 64ch 32x32 lost (17.4 -> 19.0): there the flat col2im of one sample's
# chunk stays in cache. LeNet's 6->16 5x5 was 4x slower (1.64 vs 0.41 ms): too few rows.
TRANSPOSED_MIN_K = 288
TRANSPOSED_MIN_CHANNELS = 16
TRANSPOSED_MAX_PIXELS = 256


def _transposed_input_grad(g: Any, w: Any, pads: Pads, dilation: tuple[int, int],
                           groups: int) -> Any | None:
    """dx (N, C, H, W) of a unit-stride convolution as the convolution of ``g`` with the flipped,
    channel-swapped weights (CPU), or None where that does not pay or the padding would have to
    crop (a pad larger than dilation*(k-1))."""
    xp = xp_of(g)
    oc, cg, kh, kw = w.shape
    ocg = oc // groups
    if (on_gpu(xp, g.dtype) or ocg * kh * kw < TRANSPOSED_MIN_K or cg < TRANSPOSED_MIN_CHANNELS
            or g.shape[2] * g.shape[3] > TRANSPOSED_MAX_PIXELS):
        return None
    reach = (dilation[0] * (kh - 1), dilation[0] * (kh - 1),
             dilation[1] * (kw - 1), dilation[1] * (kw - 1))
    gpads = tuple(r - p for r, p in zip(reach, pads))
    if min(gpads) < 0:
        return None
    wt = w.reshape(groups, ocg, cg, kh, kw)[..., ::-1, ::-1].transpose(0, 2, 1, 3, 4)
    wt = xp.ascontiguousarray(wt).reshape(groups * cg, ocg, kh, kw)
    conv = Conv2d.__new__(Conv2d)
    conv.needs = (False, False, False)
    return conv.forward(xp.ascontiguousarray(g), wt, None, (1, 1), gpads, dilation, groups)


class Conv2d(Function):
    """2-D convolution (cross-correlation, as PyTorch) of x (N, C, H, W) with w (OC, C/G, kh, kw).

    ``pads`` is (top, bottom, left, right) so that "same" padding with even kernels works.
    Per batch chunk (the whole batch on a GPU): im2col, then GEMMs — one per sample for large
    output maps on the CPU, else one per group over the chunk (see ``PER_SAMPLE_MIN_PIXELS``).
    The columns carry a row of ones when there is a bias, so the GEMM writes the biased output
    and the weight gradient's GEMM yields the bias gradient. They are kept for the weight
    gradient up to ``KEEP_COLUMNS_BYTES``; beyond that the backward rebuilds them chunk by
    chunk, so peak memory stays at one chunk's columns."""

    saves = (0, 1)

    def forward(self, x: Any, w: Any, b: Any, stride: tuple[int, int], pads: Pads,
                dilation: tuple[int, int], groups: int) -> Any:
        _check_dtypes("conv2d", x, w, b)
        xp = xp_of(x)
        n, c, h, wd = x.shape
        oc, kh, kw = w.shape[0], w.shape[2], w.shape[3]
        oh = out_size(h, kh, stride[0], pads[0], pads[1], dilation[0])
        ow = out_size(wd, kw, stride[1], pads[2], pads[3], dilation[1])
        col_bytes = c * kh * kw * oh * ow * x.itemsize  # one sample's columns
        big_columns = n * col_bytes >= SPLIT_MIN_COLUMN_BYTES
        parts = thread_parts(xp, 2.0 * n * oc * (col_bytes // x.itemsize), n, col_bytes,
                             0.0 if big_columns else None)
        ones_row = b is not None
        keep = self.needs[1] and n * col_bytes <= KEEP_COLUMNS_BYTES
        per_sample = not on_gpu(xp, x.dtype) and oh * ow >= PER_SAMPLE_MIN_PIXELS
        view = window_view(pad2d(x, pads), kh, kw, oh, ow, stride, dilation) if per_sample \
            else None
        wmat = _weight_matrix(w, b, groups)
        out = xp.empty((n, oc, oh, ow), dtype=x.dtype)

        def run(part: list[tuple[int, slice]]) -> list[Any]:
            kept = []
            for _, sl in part:
                if per_sample:
                    cols = _columns(view[sl], groups, ones_row)
                    # Straight into the output: no bias or copy pass.
                    xp.matmul(wmat, cols,
                              out=out[sl].reshape(cols.shape[0], groups, -1, oh * ow))
                else:
                    cols = _im2col(x[sl], (kh, kw), stride, (pads[0], pads[2]), dilation,
                                   (oh, ow), groups, ones_row)
                    out[sl] = _batch_outside(_group_matmul(wmat, cols),
                                             cols.shape[2] // (oh * ow), (oh, ow))
                if keep:
                    kept.append(cols)
            return kept

        kept_parts = split_map(run, parts)
        self.x, self.w, self.kept_ones = x, w, ones_row
        self.kept = dict(zip((k for part in parts for k, _ in part),
                             (cols for kept in kept_parts for cols in kept))) if keep else None
        self.cfg = (stride, pads, dilation, groups, parts, per_sample)
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        stride, pads, dilation, groups, parts, per_sample = self.cfg
        x, w, kept, needs = self.x, self.w, self.kept, self.needs
        self.kept = None
        xp = xp_of(g)
        n, oc, oh, ow = g.shape
        kh, kw = w.shape[2:]
        view = None
        if per_sample and needs[1] and not kept:  # columns not kept: rebuilt from the input
            view = window_view(pad2d(x, pads), kh, kw, oh, ow, stride, dilation)
        gx = None
        if needs[0] and stride == (1, 1):
            gx = _transposed_input_grad(g, w, pads, dilation, groups)
            if gx is not None:
                needs = (False,) + tuple(needs[1:])
        whole = one_piece(parts)
        if needs[0] and not whole:
            gx = xp.empty(x.shape, dtype=g.dtype)

        def run(part: list[tuple[int, slice]]) -> tuple[Any, Any]:
            """(G, K [+1], OCg): this part's transposed weight gradient [and bias gradient],
            summed in chunk order; and dx when the batch is one chunk."""
            full = gx_part = None
            for k, sl in part:
                x_shape = (sl.stop - sl.start,) + x.shape[1:]
                if per_sample:
                    g3 = g[sl].reshape(x_shape[0], oc, oh * ow)
                    if needs[1]:
                        cols = kept[k] if kept else _columns(view[sl], groups, False)
                        wpart = _weight_grad(cols, g3, groups)
                    if needs[0]:
                        gx_part = _per_sample_input_grad(g3, w, x_shape, stride, pads,
                                                         dilation, groups, (oh, ow))
                else:
                    g_k = _batch_inside(g[sl], groups)
                    if needs[1]:
                        cols = kept[k] if kept else _im2col(
                            x[sl], (kh, kw), stride, (pads[0], pads[2]), dilation, (oh, ow),
                            groups, False)
                        wpart = _group_matmul(cols, g_k.swapaxes(-1, -2))
                    if needs[0]:
                        gx_part = _input_grad(g_k, w, x_shape, (oh, ow), stride, pads,
                                              dilation, groups)
                if needs[1]:
                    full = wpart if full is None else full + wpart
                if needs[0] and gx is not None:
                    gx[sl] = gx_part
            return full, gx_part

        results = split_map(run, parts) if needs[0] or needs[1] else []
        gw = gb = None
        if needs[0] and gx is None:
            gx = xp.ascontiguousarray(results[0][1])
        if needs[1]:
            full = part_sum([part_full for part_full, _ in results])
            if kept and self.kept_ones:
                gb = full[:, -1].reshape(oc)
                full = full[:, :-1]
            gw = full.swapaxes(-1, -2).reshape(w.shape)
        if needs[2] and gb is None:
            gb = g.sum(axis=(0, 2, 3))
        return gx, gw, gb, None, None, None, None


class ConvTranspose2d(Function):
    """Transposed convolution: the adjoint of ``Conv2d`` with the same weight
    (x (N, Cin, H, W), w (Cin, Cout/G, kh, kw)). Its forward is conv's input gradient (one GEMM
    per group and col2im), its input gradient is conv's forward (im2col + GEMM)."""

    saves = (0, 1)

    def forward(self, x: Any, w: Any, b: Any, stride: tuple[int, int], pads: Pads,
                dilation: tuple[int, int], groups: int, out_hw: tuple[int, int]) -> Any:
        _check_dtypes("conv_transpose2d", x, w, b)
        n, cin, h, wd = x.shape
        cout = w.shape[1] * groups
        self.x, self.w = x, w
        self.cfg = (stride, pads, dilation, groups)
        # Conv2d's view of the weight maps (N, cout, *out_hw) -> (N, cin, H, W): this forward is
        # that convolution's input gradient.
        out = _input_grad(_batch_inside(x, groups), w, (n, cout) + tuple(out_hw), (h, wd),
                          stride, pads, dilation, groups)
        if b is not None:
            return out + b.reshape(1, -1, 1, 1)
        return xp_of(out).ascontiguousarray(out)

    def backward(self, g: Any) -> tuple[Any, ...]:
        stride, pads, dilation, groups = self.cfg
        x, w = self.x, self.w
        n, cin = x.shape[:2]
        kh, kw = w.shape[2:]
        gx = gw = gb = None
        if self.needs[0] or self.needs[1]:
            # A convolution of g gives at least (H, W) outputs; output_padding can add positions
            # that no input element reached, so keep the first (H, W).
            h, wd = x.shape[2:]
            cols = _im2col(g, (kh, kw), stride, (pads[0], pads[2]), dilation, (h, wd), groups,
                           False)
            if self.needs[0]:
                gx = xp_of(g).ascontiguousarray(_batch_outside(
                    _group_matmul(w.reshape(groups, cin // groups, -1), cols), n, (h, wd)))
            if self.needs[1]:
                gw = _group_matmul(_batch_inside(x, groups),
                                   cols.swapaxes(-1, -2)).reshape(w.shape)
        if self.needs[2]:
            gb = g.sum(axis=(0, 2, 3))
        return gx, gw, gb, None, None, None, None, None
