"""The Tensor API against PyTorch: creation functions, members, operators with PyTorch's type
promotion, reductions, shape ops and indexing give the same values, dtypes and shapes."""

from __future__ import annotations

import operator

import numpy as np
import pytest
from torch_reference import assert_like_torch, torch_or_skip

import engine

torch = torch_or_skip()

_TORCH_DTYPES = {
    "float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
    "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8,
    "uint8": torch.uint8, "bool": torch.bool,
}


# ----------------------------------------------------------------------------- creation


@pytest.mark.parametrize("call", [
    lambda m: m.zeros(2, 3), lambda m: m.zeros((2, 3)), lambda m: m.ones(4, dtype=m.int64),
    lambda m: m.ones((2, 1), dtype=m.float64), lambda m: m.full((2,), 3),
    lambda m: m.full((2, 2), 1.5), lambda m: m.full((3,), True), lambda m: m.arange(5),
    lambda m: m.arange(2, 9, 3), lambda m: m.arange(0, 1, 0.25),
    lambda m: m.arange(1, 4, dtype=m.float64), lambda m: m.arange(5.0),
    lambda m: m.linspace(0, 1, 5), lambda m: m.linspace(-2, 2, 4, dtype=m.float64),
    lambda m: m.eye(3), lambda m: m.eye(2, 3), lambda m: m.eye(2, dtype=m.int32),
    lambda m: m.tensor([1, 2]), lambda m: m.tensor([1.0, 2.0]), lambda m: m.tensor(True),
    lambda m: m.tensor(3.5), lambda m: m.tensor([[1, 2], [3, 4]], dtype=m.float64),
    lambda m: m.tensor(np.array([1.0, 2.0])), lambda m: m.tensor(np.array([1, 2], np.int32)),
    lambda m: m.tensor([True, False]), lambda m: m.tensor([]),
    lambda m: m.zeros_like(m.tensor([1, 2])), lambda m: m.ones_like(m.tensor([1.0, 2.0])),
    lambda m: m.zeros_like(m.ones(2, 2), dtype=m.int64),
    lambda m: m.full_like(m.ones(3, dtype=m.int32), 7),
], ids=lambda c: "")
def test_creation_matches_torch(call) -> None:
    assert_like_torch(call(engine), call(torch))


def test_random_creation_shapes_dtypes_and_ranges() -> None:
    r = engine.rand(1000)
    assert r.dtype == engine.float32 and r.shape == (1000,)
    assert 0 <= float(r.min()) and float(r.max()) < 1
    n = engine.randn(200, 50, dtype=engine.float64)
    assert n.dtype == engine.float64 and n.shape == (200, 50)
    assert abs(float(n.mean())) < 0.05 and abs(float(n.std()) - 1) < 0.05
    i = engine.randint(10, (500,))
    assert i.dtype == engine.int64 and int(i.min()) >= 0 and int(i.max()) <= 9
    j = engine.randint(2, 5, (4, 3))
    assert j.shape == (4, 3) and set(j.numpy().ravel()) <= {2, 3, 4}
    like = engine.randn_like(engine.zeros(2, 3, dtype=engine.float64))
    assert like.shape == (2, 3) and like.dtype == engine.float64
    e = engine.empty(2, 3)
    assert e.shape == (2, 3) and e.dtype == engine.float32
    with pytest.raises(ValueError, match="high .* must be greater than low"):
        engine.randint(5, 5, (2,))


def test_manual_seed_reproduces_every_generator() -> None:
    engine.manual_seed(123)
    a = (engine.randn(5), engine.rand(3), engine.randint(0, 100, (4,)), engine.randperm(6))
    engine.manual_seed(123)
    b = (engine.randn(5), engine.rand(3), engine.randint(0, 100, (4,)), engine.randperm(6))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert sorted(a[3].tolist()) == list(range(6))
    engine.manual_seed(124)
    assert not np.array_equal(engine.randn(5).numpy(), a[0].numpy())


def test_dtype_names_and_aliases() -> None:
    assert engine.float32 == np.float32 and engine.float == engine.float32
    assert engine.double == engine.float64 and engine.long == engine.int64
    assert engine.bool == np.bool_ and engine.half == engine.float16
    assert engine.tensor([1, 2], dtype="long").dtype == engine.int64
    with pytest.raises(TypeError, match="not supported"):
        engine.zeros(2, dtype=np.complex64)


