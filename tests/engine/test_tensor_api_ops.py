"""The Tensor methods and top-level functions PyTorch programs use most, each against PyTorch
(values, dtypes, shapes and gradients, through the one reference helper) and, where
differentiable, against finite differences in float64."""

from __future__ import annotations

import numpy as np
import pytest
from torch_reference import assert_like_torch, check, torch_or_skip

import engine

RNG = np.random.default_rng(7)
IDX = np.array([[0, 2, 1], [1, 1, 0]])  # a repeat: gather's gradient accumulates
IDX_DISTINCT = np.array([[0, 2, 1], [3, 1, 0]])  # scatter writes each place once
DISTINCT = RNG.permutation(24).reshape(4, 6).astype(np.float64) / 7  # no ties: stable orders
POS = RNG.uniform(0.5, 2.0, (3, 4))

DIFFERENTIABLE = [
    ("mm", lambda m, a, b: a.mm(b), [(3, 4), (4, 2)]),
    ("torch_mm", lambda m, a, b: m.mm(a, b), [(3, 4), (4, 2)]),
    ("bmm", lambda m, a, b: m.bmm(a, b), [(2, 3, 4), (2, 4, 2)]),
    ("dot", lambda m, a, b: m.dot(a, b), [(5,), (5,)]),
    ("mv", lambda m, a, b: a.mv(b), [(3, 4), (4,)]),
    ("outer", lambda m, a, b: m.outer(a, b), [(3,), (4,)]),
    ("addmm", lambda m, c, a, b: m.addmm(c, a, b, beta=0.5, alpha=2.0), [(3, 2), (3, 4), (4, 2)]),
    ("matmul_kw", lambda m, a, b: m.matmul(input=a, other=b), [(3, 4), (4, 2)]),
    ("einsum_mm", lambda m, a, b: m.einsum("ij,jk->ik", a, b), [(3, 4), (4, 2)]),
    ("einsum_batch", lambda m, a, b: m.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 5)]),
    ("einsum_implicit", lambda m, a, b: m.einsum("ij,kj", a, b), [(3, 4), (2, 4)]),
    ("einsum_ellipsis", lambda m, a, b: m.einsum("...ij,...j->...i", a, b), [(2, 3, 4), (2, 4)]),
    ("einsum_sum_only", lambda m, a, b: m.einsum("ij,j->", a, b), [(3, 4), (4,)]),
    ("einsum_list", lambda m, a, b: m.einsum("i,j->ij", [a, b]), [(3,), (2,)]),
    ("tensordot", lambda m, a, b: m.tensordot(a, b, dims=2), [(2, 3, 4), (3, 4, 5)]),
    ("tensordot_pairs", lambda m, a, b: m.tensordot(a, b, dims=([0], [1])), [(3, 4), (2, 3)]),
    ("norm", lambda m, x: x.norm(), [(3, 4)]),
    ("norm_dim", lambda m, x: x.norm(dim=1, keepdim=True), [(3, 4)]),
    ("norm_p1", lambda m, x: m.norm(x, p=1, dim=0), [(3, 4)]),
    ("norm_p3", lambda m, x: x.norm(p=3, dim=-1), [(3, 4)]),
    ("norm_inf", lambda m, x: x.norm(p=float("inf")), [DISTINCT]),
    ("linalg_norm", lambda m, x: m.linalg.norm(x), [(3, 4)]),
    ("vector_norm", lambda m, x: m.linalg.vector_norm(x, ord=2, dim=1), [(3, 4)]),
    ("matrix_norm", lambda m, x: m.linalg.matrix_norm(x), [(2, 3, 4)]),
    ("cdist", lambda m, a, b: m.cdist(a, b), [(4, 3), (5, 3)]),
    ("narrow", lambda m, x: x.narrow(1, 1, 2), [(3, 4)]),
    ("torch_narrow", lambda m, x: m.narrow(x, 0, -2, 2), [(3, 4)]),
    ("unbind", lambda m, x: x.unbind(1), [(3, 2)]),
    ("masked_fill", lambda m, x: x.masked_fill(x > 0, -1.5), [(3, 4)]),
    ("masked_fill_bcast", lambda m, x, k: x.masked_fill(k, 0.0),
     [(3, 4), np.array([True, False, True, False])]),
    ("masked_fill_", lambda m, x: (x * 1).masked_fill_(x < 0, 2.0), [(3, 4)]),
    ("gather", lambda m, x, i: x.gather(1, i), [(2, 4), IDX]),
    ("torch_gather", lambda m, x, i: m.gather(x, 0, i), [(3, 3), IDX]),
    ("scatter", lambda m, x, i, s: x.scatter(1, i, s), [(2, 4), IDX_DISTINCT, (2, 3)]),
    ("scatter_value", lambda m, x, i: x.scatter(1, i, 0.5), [(2, 4), np.array([[0], [3]])]),
    ("scatter_add", lambda m, x, i, s: x.scatter_add(1, i, s), [(2, 4), IDX, (2, 3)]),
    ("scatter_", lambda m, x, i, s: (x * 1).scatter_(1, i, s), [(2, 4), IDX_DISTINCT, (2, 3)]),
    ("index_select", lambda m, x, i: x.index_select(1, i), [(3, 4), np.array([2, 0, 2])]),
    ("torch_index_select", lambda m, x, i: m.index_select(x, 0, i), [(3, 4), np.array([1])]),
    ("masked_select", lambda m, x: m.masked_select(x, x > 0), [(3, 4)]),
    ("masked_select_bcast", lambda m, x, k: x.masked_select(k), [(3, 4), np.array([1, 0, 1, 1],
                                                                                  dtype=bool)]),
    ("sort", lambda m, x: x.sort(dim=1), [DISTINCT]),
    ("sort_desc", lambda m, x: m.sort(x, dim=0, descending=True), [DISTINCT]),
    ("topk", lambda m, x: x.topk(3), [DISTINCT]),
    ("topk_small", lambda m, x: m.topk(x, 2, dim=0, largest=False), [DISTINCT]),
    ("kthvalue", lambda m, x: x.kthvalue(2, dim=1), [DISTINCT]),
    ("cumsum", lambda m, x: x.cumsum(1), [(3, 4)]),
    ("torch_cumsum", lambda m, x: m.cumsum(x, dim=0), [(3, 4)]),
    ("cumprod", lambda m, x: x.cumprod(1), [(3, 4)]),
    ("cumprod_zeros", lambda m, x: x.cumprod(1), [np.array([[1.5, 0.0, 2.0, -1.0],
                                                            [0.0, 0.0, 3.0, 2.0]])]),
    ("roll", lambda m, x: x.roll(1, 1), [(3, 4)]),
    ("roll_multi", lambda m, x: m.roll(x, (1, -2), (0, 1)), [(3, 4)]),
    ("roll_flat", lambda m, x: x.roll(5), [(3, 4)]),
    ("flip", lambda m, x: x.flip(0, 1), [(3, 4)]),
    ("torch_flip", lambda m, x: m.flip(x, [1]), [(3, 4)]),
    ("tril", lambda m, x: x.tril(), [(4, 4)]),
    ("triu_k", lambda m, x: m.triu(x, 1), [(2, 3, 4)]),
    ("tril_neg", lambda m, x: m.tril(x, diagonal=-1), [(4, 3)]),
    ("diag_vec", lambda m, x: m.diag(x, 1), [(3,)]),
    ("diag_mat", lambda m, x: x.diag(), [(3, 4)]),
    ("diag_mat_k", lambda m, x: m.diag(x, -1), [(4, 3)]),
    ("trace", lambda m, x: x.trace(), [(3, 4)]),
    ("neg", lambda m, x: m.neg(x) + x.neg() + x.negative(), [(3, 4)]),
    ("square", lambda m, x: m.square(x), [(3, 4)]),
    ("reciprocal", lambda m, x: x.reciprocal(), [POS]),
    ("log1p", lambda m, x: m.log1p(x), [POS]),
    ("expm1", lambda m, x: x.expm1(), [(3, 4)]),
    ("erf", lambda m, x: m.erf(x), [(3, 4)]),
    ("log2_log10", lambda m, x: x.log2() + m.log10(x), [POS]),
    ("floor", lambda m, x: m.floor(x * 3) + x, [(3, 4)]),
    ("round", lambda m, x: m.round(x * 3) + x.ceil() + x.trunc() + x.frac(), [(3, 4)]),
    ("round_decimals", lambda m, x: x.round(decimals=2) + x, [(3, 4)]),
    ("clamp_min", lambda m, x: x.clamp_min(0.1) + m.clamp_max(x, 0.2), [(3, 4)]),
    ("lerp", lambda m, a, b: m.lerp(a, b, 0.3), [(3, 4), (3, 4)]),
    ("lerp_tensor", lambda m, a, b, w: a.lerp(b, w), [(3, 4), (3, 4), (4,)]),
    ("addcmul", lambda m, x, a, b: x.addcmul(a, b, value=0.5), [(3,), (3,), (3,)]),
    ("addcdiv", lambda m, x, a, b: m.addcdiv(x, a, b, value=2), [(3,), (3,), POS[0, :3]]),
    ("exp_", lambda m, x: (x * 1).exp_(), [(3, 4)]),
    ("pow_", lambda m, x: (x * 1).pow_(3), [(3, 4)]),
    ("sqrt_", lambda m, x: (x * 1).sqrt_(), [POS]),
    ("abs_", lambda m, x: (x * 1).abs_(), [(3, 4)]),
    ("neg_", lambda m, x: (x * 2).neg_(), [(3, 4)]),
    ("log_", lambda m, x: (x + 0).log_(), [POS]),
    ("mT", lambda m, x: x.mT, [(2, 3, 4)]),
    ("repeat_interleave", lambda m, x: x.repeat_interleave(2, dim=0), [(2, 3)]),
    ("hstack", lambda m, a, b: m.hstack([a, b]), [(2, 3), (2, 1)]),
    ("vstack", lambda m, a, b: m.vstack([a, b]), [(3,), (3,)]),
    ("concat", lambda m, a, b: m.concat([a, b], dim=1), [(2, 3), (2, 1)]),
    ("meshgrid", lambda m, a, b: m.meshgrid(a, b, indexing="ij"), [(3,), (2,)]),
    ("meshgrid_xy", lambda m, a, b: m.meshgrid(a, b, indexing="xy"), [(3,), (2,)]),
    ("fmod", lambda m, x: x.fmod(0.7), [(3, 4)]),
    ("where_methods", lambda m, x: m.where(x > 0, x, m.zeros_like(x)), [(3, 4)]),
]


