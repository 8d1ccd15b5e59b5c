"""The learning-rate range test: the sweep, the suggestion rule on curves whose answer is known,
and that the model, optimizer and random state come back exactly as they were."""

from __future__ import annotations

import math

import numpy as np
import pytest
from trainer_helpers import setup

import engine
from engine.training.lr_finder import (
    SKIP_START,
    lr_range_test,
    smooth_losses,
    smooth_window,
    suggest_lr,
)


def test_smoothing_is_a_centred_average_one_decade_wide() -> None:
    lrs = np.geomspace(1e-7, 10, 100)
    assert smooth_window(lrs) == 13  # 99 steps over 8 decades: 12.4 a decade, odd
    assert smooth_window(np.geomspace(1e-3, 1, 31)) == 11
    assert smooth_losses([1.0, 2.0, 3.0, 4.0, 5.0], 3) == pytest.approx(
        [4 / 3, 2.0, 3.0, 4.0, 14 / 3])  # the ends repeat their value


def test_the_suggestion_is_the_steepest_descent_before_the_minimum() -> None:
    lrs = np.geomspace(1e-6, 1.0, 61)
    x = np.log10(lrs)
    # falls fastest at lr = 1e-3 (a logistic step), bottoms out, then blows up past 1e-1
    losses = 1.0 - 0.8 / (1 + np.exp(-(x + 3) * 3)) + np.where(x > -1, (x + 1) ** 2 * 20, 0)
    i, low = suggest_lr(lrs, losses)
    assert lrs[i] == pytest.approx(1e-3, rel=0.15)
    assert i < low and lrs[low] == pytest.approx(1e-1, rel=0.3)
    # never before SKIP_START, never at the minimum itself
    assert i >= SKIP_START


def test_no_suggestion_when_the_loss_never_falls() -> None:
    lrs = np.geomspace(1e-6, 1.0, 40)
    i, low = suggest_lr(lrs, np.linspace(1.0, 3.0, 40))
    assert i is None and low == 0
    assert suggest_lr([], []) == (None, None)
    assert suggest_lr(lrs[:3], [float("nan")] * 3) == (None, None)


def test_the_sweep_follows_its_schedule_and_restores_everything() -> None:
    model, loss_fn, opt, _sched, train, _val = setup(lr=0.1)
    for x, y in train:  # take one step so the optimizer has state (momentum buffers)
        loss_fn(model(x), y).backward()
        opt.step()
        opt.zero_grad()
        break
    weights = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    momentum = [opt.state[p]["momentum_buffer"].numpy().copy() for p in model.parameters()]
    engine.manual_seed(123)
    rng_before = engine.random.get_rng_state()
    seen = []
    result = lr_range_test(model, loss_fn, opt, train, start_lr=1e-5, end_lr=1.0, num_iter=20,
                           report=lambda step, lr, loss: seen.append((step, lr)))
    assert len(result.lrs) == 20 and result.reason == "completed"  # 6 batches an epoch
    np.testing.assert_allclose(result.lrs, np.geomspace(1e-5, 1.0, 20))
    assert [s for s, _ in seen] == list(range(1, 21))
    assert all(math.isfinite(v) for v in result.losses) and len(result.smoothed) == 20
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), weights[k])
    for p, m in zip(model.parameters(), momentum):
        np.testing.assert_array_equal(opt.state[p]["momentum_buffer"].numpy(), m)
    assert [g["lr"] for g in opt.param_groups] == [0.1]
    assert engine.random.get_rng_state() == rng_before  # dropout drew nothing that stays
    assert result.suggestion is None or 1e-5 <= result.suggestion <= 1.0
    assert result.to_dict()["lrs"] == result.lrs


def test_a_diverging_sweep_stops_early() -> None:
    model, loss_fn, opt, _sched, train, _val = setup(lr=0.1)
    result = lr_range_test(model, loss_fn, opt, train, start_lr=1e-3, end_lr=1e6, num_iter=60)
    assert result.reason in ("diverged", "nan") and len(result.lrs) < 60
    assert result.min_lr is not None and result.min_lr < result.lrs[-1]


def test_bad_arguments_are_refused() -> None:
    model, loss_fn, opt, _sched, train, _val = setup()
    with pytest.raises(ValueError, match="start_lr < end_lr"):
        lr_range_test(model, loss_fn, opt, train, start_lr=1.0, end_lr=0.1)
    with pytest.raises(ValueError, match="num_iter"):
        lr_range_test(model, loss_fn, opt, train, num_iter=1)