# ----------------------------------------------------------------------------- members


def test_members_and_conversions() -> None:
    t = engine.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert t.shape == (2, 2) and t.ndim == 2 and t.dtype == engine.float32
    assert str(t.device) == "cpu" and t.device == "cpu" and t.device.type == "cpu"
    assert t.requires_grad and t.is_leaf and t.grad is None and t.grad_fn is None
    y = t * 2
    assert not y.is_leaf and y.grad_fn.name == "MulBackward" and y.requires_grad
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert engine.tensor(2.5).item() == 2.5 and isinstance(engine.tensor(3).item(), int)
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    n = d.numpy()
    n[0, 0] = 9.0  # numpy() shares memory, as in PyTorch
    assert d[0, 0].item() == 9.0
    assert t.to(engine.float64).dtype == engine.float64
    assert t.to("cpu") is t and t.cpu() is t
    assert t.float() is t
    assert t.long().dtype == engine.int64 and not t.long().requires_grad
    assert t.to(dtype=engine.int32).tolist() == [[1, 2], [3, 4]]
    c = d.clone()
    c[0, 0] = -1.0
    assert d[0, 0].item() == 9.0
    nc = engine.arange(6).reshape(2, 3).t()
    assert not nc.is_contiguous() and nc.contiguous().is_contiguous()
    np.testing.assert_array_equal(nc.contiguous().numpy(), nc.numpy())
    assert len(t) == 2 and [r.shape for r in t] == [(2,), (2,)]
    assert t.size() == (2, 2) and t.size(-1) == 2 and t.numel() == 4 and t.dim() == 2


def test_format_and_repr() -> None:
    loss = engine.tensor(0.123456)
    assert f"{loss:.3f}" == "0.123" and f"{engine.tensor(3):>3d}" == "  3"
    assert f"{engine.ones(2)}" == str(engine.ones(2)) == "tensor([1., 1.])"
    assert repr(engine.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(engine.zeros(2, dtype=engine.float64)) == "tensor([0., 0.], dtype=engine.float64)"


def test_conversion_errors_are_clear() -> None:
    t = engine.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"a tensor with 3 elements cannot be converted"):
        t.item()
    with pytest.raises(RuntimeError, match=r"use tensor.detach\(\).numpy\(\)"):
        t.numpy()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(engine.ones(2))
    with pytest.raises(RuntimeError, match=r"floating point .* int64.* \.float\(\)"):
        engine.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(4,\) is invalid .* 6 elements"):
        engine.zeros(2, 3).reshape(4)


def test_comparisons_with_non_numbers_follow_python() -> None:
    t = engine.ones(2)
    assert (t == None) is False  # noqa: E711 - what `t in some_list` relies on
    assert (t != "x") is True
    assert t in [t, 1]


# ----------------------------------------------------------------------------- promotion

_OPERANDS = {
    "f32": lambda m: m.tensor([1.5, 2.0, 3.0]),
    "f64": lambda m: m.tensor([1.5, 2.0, 3.0], dtype=m.float64),
    "f16": lambda m: m.tensor([1.5, 2.0, 3.0], dtype=m.float16),
    "i64": lambda m: m.tensor([1, 2, 3]),
    "i32": lambda m: m.tensor([1, 2, 3], dtype=m.int32),
    "u8": lambda m: m.tensor([1, 2, 3], dtype=m.uint8),
    "bool": lambda m: m.tensor([True, True, True]),
    "f64_0d": lambda m: m.tensor(2.5, dtype=m.float64),
    "i64_0d": lambda m: m.tensor(2),
    "f32_0d": lambda m: m.tensor(2.5),
    "int": lambda m: 2,
    "float": lambda m: 2.5,
    "pybool": lambda m: True,
}
_BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
           "//": operator.floordiv, "%": operator.mod, "**": operator.pow,
           "==": operator.eq, "<": operator.lt, ">=": operator.ge, "!=": operator.ne}