@pytest.mark.parametrize("fn,inputs", [c[1:] for c in DIFFERENTIABLE],
                         ids=[c[0] for c in DIFFERENTIABLE])
def test_matches_torch_with_gradients(fn, inputs) -> None:
    check(fn, inputs)


@pytest.mark.parametrize("fn,inputs", [c[1:] for c in DIFFERENTIABLE[:20]],
                         ids=[c[0] for c in DIFFERENTIABLE[:20]])
def test_float32_matches_torch(fn, inputs) -> None:
    check(fn, inputs, dtype=np.float32, rtol=1e-5, atol=1e-5, gradcheck=False)


def test_on_every_device(device: str) -> None:
    for name in ("gather", "scatter_add", "cumsum", "sort", "einsum_batch", "norm_dim", "tril"):
        _, fn, inputs = next(c for c in DIFFERENTIABLE if c[0] == name)
        check(fn, inputs, device=device, gradcheck=False)


VALUES = [
    ("argsort", lambda m, x: x.argsort(dim=1), [DISTINCT]),
    ("argsort_ties_stable", lambda m, x: m.argsort(x, dim=1, stable=True, descending=True),
     [np.array([[1.0, 3.0, 3.0, 2.0, 3.0]])]),
    ("sort_ties_stable", lambda m, x: m.sort(x, stable=True),
     [np.array([[2.0, 1.0, 2.0, 1.0]])]),
    ("unique", lambda m, x: m.unique(x), [np.array([3, 1, 3, 2, 1])]),
    ("unique_inverse_counts", lambda m, x: x.unique(return_inverse=True, return_counts=True),
     [np.array([[3, 1], [3, 2]])]),
    ("nonzero", lambda m, x: m.nonzero(x), [np.array([[0, 1.5], [2.0, 0]])]),
    ("nonzero_tuple", lambda m, x: x.nonzero(as_tuple=True), [np.array([[0, 1], [1, 1]])]),
    ("where_one_arg", lambda m, x: m.where(x > 0), [np.array([[0.0, 1.0], [-1.0, 2.0]])]),
    ("isinf", lambda m, x: m.isinf(x / 0.0), [np.array([1.0, 0.0, -2.0])]),
    ("count_nonzero", lambda m, x: m.count_nonzero(x, dim=0), [np.array([[0, 1], [2, 0], [3, 4]])]),
    ("count_nonzero_all", lambda m, x: x.count_nonzero(), [np.array([[0, 1], [2, 0]])]),
    ("bincount", lambda m, x: m.bincount(x), [np.array([0, 3, 3, 1])]),
    ("bincount_weights", lambda m, x, w: x.bincount(w, minlength=6),
     [np.array([0, 3, 3, 1]), np.array([0.5, 1.0, 2.0, 1.5], dtype=np.float32)]),
    ("histc", lambda m, x: m.histc(x, bins=4, min=0, max=3),
     [np.array([0.0, 1.0, 1.5, 2.9, 3.0, 5.0], dtype=np.float32)]),
    ("cumsum_int", lambda m, x: x.cumsum(0), [np.array([1, 2, 3], dtype=np.int32)]),
    ("stride", lambda m, x: x.stride(), [np.zeros((2, 3, 4))]),
    ("stride_t", lambda m, x: x.t().stride(1), [np.zeros((2, 3))]),
    ("type_name", lambda m, x: x.type(), [np.zeros(2, dtype=np.float32)]),
    ("type_long", lambda m, x: x.type(m.LongTensor), [np.array([1.7, -2.2])]),
    ("type_string", lambda m, x: x.type("torch.IntTensor"), [np.array([1.7, -2.2])]),
    ("type_dtype", lambda m, x: x.type(m.float16), [np.array([1.5])]),
    ("allclose", lambda m, x: m.allclose(x, x + 1e-9), [np.ones(3)]),
    ("allclose_not", lambda m, x: x.allclose(x + 1), [np.ones(3)]),
    ("equal", lambda m, x: m.equal(x, x.clone()), [np.ones(3)]),
    ("not_equal_shape", lambda m, x: m.equal(x, x[:2]), [np.ones(3)]),
    ("isclose", lambda m, x: m.isclose(x, x * (1 + 1e-7)), [np.ones(3)]),
    ("new_zeros", lambda m, x: x.new_zeros(2, 3), [np.ones(2, dtype=np.float64)]),
    ("new_ones", lambda m, x: x.new_ones((2,)), [np.ones(2, dtype=np.int32)]),
    ("new_full", lambda m, x: x.new_full((2, 2), 7), [np.ones(2, dtype=np.float64)]),
    ("new_tensor", lambda m, x: x.new_tensor([1, 2]), [np.ones(2, dtype=np.float64)]),
    ("new_empty_shape", lambda m, x: x.new_empty(3, 1).shape, [np.ones(2)]),
    ("logspace", lambda m: m.logspace(0, 2, 3), []),
    ("logspace_base", lambda m: m.logspace(-1, 1, 5, base=2.0, dtype=m.float64), []),
    ("Tensor_sizes", lambda m: m.Tensor(2, 3).shape, []),
    ("Tensor_data", lambda m: m.Tensor([1, 2]), []),
    ("FloatTensor", lambda m: m.FloatTensor([1, 2]), []),
    ("LongTensor", lambda m: m.LongTensor([1, 2]), []),
    ("LongTensor_sizes", lambda m: m.LongTensor(3).shape, []),
    ("Size", lambda m: m.zeros(2, 3).size(), []),
    ("Size_slice", lambda m: m.zeros(2, 3, 4).shape[1:], []),
    ("numel_of_size", lambda m: m.zeros(2, 3).shape.numel(), []),
    ("randint_size_kw", lambda m: m.randint(5, size=(2, 3)).shape, []),
    ("randint_dtype", lambda m: m.randint(0, 5, (2,), dtype=m.int32).dtype == m.int32, []),
    ("clamp_min_int", lambda m, x: x.clamp_min(2), [np.array([1, 3])]),
    ("floor_int", lambda m, x: m.floor(x), [np.array([1, 3])]),
]


