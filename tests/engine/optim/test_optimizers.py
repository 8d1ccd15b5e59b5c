"""engine.optim against torch.optim: same parameters after several steps for every option that
changes the update, state dicts that resume bit-for-bit, PyTorch's argument errors, and the
bookkeeping (groups, zero_grad, repr, load errors)."""

from __future__ import annotations

import numpy as np
import pytest
from torch_reference import torch_or_skip

import engine
import engine.optim as optim
from engine.nn.parameter import Parameter

# The problem: loss = sum((A @ W + b) ** 2) + sum(sin(W)); gradients written by hand in NumPy so
# the tests exercise the optimizers alone.
_rng = np.random.default_rng(1234)
A = _rng.standard_normal((5, 3))
W0 = _rng.standard_normal((3, 4))
B0 = _rng.standard_normal(4)


def grads(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = A.astype(w.dtype) @ w + b
    return 2 * A.astype(w.dtype).T @ y + np.cos(w), 2 * y.sum(0)


CONFIGS = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.5}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.1, "maximize": True}),
    ("SGD", {"lr": 0.05, "maximize": True}),
    ("Adam", {"lr": 0.05}),
    ("Adam", {"lr": 0.05, "amsgrad": True}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05, "maximize": True}),
    ("Adam", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {"lr": 0.05, "betas": (0.3, 0.6), "eps": 1e-3}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {"lr": 0.05}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.2, "amsgrad": True, "maximize": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.3, "maximize": True, "eps": 1e-4}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1, "maximize": True}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-3}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.7, "weight_decay": 0.1, "maximize": True}),
    ("Adamax", {"lr": 0.05}),
    ("Adamax", {"lr": 0.05, "betas": (0.5, 0.8), "weight_decay": 0.1, "maximize": True}),
    ("NAdam", {"lr": 0.05}),
    ("NAdam", {"lr": 0.05, "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.05}),
    ("RAdam", {"lr": 0.05, "betas": (0.5, 0.6), "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True,
               "maximize": True}),
    ("Rprop", {"lr": 0.05}),
    ("Rprop", {"lr": 0.01, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.2), "maximize": True}),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for name, kw in CONFIGS]


def make_params(dtype: np.dtype = np.float64, device: str = "cpu") -> list[Parameter]:
    return [Parameter(engine.tensor(W0.astype(dtype), device=device)),
            Parameter(engine.tensor(B0.astype(dtype), device=device))]


