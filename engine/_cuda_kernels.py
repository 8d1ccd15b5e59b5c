"""The engine's GPU-only code: fused CuPy kernels for the ops whose NumPy formulation costs many
kernel launches on a GPU.

Why: a small network's GPU step is bound by the host, not the GPU. Measured on an H200 with
CuPy 14, each CuPy call costs 10-16 µs of host time whatever its size, and a LeNet-5
step at batch 256 made ~213 launches: 4.5 ms per step for 0.6 ms of GPU work. The array
formulations that suit NumPy (one call per kernel offset in col2im and max pooling, three
passes per SGD parameter) are what made those launches. Each kernel here does one such op in a
single launch, with the same arithmetic as the NumPy path (same summation order, the same
first-maximum rule on ties), so the device-parametrised tests hold on both.

Every function takes and returns CuPy arrays; callers use them only when ``on_gpu(xp, dtype)``.
CuPy is imported lazily, so the engine imports on machines without it. Kernels compile once per
process (and CuPy caches them on disk).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def on_gpu(xp: Any, dtype: Any) -> bool:
    """True when ``xp`` is CuPy and ``dtype`` is float32 or float64: the ops then take the fused
    kernels below (other dtypes, e.g. float16, keep the array code, which handles them)."""
    return xp is not np and dtype in _KERNEL_DTYPES


def _cupy() -> Any:
    from ._backend import cupy_module  # noqa: PLC0415

    return cupy_module()


# Index arithmetic is in 64 bits: a batch of large images passes 2**31 elements.
_WINDOW_INDEX = """
    const long long ox = i % ow;
    const long long t_ = i / ow;
    const long long oy = t_ % oh;
    const long long nc = t_ / oh;
"""
_PIXEL_INDEX = """
    const long long px = i % W;
    const long long t_ = i / W;
    const long long py = t_ % H;
    const long long nc = t_ / H;