@pytest.mark.parametrize("op", list(_BINARY))
@pytest.mark.parametrize("left", list(_OPERANDS))
def test_binary_ops_promote_like_torch(op: str, left: str) -> None:
    fn = _BINARY[op]
    checked = 0
    for right in _OPERANDS:
        if not (left.endswith(("0d",)) or left in ("f32", "f64", "f16", "i64", "i32", "u8",
                                                   "bool")) and right in ("int", "float",
                                                                          "pybool"):
            continue
        a_t, b_t = _OPERANDS[left](torch), _OPERANDS[right](torch)
        if not isinstance(a_t, torch.Tensor) and not isinstance(b_t, torch.Tensor):
            continue
        try:
            expected = fn(a_t, b_t)
        except (RuntimeError, TypeError, NotImplementedError):
            continue  # torch refuses this pair (e.g. bool - bool); so may we
        got = fn(_OPERANDS[left](engine), _OPERANDS[right](engine))
        tol = 2e-3 if "f16" in (left, right) else 1e-5
        assert_like_torch(got, expected, rtol=tol, atol=tol)
        checked += 1
    assert checked > 0 or left in ("bool", "pybool")  # torch refuses bool - x and bool ** x


def test_promotion_headline_rules() -> None:
    f32 = engine.ones(3)
    assert (f32 * 2.5).dtype == engine.float32  # no silent float64
    assert (f32 + engine.tensor(1.0, dtype=engine.float64)).dtype == engine.float32  # 0-d
    assert (engine.tensor([1, 2]) + 0.5).dtype == engine.float32
    assert (engine.tensor([1, 2]) / engine.tensor([2, 2])).dtype == engine.float32
    assert (engine.tensor([1, 2]) < 2).dtype == engine.bool
    assert (f32 @ engine.ones(3, dtype=engine.float32)).dtype == engine.float32
    assert (np.float64(2.0) * f32).dtype == engine.float32
    assert (f32 * np.ones(3)).dtype == engine.float64  # an ndarray operand is a full tensor


def test_reflected_operators() -> None:
    t = engine.tensor([1.0, 2.0, 4.0])
    tt = torch.tensor([1.0, 2.0, 4.0])
    for fn in (lambda x: 1 - x, lambda x: 2 / x, lambda x: 2 ** x, lambda x: 7 // x,
               lambda x: 7 % x, lambda x: 3 + x, lambda x: 3 * x, lambda x: -x, lambda x: abs(-x)):
        assert_like_torch(fn(t), fn(tt))
    b = engine.tensor([True, False])
    bt = torch.tensor([True, False])
    for fn in (lambda x: x & True, lambda x: x | False, lambda x: ~x, lambda x: x ^ x):
        assert_like_torch(fn(b), fn(bt))


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)),
                                    ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)), ((2, 1, 2, 3),
                                                                            (4, 3, 2)),
                                    ((3,), (2, 3, 4)), ((2, 4, 3), (3,))])