@pytest.mark.parametrize("fn,inputs", [c[1:] for c in VALUES], ids=[c[0] for c in VALUES])
def test_values_match_torch(fn, inputs) -> None:
    check(fn, inputs, dtype=None, grad=False)


def test_printing_matches_torch() -> None:
    torch = torch_or_skip()
    cases = [lambda m: m.tensor([[0.1, 0.9]]), lambda m: m.tensor([1.0, 2.0]),
             lambda m: m.tensor([1e-5, 1.0]), lambda m: m.tensor(0.5),
             lambda m: m.tensor([True, False]), lambda m: m.tensor([1, 2, 3]),
             lambda m: m.zeros(2, 2, dtype=m.float64), lambda m: m.tensor([]),
             lambda m: m.zeros(0, 3), lambda m: m.tensor([float("nan"), 1.5]),
             lambda m: m.tensor([[1.0, -2.5], [3.25, 4.0]]), lambda m: m.tensor([123456.0, 1.5]),
             lambda m: m.arange(2000.0), lambda m: m.ones(2, dtype=m.int32),
             lambda m: m.tensor([1.0, 2.0], requires_grad=True)]
    for make in cases:
        assert repr(make(engine)) == repr(make(torch)).replace("torch.", "engine.")
    assert str(engine.float32) == "engine.float32" and repr(engine.int64) == "engine.int64"
    assert repr(engine.zeros(2, 3).shape) == "engine.Size([2, 3])"


