"""The fused GPU kernels (``engine/_cuda_kernels.py``) give what the array code gives.

A GPU is seldom at hand, so the kernel bodies are compiled for the host (``_kernel_host``) and
every op that has a kernel is run twice on the CPU: through the NumPy code, and through its GPU
branch with the host-compiled kernels. Forward values and gradients must agree to float64
rounding. ``benchmarks/gpu_check.py`` runs the device tests through the real kernels on a GPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _kernel_host import compiler, undo_host_kernels, use_host_kernels

import engine
import engine.nn as nn
import engine.nn.functional as F
import engine.optim as optim

pytestmark = pytest.mark.skipif(compiler() is None, reason="needs a C++ compiler (g++)")


@pytest.fixture(scope="session")
def kernel_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("host-kernels")


@pytest.fixture
def host_kernels(monkeypatch: pytest.MonkeyPatch,
                 kernel_build_dir: Path) -> Iterator[Callable[[], None]]:
    yield lambda: use_host_kernels(monkeypatch, kernel_build_dir)
    undo_host_kernels()


def _run(fn: Callable[..., Any], arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Outputs of ``fn`` and the gradients of a fixed random projection of them."""
    inputs = [engine.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = fn(*inputs)
    outs = list(out) if isinstance(out, tuple) else [out]
    rng = np.random.default_rng(7)
    total = None
    for o in outs:
        if o.requires_grad:
            term = (o * engine.tensor(rng.standard_normal(o.shape))).sum()
            total = term if total is None else total + term
    total.backward()
    return ([o.detach().numpy().copy() for o in outs]
            + [t.grad.numpy().copy() for t in inputs if t.grad is not None])


def _same(fn: Callable[..., Any], arrays: list[np.ndarray], enable: Callable[[], None],
          rtol: float = 1e-12) -> None:
    expected = _run(fn, arrays)
    enable()
    got = _run(fn, arrays)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=rtol, atol=1e-13)


def randn(*shape: int) -> np.ndarray:
    return np.random.default_rng(sum(shape)).standard_normal(shape)


CONV = [
    ({}, (2, 3, 7, 6), (4, 3, 3, 3)),
    ({"stride": 2, "padding": 1}, (2, 4, 9, 8), (6, 2, 3, 3), ),
    ({"padding": "same", "dilation": (2, 1)}, (1, 2, 8, 7), (3, 2, 4, 2)),  # uneven "same" pads
    ({"stride": (1, 3), "padding": (2, 0), "dilation": 2, "groups": 2}, (3, 4, 10, 11),
     (4, 2, 3, 2)),
]


@pytest.mark.parametrize(("kw", "xshape", "wshape"), CONV)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_kernels(kw, xshape, wshape, bias, host_kernels) -> None:
    if "stride" in kw and kw.get("groups") is None and xshape[1] != wshape[1]:
        kw = dict(kw, groups=xshape[1] // wshape[1])
    arrays = [randn(*xshape), randn(*wshape)] + ([randn(wshape[0])] if bias else [])
    _same(lambda x, w, *b: F.conv2d(x, w, b[0] if b else None, **kw), arrays, host_kernels)


def test_conv2d_rebuilt_columns(host_kernels, monkeypatch) -> None:
    """Columns too large to keep are rebuilt in the backward, by the same kernel."""
    from engine.ops import conv as conv_ops

    monkeypatch.setattr(conv_ops, "KEEP_COLUMNS_BYTES", 0)
    _same(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2),
          [randn(2, 4, 7, 9), randn(4, 2, 3, 3), randn(4)], host_kernels)


@pytest.mark.parametrize("kw", [{"stride": 2, "padding": 1, "output_padding": 1},
                                {"stride": (1, 2), "dilation": 2, "groups": 2}])
def test_conv_transpose2d_kernels(kw, host_kernels) -> None:
    _same(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
          [randn(2, 4, 5, 6), randn(4, 3, 3, 2), randn(3 * kw.get("groups", 1))], host_kernels)


