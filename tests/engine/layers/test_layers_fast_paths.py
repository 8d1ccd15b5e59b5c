"""The CPU fast paths of the convolutional stack give the results of the general ones:
per-sample and batch-inside convolution layouts, a convolution split over threads, in-place
ReLU, and BatchNorm's fused backward when only some of its inputs need a gradient."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import engine
import engine.nn.functional as F
from engine import _blas
from engine.ops import conv as conv_ops

CASES = [
    # (N, C, H, W), (OC, C/G, kh, kw), kwargs
    ((3, 4, 9, 10), (6, 4, 3, 3), {"padding": 1}),
    ((2, 4, 11, 12), (4, 2, 3, 3), {"stride": 2, "padding": 1, "groups": 2}),
    ((2, 3, 12, 12), (5, 3, 1, 1), {"stride": 2}),
    ((4, 2, 14, 13), (3, 2, 5, 5), {"dilation": (1, 2), "padding": (2, 1)}),
]


def _conv_grads(L, xshape, wshape, kw, dtype=np.float64):  # noqa: ANN001, ANN202
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s).astype(dtype) for s in (xshape, wshape, (wshape[0],))]
    x, w, b = (L.t(a) for a in arrays)
    out = F.conv2d(x, w, b, **kw)
    out.backward(L.t(rng.standard_normal(tuple(out.shape)).astype(dtype), grad=False))
    return [L.np(t) for t in (out, x.grad, w.grad, b.grad)]


@pytest.mark.parametrize("xshape,wshape,kw", CASES)
def test_per_sample_and_batch_inside_layouts_agree(L, monkeypatch, xshape, wshape, kw):
    """Maps of >= PER_SAMPLE_MIN_PIXELS take one GEMM per sample on the CPU, smaller ones one
    GEMM over the batch: forcing either layout gives the same values and gradients."""
    monkeypatch.setattr(conv_ops, "PER_SAMPLE_MIN_PIXELS", 0)
    per_sample = _conv_grads(L, xshape, wshape, kw)
    monkeypatch.setattr(conv_ops, "PER_SAMPLE_MIN_PIXELS", 1 << 30)
    batch_inside = _conv_grads(L, xshape, wshape, kw)
    for a, b in zip(per_sample, batch_inside):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    L.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw),
                [L.randn(*xshape), L.randn(*wshape), L.randn(wshape[0])])


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("xshape,wshape,kw", CASES)
def test_conv_split_over_threads_equals_one_thread(L, monkeypatch, xshape, wshape, kw, dtype,
                                                   tol):
    """A convolution whose batch chunks run on two threads (BLAS single-threaded meanwhile)
    gives the unsplit results: the weight gradient sums the threads' parts in a fixed order,
    so float32 differs by rounding only."""
    monkeypatch.setattr(conv_ops, "CHUNK_BYTES", 1)  # one sample per chunk: several per thread
    monkeypatch.setattr(conv_ops, "SPLIT_MIN_FLOPS", float("inf"))
    whole = _conv_grads(L, xshape, wshape, kw, dtype)
    monkeypatch.setattr(conv_ops, "SPLIT_MIN_FLOPS", 0)
    monkeypatch.setattr(conv_ops, "op_threads", lambda: 2)
    split = _conv_grads(L, xshape, wshape, kw, dtype)
    for a, b in zip(whole, split):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    if dtype == np.float64:
        L.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw),
                    [L.randn(*xshape), L.randn(*wshape), L.randn(wshape[0])])


TRANSPOSED_CASES = CASES + [
    ((2, 4, 7, 6), (6, 2, 3, 3), {"padding": "same", "dilation": 2, "groups": 2}),
    ((2, 3, 6, 7), (4, 3, 2, 4), {"padding": "same"}),  # even kernel: asymmetric padding
    ((2, 3, 6, 6), (4, 3, 3, 3), {"padding": 3}),  # more padding than the kernel reaches
    ((1, 2, 5, 5), (3, 2, 3, 3), {}),
]


@pytest.mark.parametrize("xshape,wshape,kw", TRANSPOSED_CASES)
def test_input_grad_as_transposed_convolution_equals_col2im(L, monkeypatch, xshape, wshape, kw):
    """A unit-stride convolution's input gradient computed as the convolution of g with the
    flipped, channel-swapped weights (taken for wide layers on the CPU) equals the col2im one,
    with groups, dilation and asymmetric padding; other strides and over-wide padding keep
    col2im."""
    monkeypatch.setattr(conv_ops, "TRANSPOSED_MIN_K", 1 << 30)
    col2im = _conv_grads(L, xshape, wshape, kw)
    monkeypatch.setattr(conv_ops, "TRANSPOSED_MIN_K", 0)
    monkeypatch.setattr(conv_ops, "TRANSPOSED_MIN_CHANNELS", 0)
    monkeypatch.setattr(conv_ops, "TRANSPOSED_MAX_PIXELS", 1 << 30)
    calls = []
    real = conv_ops._transposed_input_grad
    monkeypatch.setattr(conv_ops, "_transposed_input_grad",
                        lambda *a: calls.append(r := real(*a)) or r)
    transposed = _conv_grads(L, xshape, wshape, kw)
    for a, b in zip(col2im, transposed):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    unit_stride = kw.get("stride", 1) == 1
    took = [c is not None for c in calls]
    if L.device == "cpu":
        assert took == ([kw.get("padding") != 3] if unit_stride else [])
    L.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw),
                [L.randn(*xshape), L.randn(*wshape), L.randn(wshape[0])])


def test_wide_convolutions_take_the_transposed_input_grad_and_match_torch(L):
    """ResNet-like widths take the transposed path by default; values and gradients as
    PyTorch's."""
    from torch_reference import torch_or_skip  # noqa: PLC0415

    torch = torch_or_skip()
    xshape, wshape = (2, 32, 6, 6), (32, 32, 3, 3)
    oc, cg, kh, kw_ = wshape
    assert oc * kh * kw_ >= conv_ops.TRANSPOSED_MIN_K and cg >= conv_ops.TRANSPOSED_MIN_CHANNELS
    L.against_torch(lambda x, w: F.conv2d(x, w, padding=1),
                    lambda x, w: torch.nn.functional.conv2d(x, w, padding=1),
                    [L.randn(*xshape, dtype=np.float32), L.randn(*wshape, dtype=np.float32)],
                    atol=1e-4)