def test_printoptions_like_torch() -> None:
    torch = torch_or_skip()
    try:
        for m in (engine, torch):
            m.set_printoptions(precision=2)
        assert repr(engine.tensor([1.23456, 2.5])) == repr(torch.tensor([1.23456, 2.5]))
        for m in (engine, torch):
            m.set_printoptions(sci_mode=True)
        assert repr(engine.tensor([1.5, 2.5])) == repr(torch.tensor([1.5, 2.5]))
    finally:
        for m in (engine, torch):
            m.set_printoptions(profile="default")
            m.set_printoptions(sci_mode=None)


def test_finfo_iinfo_match_torch() -> None:
    torch = torch_or_skip()
    for dt in ("float32", "float64", "float16"):
        ours, theirs = engine.finfo(getattr(engine, dt)), torch.finfo(getattr(torch, dt))
        for attr in ("eps", "max", "min", "tiny", "bits", "resolution"):
            assert getattr(ours, attr) == pytest.approx(getattr(theirs, attr))
    for dt in ("int64", "int32", "uint8", "int8"):
        ours, theirs = engine.iinfo(getattr(engine, dt)), torch.iinfo(getattr(torch, dt))
        assert (ours.min, ours.max, ours.bits) == (theirs.min, theirs.max, theirs.bits)


