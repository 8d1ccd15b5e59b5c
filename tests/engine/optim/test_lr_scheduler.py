"""engine.optim.lr_scheduler against torch.optim.lr_scheduler: identical learning-rate (and
momentum) sequences over 30 steps, checkpoints that resume the same sequence, and the errors and
warnings PyTorch gives."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
from torch_reference import torch_or_skip

import engine
import engine.optim as optim
from engine.nn.parameter import Parameter
from engine.optim import lr_scheduler as sched

STEPS = 30


def engine_optimizer(name: str = "SGD", **kwargs) -> optim.Optimizer:
    groups = [{"params": [Parameter(engine.zeros(3))], "lr": 0.1},
              {"params": [Parameter(engine.zeros(2))], "lr": 0.05}]
    return getattr(optim, name)(groups, **kwargs)


def torch_optimizer(name: str = "SGD", **kwargs):
    torch = torch_or_skip()
    groups = [{"params": [torch.nn.Parameter(torch.zeros(3))], "lr": 0.1},
              {"params": [torch.nn.Parameter(torch.zeros(2))], "lr": 0.05}]
    return getattr(torch.optim, name)(groups, **kwargs)


def trace(opt, scheduler, steps: int = STEPS, metrics: list[float] | None = None) -> list:
    """Per step: get_last_lr(), each group's lr and momentum/beta1 (what the schedule moves)."""
    out = []
    for i in range(steps):
        opt.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[i])
        moms = [g.get("momentum", g.get("betas", (None,))[0]) for g in opt.param_groups]
        out.append((list(scheduler.get_last_lr()), [g["lr"] for g in opt.param_groups], moms))
    return out


CASES: list[tuple[str, str, dict, dict]] = [
    ("StepLR", "SGD", {"step_size": 4, "gamma": 0.5}, {}),
    ("MultiStepLR", "SGD", {"milestones": [3, 7, 7, 12], "gamma": 0.3}, {}),
    ("ExponentialLR", "SGD", {"gamma": 0.9}, {}),
    ("CosineAnnealingLR", "SGD", {"T_max": 10, "eta_min": 0.001}, {}),
    ("CosineAnnealingLR", "Adam", {"T_max": 7}, {}),
    ("LinearLR", "SGD", {"start_factor": 0.25, "total_iters": 8}, {}),
    ("LinearLR", "SGD", {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 12}, {}),
    ("ConstantLR", "SGD", {"factor": 0.5, "total_iters": 4}, {}),
    ("OneCycleLR", "SGD", {"max_lr": [1.0, 0.5], "total_steps": STEPS}, {"momentum": 0.9}),
    ("OneCycleLR", "SGD", {"max_lr": 0.3, "total_steps": STEPS, "anneal_strategy": "linear"},
     {"momentum": 0.9}),
    ("OneCycleLR", "SGD", {"max_lr": 0.3, "epochs": 5, "steps_per_epoch": 6,
                           "three_phase": True, "pct_start": 0.25}, {"momentum": 0.9}),
    ("OneCycleLR", "Adam", {"max_lr": 0.01, "total_steps": STEPS + 3, "base_momentum": 0.8,
                            "max_momentum": 0.9}, {}),
    ("OneCycleLR", "Adagrad", {"max_lr": 0.2, "total_steps": STEPS, "cycle_momentum": False,
                               "div_factor": 10.0, "final_div_factor": 100.0}, {}),
    ("PolynomialLR", "SGD", {"total_iters": 12, "power": 2.0}, {}),
    ("PolynomialLR", "SGD", {}, {}),
    ("CosineAnnealingWarmRestarts", "SGD", {"T_0": 4}, {}),
    ("CosineAnnealingWarmRestarts", "SGD", {"T_0": 3, "T_mult": 2, "eta_min": 0.01}, {}),
    ("CyclicLR", "SGD", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4}, {"momentum": 0.9}),
    ("CyclicLR", "SGD", {"base_lr": [0.01, 0.02], "max_lr": 0.1, "step_size_up": 3,
                         "step_size_down": 5, "mode": "triangular2"}, {"momentum": 0.9}),
    ("CyclicLR", "Adam", {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 4,
                          "mode": "exp_range", "gamma": 0.9}, {}),
    ("CyclicLR", "SGD", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4,
                         "cycle_momentum": False, "scale_fn": lambda x: 0.5 ** x,
                         "scale_mode": "iterations"}, {}),
]