def test_matmul_shapes_match_torch(shapes) -> None:
    rng = np.random.default_rng(4)
    a, b = (rng.standard_normal(s).astype(np.float32) for s in shapes)
    assert_like_torch(engine.tensor(a) @ engine.tensor(b), torch.tensor(a) @ torch.tensor(b),
                      rtol=1e-4, atol=1e-5)
    assert_like_torch(engine.matmul(engine.tensor(a), engine.tensor(b)),
                      torch.matmul(torch.tensor(a), torch.tensor(b)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("call", [
    lambda m, x: x.add_(1.5), lambda m, x: x.add_(m.ones(4), alpha=-2),
    lambda m, x: x.sub_(m.arange(4.0)), lambda m, x: x.sub_(2, alpha=0.5),
    lambda m, x: x.mul_(m.tensor([[2.0], [3.0], [4.0]])), lambda m, x: x.div_(4),
    lambda m, x: x.zero_(), lambda m, x: x.fill_(7), lambda m, x: x.clamp_(-1, 1),
    lambda m, x: x.clamp_(min=0.5), lambda m, x: x.copy_(m.arange(4.0)),
    lambda m, x: x.__iadd__(x), lambda m, x: x.__imul__(0.5), lambda m, x: x.__itruediv__(x + 10),
    lambda m, x: x.__isub__(1),
], ids=lambda c: "")
def test_inplace_ops_match_torch(call) -> None:
    data = np.linspace(-3, 3, 12).reshape(3, 4)
    e, t = engine.tensor(data, dtype=engine.float32), torch.tensor(data, dtype=torch.float32)
    out_e, out_t = call(engine, e), call(torch, t)
    assert out_e is e and out_t is t  # in-place ops return the tensor itself
    assert_like_torch(e, t)
    assert e._version == 1


def test_inplace_integer_rules() -> None:
    i = engine.tensor([1, 2, 3])
    i.add_(2)
    i.mul_(3)
    assert i.tolist() == [9, 12, 15] and i.dtype == engine.int64
    with pytest.raises(RuntimeError, match=r"result type float can't be cast to .* int64.*"
                                           r"\.float\(\)"):
        i.div_(2)
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.add_(0.5)
    f = engine.zeros(2)
    f.add_(engine.ones(2, dtype=engine.float64))  # a wider float casts down, as in PyTorch
    assert f.dtype == engine.float32 and f.tolist() == [1.0, 1.0]
    w = engine.ones(2, dtype=engine.float64, requires_grad=True)
    g = f * 1
    g.add_(w * 2)  # the same while recording; the gradient still reaches w
    g.mul_(np.float64(3.0))
    assert g.dtype == engine.float32 and g.tolist() == [9.0, 9.0]
    g.sum().backward()
    assert w.grad.dtype == engine.float64 and w.grad.tolist() == [6.0, 6.0]
    with pytest.raises(RuntimeError, match="can't be cast"):
        engine.tensor([1, 2]).add_(w)


def test_random_inplace_fills() -> None:
    u = engine.empty(2000).uniform_(-2.0, 3.0)
    assert -2.0 <= float(u.min()) and float(u.max()) < 3.0 and abs(float(u.mean()) - 0.5) < 0.15
    n = engine.empty(2000, dtype=engine.float64).normal_(5.0, 0.5)
    assert n.dtype == engine.float64
    assert abs(float(n.mean()) - 5.0) < 0.05 and abs(float(n.std()) - 0.5) < 0.05


# ----------------------------------------------------------------------------- unary math

_UNARY = ["exp", "log", "sqrt", "rsqrt", "abs", "sign", "sin", "cos", "tanh", "sigmoid", "relu"]


@pytest.mark.parametrize("name", _UNARY)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_unary_math_matches_torch(name: str, dtype: str) -> None:
    data = [[0.5, 1.0, 2.0], [3.0, 0.25, 9.0]] if dtype != "int64" else [[1, 2, 3], [4, 5, 9]]
    if name in ("abs", "sign", "sin", "tanh", "sigmoid", "relu") and dtype != "int64":
        data = [[-0.5, 1.0, -2.0], [3.0, 0.0, -9.0]]
    ours = getattr(engine.tensor(data, dtype=getattr(engine, dtype)), name)()
    theirs = getattr(torch.tensor(data, dtype=_TORCH_DTYPES[dtype]), name)()
    assert_like_torch(ours, theirs)
    assert_like_torch(getattr(engine, name)(engine.tensor(data, dtype=getattr(engine, dtype))),
                      theirs)


def test_sigmoid_is_stable_for_large_inputs() -> None:
    x = [-1000.0, -50.0, 0.0, 50.0, 1000.0]
    assert_like_torch(engine.tensor(x).sigmoid(), torch.tensor(x).sigmoid())


@pytest.mark.parametrize("call", [
    lambda m, x: x.clamp(min=-0.5), lambda m, x: x.clamp(max=0.3),
    lambda m, x: x.clamp(-0.2, 0.4), lambda m, x: m.clamp(x, -1, 1),
    lambda m, x: x.clamp(min=x * 0.5, max=x.abs()),
    lambda m, x: m.maximum(x, x.flip(0) if hasattr(x, "flip") else x[::-1]),
    lambda m, x: m.minimum(x, m.zeros_like(x)),
    lambda m, x: m.where(x > 0, x, m.zeros_like(x)),
    lambda m, x: m.where(x > 0, x, 0.0),
    lambda m, x: x.pow(2), lambda m, x: x.abs().pow(0.5), lambda m, x: x.abs() ** x,
], ids=lambda c: "")
def test_elementwise_binary_functions_match_torch(call) -> None:
    data = np.linspace(-1, 1, 12).reshape(3, 4)
    ours = call(engine, engine.tensor(data, dtype=engine.float32))
    theirs = call(torch, torch.tensor(data, dtype=torch.float32))
    assert_like_torch(ours, theirs)


def test_clamp_and_where_promote_like_torch() -> None:
    assert_like_torch(engine.tensor([1, 2, 3]).clamp(min=1.5),
                      torch.tensor([1, 2, 3]).clamp(min=1.5))
    assert_like_torch(engine.tensor([1, 2, 3]).clamp(0, 2), torch.tensor([1, 2, 3]).clamp(0, 2))
    assert_like_torch(engine.where(engine.tensor([True, False]), engine.tensor([1, 2]), 1.5),
                      torch.where(torch.tensor([True, False]), torch.tensor([1, 2]), 1.5))


# ----------------------------------------------------------------------------- reductions

_DIMS = [None, 0, -1, (0, 2), (-1, 1)]


@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "amax", "amin", "logsumexp"])
@pytest.mark.parametrize("dim", _DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions_match_torch(name: str, dim, keepdim: bool) -> None:
    data = np.random.default_rng(1).standard_normal((2, 3, 4))
    if dim is None and name == "logsumexp":
        dim = (0, 1, 2)
    kwargs = {"keepdim": keepdim} if dim is not None or name in ("amax", "amin") else {}
    args = () if dim is None else (dim,)
    if dim is None and name in ("amax", "amin"):
        args = ((0, 1, 2),)
    for dt in ("float32", "float64"):
        ours = getattr(engine.tensor(data, dtype=getattr(engine, dt)), name)(*args, **kwargs)
        theirs = getattr(torch.tensor(data, dtype=_TORCH_DTYPES[dt]), name)(*args, **kwargs)
        assert_like_torch(ours, theirs)


@pytest.mark.parametrize("dim", [None, 1, -1, 0])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["max", "min", "argmax", "argmin", "prod"])
def test_max_min_arg_prod_match_torch(name: str, dim, keepdim: bool) -> None:
    data = [[1.0, 5.0, 5.0, -2.0], [3.0, -1.0, 0.5, 3.0], [0.0, 2.0, 2.0, 1.0]]
    args = () if dim is None else (dim,)
    kwargs = {} if dim is None and name in ("max", "min", "prod") else {"keepdim": keepdim}
    ours = getattr(engine.tensor(data), name)(*args, **kwargs)
    theirs = getattr(torch.tensor(data), name)(*args, **kwargs)
    if isinstance(theirs, tuple):  # max(dim) / min(dim): (values, indices)
        assert_like_torch(ours.values, theirs.values)
        assert_like_torch(ours.indices, theirs.indices)
        assert_like_torch(tuple(ours), tuple(theirs))
    else:
        assert_like_torch(ours, theirs)


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_integer_sums_widen_like_torch(dtype: str) -> None:
    data = [[200, 100, 1], [0, 250, 7]] if dtype != "bool" else [[True, False], [True, True]]
    ours = engine.tensor(data, dtype=getattr(engine, dtype))
    theirs = torch.tensor(data, dtype=_TORCH_DTYPES[dtype])
    assert_like_torch(ours.sum(), theirs.sum())
    assert_like_torch(ours.sum(0), theirs.sum(0))
    if dtype != "bool":
        assert_like_torch(ours.prod(1), theirs.prod(1))


