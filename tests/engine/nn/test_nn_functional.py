"""``engine.nn.functional`` (activations, linear, softmax family, dropout, pad, one_hot): every
gradient against float64 finite differences, and values and gradients against PyTorch's for the
same inputs where PyTorch is installed."""

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
RNG = np.random.default_rng(1234)


def arr(*shape: int, low: float | None = None, high: float | None = None) -> np.ndarray:
    if low is None:
        return RNG.standard_normal(shape)
    return RNG.uniform(low, high, shape)


def leaves(arrays: list[Any], device: str = "cpu") -> list[Any]:
    """float arrays -> float64 leaves requiring grad; integer arrays -> plain tensors."""
    out = []
    for a in arrays:
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            out.append(engine.tensor(a, dtype=F64, device=device, requires_grad=True))
        elif isinstance(a, np.ndarray):
            out.append(engine.tensor(a, device=device))
        else:
            out.append(a)
    return out


# (id, engine fn, torch fn (None: same call on torch.nn.functional), input arrays)
X = arr(3, 4)
CASES: list[tuple[str, Callable[..., Any], Any, list[Any]]] = [
    ("linear", lambda x, w, b: F.linear(x, w, b), None, [arr(4, 3), arr(5, 3), arr(5)]),
    ("linear_nobias", lambda x, w: F.linear(x, w), None, [arr(4, 3), arr(5, 3)]),
    ("linear_3d", lambda x, w, b: F.linear(x, w, b), None, [arr(2, 3, 4), arr(2, 4), arr(2)]),
    ("linear_1d", lambda x, w, b: F.linear(x, w, b), None, [arr(3), arr(2, 3), arr(2)]),
    ("linear_noncontig", lambda x, w, b: F.linear(x.transpose(0, 1), w, b),
     lambda x, w, b: __import__("torch").nn.functional.linear(x.transpose(0, 1), w, b),
     [arr(3, 4), arr(2, 3), arr(2)]),
    ("relu", lambda x: F.relu(x), None, [X]),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), None, [X]),
    ("leaky_relu_steep", lambda x: F.leaky_relu(x, 1.5), None, [X]),
    ("elu", lambda x: F.elu(x, 0.7), None, [X]),
    ("gelu", lambda x: F.gelu(x), None, [arr(2, 5) * 3]),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), None, [arr(2, 5) * 3]),
    ("silu", lambda x: F.silu(x), None, [arr(2, 5) * 3]),
    ("sigmoid", lambda x: F.sigmoid(x), None, [X]),
    ("tanh", lambda x: F.tanh(x), None, [X]),
    ("softmax_1", lambda x: F.softmax(x, dim=1), None, [arr(2, 3, 2)]),
    ("softmax_neg", lambda x: F.softmax(x, dim=-1), None, [arr(2, 3, 2)]),
    ("softmax_0", lambda x: F.softmax(x, 0), None, [arr(3, 2)]),
    ("log_softmax_1", lambda x: F.log_softmax(x, dim=1), None, [arr(2, 3, 2)]),
    ("log_softmax_neg", lambda x: F.log_softmax(x, -1), None, [arr(4, 3)]),
    ("log_softmax_tall", lambda x: F.log_softmax(x, 1), None, [arr(20, 3)]),  # transposed max
    ("softmax_tall", lambda x: F.softmax(x, 1), None, [arr(20, 3)]),
    ("pad_constant", lambda x: F.pad(x, (1, 2), value=0.5), None, [arr(2, 3)]),
    ("pad_constant_2d_crop", lambda x: F.pad(x, (1, -1, -1, 2)), None, [arr(1, 3, 4)]),
    ("pad_reflect", lambda x: F.pad(x, (2, 1), mode="reflect"), None, [arr(1, 2, 4)]),
    ("pad_reflect_2d", lambda x: F.pad(x, (1, 2, 2, 1), mode="reflect"), None, [arr(1, 1, 3, 4)]),
    ("pad_replicate", lambda x: F.pad(x, (3, 1), mode="replicate"), None, [arr(1, 2, 3)]),
    ("pad_circular", lambda x: F.pad(x, (2, 1), mode="circular"), None, [arr(1, 2, 3)]),
]


@pytest.mark.parametrize("fn,arrays", [(c[1], c[3]) for c in CASES], ids=[c[0] for c in CASES])
def test_gradcheck(fn: Callable[..., Any], arrays: list[Any]) -> None:
    assert gradcheck(fn, leaves(arrays))