@pytest.mark.parametrize(("cls", "opt_name", "kwargs", "opt_kwargs"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_sequence_equals_torch(cls: str, opt_name: str, kwargs: dict, opt_kwargs: dict) -> None:
    torch = torch_or_skip()
    topt = torch_optimizer(opt_name, **opt_kwargs)
    expected = trace(topt, getattr(torch.optim.lr_scheduler, cls)(topt, **kwargs))
    opt = engine_optimizer(opt_name, **opt_kwargs)
    got = trace(opt, getattr(sched, cls)(opt, **kwargs))
    assert got == expected
    assert len({tuple(step[1]) for step in got}) > 1  # the schedule moved


@pytest.mark.parametrize("per_group", [False, True])
def test_lambda_lr_equals_torch(per_group: bool) -> None:
    torch = torch_or_skip()
    fns: list[Callable[[int], float]] = [lambda e: 0.95**e, lambda e: 1.0 / (1 + e)]
    arg = fns if per_group else fns[0]
    topt = torch_optimizer()
    expected = trace(topt, torch.optim.lr_scheduler.LambdaLR(topt, arg))
    opt = engine_optimizer()
    assert trace(opt, sched.LambdaLR(opt, arg)) == expected


def test_two_chained_schedulers_equal_torch() -> None:
    torch = torch_or_skip()
    topt = torch_optimizer()
    ts = [torch.optim.lr_scheduler.LinearLR(topt, start_factor=0.1, total_iters=5),
          torch.optim.lr_scheduler.ExponentialLR(topt, gamma=0.95)]
    opt = engine_optimizer()
    es = [sched.LinearLR(opt, start_factor=0.1, total_iters=5),
          sched.ExponentialLR(opt, gamma=0.95)]
    for _ in range(STEPS):
        topt.step()
        opt.step()
        for s in (*ts, *es):
            s.step()
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]


PLATEAU = [
    {},
    {"mode": "max", "factor": 0.5, "patience": 2, "threshold_mode": "abs", "threshold": 0.05},
    {"patience": 1, "cooldown": 3, "min_lr": [0.01, 0.02]},
    {"patience": 0, "threshold": 0.0, "min_lr": 1e-3, "eps": 1e-3},
]


@pytest.mark.parametrize("kwargs", PLATEAU)
def test_reduce_lr_on_plateau_equals_torch(kwargs: dict) -> None:
    torch = torch_or_skip()
    rng = np.random.default_rng(7)
    metrics = list(np.concatenate([np.linspace(1, 0.5, 8), 0.5 + 0.05 * rng.random(22)]))
    topt = torch_optimizer()
    expected = trace(topt, torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs),
                     metrics=metrics)
    opt = engine_optimizer()
    got = trace(opt, sched.ReduceLROnPlateau(opt, **kwargs), metrics=metrics)
    assert got == expected
    assert got[-1][1] != [0.1, 0.05]  # it reduced


def test_reduce_lr_on_plateau_accepts_a_tensor_metric() -> None:
    opt = engine_optimizer()
    s = sched.ReduceLROnPlateau(opt, patience=0)
    s.step(engine.tensor(1.0))
    s.step(engine.tensor(2.0))
    assert s.get_last_lr() == [pytest.approx(0.01), pytest.approx(0.005)]


@pytest.mark.parametrize(("cls", "kwargs"), [
    ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.001}),
    ("MultiStepLR", {"milestones": [3, 12, 12]}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": STEPS}),
    ("StepLR", {"step_size": 5}),
])
def test_checkpoint_resumes_the_same_sequence(cls: str, kwargs: dict, tmp_path) -> None:
    opt = engine_optimizer(momentum=0.9)
    straight = trace(opt, getattr(sched, cls)(opt, **kwargs))

    opt = engine_optimizer(momentum=0.9)
    s = getattr(sched, cls)(opt, **kwargs)
    first = trace(opt, s, steps=11)
    engine.save({"optimizer": opt.state_dict(), "scheduler": s.state_dict()},
                tmp_path / "ckpt.safetensors")
    ckpt = engine.load(tmp_path / "ckpt.safetensors")
    opt2 = engine_optimizer(momentum=0.9)
    s2 = getattr(sched, cls)(opt2, **kwargs)
    opt2.load_state_dict(ckpt["optimizer"])
    s2.load_state_dict(ckpt["scheduler"])
    rest = trace(opt2, s2, steps=STEPS - 11)
    assert first + rest == straight


def test_plateau_state_survives_a_checkpoint(tmp_path) -> None:
    opt = engine_optimizer()
    s = sched.ReduceLROnPlateau(opt, mode="max", patience=1)
    for m in (1.0, 2.0, 1.5):
        s.step(m)
    engine.save(s.state_dict(), tmp_path / "s.safetensors")
    s2 = sched.ReduceLROnPlateau(engine_optimizer(), mode="max", patience=1)
    s2.load_state_dict(engine.load(tmp_path / "s.safetensors"))
    assert (s2.best, s2.num_bad_epochs, s2.last_epoch, s2.mode) == (2.0, 1, 3, "max")


def test_warns_when_stepped_before_the_optimizer() -> None:
    opt = engine_optimizer()
    s = sched.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match=r"`lr_scheduler.step\(\)` before `optimizer.step\(\)`"):
        s.step()
    opt2 = engine_optimizer()
    s2 = sched.StepLR(opt2, step_size=2)
    opt2.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s2.step()