def test_thread_parts_deal_every_chunk_once(monkeypatch):
    monkeypatch.setattr(conv_ops, "op_threads", lambda: 2)
    monkeypatch.setattr(conv_ops, "CHUNK_BYTES", 1 << 20)
    parts = conv_ops.thread_parts(np, 1e9, 7, 1 << 20)
    assert len(parts) == 2
    slices = sorted((sl.start, sl.stop) for part in parts for _, sl in part)
    assert slices == [(i, i + 1) for i in range(7)]
    # Too little work: one part, whatever the thread count.
    assert len(conv_ops.thread_parts(np, 1.0, 7, 1 << 20)) == 1


def test_split_map_runs_parts_on_threads_with_one_blas_thread():
    libs = _blas._blas_libraries()
    if not libs:
        pytest.skip("no BLAS thread control (threadpoolctl) here")
    saved = [lib.get_num_threads() for lib in libs]
    for lib in libs:  # other tests may have made it one thread for the process (replicas)
        lib.set_num_threads(2)
    seen: list[tuple[int, str, int]] = []
    barrier = threading.Barrier(2, timeout=10)

    def work(i: int) -> int:
        barrier.wait()  # both parts run at once, or this times out
        seen.append((i, threading.current_thread().name, _blas.blas_threads()))
        return i * 10

    try:
        assert _blas.split_map(work, [0, 1]) == [0, 10]
        assert {blas for _, _, blas in seen} == {1}
        assert len({name for _, name, _ in seen}) == 2
        assert _blas.blas_threads() == 2
    finally:
        for lib, n in zip(libs, saved):
            lib.set_num_threads(n)


def test_split_map_restores_blas_threads_after_an_error():
    before = _blas.blas_threads()

    def work(i: int) -> int:
        if i == 0:
            raise ValueError("part 0 failed")
        return i

    with pytest.raises(ValueError, match="part 0 failed"):
        _blas.split_map(work, [0, 1])
    assert _blas.blas_threads() == before
    assert _blas.split_map(lambda i: i + 1, [1, 2]) == [2, 3]  # not left busy