def _torch_fn(case_id: str, fn: Any) -> Callable[..., Any]:
    if fn is not None:
        return fn
    torch = torch_or_skip()
    tf = torch.nn.functional
    table = {
        "linear": lambda x, w, b: tf.linear(x, w, b),
        "linear_nobias": lambda x, w: tf.linear(x, w),
        "linear_3d": lambda x, w, b: tf.linear(x, w, b),
        "linear_1d": lambda x, w, b: tf.linear(x, w, b),
        "relu": tf.relu,
        "leaky_relu": lambda x: tf.leaky_relu(x, 0.2),
        "leaky_relu_steep": lambda x: tf.leaky_relu(x, 1.5),
        "elu": lambda x: tf.elu(x, 0.7),
        "gelu": tf.gelu,
        "gelu_tanh": lambda x: tf.gelu(x, approximate="tanh"),
        "silu": tf.silu,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "softmax_1": lambda x: tf.softmax(x, dim=1),
        "softmax_neg": lambda x: tf.softmax(x, dim=-1),
        "softmax_0": lambda x: tf.softmax(x, 0),
        "log_softmax_1": lambda x: tf.log_softmax(x, dim=1),
        "log_softmax_neg": lambda x: tf.log_softmax(x, -1),
        "log_softmax_tall": lambda x: tf.log_softmax(x, 1),
        "softmax_tall": lambda x: tf.softmax(x, 1),
        "pad_constant": lambda x: tf.pad(x, (1, 2), value=0.5),
        "pad_constant_2d_crop": lambda x: tf.pad(x, (1, -1, -1, 2)),
        "pad_reflect": lambda x: tf.pad(x, (2, 1), mode="reflect"),
        "pad_reflect_2d": lambda x: tf.pad(x, (1, 2, 2, 1), mode="reflect"),
        "pad_replicate": lambda x: tf.pad(x, (3, 1), mode="replicate"),
        "pad_circular": lambda x: tf.pad(x, (2, 1), mode="circular"),
    }
    return table[case_id]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_torch(case: tuple[str, Any, Any, list[Any]]) -> None:
    case_id, fn, torch_fn, arrays = case
    tfn = _torch_fn(case_id, torch_fn)
    check(lambda m, *xs: fn(*xs), arrays, torch_fn=lambda m, *xs: tfn(*xs), rtol=1e-7,
          atol=1e-10, gradcheck=False)


def test_gelu_erf_is_exact_over_a_wide_range() -> None:
    import math

    x = np.concatenate([np.linspace(-9, 9, 2001), [-1.0, 1.0, 1e-300, -7.9, 8.0]])
    ref = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(F.erf(x), ref, rtol=0, atol=5e-16)
    np.testing.assert_allclose(F.erf(x.astype(np.float32)), ref, rtol=0, atol=2e-7)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # none inside, even at inf
        np.testing.assert_array_equal(F.erf(np.array([-np.inf, np.inf, 40.0])), [-1, 1, 1])
    assert np.isnan(F.erf(np.array([np.nan]))).all()


def test_float32_stays_float32(device: str) -> None:
    x = engine.randn(4, 3, device=device, requires_grad=True)
    w = engine.randn(5, 3, device=device, requires_grad=True)
    outs = [F.linear(x, w), F.relu(x), F.gelu(x), F.gelu(x, "tanh"), F.silu(x), F.elu(x),
            F.leaky_relu(x), F.softmax(x, 1), F.log_softmax(x, 1), F.dropout(x, 0.5),
            F.pad(x, (1, 1))]
    for out in outs:
        assert out.dtype == engine.float32, out.grad_fn
        out.sum().backward()
    assert x.grad.dtype == engine.float32 and w.grad.dtype == engine.float32


def test_linear_wrong_width_names_both_sides() -> None:
    x = engine.randn(8, 100)
    w = engine.randn(784, 784)
    with pytest.raises(ShapeError, match=r"input has 100 features \(shape \(8, 100\)\) but weight "
                                         r"expects 784 \(in_features=784\); fix the previous"):
        F.linear(x, w[:128])


def test_linear_bias_and_dtype_errors() -> None:
    x = engine.randn(2, 3)
    with pytest.raises(ShapeError, match=r"bias has shape \(4,\) but weight has 5 output"):
        F.linear(x, engine.randn(5, 3), engine.randn(4))
    with pytest.raises(TypeError, match=r"input is float64 but the weight is float32.*\.float\(\)"):
        F.linear(x.double(), engine.randn(5, 3))


def test_linear_skips_input_gradient_when_not_needed() -> None:
    x = engine.randn(4, 3)
    w = engine.randn(2, 3, requires_grad=True)
    F.linear(x, w).sum().backward()
    assert x.grad is None and w.grad is not None
    np.testing.assert_allclose(w.grad.numpy(), np.tile(x.numpy().sum(0), (2, 1)), rtol=1e-5)


