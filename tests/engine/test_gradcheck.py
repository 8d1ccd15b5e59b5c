"""Every differentiable op's gradient against float64 central differences (``gradcheck``), over
broadcasting, keepdim, negative dims, dim tuples, fancy and boolean indexing and non-contiguous
inputs; where finite differences can't decide (ties in max/min) against PyTorch's rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from torch_reference import check

import engine
from engine.autograd import gradcheck

F64 = engine.float64


def leaf(shape: tuple[int, ...], device: str = "cpu", low: float | None = None,
         high: float | None = None) -> engine.Tensor:
    """A float64 leaf that requires grad: normal values, or uniform in [low, high)."""
    if low is None:
        t = engine.randn(*shape, dtype=F64, device=device)
    else:
        t = engine.rand(*shape, dtype=F64, device=device) * (high - low) + low
    return t.detach().requires_grad_(True)


POS = (0.5, 2.0)  # a range where log, sqrt, pow and division are smooth

# (id, function, input specs); a spec is a shape, or (shape, (low, high)).
CASES: list[tuple[str, Callable[..., Any], list[Any]]] = [
    # elementwise binary, broadcasting both ways and against 0-d / Python scalars
    ("add_bcast", lambda a, b: a + b, [(3, 1, 4), (2, 4)]),
    ("add_0d", lambda a, b: a + b, [(2, 3), ()]),
    ("sub_bcast", lambda a, b: a - b, [(4,), (3, 1)]),
    ("rsub_scalar", lambda a: 1.5 - a, [(2, 3)]),
    ("mul_bcast", lambda a, b: a * b, [(2, 1, 3), (4, 1)]),
    ("mul_scalar", lambda a: a * 3 + 2 * a, [(5,)]),
    ("div_bcast", lambda a, b: a / b, [(2, 3), ((3,), POS)]),
    ("rdiv_scalar", lambda a: 2 / a, [((4,), POS)]),
    ("pow_scalar", lambda a: a ** 3 + a ** 2, [(2, 3)]),
    ("pow_frac", lambda a: a ** 0.5 + a.pow(-1.5), [((2, 3), POS)]),
    ("pow_tensor_exp", lambda a, b: a ** b, [((2, 3), POS), (3,)]),
    ("rpow", lambda a: 2.0 ** a, [(2, 3)]),
    ("mod", lambda a, b: a % b, [((6,), (0.1, 0.9)), ((6,), (1.1, 1.9))]),
    ("neg", lambda a: -a, [(3,)]),
    ("add_method_alpha", lambda a, b: a.add(b, alpha=2).sub(a, alpha=0.5), [(3,), (2, 3)]),
    # elementwise unary
    ("exp", lambda a: a.exp(), [(2, 3)]),
    ("log", lambda a: a.log(), [((2, 3), POS)]),
    ("sqrt", lambda a: a.sqrt(), [((2, 3), POS)]),
    ("rsqrt", lambda a: a.rsqrt(), [((2, 3), POS)]),
    ("abs", lambda a: a.abs(), [(2, 3)]),
    ("sign", lambda a: a.sign() * a, [(2, 3)]),
    ("sin", lambda a: a.sin(), [(2, 3)]),
    ("cos", lambda a: a.cos(), [(2, 3)]),
    ("tanh", lambda a: a.tanh(), [(2, 3)]),
    ("sigmoid", lambda a: a.sigmoid(), [(2, 3)]),
    ("relu", lambda a: a.relu(), [(2, 3)]),
    ("free_functions", lambda a: engine.exp(a) + engine.tanh(a) + engine.sigmoid(a), [(4,)]),
    # clamp / maximum / minimum / where
    ("clamp_both", lambda a: a.clamp(-0.5, 0.5), [(3, 4)]),
    ("clamp_min", lambda a: a.clamp(min=0.1), [(3, 4)]),
    ("clamp_tensor", lambda a, lo, hi: a.clamp(min=lo, max=hi + 1), [(3, 4), (4,), (3, 1)]),
    ("maximum_bcast", lambda a, b: engine.maximum(a, b), [(3, 4), (4,)]),
    ("minimum_bcast", lambda a, b: engine.minimum(a, b), [(2, 1, 3), (4, 1)]),
    ("where_bcast", lambda a, b: engine.where(a > 0, a, b), [(3, 4), (4,)]),
    ("where_scalar", lambda a: engine.where(a > 0, a * 2, 0.0), [(3, 4)]),
    # reductions
    ("sum_all", lambda a: a.sum(), [(2, 3, 4)]),
    ("sum_neg_keep", lambda a: a.sum(-1, keepdim=True), [(2, 3, 4)]),
    ("sum_tuple", lambda a: a.sum((0, -1)), [(2, 3, 4)]),
    ("mean_all", lambda a: a.mean(), [(2, 3, 4)]),
    ("mean_tuple_keep", lambda a: a.mean((0, 2), keepdim=True), [(2, 3, 4)]),
    ("mean_neg", lambda a: a.mean(-2), [(2, 3, 4)]),
    ("var_all", lambda a: a.var(), [(2, 3, 4)]),
    ("var_dim", lambda a: a.var(1, unbiased=False, keepdim=True), [(2, 3, 4)]),
    ("var_tuple", lambda a: a.var((0, 2)), [(2, 3, 4)]),
    ("std_neg", lambda a: a.std(-1), [(2, 3, 4)]),
    ("prod_all", lambda a: a.prod(), [(2, 3)]),
    ("prod_dim", lambda a: a.prod(1), [(2, 3, 2)]),
    ("prod_neg_keep", lambda a: a.prod(-1, keepdim=True), [(3, 4)]),
    ("logsumexp", lambda a: a.logsumexp(1), [(2, 3, 4)]),
    ("logsumexp_tuple_keep", lambda a: a.logsumexp((0, -1), keepdim=True), [(2, 3, 4)]),
    ("max_all", lambda a: a.max(), [(3, 4)]),
    ("min_all", lambda a: a.min(), [(3, 4)]),
    ("max_dim", lambda a: a.max(1).values, [(3, 4)]),
    ("max_neg_keep", lambda a: a.max(-1, keepdim=True)[0], [(2, 3, 4)]),
    ("min_dim", lambda a: a.min(0).values, [(3, 4)]),
    ("amax_tuple", lambda a: a.amax((0, 2)), [(2, 3, 4)]),
    ("amin_keep", lambda a: a.amin(-1, keepdim=True), [(2, 3, 4)]),
    # shape
    ("reshape", lambda a: a.reshape(4, -1) * a.reshape(4, 6), [(2, 3, 4)]),
    ("view_flatten", lambda a: a.view(6, 4).flatten() + a.flatten(1).flatten(), [(2, 3, 4)]),
    ("transpose", lambda a: a.transpose(0, -1), [(2, 3, 4)]),
    ("permute", lambda a: a.permute(2, 0, 1), [(2, 3, 4)]),
    ("t", lambda a: a.t() @ a, [(3, 2)]),
    ("squeeze_unsqueeze", lambda a: a.unsqueeze(-1).squeeze(1).unsqueeze(0), [(2, 1, 3)]),
    ("expand", lambda a: a.expand(2, 3, 4), [(3, 1)]),
    ("expand_neg1", lambda a: a.expand(5, -1, -1), [(1, 3, 2)]),
    ("repeat", lambda a: a.repeat(2, 1, 3), [(3, 2)]),
    ("split", lambda a: a.split(2, dim=1)[1] * a.split([1, 3], dim=-1)[1][:, :2], [(3, 4)]),
    ("chunk", lambda a: engine.cat(a.chunk(3, dim=0)[::-1]), [(5, 2)]),
    ("cat", lambda a, b: engine.cat([a, b, a], dim=-1), [(2, 3), (2, 1)]),
    ("stack", lambda a, b: engine.stack([a, b], dim=1), [(2, 3), (2, 3)]),
    ("stack_neg", lambda a, b: engine.stack((a, b, a), dim=-1), [(2, 3), (2, 3)]),
    ("clone_contiguous", lambda a: a.t().contiguous().clone(), [(2, 3)]),
    # indexing
    ("index_basic", lambda a: a[1:, None, ..., ::2], [(3, 4)]),
    ("index_int", lambda a: a[-1, 2] * a[0], [(3, 4)]),
    ("index_repeated", lambda a: a[[0, 2, 0, 0]], [(3, 4)]),
    ("index_repeated_2d", lambda a: a[[1, 1, 0], [2, 2, 3]], [(3, 4)]),
    ("index_mixed", lambda a: a[:, [3, 3, 1]], [(3, 4)]),
    ("index_tensor", lambda a: a[engine.tensor([[0, 1], [1, 1]])], [(3, 4)]),
    ("index_mask", lambda a: a[a > 0], [(3, 4)]),
    ("index_row_mask", lambda a: a[engine.tensor([True, False, True])], [(3, 4)]),
    # matmul
    ("matmul_2d", lambda a, b: a @ b, [(3, 4), (4, 2)]),
    ("matmul_1d_1d", lambda a, b: a @ b, [(4,), (4,)]),
    ("matmul_1d_2d", lambda a, b: a @ b, [(4,), (4, 2)]),
    ("matmul_2d_1d", lambda a, b: a.matmul(b), [(3, 4), (4,)]),
    ("matmul_batched_bcast", lambda a, b: a @ b, [(2, 1, 3, 4), (5, 4, 2)]),
    ("matmul_2d_3d", lambda a, b: a @ b, [(3, 4), (2, 4, 5)]),
    ("matmul_1d_3d", lambda a, b: a @ b, [(4,), (2, 4, 3)]),
    ("matmul_3d_1d", lambda a, b: a @ b, [(2, 3, 4), (4,)]),
    # dtype round trip keeps the gradient flowing
    ("cast_roundtrip", lambda a: a.to(engine.float32).to(F64) * 0 + a.double(), [(3,)]),
]


@pytest.mark.parametrize("name,fn,specs", CASES, ids=[c[0] for c in CASES])
def test_gradcheck(name: str, fn: Callable[..., Any], specs: list[Any], device: str) -> None:
    inputs = []
    for spec in specs:
        if len(spec) == 2 and isinstance(spec[1], tuple):
            inputs.append(leaf(spec[0], device, *spec[1]))
        else:
            inputs.append(leaf(spec, device))
    assert gradcheck(fn, inputs)


def _noncontiguous(kind: str) -> engine.Tensor:
    base = np.random.default_rng(3).standard_normal((4, 6))
    arr = base.T if kind == "transposed" else base[::2, 1::2]
    assert not arr.flags.c_contiguous
    return engine.from_numpy(arr).requires_grad_(True)


@pytest.mark.parametrize("kind", ["transposed", "sliced"])
@pytest.mark.parametrize("fn", [
    lambda a: a * a.sum(0, keepdim=True), lambda a: a.exp().mean(-1),
    lambda a: a.reshape(-1)[::2], lambda a: a @ a.t(), lambda a: a[[0, 0, 1]],
    lambda a: a.var(0), lambda a: a.max(1).values, lambda a: engine.cat([a, a], 1),
], ids=["bcast", "exp_mean", "reshape", "matmul", "fancy", "var", "maxdim", "cat"])
def test_gradcheck_non_contiguous_inputs(kind: str, fn: Callable[..., Any]) -> None:
    x = _noncontiguous(kind)
    assert not x.is_contiguous()
    assert gradcheck(fn, [x])


def test_gradcheck_setitem() -> None:
    x, v, w = leaf((3, 4)), leaf((4,)), leaf((2,))

    def fn(x: engine.Tensor, v: engine.Tensor, w: engine.Tensor) -> engine.Tensor:
        y = x * 1  # a non-leaf copy we may write into
        y[1] = v
        y[[0, 2], 3] = w
        y[y > 1.0] = 0.0
        return y * x

    assert gradcheck(fn, [x, v, w])


def test_gradcheck_inplace_ops() -> None:
    x, b, s = leaf((2, 3)), leaf((3,)), leaf((2, 1), "cpu", *POS)

    def fn(x: engine.Tensor, b: engine.Tensor, s: engine.Tensor) -> engine.Tensor:
        y = x.exp() * 1  # exp saves its output: write into a copy
        y.add_(b)
        y.mul_(x)
        y.sub_(b, alpha=2)
        y.div_(s)
        y.clamp_(-1.0, 1.5)
        return y

    assert gradcheck(fn, [x, b, s])


def test_gradcheck_copy_into_non_leaf() -> None:
    x, src = leaf((2, 3)), leaf((3,))

    def fn(x: engine.Tensor, src: engine.Tensor) -> engine.Tensor:
        y = x * 2
        y.copy_(src)
        return y * x

    assert gradcheck(fn, [x, src])


# ----------------------------------------------------------------------------- ties (vs torch)

def _grads_like_torch(fn: Callable[[Any], Any], data: list[Any]) -> None:
    check(lambda m, x: fn(x), [np.array(data)], atol=1e-12, gradcheck=False)


TIES = [[3.0, 1.0, 3.0, 3.0], [0.0, -2.0, -2.0, 1.0]]


@pytest.mark.parametrize("fn", [
    lambda x: x.max(), lambda x: x.min(), lambda x: x.max(1)[0], lambda x: x.min(1).values,
    lambda x: x.max(-1, keepdim=True).values, lambda x: x.amax(1), lambda x: x.amin((0, 1)),
    lambda x: x.clamp(min=1.0, max=3.0),
], ids=["max_all", "min_all", "max_dim", "min_dim", "max_keep", "amax_dim", "amin_all",
        "clamp_at_bounds"])
def test_max_min_ties_follow_torch(fn: Callable[[Any], Any]) -> None:
    _grads_like_torch(fn, TIES)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_ties_split_evenly(name: str) -> None:
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 3.0])
    check(lambda m, x, y: getattr(m, name)(x, y), [a, b], gradcheck=False)


def test_prod_gradient_with_zeros_matches_torch() -> None:
    for data in ([[2.0, 0.0, 3.0], [0.0, 0.0, 1.0]], [[1.0, 2.0, 3.0], [4.0, 0.0, 5.0]]):
        _grads_like_torch(lambda x: x.prod(1), data)
        _grads_like_torch(lambda x: x.prod(), data)


def test_repeated_index_accumulates() -> None:
    x = engine.zeros(4, requires_grad=True)
    x[engine.tensor([1, 1, 3, 1])].sum().backward()
    assert x.grad.tolist() == [0.0, 3.0, 0.0, 1.0]


# ----------------------------------------------------------------------------- float32 stays

@pytest.mark.parametrize("name,fn,specs", [c for c in CASES if c[0] != "cast_roundtrip"],
                         ids=[c[0] for c in CASES if c[0] != "cast_roundtrip"])
def test_float32_gradients_stay_float32(name: str, fn: Callable[..., Any],
                                        specs: list[Any]) -> None:
    inputs = []
    for spec in specs:
        shape, rng = (spec[0], spec[1]) if len(spec) == 2 and isinstance(spec[1], tuple) else (
            spec, None)
        t = leaf(shape, "cpu", *(rng or (None, None)))
        inputs.append(t.detach().float().requires_grad_(True))
    out = fn(*inputs)
    assert out.dtype == engine.float32, f"{name} gives {out.dtype} for float32 inputs"
    grads = engine.autograd.grad(out.sum(), inputs, allow_unused=True)
    for g in grads:
        assert g is None or g.dtype == engine.float32, f"{name}: gradient is {g.dtype}"