def test_relu_in_place_reuses_the_buffer_and_gives_relus_gradient(L):
    a = L.randn(3, 4, 5)
    a[0, 0, :2] = 0.0  # the gradient at 0 is 0, as PyTorch
    x = L.t(a)
    y = x * 1.0
    buf = y._data
    out = F.relu(y, inplace=True)
    assert out is y and out._data is buf
    (out * L.t(np.arange(60.0).reshape(3, 4, 5), grad=False)).sum().backward()
    np.testing.assert_array_equal(L.np(x.grad), np.arange(60.0).reshape(3, 4, 5) * (a > 0))
    np.testing.assert_array_equal(L.np(out), np.maximum(a, 0))
    L.gradcheck(lambda t: F.relu(t * 1.0, inplace=True), [L.randn(2, 7)])
    with engine.no_grad():
        z = L.t(a, grad=False)
        zbuf = z._data
        F.relu(z, inplace=True)
        assert z._data is zbuf
        np.testing.assert_array_equal(L.np(z), np.maximum(a, 0))


@pytest.mark.parametrize("shape,dtype", [
    ((4, 6, 28, 28), np.float32),  # a zero row of 784 (28x28)
    ((3, 300), np.float64),  # row 300
    ((2, 2, 2, 64), np.float16),  # row 256 over two axes
    ((5, 7), np.float32),  # too short a row: the scalar maximum
    ((3, 1 << 17), np.float32),  # too long a row: the scalar maximum
    ((6, 512), np.int32),  # integers keep NumPy's own path
])
def test_relu_through_a_zero_row_equals_maximum_with_zero(shape, dtype):
    """``relu_into`` takes a broadcast row of zeros for speed; NaN stays NaN and infinities and
    signed zeros come out as from ``maximum(a, 0)``, written in place or not, also into a
    non-contiguous ``out`` (which falls back)."""
    from engine.ops.math import relu_into  # noqa: PLC0415

    rng = np.random.default_rng(0)
    a = (rng.standard_normal(shape) * 10).astype(dtype)
    if a.dtype.kind == "f":
        a.flat[:4] = [np.nan, -np.inf, np.inf, -0.0]
    want = np.maximum(a, 0)
    got = relu_into(np, a)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    strided = np.empty(shape[:-1] + (2 * shape[-1],), dtype=want.dtype)[..., ::2]
    relu_into(np, a, strided)
    np.testing.assert_array_equal(strided, want)
    relu_into(np, a, a)
    np.testing.assert_array_equal(a, want)


def test_small_convolution_with_large_columns_splits_over_threads(monkeypatch):
    """A convolution below SPLIT_MIN_FLOPS whose columns take SPLIT_MIN_COLUMN_BYTES or more
    (LeNet-5's first layer at batch 64) splits its batch over the op threads, with the
    unsplit results."""
    rng = np.random.default_rng(2)
    x, w, b = (rng.standard_normal(s) for s in ((8, 1, 12, 12), (3, 1, 5, 5), (3,)))
    monkeypatch.setattr(conv_ops, "op_threads", lambda: 2)
    monkeypatch.setattr(conv_ops, "CHUNK_BYTES", 1)
    monkeypatch.setattr(conv_ops, "SPLIT_MIN_FLOPS", float("inf"))
    parts_seen: list[int] = []
    real = conv_ops.split_map
    monkeypatch.setattr(conv_ops, "split_map",
                        lambda fn, parts: parts_seen.append(len(parts)) or real(fn, parts))

    def run() -> list[np.ndarray]:
        xt, wt, bt = (engine.tensor(a, requires_grad=True) for a in (x, w, b))
        out = F.conv2d(xt, wt, bt, padding=2)
        out.backward(engine.tensor(np.cos(np.arange(out.numel())).reshape(tuple(out.shape))))
        return [t.detach().numpy().copy() for t in (out, xt.grad, wt.grad, bt.grad)]

    monkeypatch.setattr(conv_ops, "SPLIT_MIN_COLUMN_BYTES", float("inf"))
    whole = run()
    assert parts_seen == [1, 1]
    parts_seen.clear()
    monkeypatch.setattr(conv_ops, "SPLIT_MIN_COLUMN_BYTES", 0)
    split = run()
    assert parts_seen == [2, 2]
    for a, b_ in zip(whole, split):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("needs", ["x", "w", "b", "wb"])
def test_batch_norm_fused_backward_with_some_inputs_frozen(L, training, needs):
    """Each gradient of the fused backward is right on its own (float64 finite differences),
    whichever of input, weight and bias require one."""
    shape = (4, 3, 2, 5)
    rm, rv = L.t(L.randn(3), grad=False), L.t(np.abs(L.randn(3)) + 0.5, grad=False)
    arrays = {"x": L.randn(*shape), "w": L.randn(3), "b": L.randn(3)}
    _gradcheck_batch_norm(L, arrays, needs, rm, rv, training)