def test_dtypes_compare_with_numpy_and_names() -> None:
    assert engine.float32 == np.float32 and engine.float32 == np.dtype("float32")
    assert engine.zeros(2).dtype is engine.float32 and engine.float == engine.float32
    assert np.zeros(2, dtype=engine.float64).dtype == np.float64
    assert engine.float32.is_floating_point and not engine.int64.is_floating_point
    assert engine.int64.itemsize == 8 and engine.bfloat16.is_floating_point


def test_legacy_types_isinstance_like_torch() -> None:
    torch = torch_or_skip()
    for m in (engine, torch):
        assert isinstance(m.zeros(2), m.FloatTensor)
        assert not isinstance(m.zeros(2), m.LongTensor)
        assert isinstance(m.zeros(2, dtype=m.int64), m.LongTensor)


def test_out_argument_like_torch() -> None:
    torch = torch_or_skip()
    results = []
    for m in (engine, torch):
        a, b = m.ones(2, 3), m.full((3, 2), 2.0)
        out = m.empty(2, 2)
        r = m.mm(a, b, out=out)
        resized = m.empty(0)
        m.add(a, 1, out=resized)
        c = m.zeros(4)
        m.randn(4, out=c)
        results.append((r is out, out, resized, c.shape))
    assert results[0][0] and results[1][0]
    assert_like_torch(results[0][1:3], results[1][1:3])
    assert results[0][3] == results[1][3]
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        engine.mul(engine.ones(2), 2, out=engine.zeros(2, requires_grad=True))


def test_generator_streams_are_reproducible_and_independent() -> None:
    g1, g2 = engine.Generator().manual_seed(3), engine.Generator().manual_seed(3)
    a = engine.randn(5, generator=g1)
    engine.manual_seed(0)
    engine.randn(100)  # the global stream does not disturb a Generator's
    b = engine.randn(5, generator=g2)
    assert engine.equal(a, b)
    assert engine.equal(engine.randperm(6, generator=g1.manual_seed(1)),
                        engine.randperm(6, generator=g2.manual_seed(1)))
    assert g1.initial_seed() == 1
    state = g1.get_state()
    x = engine.rand(3, generator=g1)
    g1.set_state(state)
    assert engine.equal(x, engine.rand(3, generator=g1))
    s = engine.seed()
    assert engine.initial_seed() == s


