"""Layer modules against PyTorch's (same weights through ``load_state_dict``, same outputs and
gradients), their gradients against finite differences, ``engine.nn.init`` and
``engine.nn.utils``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from torch_reference import check, check_module, module_pair, torch_or_skip

import engine
import engine.nn as nn
from engine.autograd import gradcheck
from engine.errors import ShapeError

F64 = engine.float64


MODULE_CASES = [
    ("Linear", (4, 3), {}, (5, 4)),
    ("Linear", (4, 3), {"bias": False}, (2, 3, 4)),
    ("ReLU", (), {}, (3, 4)),
    ("LeakyReLU", (0.3,), {}, (3, 4)),
    ("ELU", (), {"alpha": 0.5}, (3, 4)),
    ("GELU", (), {}, (3, 4)),
    ("GELU", (), {"approximate": "tanh"}, (3, 4)),
    ("SiLU", (), {}, (3, 4)),
    ("Sigmoid", (), {}, (3, 4)),
    ("Tanh", (), {}, (3, 4)),
    ("Softmax", (), {"dim": 1}, (3, 4)),
    ("LogSoftmax", (), {"dim": -1}, (3, 4)),
    ("Flatten", (), {}, (2, 3, 2)),
    ("Flatten", (0, 1), {}, (2, 3, 2)),
    ("Unflatten", (1, (2, -1)), {}, (3, 6)),
    ("Identity", (), {}, (2, 2)),
]


@pytest.mark.parametrize("case", MODULE_CASES, ids=[f"{c[0]}{i}" for i, c in
                                                    enumerate(MODULE_CASES)])
def test_module_matches_torch(case: tuple[str, tuple[Any, ...], dict[str, Any], tuple[int, ...]]
                              ) -> None:
    name, args, kwargs, shape = case
    emod, tmod = module_pair(name, *args, **kwargs)
    check_module(emod, tmod, [shape], rtol=1e-10, atol=1e-12)
    assert repr(emod) == repr(tmod)


def test_linear_module_gradcheck() -> None:
    lin = nn.Linear(3, 2, dtype=F64)
    x = engine.randn(4, 3, dtype=F64, requires_grad=True)
    assert gradcheck(lambda x, w, b: lin(x), [x, lin.weight, lin.bias])


def test_linear_options_and_errors() -> None:
    lin = nn.Linear(784, 128)
    assert lin.weight.shape == (128, 784) and lin.bias.shape == (128,)
    assert lin.weight.dtype == engine.float32 and lin.weight.requires_grad
    with pytest.raises(ShapeError, match=r"input has 100 features \(shape \(8, 100\)\) but weight "
                                         r"expects 784 \(in_features=784\)"):
        lin(engine.randn(8, 100))
    nobias = nn.Linear(3, 2, bias=False, dtype=F64)
    assert nobias.bias is None and list(nobias.state_dict()) == ["weight"]
    assert nobias.weight.dtype == F64


def test_linear_default_init_follows_torch_bounds() -> None:
    engine.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
    assert np.abs(b).max() <= bound
    # kaiming_uniform(a=sqrt(5)) is U(+-1/sqrt(fan_in)): std = bound/sqrt(3)
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    engine.manual_seed(0)
    np.testing.assert_array_equal(nn.Linear(400, 300).weight.detach().numpy(), w)


def test_dropout_module_train_eval() -> None:
    drop = nn.Dropout(0.25)
    assert repr(drop) == "Dropout(p=0.25, inplace=False)"
    x = engine.ones(100, 100)
    assert abs((drop(x).numpy() == 0).mean() - 0.25) < 0.02
    drop.eval()
    assert drop(x) is x
    with pytest.raises(ValueError, match="between 0 and 1, but got -0.1"):
        nn.Dropout(-0.1)


def test_unflatten_errors() -> None:
    with pytest.raises(ShapeError, match=r"unflattened_size \(2, 4\) has 8 elements but dimension "
                                         r"1 of the input \(shape \(3, 6\)\) has size 6"):
        nn.Unflatten(1, (2, 4))(engine.randn(3, 6))
    with pytest.raises(TypeError, match="tuple or list of ints"):
        nn.Unflatten(1, 6)


LOSS_CASES = [
    ("CrossEntropyLoss", {"weight": [0.2, 1.0, 2.0], "label_smoothing": 0.1}, "index"),
    ("CrossEntropyLoss", {"ignore_index": 0, "reduction": "sum"}, "index"),
    ("NLLLoss", {"weight": [1.0, 0.5, 2.0]}, "index"),
    ("MSELoss", {"reduction": "sum"}, "float"),
    ("L1Loss", {}, "float"),
    ("BCELoss", {}, "prob"),
    ("BCEWithLogitsLoss", {"pos_weight": [1.0, 2.0, 0.5]}, "prob"),
]


@pytest.mark.parametrize("case", LOSS_CASES, ids=[c[0] + str(i) for i, c in
                                                  enumerate(LOSS_CASES)])
def test_loss_modules_match_torch(case: tuple[str, dict[str, Any], str]) -> None:
    torch = torch_or_skip()
    name, kwargs, kind = case
    rng = np.random.default_rng(7)
    ekw = {k: engine.tensor(v, dtype=F64) if isinstance(v, list) else v
           for k, v in kwargs.items()}
    tkw = {k: torch.tensor(v, dtype=torch.float64) if isinstance(v, list) else v
           for k, v in kwargs.items()}
    emod, tmod = getattr(nn, name)(**ekw), getattr(torch.nn, name)(**tkw)
    x = rng.uniform(0.05, 0.95, (4, 3)) if name == "BCELoss" else rng.standard_normal((4, 3))
    t = {"index": rng.integers(0, 3, 4), "float": rng.standard_normal((4, 3)),
         "prob": rng.uniform(0, 1, (4, 3))}[kind]
    check(lambda m, x: (emod if m is engine else tmod)(x, m.tensor(t)), [x], rtol=1e-9,
          atol=1e-12, gradcheck=False)
    assert list(emod.state_dict()) == list(tmod.state_dict())
    assert repr(emod) == repr(tmod)


def test_loss_module_validates_at_construction() -> None:
    with pytest.raises(ValueError, match="'avg' is not a valid value for reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        nn.CrossEntropyLoss(label_smoothing=-0.5)


# --------------------------------------------------------------------- init


def test_calculate_gain() -> None:
    init = nn.init
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / (1 + 0.04))
    with pytest.raises(ValueError, match="Unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


@pytest.mark.parametrize("fn,expected_std", [
    (lambda t: nn.init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2 / 200)),
    (lambda t: nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"),
     math.sqrt(2 / 300)),
    (lambda t: nn.init.xavier_uniform_(t), math.sqrt(2 / 500)),
    (lambda t: nn.init.xavier_normal_(t, gain=2.0), 2 * math.sqrt(2 / 500)),
    (lambda t: nn.init.normal_(t, 0.0, 0.3), 0.3),
    (lambda t: nn.init.uniform_(t, -1.0, 1.0), 1 / math.sqrt(3)),
    (lambda t: nn.init.trunc_normal_(t, std=0.02), 0.02),  # +-2 is +-100 std: untruncated
])
def test_init_statistics(fn: Any, expected_std: float) -> None:
    w = nn.Parameter(engine.empty(300, 200))
    out = fn(w)
    assert out is w and w.requires_grad and w.grad_fn is None
    assert abs(w.detach().numpy().std() / expected_std - 1) < 0.03


def test_init_is_reproducible_and_fills_constants() -> None:
    a, b = engine.empty(5, 4), engine.empty(5, 4)
    engine.manual_seed(11)
    nn.init.kaiming_normal_(a)
    engine.manual_seed(11)
    nn.init.kaiming_normal_(b)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    nn.init.constant_(a, 0.5)
    assert (a.numpy() == 0.5).all()
    assert (nn.init.zeros_(a).numpy() == 0).all() and (nn.init.ones_(a).numpy() == 1).all()
    t = nn.init.trunc_normal_(engine.empty(1000), a=-1.0, b=0.5)
    assert t.numpy().min() >= -1.0 and t.numpy().max() <= 0.5
    q = nn.init.orthogonal_(engine.empty(3, 5, dtype=F64)).numpy()
    np.testing.assert_allclose(q @ q.T, np.eye(3), atol=1e-12)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(engine.empty(3))


# --------------------------------------------------------------------- utils


def _grads_of(shapes: list[tuple[int, ...]], values: list[np.ndarray]) -> list[nn.Parameter]:
    params = []
    for shape, v in zip(shapes, values):
        p = nn.Parameter(engine.zeros(*shape))
        p.grad = engine.tensor(v.astype(np.float32))
        params.append(p)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_clip_grad_norm_matches_torch(norm_type: float) -> None:
    torch = torch_or_skip()
    rng = np.random.default_rng(3)
    vals = [rng.standard_normal((3, 4)) * 5, rng.standard_normal(4) * 5]
    params = _grads_of([(3, 4), (4,)], vals)
    tparams = [torch.zeros(v.shape, requires_grad=True) for v in vals]
    for tp, v in zip(tparams, vals):
        tp.grad = torch.tensor(v.astype(np.float32))
    total = nn.utils.clip_grad_norm_(params, max_norm=1.0, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm=1.0, norm_type=norm_type)
    assert isinstance(total, engine.Tensor) and total.dtype == engine.float32
    np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-5)
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_small_grads_untouched_and_nonfinite_error() -> None:
    params = _grads_of([(2,)], [np.array([0.3, 0.4])])
    total = nn.utils.clip_grad_norm_(params, 10.0)
    np.testing.assert_allclose(total.item(), 0.5, rtol=1e-6)
    np.testing.assert_allclose(params[0].grad.numpy(), [0.3, 0.4], rtol=1e-5)
    params = _grads_of([(2,)], [np.array([np.inf, 1.0])])
    with pytest.raises(RuntimeError, match="non-finite, so it cannot be clipped"):
        nn.utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert nn.utils.clip_grad_norm_([nn.Parameter(engine.zeros(2))], 1.0).item() == 0.0


def test_clip_grad_value() -> None:
    params = _grads_of([(4,)], [np.array([-3.0, -0.5, 0.5, 3.0])])
    nn.utils.clip_grad_value_(params[0], 1.0)
    np.testing.assert_array_equal(params[0].grad.numpy(), [-1.0, -0.5, 0.5, 1.0])


def test_parameters_to_vector_roundtrip() -> None:
    lin = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(lin.parameters())
    assert vec.shape == (8,)
    nn.utils.vector_to_parameters(engine.arange(8, dtype=engine.float32), lin.parameters())
    np.testing.assert_array_equal(lin.weight.detach().numpy().ravel(), np.arange(6))
    np.testing.assert_array_equal(lin.bias.detach().numpy(), [6, 7])
    with pytest.raises(ShapeError, match=r"vec has shape \(5,\) but the parameters hold 8"):
        nn.utils.vector_to_parameters(engine.zeros(5), lin.parameters())


def test_seed_mlp_trains_one_step(device: str) -> None:
    """Flatten -> Linear -> ReLU -> Linear -> cross entropy: loss falls under plain SGD."""
    engine.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 3)).to(device)
    x = engine.randn(64, 1, 4, 4, device=device)
    y = (x.reshape(64, 16).sum(1) > 0).long()
    loss_fn = nn.CrossEntropyLoss()
    first = None
    for _ in range(30):
        model.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        with engine.no_grad():
            for p in model.parameters():
                p -= 0.5 * p.grad
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first
