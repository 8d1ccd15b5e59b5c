"""Recurrent layers: one Function per layer and direction, whose forward loops over time on raw
arrays and whose backward is a hand-written BPTT.

Why: a graph of per-step ops would hold thousands of nodes for one batch; here each step is one
small GEMM plus a handful of in-place elementwise calls (the RNN and GRU project the inputs of all
steps up front; the LSTM folds that projection into its per-step GEMM). In the backward, the
RNN and GRU compute every factor that does not depend on the recursion (sigmoid/tanh
derivatives, gate products) for all steps at once before the loop; the LSTM, with four gates,
forms them per step from blocks still in cache, which measured faster than ~15 memory-bound
passes over all steps.

Conventions (PyTorch's): x is (T, B, I); weights are ``w_ih`` (G*H, I), ``w_hh`` (G*H, H) with
gate order i,f,g,o (LSTM) and r,z,n (GRU). Each op returns one array stacking the per-step outputs
with the final state(s): ``(T+1, B, H)`` = [y_0..y_{T-1}, h_n] (RNN, GRU) or ``(T+2, B, H)`` with
``c_n`` last (LSTM). ``mask`` (T, B, 1) of 0/1 implements variable lengths: a masked step keeps
the state unchanged and outputs zeros (what PyTorch gives for packed sequences after padding).
``reverse`` runs the sequence from the end; with a mask each sequence then starts at its own last
valid element, as PyTorch's reverse direction over packed sequences does.
"""

from __future__ import annotations

from typing import Any

from .. import _cuda_kernels
from .._backend import xp_of
from .._blas import op_threads, split_map
from .._cuda_kernels import on_gpu
from ..autograd.function import Function
from .math import relu_into


def _sigmoid_(a: Any, xp: Any) -> None:
    """In-place logistic sigmoid via tanh (no overflow for large |a|)."""
    a *= 0.5
    xp.tanh(a, out=a)
    a *= 0.5
    a += 0.5


def _check(name: str, x: Any, h0: Any, w_ih: Any, w_hh: Any) -> None:
    if x.dtype != w_ih.dtype or h0.dtype != x.dtype:
        raise TypeError(
            f"{name}: input is {x.dtype}, weights {w_ih.dtype}, initial state {h0.dtype}; "
            f"use one dtype (e.g. model.to(input.dtype) or input.float())"
        )
    if x.shape[-1] != w_ih.shape[1]:
        raise ValueError(
            f"{name}: input has {x.shape[-1]} features but weight_ih expects {w_ih.shape[1]}; "
            f"set input_size={x.shape[-1]} or fix the input"
        )


# An LSTM's time loop runs one block of batch rows per op thread when each block has at least
# this many rows: the rows' recurrences are independent, and a step's elementwise calls (a third
# to a half of the loop's time at hidden size 128) otherwise run on one core. Measured, LSTM
# 32->128 over 50 steps, training step on 2 threads: batch 128 28.9 -> 25.8 ms, batch 256
# 52.2 -> 46.1 ms; at batch 64 (blocks of 32 rows) no gain: a call's Python dispatch, which
# holds the GIL, then takes about as long as its arithmetic.
LSTM_SPLIT_MIN_ROWS = 64


