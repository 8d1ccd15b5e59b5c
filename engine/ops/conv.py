"""Convolution by im2col + GEMM, and its adjoint (col2im) for input gradients and transposed
convolution.

Layout: ``cols`` is ``(N, G, Cg*kh*kw, OH*OW)`` — one strided view of the padded input copied once
into a contiguous buffer — so the forward is a single (batched) matmul whose result is already in
NCHW order: no transpose of the output, and the weight gradient is another batched matmul summed
over the batch. The input gradient scatters the column gradient back with one add per kernel
offset (``kh*kw`` NumPy calls, never a loop over pixels or batch items).

On the CPU a large batch is cut into a few cache-sized chunks (``CHUNK_BYTES`` of columns each,
one im2col + one GEMM per chunk): a 20 MB column buffer made every pass over it memory-bound and
cost LeNet-5 at batch 256 ~20% of its step time. On a GPU (float32/float64) the columns are
laid out group-major with the whole batch inside, made and scattered back by the fused kernels
of ``_cuda_kernels``, so each pass is one launch and one GEMM (see "GPU path" below): there the
step is bound by kernel launches, not by memory.
"""

from __future__ import annotations

from typing import Any

from .. import _cuda_kernels
from .._backend import xp_of
from .._cuda_kernels import on_gpu
from ..autograd.function import Function

Pads = tuple[int, int, int, int]  # top, bottom, left, right
# On the CPU the batch is processed in chunks whose column buffer stays in cache (see Conv2d).
CHUNK_BYTES = 2 << 20
# The forward keeps its columns for the weight gradient when they take at most this many bytes
# (LeNet-5 at batch 256: 20 MB and 15 MB): the backward then skips the im2col copies, ~10% of a
# LeNet step. Larger columns (kh*kw times the activations) are rebuilt chunk by chunk instead,
# so a big network's memory stays at about its activations.
KEEP_COLUMNS_BYTES = 64 << 20


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


def im2col_view(x: Any, kh: int, kw: int, stride: tuple[int, int], pads: Pads,
                dilation: tuple[int, int]) -> Any:
    """The (N, C, kh, kw, OH, OW) strided view of the padded input (no copy of the windows)."""
    h, w = x.shape[2:]
    oh = out_size(h, kh, stride[0], pads[0], pads[1], dilation[0])
    ow = out_size(w, kw, stride[1], pads[2], pads[3], dilation[1])
    return window_view(pad2d(x, pads), kh, kw, oh, ow, stride, dilation)


def im2col(x: Any, kh: int, kw: int, stride: tuple[int, int], pads: Pads,
           dilation: tuple[int, int]) -> tuple[Any, int, int]:
    """Columns ``(N, C, kh, kw, OH, OW)`` (contiguous: the one copy of the forward pass)."""
    view = im2col_view(x, kh, kw, stride, pads, dilation)
    return xp_of(x).ascontiguousarray(view), view.shape[4], view.shape[5]