def host(t: engine.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def set_grads(params: list[Parameter]) -> None:
    gw, gb = grads(host(params[0]), host(params[1]))
    dev = params[0].device
    params[0].grad = engine.tensor(gw, device=dev)
    params[1].grad = engine.tensor(gb, device=dev)


def run_engine(opt: optim.Optimizer, params: list[Parameter], steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        set_grads(params)
        opt.step()


def run_torch(name: str, kwargs: dict, steps: int, dtype=np.float64,
              groups: list[dict] | None = None) -> list[np.ndarray]:
    torch = torch_or_skip()
    params = [torch.nn.Parameter(torch.tensor(W0.astype(dtype))),
              torch.nn.Parameter(torch.tensor(B0.astype(dtype)))]
    if groups is None:
        opt = getattr(torch.optim, name)(params, **kwargs)
    else:
        opt = getattr(torch.optim, name)(
            [dict(g, params=[params[i] for i in g["params"]]) for g in groups], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        gw, gb = grads(params[0].detach().numpy(), params[1].detach().numpy())
        params[0].grad = torch.tensor(gw)
        params[1].grad = torch.tensor(gb)
        opt.step()
    return [p.detach().numpy() for p in params]


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
def test_matches_torch_after_ten_steps(name: str, kwargs: dict) -> None:
    expected = run_torch(name, kwargs, steps=10)
    params = make_params()
    run_engine(getattr(optim, name)(params, **kwargs), params, steps=10)
    for p, e in zip(params, expected):
        assert p.dtype == engine.float64
        np.testing.assert_allclose(host(p), e, rtol=1e-12, atol=1e-13)
    assert not np.allclose(host(params[0]), W0)  # it did move


DEVICE_CASES = (3, 6, 12, 16, 20, 24)


@pytest.mark.parametrize(("name", "kwargs"), [CONFIGS[i] for i in DEVICE_CASES],
                         ids=[IDS[i] for i in DEVICE_CASES])
def test_matches_torch_on_every_device(name: str, kwargs: dict, device: str) -> None:
    expected = run_torch(name, kwargs, steps=5)
    params = make_params(device=device)
    opt = getattr(optim, name)(params, **kwargs)
    run_engine(opt, params, steps=5)
    for p, e in zip(params, expected):
        assert str(p.device) == device
        np.testing.assert_allclose(host(p), e, rtol=1e-10, atol=1e-12)
    for st in opt.state.values():
        for v in st.values():
            if isinstance(v, engine.Tensor):
                assert str(v.device) == device


def test_float32_stays_float32_and_matches_torch() -> None:
    expected = run_torch("Adam", {"lr": 0.05, "amsgrad": True}, steps=10, dtype=np.float32)
    params = make_params(np.float32)
    opt = optim.Adam(params, lr=0.05, amsgrad=True)
    run_engine(opt, params, steps=10)
    for p, e in zip(params, expected):
        assert p.dtype == engine.float32 and p.data.dtype == np.float32
        np.testing.assert_allclose(host(p), e, rtol=2e-5, atol=1e-6)
    for st in opt.state.values():
        assert all(v.dtype == engine.float32 for k, v in st.items() if k != "step")


def test_param_groups_with_their_own_options_match_torch() -> None:
    groups = [{"params": [0], "lr": 0.1, "momentum": 0.5}, {"params": [1], "nesterov": True}]
    expected = run_torch("SGD", {"lr": 0.02, "momentum": 0.9}, steps=8, groups=groups)
    params = make_params()
    opt = optim.SGD([dict(g, params=[params[i] for i in g["params"]]) for g in groups],
                    lr=0.02, momentum=0.9)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.02
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["nesterov"] is True
    run_engine(opt, params, steps=8)
    for p, e in zip(params, expected):
        np.testing.assert_allclose(host(p), e, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_step_leaves_grad_untouched(name: str, weight_decay: float) -> None:
    params = make_params()
    opt = getattr(optim, name)(params, lr=0.1, weight_decay=weight_decay, maximize=True)
    set_grads(params)
    before = [host(p.grad).copy() for p in params]
    grad_arrays = [p.grad._data for p in params]
    opt.step()
    opt.step()
    for p, b, arr in zip(params, before, grad_arrays):
        assert p.grad._data is arr
        np.testing.assert_array_equal(host(p.grad), b)


def test_params_without_grad_are_skipped_and_get_no_state() -> None:
    params = make_params()
    opt = optim.Adam(params, lr=0.1)
    set_grads(params)
    params[1].grad = None
    opt.step()
    np.testing.assert_array_equal(host(params[1]), B0)
    assert params[1] not in opt.state and params[0] in opt.state
    assert opt.state[params[0]]["step"] == 1


def test_step_bumps_the_version_so_stale_graphs_are_caught() -> None:
    p = Parameter(engine.tensor([1.0, 2.0]))
    before = p._version
    p.grad = engine.tensor([1.0, 1.0])
    optim.SGD([p], lr=0.1).step()
    assert p._version > before


def test_closure_is_evaluated_with_grad_enabled_and_its_loss_returned() -> None:
    p = Parameter(engine.tensor([1.0, -2.0], dtype=engine.float64))
    opt = optim.SGD([p], lr=0.25)

    def closure() -> engine.Tensor:
        opt.zero_grad()
        assert engine.is_grad_enabled()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with engine.no_grad():
        loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0)
    np.testing.assert_allclose(host(p), [0.5, -1.0])  # p - 0.25 * 2p


def test_zero_grad_to_none_or_to_zeros_in_place() -> None:
    params = make_params()
    opt = optim.SGD(params)
    set_grads(params)
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    set_grads(params)
    arrays = [p.grad._data for p in params]
    opt.zero_grad(set_to_none=False)
    for p, arr in zip(params, arrays):
        assert p.grad._data is arr and not arr.any()


# ----------------------------------------------------------------------------- state dicts


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
def test_state_dict_resume_is_bit_for_bit(name: str, kwargs: dict, tmp_path) -> None:
    straight = make_params()
    run_engine(getattr(optim, name)(straight, **kwargs), straight, steps=10)

    first = make_params()
    opt = getattr(optim, name)(first, **kwargs)
    run_engine(opt, first, steps=4)
    engine.save({"params": [p.detach() for p in first], "optimizer": opt.state_dict()},
                tmp_path / "ckpt.safetensors")
    run_engine(opt, first, steps=3)  # the saved file must not see these steps

    ckpt = engine.load(tmp_path / "ckpt.safetensors")
    resumed = [Parameter(t) for t in ckpt["params"]]
    opt2 = getattr(optim, name)(resumed, **kwargs)
    opt2.load_state_dict(ckpt["optimizer"])
    run_engine(opt2, resumed, steps=6)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(host(a), host(b))


def test_state_dict_layout_is_torchs() -> None:
    torch = torch_or_skip()
    params = make_params()
    opt = optim.Adam(params, lr=0.05, amsgrad=True)
    run_engine(opt, params, steps=2)
    tparams = [torch.nn.Parameter(torch.tensor(W0)), torch.nn.Parameter(torch.tensor(B0))]
    topt = torch.optim.Adam(tparams, lr=0.05, amsgrad=True)
    for p in tparams:
        p.grad = torch.zeros_like(p)
    topt.step()
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert list(ours["state"]) == list(theirs["state"]) == [0, 1]
    assert ours["state"][0].keys() == theirs["state"][0].keys()
    assert ours["state"][0]["step"] == 2.0
    assert ours["state"][1]["exp_avg"].shape == tuple(theirs["state"][1]["exp_avg"].shape)
    assert ours["param_groups"][0]["params"] == theirs["param_groups"][0]["params"] == [0, 1]
    assert set(ours["param_groups"][0]) <= set(theirs["param_groups"][0])


def test_state_dict_of_fresh_optimizers_matches_torch() -> None:
    torch = torch_or_skip()
    for name in ("SGD", "Adam", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "Rprop"):
        ours = getattr(optim, name)(make_params(), lr=0.1).state_dict()
        tp = [torch.nn.Parameter(torch.tensor(W0)), torch.nn.Parameter(torch.tensor(B0))]
        theirs = getattr(torch.optim, name)(tp, lr=0.1).state_dict()
        assert list(ours["state"]) == list(theirs["state"]), name
        for k, st in ours["state"].items():
            assert st.keys() == theirs["state"][k].keys()


def test_load_state_dict_copies_so_two_optimizers_dont_share_buffers() -> None:
    a, b = make_params(), make_params()
    opt_a = optim.SGD(a, lr=0.1, momentum=0.9)
    run_engine(opt_a, a, steps=2)
    opt_b = optim.SGD(b, lr=0.1, momentum=0.9)
    opt_b.load_state_dict(opt_a.state_dict())
    buf_a = opt_a.state[a[0]]["momentum_buffer"]
    buf_b = opt_b.state[b[0]]["momentum_buffer"]
    assert buf_a._data is not buf_b._data
    np.testing.assert_array_equal(host(buf_a), host(buf_b))


def test_load_state_dict_restores_group_options_and_casts_to_the_params() -> None:
    src = make_params()
    opt = optim.Adam(src, lr=0.05, betas=(0.8, 0.9))
    run_engine(opt, src, steps=3)
    dst = make_params(np.float32)
    opt2 = optim.Adam(dst, lr=1.0)
    opt2.load_state_dict(opt.state_dict())
    assert opt2.param_groups[0]["lr"] == 0.05 and opt2.param_groups[0]["betas"] == (0.8, 0.9)
    assert opt2.param_groups[0]["params"][0] is dst[0]
    assert opt2.state[dst[0]]["exp_avg"].dtype == engine.float32
    assert opt2.state[dst[0]]["step"] == 3.0


def test_load_state_dict_errors_name_the_mismatch() -> None:
    params = make_params()
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    run_engine(opt, params, steps=1)
    sd = opt.state_dict()
    other = optim.SGD([make_params()[0]], lr=0.1)
    with pytest.raises(ValueError, match="group 0 has 2 parameters in the state dict but 1"):
        other.load_state_dict(sd)
    two_groups = optim.SGD([{"params": [make_params()[0]]}, {"params": [make_params()[1]]}])
    with pytest.raises(ValueError, match="different number of parameter groups: 1 in the state "
                                         "dict, 2 in this optimizer"):
        two_groups.load_state_dict(sd)
    with pytest.raises(ValueError, match="expects a dict with keys 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    swapped = optim.SGD(list(reversed(make_params())), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 0 has shape \(3, 4\) "
                                         r"but the parameter has shape \(4,\)"):
        swapped.load_state_dict(sd)


def test_adamw_stays_decoupled_after_loading_an_adam_state_dict() -> None:
    params = make_params()
    sd = optim.Adam(params, lr=0.1).state_dict()
    opt = optim.AdamW(make_params(), lr=0.1)
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["decoupled_weight_decay"] is True


# ----------------------------------------------------------------------------- construction


@pytest.mark.parametrize(("factory", "message"), [
    (lambda p: optim.SGD(p, lr=-1), "Invalid learning rate: -1"),
    (lambda p: optim.SGD(p, momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda p: optim.SGD(p, weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
    (lambda p: optim.SGD(p, nesterov=True), "Nesterov momentum requires a momentum and zero "
                                            "dampening"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum"),
    (lambda p: optim.Adam(p, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda p: optim.Adam(p, eps=-1.0), "Invalid epsilon value: -1.0"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.AdamW(p, betas=(0.9, -0.1)), r"Invalid beta parameter at index 1: -0.1"),
    (lambda p: optim.AdamW(p, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda p: optim.RMSprop(p, alpha=-1), "Invalid alpha value: -1"),
    (lambda p: optim.RMSprop(p, momentum=-1), "Invalid momentum value: -1"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), "Invalid lr_decay value: -1"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1),
     "Invalid initial_accumulator_value value: -1"),
])
def test_invalid_arguments_raise_torchs_errors(factory, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory(make_params())


def test_invalid_params_arguments() -> None:
    p = make_params()[0]
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts, but got a "
                                        "Parameter"):
        optim.SGD(p)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([])
    with pytest.raises(TypeError, match="Please use a list instead"):
        optim.SGD([{"params": {p}}])
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors, but one of the "
                                        "params is numpy.ndarray"):
        optim.SGD([np.zeros(3)])
    leaf = engine.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([leaf * 2])
    opt = optim.SGD([p])
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter "
                                         "group"):
        opt.add_param_group({"params": [p]})
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([p, p])


def test_add_param_group_fills_defaults_and_is_stepped() -> None:
    w, b = make_params()
    opt = optim.Adagrad([w], lr=0.1)
    opt.add_param_group({"params": b, "lr": 0.5})
    assert len(opt.param_groups[1]["params"]) == 1 and opt.param_groups[1]["params"][0] is b
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["eps"] == 1e-10
    set_grads([w, b])
    opt.step()
    assert opt.state[b]["step"] == 1.0
    assert not np.allclose(host(b), B0)


def test_named_parameters_are_accepted_and_names_kept() -> None:
    w, b = make_params()
    opt = optim.SGD([("weight", w), ("bias", b)], lr=0.1)
    assert opt.param_groups[0]["params"][0] is w
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]


def test_repr_lists_group_options_like_torch() -> None:
    opt = optim.SGD(make_params(), lr=0.1, momentum=0.9)
    assert repr(opt) == (
        "SGD (\nParameter Group 0\n    dampening: 0\n    lr: 0.1\n    maximize: False\n"
        "    momentum: 0.9\n    nesterov: False\n    weight_decay: 0\n)"
    )
    assert repr(optim.AdamW(make_params())).splitlines()[-2] == "    weight_decay: 0.01"


def test_defaults_are_torchs() -> None:
    torch = torch_or_skip()
    tp = [torch.nn.Parameter(torch.zeros(2))]
    for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad"):
        ours = getattr(optim, name)([Parameter(engine.zeros(2))]).defaults
        theirs = getattr(torch.optim, name)(tp).defaults
        for key, value in ours.items():
            assert theirs[key] == value, (name, key)


def test_training_through_autograd_reduces_the_loss() -> None:
    w = Parameter(engine.tensor(W0))
    x = engine.tensor(A)
    opt = optim.SGD([w], lr=0.01, momentum=0.9)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        y = x @ w
        loss = (y * y).sum()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]


def test_state_keys_after_a_step_match_torch() -> None:
    torch = torch_or_skip()
    for name in ("Adadelta", "Adamax", "NAdam", "RAdam", "Rprop"):
        params = make_params()
        opt = getattr(optim, name)(params)
        run_engine(opt, params, steps=1)
        tp = [torch.nn.Parameter(torch.tensor(W0)), torch.nn.Parameter(torch.tensor(B0))]
        topt = getattr(torch.optim, name)(tp)
        for p in tp:
            p.grad = torch.ones_like(p)
        topt.step()
        assert opt.state_dict()["state"][0].keys() == topt.state_dict()["state"][0].keys(), name


def _lbfgs_run(lib, params, kwargs: dict, steps: int) -> list:
    """L-BFGS on a least-squares problem with the closure PyTorch programs write."""
    a = lib.tensor(A)
    opt = lib.optim.LBFGS(params, **kwargs)
    losses = []

    def closure():
        opt.zero_grad()
        loss = ((a @ params[0] + params[1]) ** 2).mean() + params[0].cos().sum()
        loss.backward()
        return loss

    for _ in range(steps):
        losses.append(float(opt.step(closure)))
    return losses


@pytest.mark.parametrize("kwargs", [{}, {"lr": 0.5, "max_iter": 5, "history_size": 3},
                                    {"lr": 0.8, "max_iter": 4, "tolerance_change": 1e-3}])
def test_lbfgs_matches_torch(kwargs: dict) -> None:
    torch = torch_or_skip()
    ours = make_params()
    theirs = [torch.nn.Parameter(torch.tensor(W0)), torch.nn.Parameter(torch.tensor(B0))]
    l_ours = _lbfgs_run(engine, ours, kwargs, 3)
    l_theirs = _lbfgs_run(torch, theirs, kwargs, 3)
    np.testing.assert_allclose(l_ours, l_theirs, rtol=1e-10)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(host(p), t.detach().numpy(), rtol=1e-9, atol=1e-11)
    assert l_ours[-1] < l_ours[0]


def test_lbfgs_refuses_what_it_lacks() -> None:
    with pytest.raises(NotImplementedError, match="strong-Wolfe line search"):
        optim.LBFGS(make_params(), line_search_fn="strong_wolfe")
    with pytest.raises(RuntimeError, match="needs a closure"):
        optim.LBFGS(make_params()).step(None)