def test_var_std_correction_and_mean_errors() -> None:
    data = np.arange(12.0).reshape(3, 4)
    e, t = engine.tensor(data, dtype=engine.float32), torch.tensor(data, dtype=torch.float32)
    assert_like_torch(e.var(1, unbiased=False), t.var(1, unbiased=False))
    assert_like_torch(e.std(0, keepdim=True), t.std(0, keepdim=True))
    assert_like_torch(e.var(correction=0), t.var(correction=0))
    with pytest.raises(RuntimeError, match=r"mean\(\): input dtype must be floating point.*"
                                           r"\.float\(\)"):
        engine.tensor([1, 2]).mean()
    with pytest.raises(IndexError, match=r"dimension out of range: got dim=3 .* 2 dimension"):
        e.sum(3)


def test_any_all_isnan_isfinite() -> None:
    data = [[0.0, float("nan")], [float("inf"), 1.0]]
    e, t = engine.tensor(data), torch.tensor(data)
    assert_like_torch(e.isnan(), t.isnan())
    assert_like_torch(e.isfinite(), t.isfinite())
    assert_like_torch((e > 0).any(1), (t > 0).any(1))
    assert_like_torch((e > 0).all(), (t > 0).all())


# ----------------------------------------------------------------------------- shape ops

@pytest.mark.parametrize("call", [
    lambda m, x: x.reshape(4, -1), lambda m, x: x.reshape((2, 12)), lambda m, x: x.view(-1),
    lambda m, x: x.view(2, 3, 4), lambda m, x: x.flatten(), lambda m, x: x.flatten(1),
    lambda m, x: x.flatten(0, 1), lambda m, x: x.flatten(-2, -1), lambda m, x: x.transpose(0, 2),
    lambda m, x: x.transpose(-1, -2), lambda m, x: x.permute(2, 0, 1),
    lambda m, x: x.permute((1, 2, 0)), lambda m, x: x.unsqueeze(0), lambda m, x: x.unsqueeze(-1),
    lambda m, x: x.unsqueeze(1).squeeze(), lambda m, x: x[:, :1].squeeze(1),
    lambda m, x: x[:1, :, :1].squeeze((0, 2)), lambda m, x: x[:, :1].expand(2, 3, 4),
    lambda m, x: x[:, :1].expand(-1, 5, -1), lambda m, x: x[0, 0].expand(3, 2, 4),
    lambda m, x: x.repeat(2, 1, 1), lambda m, x: x[0].repeat(2, 1, 3),
    lambda m, x: x.split(1), lambda m, x: x.split(3, dim=-1), lambda m, x: x.split([1, 2], 1),
    lambda m, x: x.chunk(2, 2), lambda m, x: x.chunk(3, 1), lambda m, x: x.chunk(4, -1),
    lambda m, x: x.reshape(-1).chunk(5), lambda m, x: x.reshape(6, 4).chunk(4),
    lambda m, x: x.reshape(-1).split(7),
    lambda m, x: m.cat([x, x * 2], 0), lambda m, x: m.cat([x, x[:, :1]], dim=1),
    lambda m, x: m.cat((x, x), -1), lambda m, x: m.stack([x, x + 1]),
    lambda m, x: m.stack([x, x], dim=-1), lambda m, x: m.stack([x, x], 1),
    lambda m, x: x.T if x.ndim == 2 else x.permute(2, 1, 0), lambda m, x: x[0].t(),
    lambda m, x: x.contiguous(), lambda m, x: x.unflatten(2, (2, 2)),
], ids=lambda c: "")
def test_shape_ops_match_torch(call) -> None:
    data = np.arange(24.0).reshape(2, 3, 4)
    assert_like_torch(call(engine, engine.tensor(data, dtype=engine.float32)),
                      call(torch, torch.tensor(data, dtype=torch.float32)))


