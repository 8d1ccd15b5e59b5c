"""Optimizer step hooks (``register_step_pre_hook`` / ``register_step_post_hook``): when they run,
what they see and what they may change, against PyTorch on the same parameters."""

from __future__ import annotations

import numpy as np
import pytest
from torch_reference import assert_like_torch, torch_or_skip

import engine


def _both():
    return engine, torch_or_skip()


def _trace(m):  # noqa: ANN001, ANN202
    """A parameter, its SGD optimizer, and the log of what each hook saw."""
    p = m.nn.Parameter(m.tensor(np.array([1.0, -2.0])))
    opt = m.optim.SGD([p], lr=0.5)
    p.grad = m.tensor(np.array([0.5, 1.0]))
    log = []

    def pre(optimizer, args, kwargs):
        log.append(("pre", optimizer is opt, args == (opt,), dict(kwargs),
                    p.detach().clone(), p.grad.clone()))

    def post(optimizer, args, kwargs):
        log.append(("post", optimizer is opt, args == (opt,), dict(kwargs),
                    p.detach().clone()))

    return p, opt, log, opt.register_step_pre_hook(pre), opt.register_step_post_hook(post)


def test_pre_hook_sees_the_gradient_before_the_update_and_post_hook_after_like_torch() -> None:
    logs = []
    for m in _both():
        p, opt, log, _, _ = _trace(m)
        opt.step()
        logs.append(log)
    ours, theirs = logs
    # both get the step's whole argument tuple: the optimizer itself, then none
    assert [e[:4] for e in ours] == [e[:4] for e in theirs] == [
        ("pre", True, True, {}), ("post", True, True, {})]
    assert_like_torch(ours[0][4], theirs[0][4])  # the parameter before the step
    assert_like_torch(ours[0][5], theirs[0][5])  # its gradient
    assert_like_torch(ours[1][4], theirs[1][4])  # after: [0.75, -2.5] in both
    np.testing.assert_allclose(ours[1][4].numpy(), [0.75, -2.5])


def test_removed_hooks_no_longer_run_like_torch() -> None:
    counts = []
    for m in _both():
        p, opt, log, pre, post = _trace(m)
        opt.step()
        pre.remove()
        opt.step()
        post.remove()
        opt.step()
        counts.append([e[0] for e in log])
    assert counts[0] == counts[1] == ["pre", "post", "post"]


def test_pre_hook_may_replace_the_step_arguments_like_torch() -> None:
    """The closure a pre-hook hands in is the one the step evaluates."""
    results = []
    for m in _both():
        p = m.nn.Parameter(m.tensor(np.array([3.0])))
        opt = m.optim.SGD([p], lr=0.1)
        called = []

        def closure(p=p, called=called, opt=opt):  # noqa: ANN001, ANN202
            called.append(True)
            opt.zero_grad()
            loss = (p * p).sum()
            loss.backward()
            return loss

        opt.register_step_pre_hook(lambda o, args, kwargs, c=closure: ((o, c), {}))
        loss = opt.step()
        results.append((float(loss.detach()), p.detach().clone(), len(called)))
    assert results[0][0] == results[1][0] == 9.0 and results[0][2] == results[1][2] == 1
    assert_like_torch(results[0][1], results[1][1])


def test_a_step_that_calls_its_base_step_runs_the_hooks_once() -> None:
    class Halved(engine.optim.SGD):
        def step(self, closure=None):  # noqa: ANN001, ANN202
            for g in self.param_groups:
                g["lr"] = 0.5 * g["lr"]
            return super().step(closure)

    p = engine.nn.Parameter(engine.tensor([1.0]))
    opt = Halved([p], lr=1.0)
    p.grad = engine.tensor([1.0])
    seen = []
    opt.register_step_pre_hook(lambda *a: seen.append("pre"))
    opt.register_step_post_hook(lambda *a: seen.append("post"))
    opt.step()
    assert seen == ["pre", "post"] and p.item() == 0.5


def test_a_pre_hook_returning_something_else_is_refused() -> None:
    p = engine.nn.Parameter(engine.tensor([1.0]))
    opt = engine.optim.SGD([p], lr=1.0)
    opt.register_step_pre_hook(lambda *a: "no")
    with pytest.raises(RuntimeError, match="must return None or a tuple"):
        opt.step()
