"""Loss functions: gradients against finite differences (float64) and values and gradients
against PyTorch's formulas (weighted means, ignore_index, label smoothing, probability targets,
pos_weight), plus the error messages a user sees for bad targets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from torch_reference import check, torch_or_skip

import engine
import engine.nn.functional as F
from engine.autograd import gradcheck
from engine.errors import ShapeError

F64 = engine.float64
RNG = np.random.default_rng(99)


def arr(*shape: int, low: float | None = None, high: float | None = None) -> np.ndarray:
    return RNG.standard_normal(shape) if low is None else RNG.uniform(low, high, shape)


def classes(n: int, *shape: int) -> np.ndarray:
    return RNG.integers(0, n, shape)


def probs(*shape: int) -> np.ndarray:
    p = RNG.uniform(0.1, 1.0, shape)
    return p / p.sum(axis=1, keepdims=True)


def to_engine(a: Any) -> Any:
    if isinstance(a, np.ndarray):
        if a.dtype.kind == "f":
            return engine.tensor(a, dtype=F64, requires_grad=True)
        return engine.tensor(a)
    return a


W3 = np.array([0.2, 1.0, 3.0])
W4 = np.array([0.5, 2.0, 1.0, 0.1])
T_IGN = np.array([0, -100, 2, 1, -100])
T_IGN1 = np.array([1, 1, 0, 2, 1])  # ignore_index=1 (inside the class range)

# (id, loss kwargs, input arrays [input, target, *weight arrays]); the same call runs on
# engine.nn.functional and torch.nn.functional with the arrays converted.
CASES: list[tuple[str, str, dict[str, Any], list[Any]]] = [
    ("ce_mean", "cross_entropy", {}, [arr(5, 3), classes(3, 5)]),
    ("ce_sum", "cross_entropy", {"reduction": "sum"}, [arr(5, 3), classes(3, 5)]),
    ("ce_none", "cross_entropy", {"reduction": "none"}, [arr(5, 3), classes(3, 5)]),
    ("ce_weight", "cross_entropy", {"weight": W3}, [arr(5, 3), classes(3, 5)]),
    ("ce_weight_sum", "cross_entropy", {"weight": W3, "reduction": "sum"},
     [arr(5, 3), classes(3, 5)]),
    ("ce_ignore", "cross_entropy", {}, [arr(5, 3), T_IGN]),
    ("ce_ignore_in_range", "cross_entropy", {"ignore_index": 1}, [arr(5, 3), T_IGN1]),
    ("ce_weight_ignore_none", "cross_entropy", {"weight": W3, "reduction": "none"},
     [arr(5, 3), T_IGN]),
    ("ce_smooth", "cross_entropy", {"label_smoothing": 0.2}, [arr(5, 3), classes(3, 5)]),
    ("ce_smooth_weight_ignore", "cross_entropy",
     {"label_smoothing": 0.3, "weight": W3}, [arr(5, 3), T_IGN]),
    ("ce_smooth_weight_ignore_sum", "cross_entropy",
     {"label_smoothing": 0.3, "weight": W3, "reduction": "sum"}, [arr(5, 3), T_IGN]),
    ("ce_smooth_none", "cross_entropy", {"label_smoothing": 0.1, "reduction": "none"},
     [arr(4, 3), classes(3, 4)]),
    ("ce_nd", "cross_entropy", {}, [arr(2, 4, 3, 2), classes(4, 2, 3, 2)]),
    ("ce_nd_weight_smooth_none", "cross_entropy",
     {"weight": W4, "label_smoothing": 0.2, "reduction": "none"},
     [arr(2, 4, 3), classes(4, 2, 3)]),
    ("ce_1d", "cross_entropy", {}, [arr(4), np.array(2)]),
    ("ce_prob", "cross_entropy", {}, [arr(4, 3), probs(4, 3)]),
    ("ce_prob_weight_smooth", "cross_entropy", {"weight": W3, "label_smoothing": 0.25},
     [arr(4, 3), probs(4, 3)]),
    ("ce_prob_none", "cross_entropy", {"reduction": "none"}, [arr(4, 3), probs(4, 3)]),
    ("ce_prob_nd_sum", "cross_entropy", {"reduction": "sum"}, [arr(2, 3, 2), probs(2, 3, 2)]),
    ("nll_mean", "nll_loss", {}, [arr(5, 3), classes(3, 5)]),
    ("nll_weight_ignore", "nll_loss", {"weight": W3}, [arr(5, 3), T_IGN]),
    ("nll_none_nd", "nll_loss", {"reduction": "none"}, [arr(2, 3, 2), classes(3, 2, 2)]),
    ("mse", "mse_loss", {}, [arr(3, 4), arr(3, 4)]),
    ("mse_sum", "mse_loss", {"reduction": "sum"}, [arr(3, 4), arr(3, 4)]),
    ("mse_none", "mse_loss", {"reduction": "none"}, [arr(3, 4), arr(3, 4)]),
    ("l1", "l1_loss", {}, [arr(3, 4), arr(3, 4)]),
    ("l1_none", "l1_loss", {"reduction": "none"}, [arr(3, 4), arr(3, 4)]),
    ("bce", "binary_cross_entropy", {}, [arr(3, 4, low=0.05, high=0.95),
                                         arr(3, 4, low=0, high=1)]),
    ("bce_weight_sum", "binary_cross_entropy", {"weight": arr(4, low=0.5, high=2),
                                                "reduction": "sum"},
     [arr(3, 4, low=0.05, high=0.95), arr(3, 4, low=0, high=1)]),
    ("bce_logits", "binary_cross_entropy_with_logits", {}, [arr(3, 4) * 3,
                                                           arr(3, 4, low=0, high=1)]),
    ("bce_logits_pos_weight", "binary_cross_entropy_with_logits",
     {"pos_weight": arr(4, low=0.5, high=3), "weight": arr(3, 1, low=0.5, high=2)},
     [arr(3, 4) * 3, arr(3, 4, low=0, high=1)]),
    ("bce_logits_none", "binary_cross_entropy_with_logits", {"reduction": "none"},
     [arr(3, 4) * 3, arr(3, 4, low=0, high=1)]),
]


def _engine_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: engine.tensor(v, dtype=F64) if isinstance(v, np.ndarray) else v
            for k, v in kwargs.items()}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_gradcheck(case: tuple[str, str, dict[str, Any], list[Any]]) -> None:
    _, name, kwargs, arrays = case
    fn: Callable[..., Any] = getattr(F, name)
    kw = _engine_kwargs(kwargs)
    assert gradcheck(lambda *a: fn(*a, **kw), [to_engine(a) for a in arrays])


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_torch(case: tuple[str, str, dict[str, Any], list[Any]]) -> None:
    _, name, kwargs, arrays = case

    def fn(m: Any, *xs: Any) -> Any:
        kw = {k: m.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        return getattr(m.nn.functional, name)(*xs, **kw)

    check(fn, arrays, rtol=1e-8, atol=1e-12, gradcheck=False)


def test_cross_entropy_float32_matches_torch() -> None:
    torch = torch_or_skip()
    x = RNG.standard_normal((64, 10)).astype(np.float32) * 4
    y = RNG.integers(0, 10, 64)
    xe = engine.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xe, engine.tensor(y))
    loss.backward()
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(y))
    lt.backward()
    assert loss.dtype == engine.float32 and xe.grad.dtype == engine.float32
    np.testing.assert_allclose(loss.item(), lt.item(), rtol=1e-5)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=1e-7)


def test_cross_entropy_is_stable_for_huge_logits() -> None:
    x = engine.tensor([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]], requires_grad=True)
    loss = F.cross_entropy(x, engine.tensor([1, 2]), reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [1e4, np.log(3)], rtol=1e-6)
    loss.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_cross_entropy_all_ignored_gives_nan_like_torch() -> None:
    x = engine.randn(2, 3)
    assert np.isnan(F.cross_entropy(x, engine.tensor([-100, -100])).item())


def test_cross_entropy_target_out_of_range_names_value_and_classes() -> None:
    x = engine.randn(4, 10)
    with pytest.raises(IndexError, match=r"target class 12 is out of range for 10 classes "
                                         r"\(valid: 0\.\.9, or ignore_index=-100\)"):
        F.cross_entropy(x, engine.tensor([1, 12, 3, -100]))
    with pytest.raises(IndexError, match="target class -3 is out of range"):
        F.nll_loss(x, engine.tensor([1, -3, 3, 0]))


def test_cross_entropy_target_shape_mismatch_names_both_shapes() -> None:
    x = engine.randn(8, 10)
    with pytest.raises(ShapeError, match=r"target shape \(4,\) doesn't match input shape "
                                         r"\(8, 10\).*shape \(8,\)"):
        F.cross_entropy(x, engine.tensor([0, 1, 2, 3]))
    with pytest.raises(TypeError, match=r"must be an integer tensor.*target\.long\(\)"):
        F.cross_entropy(x, engine.zeros(8))
    with pytest.raises(ShapeError, match=r"weight must be a 1-D tensor.*\(10,\), got \(3,\)"):
        F.cross_entropy(x, engine.zeros(8, dtype=engine.int64), weight=engine.ones(3))


def test_loss_argument_errors() -> None:
    x = engine.randn(4, 3)
    t = engine.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match="'average' is not a valid value for reduction"):
        F.cross_entropy(x, t, reduction="average")
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0, got 1.5"):
        F.cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(ValueError, match="between 0 and 1; apply sigmoid first"):
        F.binary_cross_entropy(x, engine.rand(4, 3))
    with pytest.raises(ShapeError, match=r"target size \(4,\) must be the same as input size"):
        F.binary_cross_entropy_with_logits(x, engine.rand(4))
    with pytest.raises(ShapeError, match="can't be broadcast together"):
        F.mse_loss(x, engine.randn(5))


def test_mse_broadcast_warns_like_torch() -> None:
    x = engine.randn(4, 1, dtype=F64, requires_grad=True)
    t = engine.randn(4, dtype=F64)
    with pytest.warns(UserWarning, match="different to the input size"):
        loss = F.mse_loss(x, t)
    expected = ((x.detach().numpy() - t.numpy()) ** 2).mean()
    np.testing.assert_allclose(loss.item(), expected)


def test_legacy_size_average_reduce_args() -> None:
    x = engine.randn(4, 3)
    t = engine.tensor([0, 1, 2, 0])
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        loss = F.cross_entropy(x, t, size_average=False)
    np.testing.assert_allclose(loss.item(), F.cross_entropy(x, t, reduction="sum").item())


def test_bce_clamps_log_at_minus_100_like_torch() -> None:
    loss = F.binary_cross_entropy(engine.tensor([0.0, 1.0]), engine.tensor([1.0, 0.0]),
                                  reduction="none")
    np.testing.assert_allclose(loss.numpy(), [100.0, 100.0])


def test_losses_on_device(device: str) -> None:
    x = engine.randn(6, 4, device=device, requires_grad=True)
    t = engine.randint(0, 4, (6,), device=device)
    total = (F.cross_entropy(x, t, label_smoothing=0.1) + F.nll_loss(F.log_softmax(x, 1), t)
             + F.mse_loss(x, x.detach() * 0.5) + F.l1_loss(x, x.detach() + 1)
             + F.binary_cross_entropy_with_logits(x, (x.detach() > 0).float())
             + F.binary_cross_entropy(x.sigmoid(), (x.detach() > 0).float()))
    total.backward()
    assert x.grad.shape == (6, 4) and str(x.grad.device) == device


def test_cross_entropy_0d_input_is_rejected() -> None:
    with pytest.raises(ShapeError, match="input must have a class dimension"):
        F.cross_entropy(engine.tensor(1.0), engine.tensor(0))