def _row_blocks(xp: Any, b: int, dtype: Any) -> list[slice]:
    """The batch rows in one block per op thread (CPU, blocks of ``LSTM_SPLIT_MIN_ROWS`` rows or
    more), or one block."""
    threads = 1 if on_gpu(xp, dtype) else min(op_threads(), b // LSTM_SPLIT_MIN_ROWS)
    if threads <= 1:
        return [slice(0, b)]
    size = -(-b // threads)
    return [slice(s, min(s + size, b)) for s in range(0, b, size)]


class _Recurrent(Function):
    """Shared bookkeeping: time order, state buffers, the final input/weight gradients."""

    saves = (0, 3, 4)

    def _setup(self, x: Any, h0: Any, w_ih: Any, reverse: bool, mask: Any) -> None:
        self.T, self.B = x.shape[:2]
        self.reverse, self.mask = reverse, mask
        self.steps = range(self.T - 1, -1, -1) if reverse else range(self.T)
        self.x, self.w_ih = x, w_ih

    def _prev(self, buf: Any) -> Any:
        """The (T, B, ...) slice of a (T+1, B, ...) state buffer holding each step's input state."""
        return buf[1:] if self.reverse else buf[:-1]

    def _cur(self, buf: Any) -> Any:
        return buf[:-1] if self.reverse else buf[1:]

    def _project(self, x: Any, w_gates: Any, bias: Any) -> Any:
        """Input projections of all steps, gate-major: (T, G, B, H) from x (T, B, I), the
        per-gate weights ``w_gates`` (G, H, I) and ``bias`` (G, H) or None.

        One batched matmul writes the gate-major layout directly, and the bias rides along as an
        extra input feature of 1: a separate bias pass or a transposing copy of this array cost
        more than the GEMM. The extended input is kept as ``self.xs``, so the weight-gradient
        GEMM yields the bias gradient as its last column."""
        xp = xp_of(x)
        w_t = w_gates.transpose(0, 2, 1)  # (G, I, H)
        xs = x
        if bias is not None:
            w_t = xp.concatenate([w_t, bias[:, None, :]], axis=1)
            xs = xp.concatenate([x, xp.ones(x.shape[:2] + (1,), dtype=x.dtype)], axis=2)
        self.xs = xs
        return xp.matmul(xs[:, None], w_t)

    def _input_side_grads(self, dgx2: Any) -> tuple[Any, Any]:
        """dW_ih (G*H, I) and, when the input carries the bias column, db_ih, from the
        pre-activation gradients ``dgx2`` (T*B, G*H) in the weights' row order."""
        n = self.needs
        feat = self.x.shape[-1]
        with_bias = self.xs.shape[-1] > feat
        dw_ih = db_ih = None
        if n[3] or (with_bias and n[5]):
            gw = dgx2.T @ self.xs.reshape(dgx2.shape[0], -1)
            dw_ih = gw[:, :feat] if n[3] else None
            db_ih = gw[:, feat] if with_bias and n[5] else None
        return dw_ih, db_ih

    def _param_grads(self, dgx: Any, dgh: Any, hprev: Any, has_bias: bool) -> tuple[Any, ...]:
        """dx, dW_ih, dW_hh, db_ih, db_hh from the pre-activation gradients of all steps."""
        n = self.needs
        tb = self.T * self.B
        dgx2 = dgx.reshape(tb, -1)
        dgh2 = dgh.reshape(tb, -1) if dgh is not dgx else dgx2
        dx = (dgx2 @ self.w_ih).reshape(self.x.shape) if n[0] else None
        dw_ih, db_ih = self._input_side_grads(dgx2)
        if has_bias and n[5] and db_ih is None:
            db_ih = dgx2.sum(axis=0)
        dw_hh = dgh2.T @ hprev.reshape(tb, -1) if n[4] else None
        db_hh = dgh2.sum(axis=0) if has_bias and n[6] else None
        return dx, dw_ih, dw_hh, db_ih, db_hh


class RNNLayer(_Recurrent):
    """Elman RNN: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu."""

    def forward(self, x: Any, h0: Any, _unused: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any,
                reverse: bool = False, mask: Any = None, relu: bool = False) -> Any:
        _check("rnn", x, h0, w_ih, w_hh)
        xp = xp_of(x)
        self._setup(x, h0, w_ih, reverse, mask)
        self.xs = x
        t_, b_ = self.T, self.B
        hid = w_hh.shape[1]
        pre = (x.reshape(t_ * b_, -1) @ w_ih.T).reshape(t_, b_, hid)
        if b_ih is not None:
            pre += b_ih + b_hh
        hbuf = xp.empty((t_ + 1, b_, hid), dtype=x.dtype)
        cur, prev = self._cur(hbuf), self._prev(hbuf)
        (hbuf[-1] if reverse else hbuf[0])[...] = h0
        whh_t = xp.ascontiguousarray(w_hh.T)
        for t in self.steps:
            h = cur[t]
            # (matmul with out= is ~15x slower under multi-threaded OpenBLAS: avoid it)
            xp.add(prev[t] @ whh_t, pre[t], out=h)
            if relu:
                relu_into(xp, h, h)
            else:
                xp.tanh(h, out=h)
            if mask is not None:
                xp.copyto(h, prev[t], where=mask[t] == 0)
        out = xp.empty((t_ + 1, b_, hid), dtype=x.dtype)
        out[:t_] = cur if mask is None else cur * mask
        out[t_] = hbuf[0] if reverse else hbuf[-1]
        self.hbuf, self.w_hh, self.relu, self.has_bias = hbuf, w_hh, relu, b_ih is not None
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = xp_of(g)
        t_, mask = self.T, self.mask
        cur = self._cur(self.hbuf)
        dact = (cur > 0).astype(g.dtype) if self.relu else 1 - cur * cur
        gy = g[:t_]
        if mask is not None:
            dact *= mask
            gy = gy * mask
            keep = 1 - mask
        dpre = xp.empty_like(cur)
        dh = g[t_]
        w_hh = self.w_hh
        for t in reversed(self.steps):
            dht = gy[t] + dh
            xp.multiply(dht, dact[t], out=dpre[t])
            dh = dpre[t] @ w_hh
            if mask is not None:
                dh += dht * keep[t]
        dx, dw_ih, dw_hh, db_ih, db_hh = self._param_grads(
            dpre, dpre, self._prev(self.hbuf), self.has_bias)
        return dx, dh if self.needs[1] else None, None, dw_ih, dw_hh, db_ih, db_hh


class LSTMLayer(_Recurrent):
    """LSTM with PyTorch's equations.

    Each step is one GEMM, [x_t, 1, h_{t-1}] @ [W_ih^T; b; W_hh^T], whose left side is a row block
    of one buffer (``xh``) that the recurrence writes h into: against a batched input projection
    up front plus an h GEMM per step, this measured 2 ms (18%) faster per forward, and the
    backward gets all weight and bias gradients from one GEMM over all steps.

    The gates are kept gate-major, ``acts`` (T, 4, B, H), in the order (o, i, f, g), so every
    per-step elementwise call works on contiguous blocks (strided calls are several times slower
    for arrays this small): the three sigmoid gates are one block, and the c-path gates (i, f, g)
    of the backward are one block. The sigmoid columns of the weights are scaled by 1/2 once, so
    a single tanh call activates all four gates (sigmoid(z) = (1 + tanh(z/2)) / 2).
    """

    _ORDER = (3, 0, 1, 2)  # PyTorch gate index of each internal gate (o, i, f, g)
    _BACK = (1, 2, 3, 0)  # internal index of each PyTorch gate (i, f, g, o)

    def forward(self, x: Any, h0: Any, c0: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any,
                reverse: bool = False, mask: Any = None) -> Any:
        _check("lstm", x, h0, w_ih, w_hh)
        xp = xp_of(x)
        self._setup(x, h0, w_ih, reverse, mask)
        t_, b_ = self.T, self.B
        hid = w_hh.shape[1]
        order = list(self._ORDER)
        half = xp.asarray([0.5, 0.5, 0.5, 1.0], dtype=x.dtype).reshape(4, 1, 1)
        wih4 = w_ih.reshape(4, hid, -1)[order]
        whh4 = w_hh.reshape(4, hid, hid)[order]
        # Each step's input, a 1 for the bias, and its input state share one row block of ``xh``
        # (T+1, B, I[+1]+H), so each step is ONE GEMM against the stacked weights (the input
        # projection rides along: no separate pass over all steps), and the backward gets dW_ih,
        # db and dW_hh from one GEMM over all steps.
        feat = x.shape[-1]
        nx = feat + (b_ih is not None)
        xh = xp.empty((t_ + 1, b_, nx + hid), dtype=x.dtype)
        xs = self._prev(xh)[:, :, :nx]
        xs[:, :, :feat] = x
        rows = [(wih4 * half).reshape(4 * hid, feat).T]
        if b_ih is not None:
            xs[:, :, feat] = 1
            rows.append(((b_ih + b_hh).reshape(4, hid)[order] * half[:, :, 0]).reshape(1, -1))
        rows.append((whh4 * half).reshape(4 * hid, hid).T)
        w_cat = xp.ascontiguousarray(xp.concatenate(rows, axis=0))  # (I[+1]+H, 4H)
        acts = xp.empty((t_, 4, b_, hid), dtype=x.dtype)
        hbuf = xh[:, :, nx:]
        cbuf = xp.empty((t_ + 1, b_, hid), dtype=x.dtype)
        tc = xp.empty((t_, b_, hid), dtype=x.dtype)
        (hbuf[-1] if reverse else hbuf[0])[...] = h0
        (cbuf[-1] if reverse else cbuf[0])[...] = c0
        hcur, hprev = self._cur(hbuf), self._prev(hbuf)
        ccur, cprev = self._cur(cbuf), self._prev(cbuf)
        xh_in = self._prev(xh)
        # A GPU does a step's elementwise work in one launch.
        fused = mask is None and on_gpu(xp, x.dtype)

        def run(rows: slice) -> None:
            """The time loop for the batch rows ``rows`` (the recurrence of each row is its
            own, so row blocks may run on different threads)."""
            n = rows.stop - rows.start
            for t in self.steps:
                a = acts[t][:, rows]
                # (matmul(out=) is avoided: it is far slower under multi-threaded OpenBLAS.)
                # The tanh reads the (n, 4H) result through a gate-major view: the copy into
                # ``acts`` costs no pass of its own.
                pre = xh_in[t, rows] @ w_cat
                if fused:
                    _cuda_kernels.lstm_step(pre, cprev[t], a, ccur[t], tc[t], hcur[t])
                    continue
                xp.tanh(pre.reshape(n, 4, hid).transpose(1, 0, 2), out=a)
                sig = a[:3]
                sig *= 0.5
                sig += 0.5
                c = ccur[t, rows]
                xp.multiply(a[2], cprev[t, rows], out=c)  # f * c_prev
                c += a[1] * a[3]  # + i * g
                if mask is not None:
                    xp.copyto(c, cprev[t, rows], where=mask[t, rows] == 0)
                tct = tc[t, rows]
                xp.tanh(c, out=tct)
                xp.multiply(a[0], tct, out=hcur[t, rows])  # h = o * tanh(c)
                if mask is not None:
                    xp.copyto(hcur[t, rows], hprev[t, rows], where=mask[t, rows] == 0)

        split_map(run, _row_blocks(xp, b_, x.dtype))
        out = xp.empty((t_ + 2, b_, hid), dtype=x.dtype)
        out[:t_] = hcur if mask is None else hcur * mask
        out[t_] = hbuf[0] if reverse else hbuf[-1]
        out[t_ + 1] = cbuf[0] if reverse else cbuf[-1]
        self.acts, self.hbuf, self.cbuf, self.tc, self.xh = acts, hbuf, cbuf, tc, xh
        self.whh4, self.wih4, self.has_bias = whh4, wih4, b_ih is not None
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = xp_of(g)
        t_, b_, mask = self.T, self.B, self.mask
        acts, tc, cprev = self.acts, self.tc, self._prev(self.cbuf)
        hid = tc.shape[-1]
        gy = g[:t_]
        if mask is not None:
            gy = gy * mask
            keep = 1 - mask
        # The gate derivatives are formed step by step from that step's (4, B, H) block while it
        # is in cache: precomputing them for all steps took ~15 passes over (T, B, H) arrays,
        # each memory-bound. Gate gradients are stored step-major (T, B, 4H): each step's (B, 4H)
        # row block feeds ONE GEMM for dh, and all steps' blocks feed one GEMM per parameter
        # gradient afterwards.
        dg = xp.empty((t_, b_, 4, hid), dtype=g.dtype)
        whh = self.whh4.reshape(4 * hid, hid)  # internal gate order, unscaled
        fused = mask is None and on_gpu(xp, g.dtype)
        dh_out = xp.empty((b_, hid), dtype=g.dtype)
        dc_out = xp.empty((b_, hid), dtype=g.dtype)

        def run(rows: slice) -> None:
            """BPTT for the batch rows ``rows``: their gate gradients into ``dg`` and their
            final state gradients into ``dh_out``/``dc_out``."""
            n = rows.stop - rows.start
            d = xp.empty((4, n, hid), dtype=g.dtype)
            dh, dc = g[t_, rows], g[t_ + 1, rows]
            if fused:
                dc = dc.copy()  # updated in place, step by step
            for t in reversed(self.steps):
                if fused:
                    _cuda_kernels.lstm_step_backward(acts[t], tc[t], cprev[t], gy[t], dh, dg[t],
                                                     dc)
                    dh = dg[t].reshape(b_, 4 * hid) @ whh
                    continue
                a = acts[t][:, rows]  # o, i, f, g
                tct, cpt = tc[t, rows], cprev[t, rows]
                sd = a[:3] * a[:3]
                xp.subtract(a[:3], sd, out=sd)  # sigmoid' = s (1 - s)
                dht = gy[t, rows] + dh
                od = tct * tct
                xp.subtract(1, od, out=od)
                od *= a[0]  # dc/dh through h = o * tanh(c)
                dct = dht * od
                if mask is not None:
                    dct *= mask[t, rows]
                dct += dc
                xp.multiply(sd[0], tct, out=d[0])
                d[0] *= dht
                xp.multiply(sd[1], a[3], out=d[1])
                xp.multiply(sd[2], cpt, out=d[2])
                xp.multiply(a[3], a[3], out=d[3])
                xp.subtract(1, d[3], out=d[3])
                d[3] *= a[1]
                d[1:] *= dct
                if mask is not None:
                    d *= mask[t, rows]
                dgt = dg[t, rows]
                dgt[...] = d.transpose(1, 0, 2)
                dc = dct * a[2]
                if mask is not None:  # masked steps pass dc through unchanged
                    dc *= mask[t, rows]
                    dc += dct * keep[t, rows]
                dh = dgt.reshape(n, 4 * hid) @ whh
                if mask is not None:
                    dh += dht * keep[t, rows]
            dh_out[rows] = dh
            dc_out[rows] = dc

        split_map(run, _row_blocks(xp, b_, g.dtype))
        dh, dc = dh_out, dc_out
        # Parameter gradients: GEMMs over all steps, then PyTorch's gate order.
        n = self.needs
        gates = dg.reshape(t_ * b_, 4 * hid)
        back = list(self._BACK)
        dx = dw_ih = dw_hh = db = None
        if n[0]:
            dx = (gates @ self.wih4.reshape(4 * hid, -1)).reshape(self.x.shape)
        if n[3] or n[4] or (self.has_bias and (n[5] or n[6])):
            # [dW_ih | db | dW_hh] in one GEMM against the rows of xh that fed each step.
            gw = (gates.T @ self._prev(self.xh).reshape(t_ * b_, -1)).reshape(4, hid, -1)[back]
            feat = self.x.shape[-1]
            dw_ih = gw[:, :, :feat].reshape(4 * hid, feat) if n[3] else None
            if self.has_bias:  # the column of ones' output: b_ih and b_hh get the same gradient
                db = gw[:, :, feat].reshape(-1)
            dw_hh = gw[:, :, -hid:].reshape(4 * hid, hid) if n[4] else None
        return (dx, dh if n[1] else None, dc if n[2] else None, dw_ih, dw_hh,
                db if n[5] else None, db if n[6] else None)


class GRULayer(_Recurrent):
    """GRU with PyTorch's equations (r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn))).

    Same layout choices as ``LSTMLayer``: gates stored gate-major (T, 3, B, H) for contiguous
    per-step calls, r and z rows of the weights pre-scaled by 1/2 so one tanh gives both
    sigmoids, and the backward's hidden-side gate gradients stored step-major (T, B, 3H) so each
    step needs one GEMM."""

    def forward(self, x: Any, h0: Any, _unused: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any,
                reverse: bool = False, mask: Any = None) -> Any:
        _check("gru", x, h0, w_ih, w_hh)
        xp = xp_of(x)
        self._setup(x, h0, w_ih, reverse, mask)
        t_, b_ = self.T, self.B
        hid = w_hh.shape[1]
        half = xp.asarray([0.5, 0.5, 1.0], dtype=x.dtype).reshape(3, 1, 1)
        b_hn = bias = None
        if b_ih is not None:
            bias = b_ih.reshape(3, hid).copy()
            bias[:2] += b_hh.reshape(3, hid)[:2]
            bias *= half[:, :, 0]
            b_hn = b_hh[2 * hid:]
        gx = self._project(x, w_ih.reshape(3, hid, -1) * half, bias)  # (T, 3, B, H)
        whh_t = xp.ascontiguousarray((w_hh.reshape(3, hid, hid) * half).transpose(0, 2, 1))
        hbuf = xp.empty((t_ + 1, b_, hid), dtype=x.dtype)
        (hbuf[-1] if reverse else hbuf[0])[...] = h0
        hcur, hprev = self._cur(hbuf), self._prev(hbuf)
        ghn = xp.empty((t_, b_, hid), dtype=x.dtype)
        # A GPU does a step's elementwise work in one launch.
        fused = mask is None and on_gpu(xp, x.dtype)
        if fused:  # and one GEMM (B, H) @ (H, 3H) per step, not three
            whh_cat = xp.ascontiguousarray(whh_t.transpose(1, 0, 2).reshape(hid, 3 * hid))
        for t in self.steps:
            a = gx[t]  # becomes [r, z, n] activations in place
            hp = hprev[t]
            if fused:
                _cuda_kernels.gru_step(hp @ whh_cat, hp, b_hn, a, ghn[t], hcur[t])
                continue
            gh = hp @ whh_t  # (3, B, H): r and z parts pre-scaled, n part exact
            rz = a[:2]
            rz += gh[:2]
            xp.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            hn = ghn[t]
            if b_hn is not None:
                xp.add(gh[2], b_hn, out=hn)
            else:
                hn[...] = gh[2]
            n = a[2]
            n += a[0] * hn
            xp.tanh(n, out=n)
            h = hcur[t]
            xp.subtract(hp, n, out=h)  # h = n + z * (h_prev - n)
            h *= a[1]
            h += n
            if mask is not None:
                xp.copyto(h, hp, where=mask[t] == 0)
        out = xp.empty((t_ + 1, b_, hid), dtype=x.dtype)
        out[:t_] = hcur if mask is None else hcur * mask
        out[t_] = hbuf[0] if reverse else hbuf[-1]
        self.acts, self.hbuf, self.ghn = gx, hbuf, ghn
        self.w_hh, self.has_bias = w_hh, b_ih is not None
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = xp_of(g)
        t_, b_, mask = self.T, self.B, self.mask
        hid = self.ghn.shape[-1]
        acts, ghn = self.acts, self.ghn
        hprev = self._prev(self.hbuf)
        gy = g[:t_]
        if mask is not None:
            gy = gy * mask
            keep = 1 - mask
        # The gate derivatives are formed per step from blocks still in cache (as the LSTM
        # does): precomputing them took ~11 memory-bound passes over all steps.
        dgh = xp.empty((t_, b_, 3, hid), dtype=g.dtype)  # hidden-side grads [r, z, r*dn]
        dgx_n = xp.empty((t_, b_, hid), dtype=g.dtype)
        d = xp.empty((3, b_, hid), dtype=g.dtype)
        dh = g[t_]
        w_hh = self.w_hh
        fused = mask is None and on_gpu(xp, g.dtype)
        if fused:
            carry = xp.zeros_like(dh)
        for t in reversed(self.steps):
            if fused:
                _cuda_kernels.gru_step_backward(acts[t], hprev[t], gy[t], dh, ghn[t], dgh[t],
                                                dgx_n[t], carry)
                dh = dgh[t].reshape(b_, 3 * hid) @ w_hh
                continue
            a = acts[t]  # r, z, n
            hp = hprev[t]
            sd = a[:2] * a[:2]
            xp.subtract(a[:2], sd, out=sd)  # sigmoid' of r and z
            dht = gy[t] + dh
            dn = dgx_n[t]  # dh -> d(n pre-activation): (1 - z)(1 - n^2)
            xp.multiply(a[2], a[2], out=dn)
            xp.subtract(1, dn, out=dn)
            dn *= dht
            dn -= dn * a[1]
            xp.subtract(hp, a[2], out=d[1])  # dh -> d(z pre-activation): (h_prev - n) z'
            d[1] *= sd[1]
            d[1] *= dht
            if mask is not None:
                dn *= mask[t]
                d[1] *= mask[t]
            xp.multiply(dn, ghn[t], out=d[0])  # d(n pre) -> d(r pre): (W_hn h + b_hn) r'
            d[0] *= sd[0]
            xp.multiply(dn, a[0], out=d[2])
            dgt = dgh[t]
            dgt[...] = d.transpose(1, 0, 2)
            carry = dht * a[1]
            if mask is not None:  # masked steps pass dh through unchanged
                carry *= mask[t]
                carry += dht * keep[t]
            dh = dgt.reshape(b_, 3 * hid) @ w_hh
            dh += carry
        if fused:
            dh = dh + carry
        dgx = xp.empty_like(dgh)
        dgx[:, :, :2] = dgh[:, :, :2]
        dgx[:, :, 2] = dgx_n
        dx, dw_ih, dw_hh, db_ih, db_hh = self._param_grads(
            dgx.reshape(t_, b_, 3 * hid), dgh.reshape(t_, b_, 3 * hid), hprev, self.has_bias)
        return dx, dh if self.needs[1] else None, None, dw_ih, dw_hh, db_ih, db_hh