def col2im(gcols: Any, x_shape: tuple[int, ...], stride: tuple[int, int], pads: Pads,
           dilation: tuple[int, int]) -> Any:
    """Adjoint of ``im2col``: sum ``gcols`` (N, C, kh, kw, OH, OW) back onto an input-shaped array.

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


def _input_grad_flat(g4: Any, w: Any, x_shape: tuple[int, ...], pads: Pads,
                     dilation: tuple[int, int], groups: int) -> Any:
    """dx of a unit-stride convolution, (N, C, H, W) as a strided view (not copied).

    The column gradient is built as ``(kh, kw, C, N, Hp, Wp)`` by one GEMM per group, from ``g``
    laid out ``(OC, N, Hp, Wp)`` with zeros past ``(OH, OW)``. In that layout every kernel
    offset (i, j) of a group is ONE contiguous run that lands on the flat padded input shifted by
    ``i*dh*Wp + j*dw``, so col2im is ``kh*kw`` long contiguous adds: 3-4x faster than adding
    row by row, for ~40% more GEMM work on the zero margins. What the zero margins add spills
    only onto other zeros' targets or the slack at the end."""
    xp = xp_of(g4)
    n, oc, oh, ow = g4.shape
    c, h, wd = x_shape[1:]
    kh, kw = w.shape[2:]
    top, bottom, left, right = pads
    hp, wp = h + top + bottom, wd + left + right
    cg, ocg = c // groups, oc // groups
    g_wide = xp.zeros((oc, n, hp, wp), dtype=g4.dtype)
    g_wide[:, :, :oh, :ow] = g4.transpose(1, 0, 2, 3)
    # W^T with rows ordered (group, i, j, cg), so one offset's rows are adjacent.
    wt = w.reshape(groups, ocg, cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(groups, -1, ocg)
    run = cg * n * hp * wp
    gcols = (wt @ g_wide.reshape(groups, ocg, -1)).reshape(groups, kh * kw, run)
    gbuf = xp.zeros(groups * run + (kh - 1) * dilation[0] * wp + (kw - 1) * dilation[1],
                    dtype=g4.dtype)
    for gi in range(groups):
        for i in range(kh):
            for j in range(kw):
                start = gi * run + i * dilation[0] * wp + j * dilation[1]
                target = gbuf[start:start + run]
                target += gcols[gi, i * kw + j]
    gx = gbuf[:groups * run].reshape(c, n, hp, wp)[:, :, top:top + h, left:left + wd]
    return gx.transpose(1, 0, 2, 3)


def _forward_gemm(cols: Any, w: Any, groups: int) -> Any:
    """out (N, OC, OH*OW) = W (G, OCg, K) @ cols (N, G, K, L) — one batched matmul."""
    n = cols.shape[0]
    oc = w.shape[0]
    cols = cols.reshape(n, groups, -1, cols.shape[-2] * cols.shape[-1])
    if groups == 1:
        return w.reshape(oc, -1) @ cols[:, 0]
    out = w.reshape(groups, oc // groups, -1) @ cols
    return out.reshape(n, oc, -1)


def _weight_grad(cols: Any, g: Any, w_shape: tuple[int, ...], groups: int,
                 ones_row: bool = False) -> tuple[Any, Any]:
    """dW (OC, Cg, kh, kw) = sum over the batch of g (OCg, L) @ cols^T (L, K), per group, and,
    when ``cols`` carries the forward's row of ones (``_columns``), the bias gradient as that
    row's output (else None).

    Computed transposed, cols (K, L) @ g^T (L, OCg): OpenBLAS runs that shape 2-4x faster than
    g @ cols^T for the small per-sample matrices of a CNN (e.g. 150x100 @ 100x16)."""
    n = cols.shape[0]
    oc = w_shape[0]
    l_ = g.shape[-1]
    cols = cols.reshape(n, groups, -1, l_)
    g = g.reshape(n, groups, oc // groups, l_)
    gw_t = (cols @ g.swapaxes(-1, -2)).sum(axis=0)  # (G, K[+1], OCg)
    gb = None
    if ones_row:
        gb = gw_t[:, -1].reshape(oc)
        gw_t = gw_t[:, :-1]
    return gw_t.swapaxes(-1, -2).reshape(w_shape), gb


def _columns(view: Any, groups: int, ones_row: bool) -> Any:
    """The im2col columns of a batch chunk, (n, G, Cg*kh*kw [+1], OH*OW), copied once from the
    strided ``view`` (n, C, kh, kw, OH, OW). With ``ones_row`` each group gets a last row of
    ones, so the bias is one more GEMM column: the forward then writes its output straight from
    the GEMM (no bias pass), and the weight gradient's GEMM yields the bias gradient."""
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


def _weight_matrix(w: Any, b: Any, groups: int) -> Any:
    """The forward GEMM's left side, (G, OCg, Cg*kh*kw [+1]): with a bias, its column is
    appended to meet the columns' row of ones (``_columns``, ``_cuda_kernels.im2col``)."""
    ocg = w.shape[0] // groups
    wmat = w.reshape(groups, ocg, -1)
    if b is None:
        return wmat
    return xp_of(w).concatenate([wmat, b.reshape(groups, ocg, 1)], axis=2)


def _cols_grad(g: Any, w: Any, groups: int, cols_shape: tuple[int, ...]) -> Any:
    """dcols (N, C, kh, kw, OH, OW) = W^T (G, K, OCg) @ g (N, G, OCg, L)."""
    n = g.shape[0]
    oc = w.shape[0]
    l_ = g.shape[-1]
    if groups == 1:
        gc = w.reshape(oc, -1).T @ g.reshape(n, oc, l_)
    else:
        wg = w.reshape(groups, oc // groups, -1).swapaxes(-1, -2)
        gc = wg @ g.reshape(n, groups, oc // groups, l_)
    return gc.reshape(cols_shape)


def _check_dtypes(name: str, x: Any, w: Any, b: Any) -> None:
    if x.dtype != w.dtype or (b is not None and b.dtype != x.dtype):
        raise TypeError(
            f"{name}: input is {x.dtype} but weight is {w.dtype}"
            + (f" and bias {b.dtype}" if b is not None else "")
            + "; convert them to one dtype first (e.g. model.to(input.dtype) or input.float())"
        )


def _input_grad(g3: Any, w: Any, x_shape: tuple[int, ...], out_hw: tuple[int, ...],
                stride: tuple[int, int], pads: Pads, dilation: tuple[int, int],
                groups: int) -> Any:
    """dx of a convolution from g (N, OC, OH*OW): the flat col2im for unit strides, else
    W^T @ g and a strided col2im. May return a non-contiguous view."""
    n, oc = g3.shape[:2]
    kh, kw = w.shape[2:]
    oh, ow = out_hw
    if stride == (1, 1):
        return _input_grad_flat(g3.reshape(n, oc, oh, ow), w, x_shape, pads, dilation, groups)
    gcols = _cols_grad(g3, w, groups, (n, x_shape[1], kh, kw, oh, ow))
    return col2im(gcols, x_shape, stride, pads, dilation)


def batch_chunks(xp: Any, n: int, bytes_per_sample: int) -> list[slice]:
    """Slices of the batch whose im2col buffers fit ``CHUNK_BYTES`` (CPU only; a GPU takes the
    whole batch at once). Why: a column buffer larger than the CPU cache makes the copy and every
    GEMM that reads it memory-bound; a cache-sized chunk is ~2x faster per sample."""
    if xp.__name__ != "numpy":
        return [slice(0, n)]
    size = max(1, CHUNK_BYTES // max(bytes_per_sample, 1))
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


# ------------------------------------------------------------------------------- GPU path
# On a GPU the columns are group-major with the batch inside, (G, Kp, N*L), made by one kernel
# from the raw input (``_cuda_kernels.im2col``): each group's forward, weight gradient and
# column gradient is then ONE GEMM over the whole batch. The CPU layout would need N small
# batched GEMMs (for each, CuPy makes a broadcast copy of the weight and a pointer array) and a
# reduction over N; the step is launch-bound there, so fewer, larger launches win.


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
    """(G, Cg, N*L) -> (N, G*Cg, *spatial), contiguous (one transposing copy)."""
    groups, cg = a.shape[:2]
    moved = a.reshape(groups, cg, n, -1).transpose(2, 0, 1, 3)
    return xp_of(a).ascontiguousarray(moved).reshape((n, groups * cg) + tuple(spatial))


def _gpu_conv(x: Any, w: Any, b: Any, stride: tuple[int, int], pads: Pads,
              dilation: tuple[int, int], groups: int, out_hw: tuple[int, int]
              ) -> tuple[Any, Any]:
    """Conv2d forward on a GPU: (output, the columns, with a row of ones when ``b`` is given,
    so the bias rides in the GEMM and its gradient comes out of the weight gradient's)."""
    kh, kw = w.shape[2:]
    cols = _cuda_kernels.im2col(x, (kh, kw), stride, (pads[0], pads[2]), dilation, out_hw,
                                groups, b is not None)
    return _batch_outside(_group_matmul(_weight_matrix(w, b, groups), cols), x.shape[0],
                          out_hw), cols


def _gpu_input_grad(g_k: Any, w: Any, x_shape: tuple[int, ...], out_hw: tuple[int, int],
                    stride: tuple[int, int], pads: Pads, dilation: tuple[int, int],
                    groups: int) -> Any:
    """dx (N, C, H, W) from g in the batch-inside layout (G, OCg, N*L): one GEMM per group for
    the column gradient, one gather kernel for col2im."""
    kh, kw = w.shape[2:]
    wt = w.reshape(groups, w.shape[0] // groups, -1).swapaxes(-1, -2)  # (G, K, OCg)
    return _cuda_kernels.col2im(_group_matmul(wt, g_k), x_shape, out_hw, (kh, kw), stride,
                                (pads[0], pads[2]), dilation, groups)


def _gpu_conv_backward(g: Any, x: Any, w: Any, cols: Any, cols_have_ones: bool,
                       needs: Any, stride: tuple[int, int], pads: Pads,
                       dilation: tuple[int, int], groups: int) -> tuple[Any, ...]:
    """Conv2d's gradients on a GPU; ``cols`` are the forward's columns, or None (rebuilt)."""
    n, oc, oh, ow = g.shape
    kh, kw = w.shape[2:]
    g_k = _batch_inside(g, groups)
    gx = gw = gb = None
    if needs[1]:
        if cols is None:
            cols = _cuda_kernels.im2col(x, (kh, kw), stride, (pads[0], pads[2]), dilation,
                                        (oh, ow), groups, False)
            cols_have_ones = False
        full = _group_matmul(g_k, cols.swapaxes(-1, -2))  # (G, OCg, Kp)
        if cols_have_ones:
            gb = full[:, :, -1].reshape(oc)
            full = full[:, :, :-1]
        gw = full.reshape(w.shape)
    if needs[2] and gb is None:
        gb = g.sum(axis=(0, 2, 3))
    if needs[0]:
        gx = _gpu_input_grad(g_k, w, x.shape, (oh, ow), stride, pads, dilation, groups)
    return gx, gw, gb, None, None, None, None


class Conv2d(Function):
    """2-D convolution (cross-correlation, as PyTorch) of x (N, C, H, W) with w (OC, C/G, kh, kw).

    ``pads`` is (top, bottom, left, right) so that "same" padding with even kernels works.
    Per batch chunk: im2col, then one GEMM. The columns are kept for the weight gradient up to
    ``KEEP_COLUMNS_BYTES``; beyond that the backward rebuilds them chunk by chunk, so peak
    memory stays at one chunk's columns."""

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
        chunks = batch_chunks(xp, n, col_bytes)
        ones_row = b is not None
        keep = self.needs[1] and n * col_bytes <= KEEP_COLUMNS_BYTES
        self.x, self.w, self.kept_ones = x, w, ones_row
        if on_gpu(xp, x.dtype):
            out, cols = _gpu_conv(x, w, b, stride, pads, dilation, groups, (oh, ow))
            self.kept = [cols] if keep else []
            self.cfg = (stride, pads, dilation, groups, None)
            return out
        view = im2col_view(x, kh, kw, stride, pads, dilation)  # one pad + view, copied per chunk
        ocg = oc // groups
        wmat = _weight_matrix(w, b, groups)
        kept = []
        out = xp.empty((n, oc, oh * ow), dtype=x.dtype)
        for sl in chunks:
            cols = _columns(view[sl], groups, ones_row)
            part = out[sl].reshape(cols.shape[0], groups, ocg, oh * ow)
            xp.matmul(wmat, cols, out=part)  # straight into the output: no bias or copy pass
            if keep:
                kept.append(cols)
        self.kept = kept
        self.cfg = (stride, pads, dilation, groups, chunks)
        return out.reshape(n, oc, oh, ow)

    def backward(self, g: Any) -> tuple[Any, ...]:
        stride, pads, dilation, groups, chunks = self.cfg
        x, w = self.x, self.w
        kept = self.kept
        self.kept = None
        if chunks is None:  # the GPU path
            return _gpu_conv_backward(g, x, w, kept[0] if kept else None, self.kept_ones,
                                      self.needs, stride, pads, dilation, groups)
        xp = xp_of(g)
        n, oc = g.shape[:2]
        kh, kw = w.shape[2:]
        g3 = g.reshape(n, oc, -1)
        gx = gw = gb = None
        if self.needs[0] and len(chunks) > 1:
            gx = xp.empty(x.shape, dtype=g.dtype)
        if self.needs[1] and not kept:  # columns not kept: rebuilt from the input
            view = im2col_view(x, kh, kw, stride, pads, dilation)
        gb_parts: list[Any] = [None] * len(chunks)  # bias gradients from the kept columns

        def run(k: int, sl: slice) -> tuple[Any, Any]:
            gc = g3[sl]
            gw_part = gx_part = None
            if self.needs[1]:
                if kept:
                    gw_part, gb_parts[k] = _weight_grad(kept[k], gc, w.shape, groups,
                                                        self.kept_ones)
                else:
                    gw_part, _ = _weight_grad(xp.ascontiguousarray(view[sl]), gc, w.shape, groups)
            if self.needs[0]:
                gx_part = _input_grad(gc, w, (gc.shape[0],) + x.shape[1:], g.shape[2:], stride,
                                      pads, dilation, groups)
                if gx is not None:
                    gx[sl] = gx_part
                    gx_part = None
            return gw_part, gx_part

        parts = [run(k, sl) for k, sl in enumerate(chunks)]
        if self.needs[1]:
            gw = parts[0][0]
            for gw_part, _ in parts[1:]:  # summed in chunk order: the same result every run
                gw = gw + gw_part
        if self.needs[0] and gx is None:
            gx = xp.ascontiguousarray(parts[0][1])
        if self.needs[2]:
            if gb_parts[0] is not None:
                gb = gb_parts[0]
                for part in gb_parts[1:]:
                    gb = gb + part
            else:
                gb = g3.sum(axis=(0, 2))
        return gx, gw, gb, None, None, None, None


class ConvTranspose2d(Function):
    """Transposed convolution: the adjoint of ``Conv2d`` with the same weight
    (x (N, Cin, H, W), w (Cin, Cout/G, kh, kw)). Its forward is conv's col2im, its input gradient
    is conv's forward (im2col + GEMM)."""

    saves = (0, 1)

    def forward(self, x: Any, w: Any, b: Any, stride: tuple[int, int], pads: Pads,
                dilation: tuple[int, int], groups: int, out_hw: tuple[int, int]) -> Any:
        _check_dtypes("conv_transpose2d", x, w, b)
        n, cin, h, wd = x.shape
        cout = w.shape[1] * groups
        self.x, self.w = x, w
        self.cfg = (stride, pads, dilation, groups)
        if on_gpu(xp_of(x), x.dtype):
            # Conv2d's input gradient, for a convolution with this weight: one GEMM per group
            # and one gather kernel.
            out = _gpu_input_grad(_batch_inside(x, groups), w, (n, cout) + tuple(out_hw),
                                  (h, wd), stride, pads, dilation, groups)
            return out if b is None else out + b.reshape(1, -1, 1, 1)
        # Conv2d's view of the weight maps (N, cout, *out_hw) -> (N, cin, H, W): this forward is
        # that convolution's input gradient.
        out = _input_grad(x.reshape(n, cin, -1), w, (n, cout) + tuple(out_hw), (h, wd), stride,
                          pads, dilation, groups)
        if b is not None:
            out = out + b.reshape(1, -1, 1, 1)
        elif not out.flags.c_contiguous:
            out = xp_of(out).ascontiguousarray(out)
        return out

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
            if on_gpu(xp_of(g), g.dtype):  # group-major columns, batch inside: one GEMM each
                cols = _cuda_kernels.im2col(g, (kh, kw), stride, (pads[0], pads[2]), dilation,
                                            (h, wd), groups, False)
                if self.needs[0]:
                    gx = _batch_outside(
                        _group_matmul(w.reshape(groups, cin // groups, -1), cols), n, (h, wd))
                if self.needs[1]:
                    gw = _group_matmul(_batch_inside(x, groups),
                                       cols.swapaxes(-1, -2)).reshape(w.shape)
            else:
                view = im2col_view(g, kh, kw, stride, pads, dilation)[..., :h, :wd]
                cols = xp_of(g).ascontiguousarray(view)
                if self.needs[0]:
                    gx = _forward_gemm(cols, w, groups).reshape(x.shape)
                if self.needs[1]:
                    gw, _ = _weight_grad(cols, x.reshape(n, cin, -1), w.shape, groups)
        if self.needs[2]:
            gb = g.sum(axis=(0, 2, 3))
        return gx, gw, gb, None, None, None, None, None
