"""``.data`` and ``.grad`` with PyTorch's semantics: ``.data`` is a detached Tensor sharing
storage (so the classic ``out.data.max(1)[1]`` accuracy idiom gives indices), assigning ``.data``
rebinds storage, and ``.grad`` assignments are validated as PyTorch validates them."""

from __future__ import annotations

import numpy as np
import pytest
from torch_reference import assert_like_torch, check, torch_or_skip

import engine


def test_data_is_a_detached_tensor_sharing_storage() -> None:
    x = engine.tensor([[0.1, 0.9], [0.8, 0.2]], requires_grad=True)
    d = x.data
    assert isinstance(d, engine.Tensor) and not d.requires_grad and d.grad_fn is None
    d[0, 0] = 5.0
    assert x[0, 0].item() == 5.0  # same storage
    y = (x * 2).sum()
    assert y.data.grad_fn is None and y.data.item() == pytest.approx(y.item())


def test_accuracy_idiom_gives_indices_like_torch() -> None:
    out = np.array([[0.1, 0.9, 0.0], [0.7, 0.2, 0.1], [0.3, 0.3, 0.4]], dtype=np.float32)
    check(lambda m, o: o.data.max(1)[1], [out], grad=False)
    check(lambda m, o: m.max(o.data, 1)[1], [out], grad=False)
    check(lambda m, o: (o.data.max(1, keepdim=True)[1] == m.tensor([[1], [0], [2]])).sum(),
          [out], grad=False)


def test_changes_through_data_are_not_tracked_like_torch() -> None:
    torch = torch_or_skip()
    results = []
    for m in (engine, torch):
        w = m.tensor([1.0, 2.0], requires_grad=True)
        y = (w * w).sum()
        w.data.mul_(3)  # a fresh version counter: backward does not refuse it
        y.backward()
        results.append(w.grad)
    assert_like_torch(*results)


def test_assigning_data_rebinds_storage_and_backward_works() -> None:
    lin = engine.nn.Linear(3, 2)
    new = engine.ones(2, 3)
    lin.weight.data = new
    assert lin.weight.requires_grad and isinstance(lin.weight, engine.nn.Parameter)
    lin(engine.ones(4, 3)).sum().backward()
    np.testing.assert_allclose(lin.weight.grad.numpy(), np.full((2, 3), 4.0))
    new[0, 0] = 7.0  # the parameter now shares the assigned tensor's storage, as in PyTorch
    assert lin.weight[0, 0].item() == 7.0


def test_assigning_data_is_checked() -> None:
    w = engine.zeros(3, requires_grad=True)
    with pytest.raises(TypeError, match=r"\.data must be set to a Tensor, got ndarray"):
        w.data = np.zeros(3)
    with pytest.raises(RuntimeError, match="requires grad, so its data must be floating point"):
        w.data = engine.zeros(3, dtype=engine.int64)
    (w * 2).sum().backward()
    with pytest.raises(RuntimeError, match=r"does not fit the existing \.grad.*\.grad = None"):
        w.data = engine.zeros(5)
    w.grad = None
    w.data = engine.zeros(5)  # a new shape is fine once no gradient of the old one is kept
    assert w.shape == (5,)


@pytest.mark.parametrize("value,error,match", [
    (0.0, TypeError, "expected to be a Tensor or None but got grad of type float"),
    ("f64", RuntimeError, "different type"),
    ("shape", RuntimeError, "different size"),
])
def test_grad_assignment_is_validated_like_torch(value, error, match) -> None:
    torch = torch_or_skip()
    for m, err in ((engine, error), (torch, (TypeError, RuntimeError))):
        a = m.zeros(3, requires_grad=True)
        bad = {"f64": m.zeros(3, dtype=m.float64), "shape": m.zeros(4)}.get(value, value)
        with pytest.raises(err, match=match if m is engine else None):
            a.grad = bad


def test_grad_assignment_accepts_a_matching_tensor_and_none() -> None:
    a = engine.zeros(3, requires_grad=True)
    a.grad = engine.ones(3)
    (a * 2).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 3.0, 3.0])
    a.grad = None
    assert a.grad is None