def test_views_share_memory_like_torch() -> None:
    x = engine.zeros(2, 3)
    v = x.view(6)
    v[1] = 5.0
    assert x[0, 1].item() == 5.0
    x.t()[2, 1] = 7.0
    assert x[1, 2].item() == 7.0
    x[0].fill_(1.0)
    assert x.tolist()[0] == [1.0, 1.0, 1.0]


def test_shape_errors_name_the_shapes() -> None:
    x = engine.zeros(2, 3)
    with pytest.raises(engine.ShapeError, match=r"tensor 1 has shape \(2, 4\) .* \(2, 3\)"):
        engine.cat([x, engine.zeros(2, 4)], 0)
    with pytest.raises(engine.ShapeError, match=r"stack\(\): tensor 1 has shape \(3, 2\)"):
        engine.stack([x, engine.zeros(3, 2)])
    with pytest.raises(RuntimeError, match=r"size 3 of dimension 1 cannot be expanded to 4"):
        x.expand(2, 4)
    with pytest.raises(RuntimeError, match=r"matmul: shapes \(2, 3\) and \(2, 3\) cannot be "
                                           r"multiplied.*\(3\).*\(2\)"):
        x @ x
    with pytest.raises(ValueError, match=r"sections \[1, 1\] sum to 2 but dimension 0 has size 2"
                                         r"|sum to 2"):
        engine.zeros(3).split([1, 1])
    with pytest.raises(RuntimeError, match=r"permute\(\): got 1 dims .* 2 dimensions"):
        x.permute(0)
    with pytest.raises(IndexError, match=r"unsqueeze\(\): dim 4 out of range"):
        x.unsqueeze(4)
    with pytest.raises(ValueError, match="non-empty"):
        engine.cat([])