"""
_GEOMETRY = ("int32 H, int32 W, int32 oh, int32 ow, int32 kh, int32 kw, int32 sh, int32 sw, "
             "int32 ph, int32 pw, int32 dh, int32 dw")


def _geometry(h: int, w: int, out_hw: tuple[int, int], k: tuple[int, int],
              stride: tuple[int, int], pad: tuple[int, int],
              dilation: tuple[int, int]) -> tuple[int, ...]:
    """The arguments ``_GEOMETRY`` declares, in its order."""
    return (h, w, out_hw[0], out_hw[1], k[0], k[1], stride[0], stride[1], pad[0], pad[1],
            dilation[0], dilation[1])


def _gather_windows(body: str) -> str:
    """Kernel text that sets ``gx`` to the sum ``s`` over every window (a, b) reading input
    pixel (py, px): ``body`` runs with the window's output position (oy, ox) in scope, in kernel
    offset order (the order of the array code's adds). The adjoint of a windowed read, for
    col2im and the max-pool backward."""
    return """
        T s = (T)0;
        for (int a = 0; a < kh; ++a) {
            const long long ty = py + ph - (long long)a * dh;
            if (ty < 0 || ty % sh) continue;
            const long long oy = ty / sh;
            if (oy >= oh) continue;
            for (int b = 0; b < kw; ++b) {
                const long long tx = px + pw - (long long)b * dw;
                if (tx < 0 || tx % sw) continue;
                const long long ox = tx / sw;
                if (ox >= ow) continue;
                """ + body + """
            }
        }
        gx = s;
    """


def _step_index(n_gates: int) -> str:
    """Index preamble of a recurrent step kernel (one (B, H) element per thread): ``bh`` = B*H,
    and ``row``, where element i's first gate sits in a step-major (B, n_gates, H) block."""
    return f"""
        const long long bh = (long long)B * Hd;
        const long long row = (i / Hd) * {n_gates} * Hd + i % Hd;
    """


@functools.cache
def _im2col_kernel() -> Any:
    # cols (G, Kp, N, OH*OW): row kq < K is (channel in group, i, j); row K (when Kp = K + 1)
    # is the row of ones that carries the bias through the GEMM. With the batch inside the
    # columns, a group's forward is ONE GEMM (ocg, Kp) @ (Kp, N*L), not N small ones.
    return _cupy().ElementwiseKernel(
        f"raw T x, int32 C, {_GEOMETRY}, int32 N, int32 Cg, int32 Kp",
        "T cols",
        """
        const long long L = (long long)oh * ow;
        const long long l = i % L;
        long long r = i / L;
        const long long n = r % N;
        r /= N;
        const int kq = (int)(r % Kp);
        const int g = (int)(r / Kp);
        const int khw = kh * kw;
        if (kq >= Cg * khw) {
            cols = (T)1;
        } else {
            const int cg = kq / khw;
            const int rem = kq - cg * khw;
            const int a = rem / kw;
            const int b = rem - a * kw;
            const long long oy = l / ow;
            const long long ox = l - oy * ow;
            const long long y = oy * sh - ph + (long long)a * dh;
            const long long xx = ox * sw - pw + (long long)b * dw;
            const long long c = (long long)g * Cg + cg;
            cols = (y >= 0 && y < H && xx >= 0 && xx < W) ? x[((n * C + c) * H + y) * W + xx]
                                                          : (T)0;
        }
        """,
        "layerforge_im2col",
    )


def im2col(x: Any, k: tuple[int, int], stride: tuple[int, int], top_left: tuple[int, int],
           dilation: tuple[int, int], out_hw: tuple[int, int], groups: int,
           ones_row: bool) -> Any:
    """Columns ``(G, Cg*kh*kw [+1], N*OH*OW)`` of ``x`` (N, C, H, W), read straight from the
    unpadded input (positions in the padding read 0), in one launch: replaces the pad, the
    strided copy and the ones-row fill of the NumPy path. Output positions past the input's
    natural size are fine (``out_hw`` may crop, as ConvTranspose2d's backward needs)."""
    cp = _cupy()
    x = cp.ascontiguousarray(x)
    n, c, h, w = x.shape
    cg = c // groups
    kp = cg * k[0] * k[1] + (1 if ones_row else 0)
    cols = cp.empty((groups, kp, n * out_hw[0] * out_hw[1]), dtype=x.dtype)
    _im2col_kernel()(x, c, *_geometry(h, w, out_hw, k, stride, top_left, dilation), n, cg, kp,
                     cols)
    return cols


@functools.cache
def _col2im_kernel() -> Any:
    # Gather form of col2im: each input pixel sums the column entries that read it, in kernel
    # offset order (the order of the NumPy path's adds), so no atomics and no zero fill.
    return _cupy().ElementwiseKernel(
        f"raw T gc, {_GEOMETRY}, int32 N, int32 C, int32 Cg",
        "T gx",
        _PIXEL_INDEX + """
        const long long n = nc / C;
        const int c = (int)(nc % C);
        const int g = c / Cg;
        const int cg = c - g * Cg;
        const long long L = (long long)oh * ow;
        // Row (cg, a, b) of group g, sample n: ((g * Cg + cg) * kh + a) * kw + b.
        const long long base = (long long)(g * Cg + cg) * kh * kw;
        """ + _gather_windows("s += gc[((base + a * kw + b) * N + n) * L + oy * ow + ox];"),
        "layerforge_col2im",
    )


def col2im(gcols: Any, x_shape: tuple[int, ...], out_hw: tuple[int, int], k: tuple[int, int],
           stride: tuple[int, int], top_left: tuple[int, int], dilation: tuple[int, int],
           groups: int) -> Any:
    """Adjoint of ``im2col``: ``gcols`` (G, Cg*kh*kw, N*OH*OW) summed onto ``x_shape``
    (N, C, H, W)."""
    cp = _cupy()
    gcols = cp.ascontiguousarray(gcols)
    n, c, h, w = x_shape
    gx = cp.empty((n, c, h, w), dtype=gcols.dtype)
    _col2im_kernel()(gcols, *_geometry(h, w, out_hw, k, stride, top_left, dilation), n, c,
                     c // groups, gx)
    return gx


@functools.cache
def _max_pool_kernel() -> Any:
    # Windows read the unpadded input and skip padding positions (the NumPy path pads with
    # -inf, which never wins a strict comparison: the same maxima and the same indices).
    return _cupy().ElementwiseKernel(
        f"raw T x, {_GEOMETRY}",
        "T y, I idx",
        _WINDOW_INDEX + """
        T m = (T)__longlong_as_double(0xfff0000000000000LL);  // -inf (NVRTC has no math.h)
        int best = 0;
        for (int a = 0; a < kh; ++a) {
            const long long yy = oy * sh - ph + (long long)a * dh;
            if (yy < 0 || yy >= H) continue;
            for (int b = 0; b < kw; ++b) {
                const long long xx = ox * sw - pw + (long long)b * dw;
                if (xx < 0 || xx >= W) continue;
                const T v = x[(nc * H + yy) * W + xx];
                if (v > m) {  // strictly greater: ties keep the first maximum, as PyTorch
                    m = v;
                    best = a * kw + b;
                } else if (v != v) {  // NaN propagates, as numpy.maximum does
                    m = v;
                }
            }
        }
        y = m;
        idx = (I)best;
        """,
        "layerforge_max_pool2d",
    )


def max_pool2d(x: Any, k: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
               dilation: tuple[int, int], out_hw: tuple[int, int], idx_dtype: Any
               ) -> tuple[Any, Any]:
    """(max, offset of the first max within its window) for every window, in one launch."""
    cp = _cupy()
    x = cp.ascontiguousarray(x)
    n, c, h, w = x.shape
    out = cp.empty((n, c) + tuple(out_hw), dtype=x.dtype)
    idx = cp.empty((n, c) + tuple(out_hw), dtype=idx_dtype)
    _max_pool_kernel()(x, *_geometry(h, w, out_hw, k, stride, pad, dilation), out, idx)
    return out, idx


@functools.cache
def _max_pool_backward_kernel() -> Any:
    return _cupy().ElementwiseKernel(
        f"raw T g, raw I idx, {_GEOMETRY}",
        "T gx",
        _PIXEL_INDEX + _gather_windows("""
                const long long o = (nc * oh + oy) * ow + ox;
                if ((int)idx[o] == a * kw + b) s += g[o];"""),
        "layerforge_max_pool2d_backward",
    )


def max_pool2d_backward(g: Any, idx: Any, x_shape: tuple[int, ...], k: tuple[int, int],
                        stride: tuple[int, int], pad: tuple[int, int],
                        dilation: tuple[int, int]) -> Any:
    """Each input element gathers the gradients of the windows whose maximum it was."""
    cp = _cupy()
    g = cp.ascontiguousarray(g)
    oh, ow = g.shape[2:]
    gx = cp.empty(tuple(x_shape), dtype=g.dtype)
    _max_pool_backward_kernel()(g, idx, *_geometry(x_shape[2], x_shape[3], (oh, ow), k, stride,
                                                   pad, dilation), gx)
    return gx


@functools.cache
def _relu_kernel() -> Any:
    return _cupy().ElementwiseKernel(
        "T a", "T y, bool m",
        "m = a > (T)0; y = (m || a != a) ? a : (T)0;",  # NaN stays NaN, as numpy.maximum
        "layerforge_relu_mask")


def relu_with_mask(a: Any) -> tuple[Any, Any]:
    """``max(a, 0)`` and the mask ``a > 0`` the backward needs, in one launch instead of two."""
    return _relu_kernel()(a)


# optim.effective_grad's arithmetic for the fused optimizers: d = +-g (+ weight_decay * p).
_EFFECTIVE_GRAD = """
        T d = maximize ? -g : g;
        if (weight_decay != (T)0) d = maximize ? weight_decay * p - g : g + weight_decay * p;
"""


@functools.cache
def _sgd_kernels() -> tuple[Any, Any]:
    # The arithmetic of optim.sgd_update and effective_grad, step by step: d = +-g (+ wd * p);
    # buf = d on the first step, else momentum * buf + (1 - dampening) * d; p -= lr * step.
    # (1 - dampening) is rounded once on the host, as NumPy rounds the Python float.
    cp = _cupy()
    plain = cp.ElementwiseKernel(
        "T g, T lr, T weight_decay, bool maximize", "T p",
        _EFFECTIVE_GRAD + "p = p + d * (-lr);",
        "layerforge_sgd")
    momentum = cp.ElementwiseKernel(
        "T g, T lr, T weight_decay, bool maximize, T momentum, T keep, bool nesterov, bool first",
        "T p, T buf",
        _EFFECTIVE_GRAD + """
        buf = first ? d : buf * momentum + d * keep;  // keep = 1 - dampening
        const T step = nesterov ? d + buf * momentum : buf;
        p = p + step * (-lr);
        """,
        "layerforge_sgd_momentum")
    return plain, momentum


def sgd_update(p: Any, g: Any, buf: Any, *, lr: float, momentum: float, dampening: float,
               weight_decay: float, nesterov: bool, maximize: bool, first: bool) -> None:
    """One SGD step for one parameter in one launch (``buf`` is None without momentum).
    ``first``: the momentum buffer is being initialised (it takes the gradient)."""
    t = p.dtype.type
    plain, with_momentum = _sgd_kernels()
    if buf is None:
        plain(g, t(lr), t(weight_decay), maximize, p)
    else:
        with_momentum(g, t(lr), t(weight_decay), maximize, t(momentum), t(1 - dampening),
                      nesterov, first, p, buf)


@functools.cache
def _lstm_kernels() -> tuple[Any, Any]:
    # One (B, H) element per thread. ``pre`` is the step's GEMM result (B, 4H) in the internal
    # gate order (o, i, f, g), sigmoid columns pre-scaled by 1/2; ``acts`` is the step's
    # gate-major (4, B, H) block and ``dg`` its step-major (B, 4, H) gradient block, as in
    # ops.rnn.LSTMLayer. The arithmetic follows that class's array code term by term.
    cp = _cupy()
    gates = _step_index(4)
    forward = cp.ElementwiseKernel(
        "raw T pre, T cprev, int32 B, int32 Hd", "raw T acts, T c, T tc, T h",
        gates + """
        const T o = tanh(pre[row]) * (T)0.5 + (T)0.5;
        const T ig = tanh(pre[row + Hd]) * (T)0.5 + (T)0.5;
        const T f = tanh(pre[row + 2 * Hd]) * (T)0.5 + (T)0.5;
        const T g = tanh(pre[row + 3 * Hd]);
        acts[i] = o;
        acts[bh + i] = ig;
        acts[2 * bh + i] = f;
        acts[3 * bh + i] = g;
        T cc = f * cprev;
        cc += ig * g;
        c = cc;
        const T t = tanh(cc);
        tc = t;
        h = o * t;
        """,
        "layerforge_lstm_step")
    backward = cp.ElementwiseKernel(
        "raw T acts, T tc, T cprev, T gy, T dh, int32 B, int32 Hd", "raw T dg, T dc",
        gates + """
        const T o = acts[i];
        const T ig = acts[bh + i];
        const T f = acts[2 * bh + i];
        const T g = acts[3 * bh + i];
        const T dht = gy + dh;
        T dct = dht * (((T)1 - tc * tc) * o);
        dct += dc;
        dg[row] = (o - o * o) * tc * dht;
        dg[row + Hd] = (ig - ig * ig) * g * dct;
        dg[row + 2 * Hd] = (f - f * f) * cprev * dct;
        dg[row + 3 * Hd] = ((T)1 - g * g) * ig * dct;
        dc = dct * f;
        """,
        "layerforge_lstm_step_backward")
    return forward, backward


def lstm_step(pre: Any, cprev: Any, acts: Any, c: Any, tc: Any, h: Any) -> None:
    """One LSTM step's gates, cell and hidden state from its GEMM result, in one launch (the
    array form takes eight): writes ``acts`` (4, B, H), ``c``, ``tc`` = tanh(c) and ``h``."""
    b, hid = c.shape
    _lstm_kernels()[0](pre, cprev, b, hid, acts, c, tc, h)


def lstm_step_backward(acts: Any, tc: Any, cprev: Any, gy: Any, dh: Any, dg: Any,
                       dc: Any) -> None:
    """One LSTM step's gate gradients into ``dg`` (B, 4, H), and ``dc`` updated in place to the
    previous step's cell gradient, in one launch (the array form takes about twenty)."""
    b, hid = dc.shape
    _lstm_kernels()[1](acts, tc, cprev, gy, dh, b, hid, dg, dc)


@functools.cache
def _gru_kernels() -> tuple[Any, Any]:
    # As the LSTM's, for ops.rnn.GRULayer: ``a`` is the step's gate-major (3, B, H) block of
    # input projections that becomes the (r, z, n) activations in place, ``gh`` the step's
    # hidden GEMM (B, 3H) (r and z columns pre-scaled by 1/2), ``dgh`` the step-major (B, 3, H)
    # hidden-side gradient block.
    cp = _cupy()
    gates = _step_index(3)
    forward = cp.ElementwiseKernel(
        "raw T gh, T hp, raw T bhn, int32 B, int32 Hd, bool has_bias", "raw T a, T hn, T h",
        gates + """
        const T r = tanh(a[i] + gh[row]) * (T)0.5 + (T)0.5;
        const T z = tanh(a[bh + i] + gh[row + Hd]) * (T)0.5 + (T)0.5;
        const T hv = has_bias ? gh[row + 2 * Hd] + bhn[i % Hd] : gh[row + 2 * Hd];
        const T n = tanh(a[2 * bh + i] + r * hv);
        a[i] = r;
        a[bh + i] = z;
        a[2 * bh + i] = n;
        hn = hv;
        h = (hp - n) * z + n;
        """,
        "layerforge_gru_step")
    backward = cp.ElementwiseKernel(
        "raw T a, T hp, T gy, T dh, T ghn, int32 B, int32 Hd", "raw T dgh, T dn, T carry",
        gates + """
        const T r = a[i];
        const T z = a[bh + i];
        const T n = a[2 * bh + i];
        const T dht = gy + (dh + carry);  // carry: the previous step's dh * z term
        T d = ((T)1 - n * n) * dht;
        d -= d * z;
        dn = d;
        dgh[row] = d * ghn * (r - r * r);
        dgh[row + Hd] = (hp - n) * (z - z * z) * dht;
        dgh[row + 2 * Hd] = d * r;
        carry = dht * z;
        """,
        "layerforge_gru_step_backward")
    return forward, backward


def gru_step(gh: Any, hp: Any, b_hn: Any, a: Any, hn: Any, h: Any) -> None:
    """One GRU step's activations (in place in ``a``), ``hn`` = W_hn h + b_hn and ``h`` from
    its hidden GEMM ``gh`` (B, 3H), in one launch (the array form takes eleven)."""
    b, hid = h.shape
    has_bias = b_hn is not None
    _gru_kernels()[0](gh, hp, b_hn if has_bias else gh, b, hid, has_bias, a, hn, h)


def gru_step_backward(a: Any, hp: Any, gy: Any, dh: Any, ghn: Any, dgh: Any, dn: Any,
                      carry: Any) -> None:
    """One GRU step's gradients into ``dgh`` (B, 3, H) and ``dn``; ``carry`` (in/out) holds
    the dh * z term that the next (earlier) step adds to its GEMM result ``dh``."""
    b, hid = dn.shape
    _gru_kernels()[1](a, hp, gy, dh, ghn, b, hid, dgh, dn, carry)


# Rows longer than this loop slowly in one thread; they keep the array code.
CROSS_ENTROPY_MAX_CLASSES = 4096


@functools.cache
def _cross_entropy_kernels() -> tuple[Any, Any]:
    # For nn.functional.cross_entropy with class-index targets and no weights, smoothing or
    # ignored rows (the common case): one thread per row, the arithmetic of the array code in
    # nn._functional_loss._CrossEntropy (shift by the row max, exp kept for the backward).
    cp = _cupy()
    forward = cp.ElementwiseKernel(
        "raw T x, raw I t, int32 C", "raw T e, T s, T loss",
        """
        const long long base = i * C;
        T mx = x[base];
        for (int j = 1; j < C; ++j) {
            const T v = x[base + j];
            if (v > mx || v != v) mx = v;
        }
        const long long target = (long long)t[i];
        T sum = (T)0;
        T picked = (T)0;
        for (int j = 0; j < C; ++j) {
            const T v = x[base + j] - mx;
            if (j == target) picked = v;
            const T ev = exp(v);
            e[base + j] = ev;
            sum += ev;
        }
        s = sum;
        loss = log(sum) - picked;
        """,
        "layerforge_cross_entropy")
    backward = cp.ElementwiseKernel(
        "raw T e, raw T s, raw I t, raw T g, int32 C, bool per_row, T denom", "T grad",
        """
        const long long row = i / C;
        const T c = per_row ? g[row] : g[0] / denom;
        T v = e[i] * (c / s[row]);
        if (i % C == (long long)t[row]) v -= c;
        grad = v;
        """,
        "layerforge_cross_entropy_backward")
    return forward, backward


def cross_entropy_rows(x: Any, t: Any) -> tuple[Any, Any, Any]:
    """Per-row loss of (M, C) logits against class indices, with exp(x - row max) and its row
    sums for the backward: one launch instead of about nine."""
    cp = _cupy()
    x = cp.ascontiguousarray(x)
    m, c = x.shape
    e = cp.empty_like(x)
    s = cp.empty(m, dtype=x.dtype)
    loss = cp.empty(m, dtype=x.dtype)
    _cross_entropy_kernels()[0](x, cp.ascontiguousarray(t), c, e, s, loss)
    return e, s, loss


def cross_entropy_rows_backward(e: Any, s: Any, t: Any, g: Any, reduction: str,
                                denom: int) -> Any:
    """Gradient of ``cross_entropy_rows``' loss for the given reduction, in one launch."""
    cp = _cupy()
    grad = cp.empty_like(e)
    per_row = reduction == "none"
    scale = denom if reduction == "mean" else 1
    _cross_entropy_kernels()[1](e, s, t, cp.ascontiguousarray(g), e.shape[1], per_row,
                                e.dtype.type(scale), grad)
    return grad


@functools.cache
def _adam_kernel(amsgrad: bool) -> Any:
    # optim.adam_update's arithmetic step by step: the decoupled decay, effective_grad, lerp_
    # (PyTorch's two-sided formula), the second moment, then the update. Scalars are rounded
    # to T on the host, as NumPy rounds the Python floats.
    second = ("""
        const T mv = (vmax != vmax || v != v) ? vmax + v : (vmax > v ? vmax : v);
        vmax = mv;
        T den = sqrt(mv);
    """ if amsgrad else """
        T den = sqrt(v);
    """)
    return _cupy().ElementwiseKernel(
        "T g, bool decay, T keep, T weight_decay, bool maximize, bool lerp_low, T w1, T w1c, "
        "T beta2, T one_minus_beta2, T bc2_sqrt, T eps, T neg_step_size",
        "T p, T m, T v" + (", T vmax" if amsgrad else ""),
        """
        if (decay) p = p * keep;
        """ + _EFFECTIVE_GRAD + """
        const T diff = d - m;
        m = lerp_low ? m + diff * w1 : d - diff * w1c;
        T sq = d * one_minus_beta2;
        sq = sq * d;
        v = v * beta2 + sq;
        """ + second + """
        den = den / bc2_sqrt;
        den = den + eps;
        p = p + (m / den) * neg_step_size;
        """,
        "layerforge_adam_amsgrad" if amsgrad else "layerforge_adam")


def adam_update(p: Any, g: Any, m: Any, v: Any, vmax: Any, *, lr: float, beta1: float,
                beta2: float, eps: float, weight_decay: float, maximize: bool,
                decoupled_weight_decay: bool, step: float) -> None:
    """One Adam/AdamW step for one parameter in one launch (the array form takes about a
    dozen); ``vmax`` is the AMSGrad running maximum, or None."""
    t = p.dtype.type
    decay = weight_decay != 0 and decoupled_weight_decay
    keep = 1 - lr * weight_decay if decay else 1.0
    l2 = 0.0 if decoupled_weight_decay else weight_decay
    w1 = 1 - beta1
    args = (g, decay, t(keep), t(l2), maximize, abs(w1) < 0.5, t(w1), t(1 - w1), t(beta2),
            t(1 - beta2), t((1 - beta2**step) ** 0.5), t(eps), t(-(lr / (1 - beta1**step))))
    if vmax is None:
        _adam_kernel(False)(*args, p, m, v)
    else:
        _adam_kernel(True)(*args, p, m, v, vmax)