def test_initial_lr_is_recorded_and_required_to_resume() -> None:
    opt = engine_optimizer()
    sched.ExponentialLR(opt, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.05]
    with pytest.raises(KeyError, match=r"'initial_lr' is not specified in param_groups\[0\]"):
        sched.StepLR(engine_optimizer(), step_size=3, last_epoch=4)


def test_step_with_epoch_uses_the_closed_form_and_warns() -> None:
    opt = engine_optimizer()
    s = sched.StepLR(opt, step_size=3, gamma=0.5)
    opt.step()
    with pytest.warns(UserWarning, match="epoch parameter"):
        s.step(7)
    assert s.get_last_lr() == [0.1 * 0.25, 0.05 * 0.25]


@pytest.mark.parametrize(("factory", "error", "message"), [
    (lambda o: sched.StepLR(object(), step_size=1), TypeError, "object is not an Optimizer"),
    (lambda o: sched.ConstantLR(o, factor=2.0), ValueError,
     "Constant multiplicative factor expected to be between 0 and 1"),
    (lambda o: sched.LinearLR(o, start_factor=0), ValueError,
     "Starting multiplicative factor expected to be greater than 0"),
    (lambda o: sched.LambdaLR(o, [lambda e: 1.0]), ValueError, "Expected 2 lr_lambdas, but got 1"),
    (lambda o: sched.OneCycleLR(o, max_lr=0.1), ValueError,
     r"You must define either total_steps OR \(epochs AND steps_per_epoch\)"),
    (lambda o: sched.OneCycleLR(o, max_lr=0.1, total_steps=0), ValueError,
     "Expected positive integer total_steps, but got 0"),
    (lambda o: sched.OneCycleLR(o, max_lr=0.1, total_steps=5, pct_start=1.5), ValueError,
     "Expected float between 0 and 1 pct_start, but got 1.5"),
    (lambda o: sched.OneCycleLR(o, max_lr=0.1, total_steps=5, anneal_strategy="exp"),
     ValueError, "anneal_strategy must be one of 'cos' or 'linear', instead got exp"),
    (lambda o: sched.OneCycleLR(o, max_lr=[0.1], total_steps=5), ValueError,
     "max_lr must have the same length as optimizer.param_groups"),
    (lambda o: sched.ReduceLROnPlateau(o, factor=1.0), ValueError, r"Factor should be < 1.0."),
    (lambda o: sched.ReduceLROnPlateau(o, mode="lowest"), ValueError, "mode lowest is unknown"),
    (lambda o: sched.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError,
     "threshold mode pct is unknown"),
    (lambda o: sched.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 min_lrs, got 1"),
])
def test_invalid_arguments(factory, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        factory(engine_optimizer())


def test_one_cycle_needs_momentum_or_betas_to_cycle_momentum() -> None:
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        sched.OneCycleLR(engine_optimizer("Adagrad"), max_lr=0.1, total_steps=5)


def test_one_cycle_refuses_to_step_past_the_end() -> None:
    opt = engine_optimizer(momentum=0.9)
    s = sched.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        opt.step()
        s.step()
    with pytest.raises(ValueError, match="Tried to step 4 times. The specified number of total "
                                         "steps is 3"):
        s.step()


def _combined(lib, opt, kind: str):
    s = lib.optim.lr_scheduler
    if kind == "sequential":
        return s.SequentialLR(opt, [s.LinearLR(opt, start_factor=0.1, total_iters=4),
                                    s.ExponentialLR(opt, gamma=0.9),
                                    s.CosineAnnealingLR(opt, T_max=6)], milestones=[5, 12])
    return s.ChainedScheduler([s.ConstantLR(opt, factor=0.5, total_iters=6),
                               s.ExponentialLR(opt, gamma=0.9)])


@pytest.mark.parametrize("kind", ["sequential", "chained"])
def test_combined_schedulers_equal_torch(kind: str) -> None:
    torch = torch_or_skip()
    topt = torch_optimizer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn that step(0) is deprecated
        expected = trace(topt, _combined(torch, topt, kind))
        opt = engine_optimizer()
        got = trace(opt, _combined(engine, opt, kind))
    assert got == expected


def test_warm_restarts_fractional_epochs_equal_torch() -> None:
    torch = torch_or_skip()
    lrs = []
    for lib in (engine, torch):
        opt = engine_optimizer() if lib is engine else torch_optimizer()
        s = lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
        seen = []
        for epoch in range(6):
            for i in range(4):
                opt.step()
                s.step(epoch + i / 4)
                seen.append([g["lr"] for g in opt.param_groups])
        lrs.append(seen)
    np.testing.assert_allclose(lrs[0], lrs[1], rtol=1e-12)


def test_sequential_state_dict_round_trips() -> None:
    opt = engine_optimizer()
    s = _combined(engine, opt, "sequential")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(7):
            opt.step()
            s.step()
        state = s.state_dict()
        opt2 = engine_optimizer()
        s2 = _combined(engine, opt2, "sequential")
        s2.load_state_dict(state)
        assert s2.last_epoch == 7 and s2._schedulers[1].last_epoch == s._schedulers[1].last_epoch