def test_generator_drives_data_and_random_split() -> None:
    from engine.utils.data import DataLoader, TensorDataset, random_split

    ds = TensorDataset(engine.arange(10))
    splits = [random_split(ds, [7, 3], generator=engine.Generator().manual_seed(5))
              for _ in range(2)]
    assert list(splits[0][0].indices) == list(splits[1][0].indices)
    orders = [[int(x) for (x,) in DataLoader(ds, shuffle=True, batch_size=1,
                                            generator=engine.Generator().manual_seed(2))]
              for _ in range(2)]
    assert orders[0] == orders[1] and sorted(orders[0]) == list(range(10))


@pytest.mark.parametrize("draw", [
    lambda m, g: m.multinomial(m.tensor([0.1, 0.0, 0.9]), 5, replacement=True, generator=g),
    lambda m, g: m.multinomial(m.tensor([[1.0, 1.0, 1.0, 1.0]]), 4, generator=g),
    lambda m, g: m.normal(m.zeros(3), m.ones(3), generator=g),
    lambda m, g: m.normal(2.0, 3.0, size=(4,), generator=g),
    lambda m, g: m.bernoulli(m.full((6,), 0.5), generator=g),
    lambda m, g: m.rand(3, generator=g),
    lambda m, g: m.randint(0, 5, (3,), generator=g),
], ids=["multinomial", "multinomial_no_repl", "normal_tensors", "normal_numbers", "bernoulli",
        "rand", "randint"])
def test_random_functions_match_torch_in_kind(draw) -> None:
    """The streams differ from PyTorch's; shapes, dtypes and supports must not."""
    torch = torch_or_skip()
    ours = draw(engine, engine.Generator().manual_seed(0))
    theirs = draw(torch, torch.Generator().manual_seed(0))
    assert tuple(ours.shape) == tuple(theirs.shape) and str(ours.dtype).split(".")[1] == \
        str(theirs.dtype).split(".")[1]


def test_random_function_supports() -> None:
    g = engine.Generator().manual_seed(1)
    draws = engine.multinomial(engine.tensor([0.1, 0.0, 0.9]), 2000, replacement=True,
                               generator=g)
    assert not (draws == 1).any() and 0.85 < float((draws == 2).float().mean()) < 0.95
    no_repeat = engine.multinomial(engine.ones(4), 4, generator=g)
    assert sorted(no_repeat.tolist()) == [0, 1, 2, 3]
    b = engine.bernoulli(engine.tensor([0.0, 1.0] * 50), generator=g)
    assert b.tolist() == [0.0, 1.0] * 50
    n = engine.normal(5.0, 2.0, size=(4000,), generator=g)
    assert abs(float(n.mean()) - 5) < 0.15 and abs(float(n.std()) - 2) < 0.15


def test_default_dtype_and_device_and_threads() -> None:
    torch = torch_or_skip()
    try:
        for m in (engine, torch):
            m.set_default_dtype(m.float64)
        assert_like_torch(engine.tensor([1.5]), torch.tensor([1.5]))
        assert_like_torch(engine.zeros(2), torch.zeros(2))
        assert engine.get_default_dtype() == engine.float64
    finally:
        for m in (engine, torch):
            m.set_default_dtype(m.float32)
    engine.set_default_device("cpu")
    assert engine.zeros(1).device == "cpu"
    engine.set_default_device(None)
    n = engine.get_num_threads()
    engine.set_num_threads(1)
    assert engine.get_num_threads() == 1
    engine.set_num_threads(n)


def test_inference_mode_like_no_grad() -> None:
    x = engine.ones(2, requires_grad=True)
    with engine.inference_mode():
        assert not (x * 2).requires_grad and engine.is_inference_mode_enabled()
    with engine.inference_mode(False):
        assert (x * 2).requires_grad

    @engine.inference_mode()
    def f(t):
        return t * 2

    @engine.inference_mode
    def g(t):
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad and (x * 2).requires_grad