def test_softmax_rows_sum_to_one_and_are_stable() -> None:
    x = engine.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, -1000.0, -1000.0]])
    y = F.softmax(x, dim=1)
    np.testing.assert_allclose(y.numpy().sum(1), [1.0, 1.0], rtol=1e-6)
    assert np.isfinite(F.log_softmax(x, dim=1).numpy()).all()
    assert F.softmax(engine.tensor(3.0), dim=0).item() == 1.0


def test_softmax_without_dim_warns_and_uses_torch_legacy_choice() -> None:
    x = engine.randn(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        y = F.softmax(x)
    np.testing.assert_allclose(y.numpy().sum(1), [1.0, 1.0], rtol=1e-6)


def test_tensor_softmax_methods_use_functional() -> None:
    x = engine.randn(3, 4)
    np.testing.assert_allclose(x.softmax(1).numpy(), F.softmax(x, 1).numpy())
    np.testing.assert_allclose(x.log_softmax(-1).numpy(), F.log_softmax(x, -1).numpy())


def test_dropout_statistics_and_modes() -> None:
    x = engine.ones(200, 100)
    y = F.dropout(x, 0.3)
    kept = y.numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7, rtol=1e-6)
    assert F.dropout(x, 0.3, training=False) is x
    assert (F.dropout(x, 1.0).numpy() == 0).all()
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        F.dropout(x, 1.5)


def test_dropout_is_reproducible_with_manual_seed() -> None:
    x = engine.ones(10, 10)
    engine.manual_seed(3)
    a = F.dropout(x, 0.5).numpy()
    engine.manual_seed(3)
    b = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)


def test_dropout_gradient_uses_the_same_mask() -> None:
    x = engine.randn(6, 5, requires_grad=True)
    y = F.dropout(x, 0.4)
    y.sum().backward()
    mask = (y.detach().numpy() != 0)
    np.testing.assert_allclose(x.grad.numpy(), mask / 0.6, rtol=1e-6)


def test_inplace_activations_write_into_the_input() -> None:
    x = engine.randn(3, 4)
    ref = np.maximum(x.numpy(), 0)
    out = F.relu(x, inplace=True)
    assert out is x
    np.testing.assert_array_equal(x.numpy(), ref)
    # With autograd: the modified tensor backpropagates through the activation.
    a = engine.randn(3, 4, requires_grad=True)
    h = a * 1.0
    F.leaky_relu(h, 0.1, inplace=True)
    h.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.where(a.detach().numpy() > 0, 1.0, 0.1),
                               rtol=1e-6)
    leaf = engine.randn(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        F.relu(leaf, inplace=True)


def test_one_hot() -> None:
    t = engine.tensor([0, 2, 1])
    out = F.one_hot(t)
    assert out.dtype == engine.int64
    np.testing.assert_array_equal(out.numpy(), np.eye(3, dtype=np.int64)[[0, 2, 1]])
    assert F.one_hot(engine.tensor([[1], [0]]), num_classes=4).shape == (2, 1, 4)
    with pytest.raises(ValueError, match="smaller than num_classes=2, found 2"):
        F.one_hot(t, 2)
    with pytest.raises(ValueError, match="non-negative, found -1"):
        F.one_hot(engine.tensor([-1, 0]))
    with pytest.raises(TypeError, match="integer dtype"):
        F.one_hot(engine.tensor([0.0]))


def test_pad_errors() -> None:
    x = engine.randn(1, 2, 3)
    with pytest.raises(ValueError, match="must be even"):
        F.pad(x, (1,))
    with pytest.raises(ValueError, match="must be smaller than its size 3"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="unknown mode 'wrap'"):
        F.pad(x, (1, 1), mode="wrap")
    with pytest.raises(ValueError, match="4 dims of padding given for a 3-d input"):
        F.pad(x, (1,) * 8)


def test_gelu_rejects_unknown_approximation() -> None:
    with pytest.raises(ValueError, match="'none' or 'tanh', got 'fast'"):
        F.gelu(engine.randn(2), approximate="fast")


def test_functional_runs_on_device(device: str) -> None:
    x = engine.randn(4, 3, device=device, requires_grad=True)
    w = engine.randn(5, 3, device=device, requires_grad=True)
    b = engine.randn(5, device=device, requires_grad=True)
    y = F.log_softmax(F.gelu(F.linear(x, w, b)), dim=1)
    y.sum().backward()
    assert str(x.grad.device) == device and w.grad.shape == (5, 3) and b.grad.shape == (5,)