@pytest.mark.parametrize("op,name", [
    (lambda a, b: a + b, "add"), (lambda a, b: a * b, "mul"), (lambda a, b: b - a, "sub"),
    (lambda a, b: engine.maximum(a, b), "maximum"), (lambda a, b: engine.where(a > 0, a, b),
                                                     "where"),
])
def test_broadcast_errors_name_op_shapes_dimension_and_fix(op, name: str) -> None:
    a, b = engine.ones(2, 3, requires_grad=True), engine.ones(4)
    with pytest.raises(engine.ShapeError, match=rf"{name}: shapes \((2, 3|4,)\) and \((4,|2, 3)\) "
                                                 r"can't be broadcast together: .*dimension \d .*"
                                                 r"Fix: .*unsqueeze"):
        op(a, b)


def test_cat_and_stack_promote_dtypes_like_torch() -> None:
    assert_like_torch(engine.cat([engine.tensor([1, 2]), engine.tensor([0.5])]),
                      torch.cat([torch.tensor([1, 2]), torch.tensor([0.5])]))
    assert_like_torch(
        engine.stack([engine.tensor([1.0]), engine.tensor([2.0], dtype=engine.float64)]),
        torch.stack([torch.tensor([1.0]), torch.tensor([2.0], dtype=torch.float64)]))


# ----------------------------------------------------------------------------- indexing

_INDEXES = [
    lambda m: 1, lambda m: -1, lambda m: (0, 2), lambda m: (1, -1, 0), lambda m: slice(1, None),
    lambda m: (slice(None), slice(0, 3, 2)), lambda m: (None, 0), lambda m: (Ellipsis, 1),
    lambda m: (0, Ellipsis, None), lambda m: [0, 0, 1], lambda m: m.tensor([1, 0, 1]),
    lambda m: (slice(None), [2, 0, 2]), lambda m: ([0, 1], [1, 2]),
    lambda m: (m.tensor([[0], [1]]), m.tensor([0, 2])), lambda m: (1, [0, 2], slice(1, 3)),
    lambda m: m.tensor([True, False]), lambda m: (slice(None), m.tensor([False, True, True])),
]


@pytest.mark.parametrize("make_index", _INDEXES, ids=lambda c: "")
def test_getitem_matches_torch(make_index) -> None:
    data = np.arange(24.0).reshape(2, 3, 4)
    assert_like_torch(engine.tensor(data, dtype=engine.float32)[make_index(engine)],
                      torch.tensor(data, dtype=torch.float32)[make_index(torch)])


def test_boolean_mask_indexing_matches_torch() -> None:
    data = np.random.default_rng(2).standard_normal((3, 4))
    e, t = engine.tensor(data, dtype=engine.float32), torch.tensor(data, dtype=torch.float32)
    assert_like_torch(e[e > 0], t[t > 0])
    assert_like_torch(e[(e > 0).any(1)], t[(t > 0).any(1)])


@pytest.mark.parametrize("assign", [
    lambda m, x: x.__setitem__(0, 5.0), lambda m, x: x.__setitem__((slice(None), 1), -1),
    lambda m, x: x.__setitem__(x > 5, 0.0), lambda m, x: x.__setitem__([0, 2], m.ones(4)),
    lambda m, x: x.__setitem__((Ellipsis, 0), m.tensor([7.0, 8.0, 9.0])),
    lambda m, x: x.__setitem__(slice(0, 2), m.tensor([[1.0], [2.0]])),
    lambda m, x: x.__setitem__((1, 1), m.tensor(3.5, dtype=m.float64)),
], ids=lambda c: "")
def test_setitem_matches_torch(assign) -> None:
    data = np.arange(12.0).reshape(3, 4)
    e, t = engine.tensor(data, dtype=engine.float32), torch.tensor(data, dtype=torch.float32)
    assign(engine, e)
    assign(torch, t)
    assert_like_torch(e, t)


def test_index_errors_are_clear() -> None:
    x = engine.zeros(3)
    with pytest.raises(IndexError, match=r"integer or bool tensors, got float32.*\.long\(\)"):
        x[engine.tensor([0.0])]
    with pytest.raises(IndexError):
        x[5]