def test_aliases_resolve_like_torch_paths() -> None:
    import engine.utils.data as ud
    from engine.utils.data.distributed import DistributedSampler

    assert ud.DataLoader is engine.data.DataLoader and DistributedSampler is not None
    assert engine.multiprocessing.spawn is not None and engine.multiprocessing.cpu_count() >= 1
    assert engine.accelerator.is_available() == engine.cuda.is_available()
    assert engine.accelerator.current_accelerator() is None or engine.cuda.is_available()
    assert engine.testing.assert_close is not None


def test_assert_close_tolerances_like_torch() -> None:
    torch = torch_or_skip()
    for m in (engine, torch):
        m.testing.assert_close(m.tensor([1.0, 2.0]), m.tensor([1.0, 2.0 + 1e-6]))
        with pytest.raises(AssertionError, match="not close"):
            m.testing.assert_close(m.tensor([1.0, 2.0]), m.tensor([1.0, 2.1]))
        with pytest.raises(AssertionError, match="dtype"):
            m.testing.assert_close(m.tensor([1.0]), m.tensor([1.0], dtype=m.float64))
        m.testing.assert_close(m.tensor([1, 2]), m.tensor([1, 2]))
        m.testing.assert_close({"a": m.ones(2)}, {"a": m.ones(2)}, rtol=0, atol=0)


def test_save_load_file_objects_and_nested_checkpoints(tmp_path) -> None:
    import io

    model = engine.nn.Sequential(engine.nn.Linear(3, 4), engine.nn.BatchNorm1d(4))
    opt = engine.optim.Adam(model.parameters(), lr=0.1)
    model(engine.randn(5, 3)).sum().backward()
    opt.step()
    ckpt = {"epoch": 3, "model_state_dict": model.state_dict(),
            "optimizer_state_dict": opt.state_dict(), "loss": engine.tensor(0.25),
            "history": [0.5, 0.25], "args": {"lr": 0.1, "name": "run", "betas": (0.9, 0.99)}}
    buf = io.BytesIO()
    engine.save(ckpt, buf)
    buf.seek(0)
    back = engine.load(buf, map_location="cpu", weights_only=True)
    assert back["epoch"] == 3 and back["args"]["betas"] == (0.9, 0.99)
    engine.testing.assert_close(back["model_state_dict"], dict(model.state_dict()))
    with open(tmp_path / "ck.pt", "wb") as f:
        engine.save(ckpt, f)
    with open(tmp_path / "ck.pt", "rb") as f:
        again = engine.load(f, map_location=lambda storage, loc: storage, weights_only=False)
    opt2 = engine.optim.Adam(model.parameters(), lr=0.1)
    opt2.load_state_dict(again["optimizer_state_dict"])
    assert again["loss"].item() == 0.25
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        engine.load(io.BytesIO(b"\x80\x02garbage"))


def _spawned(rank: int, folder: str) -> None:
    import pathlib

    t = engine.ones(2) * (rank + 1)
    pathlib.Path(folder, f"rank{rank}").write_text(str(float(t.sum())))


def test_multiprocessing_spawn_runs_each_rank(tmp_path) -> None:
    engine.multiprocessing.spawn(_spawned, args=(str(tmp_path),), nprocs=2)
    assert sorted(p.read_text() for p in tmp_path.iterdir()) == ["2.0", "4.0"]


def test_bfloat16_tensors_with_ml_dtypes() -> None:
    pytest.importorskip("ml_dtypes")  # installed with the dev extra (onnx needs it)
    torch = torch_or_skip()
    x = engine.tensor([1.5, -2.25, 3.0], dtype=engine.bfloat16)
    assert x.dtype == engine.bfloat16 and (x * 2).dtype == engine.bfloat16
    assert_like_torch(x.float(), torch.tensor([1.5, -2.25, 3.0], dtype=torch.bfloat16).float())
    assert repr(x) == repr(torch.tensor([1.5, -2.25, 3.0], dtype=torch.bfloat16)).replace(
        "torch.", "engine.")


def test_backend_switches_scripts_set_exist() -> None:
    torch = torch_or_skip()
    for m in (engine, torch):
        m.backends.cudnn.benchmark = True
        assert m.backends.cudnn.benchmark is True
        m.backends.cudnn.benchmark = False
        assert m.backends.mps.is_available() in (False, True)
        m.set_float32_matmul_precision("high")
        assert m.get_float32_matmul_precision() == "high"
        m.set_float32_matmul_precision("highest")
    assert engine.backends.mps.is_available() is False