@pytest.mark.parametrize("kw", [{"kernel_size": 2},
                                {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
                                {"kernel_size": (2, 3), "stride": 1, "dilation": (2, 1)}])
def test_max_pool2d_kernels_with_ties(kw, host_kernels) -> None:
    """Small integers make ties in most windows: both paths must pick the first maximum."""
    x = np.random.default_rng(3).integers(0, 3, (2, 3, 9, 8)).astype(np.float64)
    _same(lambda t: F.max_pool2d(t, **kw), [x], host_kernels)


def test_max_pool2d_indices(host_kernels) -> None:
    x = np.random.default_rng(4).integers(0, 4, (2, 2, 7, 7)).astype(np.float64)

    def indices(t: engine.Tensor) -> tuple[engine.Tensor, engine.Tensor]:
        return F.max_pool2d(t, 3, stride=2, padding=1, return_indices=True)

    _, expected = indices(engine.tensor(x))
    host_kernels()
    _, got = indices(engine.tensor(x))
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_relu_kernel_keeps_nan(host_kernels) -> None:
    x = randn(4, 5)
    x[1, 2] = np.nan
    expected = F.relu(engine.tensor(x, requires_grad=True)).detach().numpy()
    host_kernels()
    got = F.relu(engine.tensor(x, requires_grad=True)).detach().numpy()
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(got[1, 2])
    _same(F.relu, [randn(3, 4)], lambda: None)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 2, 2), (7,)])
def test_cross_entropy_kernels(reduction, shape, host_kernels) -> None:
    rng = np.random.default_rng(5)
    classes = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else shape[:1] + shape[2:]
    target = rng.integers(0, classes, tshape).astype(np.int64)
    logits = randn(*shape) * 4

    def fn(x: engine.Tensor) -> engine.Tensor:
        return F.cross_entropy(x, engine.tensor(target), reduction=reduction)

    _same(fn, [logits], host_kernels)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
@pytest.mark.parametrize("bias", [True, False])
def test_recurrent_step_kernels(cls, bias, host_kernels) -> None:
    """Outputs, final states and the input's and every weight's gradients (two layers, both
    directions, initial states given)."""
    engine.manual_seed(0)
    layer = cls(3, 5, num_layers=2, bidirectional=True, batch_first=True, bias=bias).double()
    h0 = randn(4, 4, 5)
    state = (h0, randn(4, 4, 5) + 1) if cls is nn.LSTM else (h0,)

    def run() -> list[np.ndarray]:
        layer.zero_grad()
        states = [engine.tensor(a, requires_grad=True) for a in state]
        values = _run(lambda x: _flat(layer(x, tuple(states) if len(states) > 1
                                            else states[0])), [randn(4, 6, 3)])
        return (values + [s.grad.numpy().copy() for s in states]
                + [p.grad.numpy().copy() for p in layer.parameters()])

    expected = run()
    host_kernels()
    for g, e in zip(run(), expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-13)


def _flat(out: Any) -> tuple[engine.Tensor, ...]:
    y, state = out
    return (y,) + (tuple(state) if isinstance(state, tuple) else (state,))


SGD = [{}, {"momentum": 0.9}, {"momentum": 0.9, "dampening": 0.5},
       {"momentum": 0.9, "nesterov": True}, {"weight_decay": 0.1},
       {"momentum": 0.8, "weight_decay": 0.1, "maximize": True}, {"maximize": True}]


ADAM = [("Adam", {}), ("Adam", {"amsgrad": True, "weight_decay": 0.1, "maximize": True}),
        ("Adam", {"betas": (0.3, 0.6), "eps": 1e-3}),  # the other side of PyTorch's lerp
        ("Adam", {"betas": (0.3, 0.6), "amsgrad": True}),  # v falls: the maximum matters
        ("Adam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
        ("AdamW", {"weight_decay": 0.2, "amsgrad": True})]
OPTIMIZERS = [("SGD", kw) for kw in SGD] + ADAM


@pytest.mark.parametrize(("name", "kw"), OPTIMIZERS,
                         ids=[f"{n}-" + "-".join(f"{k}={v}" for k, v in kw.items())
                              for n, kw in OPTIMIZERS])
def test_optimizer_kernels(name, kw, host_kernels) -> None:
    def train() -> list[np.ndarray]:
        engine.manual_seed(0)
        model = nn.Linear(4, 3).double()
        opt = getattr(optim, name)(model.parameters(), lr=0.05, **kw)
        x = engine.tensor(randn(5, 4))
        for _ in range(10):
            opt.zero_grad()
            (model(x) ** 2).sum().backward()
            opt.step()
        return [p.detach().numpy().copy() for p in model.parameters()]

    # Same operations in the same order, and no fused multiply-add on the host: bit for bit.
    expected = train()
    host_kernels()
    for g, e in zip(train(), expected):
        np.testing.assert_array_equal(g, e)


def test_cross_entropy_kernel_is_stable_for_huge_logits(host_kernels) -> None:
    """The kernel shifts each row by its maximum, so exp never overflows."""
    target = np.array([0, 3, 1])
    _same(lambda x: F.cross_entropy(x, engine.tensor(target)), [randn(3, 5) * 400],
          host_kernels)