def _gradcheck_batch_norm(L, arrays, needs, rm, rv, training):  # noqa: ANN001, ANN202
    """Finite differences of batch_norm in the inputs named by ``needs``, the others frozen."""
    frozen = {k: L.t(v, grad=False) for k, v in arrays.items() if k not in needs}
    free = [k for k in "xwb" if k in needs]

    def fn(*args):  # noqa: ANN002, ANN202
        t = dict(zip(free, args), **frozen)
        return F.batch_norm(t["x"], rm, rv, t["w"], t["b"], training=training)

    L.gradcheck(fn, [arrays[k] for k in free])


@pytest.mark.parametrize("kw", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1,
                                                     "ceil_mode": True}])
def test_max_pool_split_over_threads_equals_one_thread(L, monkeypatch, kw):
    """Max pooling's chunks on two threads give the same maxima, the same first-maximum
    indices on ties, and the same gradient."""
    from engine.ops import pool as pool_ops

    a = np.round(L.randn(6, 3, 9, 8) * 2)  # rounded: many ties
    gout = None
    results = []
    monkeypatch.setattr(conv_ops, "CHUNK_BYTES", 1)
    for split in (False, True):
        monkeypatch.setattr(pool_ops, "POOL_SPLIT_MIN_BYTES", 0 if split else float("inf"))
        monkeypatch.setattr(conv_ops, "op_threads", lambda: 2)
        x = L.t(a)
        out, idx = F.max_pool2d(x, return_indices=True, **kw)
        if gout is None:
            gout = L.t(L.randn(*out.shape), grad=False)
        out.backward(gout)
        results.append([L.np(out), L.np(idx), L.np(x.grad)])
    for u, s in zip(*results):
        np.testing.assert_array_equal(u, s)


def _split_elementwise(monkeypatch, split: bool) -> None:
    """Batches of one sample per chunk dealt to two threads (split), or the whole batch in the
    calling thread."""
    monkeypatch.setattr(conv_ops, "CHUNK_BYTES", 1 if split else 1 << 40)
    monkeypatch.setattr(conv_ops, "ELEMENTWISE_SPLIT_MIN_BYTES", 0 if split else float("inf"))
    monkeypatch.setattr(conv_ops, "op_threads", lambda: 2)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("needs", ["x", "w", "xwb"])
def test_batch_norm_split_over_threads_equals_one_thread(L, monkeypatch, training, needs):
    """BatchNorm's passes on two threads, a part of the batch each, give the one-thread values,
    gradients and running statistics (float64: the per-channel sums only add in another order),
    and still pass the finite-difference check."""
    shape = (5, 3, 4, 3)
    arrays = {"x": L.randn(*shape), "w": L.randn(3), "b": L.randn(3)}
    gout = L.randn(*shape)
    results = []
    for split in (False, True):
        _split_elementwise(monkeypatch, split)
        rm, rv = L.t(L.randn(3) * 0, grad=False), L.t(np.ones(3), grad=False)
        t = {k: L.t(v, grad=k in needs) for k, v in arrays.items()}
        out = F.batch_norm(t["x"], rm, rv, t["w"], t["b"], training=training)
        out.backward(L.t(gout, grad=False))
        results.append([L.np(out), L.np(rm), L.np(rv)]
                       + [L.np(t[k].grad) for k in "xwb" if k in needs])
    for one, two in zip(*results):
        np.testing.assert_allclose(one, two, rtol=1e-12, atol=1e-12)
    _gradcheck_batch_norm(L, arrays, needs, None, None, True)  # still split


@pytest.mark.parametrize("in_place", [False, True])
def test_relu_split_over_threads_equals_one_thread(L, monkeypatch, in_place):
    """ReLU's parts on two threads give exactly the one-thread output and gradient, in place or
    not (in place: the input's own buffer is the output)."""
    a = L.randn(6, 3, 5)
    a[0, 0, :2] = 0.0  # the gradient at 0 is 0, as PyTorch's
    gout = L.randn(6, 3, 5)
    results = []
    for split in (False, True):
        _split_elementwise(monkeypatch, split)
        x = L.t(a)
        h = x * 1.0  # a non-leaf, so that in place is allowed
        out = F.relu(h, inplace=in_place)
        if in_place:
            assert out is h
        out.backward(L.t(gout, grad=False))
        results.append([L.np(out), L.np(x.grad)])
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(results[1][1], gout * (a > 0))
