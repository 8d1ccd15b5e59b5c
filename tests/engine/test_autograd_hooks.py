"""Gradient hooks, ``retain_grad``, ``grad_fn.next_functions`` and ``backward(inputs=)``: what
each gives, against PyTorch on the same computation."""

from __future__ import annotations

import numpy as np
import pytest
from torch_reference import assert_like_torch, torch_or_skip

import engine


def _both():
    return engine, torch_or_skip()


def test_leaf_hook_sees_the_summed_gradient_and_may_replace_it() -> None:
    seen = {}
    results = []
    for m in _both():
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        calls = []

        def hook(g, calls=calls):
            calls.append(g.clone())
            return g * 10

        x.register_hook(hook)
        (x * x + x).sum().backward()  # two paths into x: the hook runs once, on their sum
        seen[m.__name__] = calls
        results.append(x.grad)
    assert len(seen["engine"]) == len(seen["torch"]) == 1
    assert_like_torch(seen["engine"][0], seen["torch"][0])
    assert_like_torch(*results)


def test_non_leaf_hook_changes_what_flows_on() -> None:
    results = []
    for m in _both():
        x = m.tensor([1.0, -2.0], requires_grad=True)
        y = x * 3
        y.register_hook(lambda g: g * 0.5)
        (y ** 2).sum().backward()
        results.append(x.grad)
    assert_like_torch(*results)


def test_hook_handle_removes_it() -> None:
    x = engine.tensor([1.0], requires_grad=True)
    h = x.register_hook(lambda g: g * 100)
    h.remove()
    (x * 2).sum().backward()
    assert x.grad.item() == 2.0


def test_register_hook_needs_grad() -> None:
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        engine.zeros(2).register_hook(lambda g: g)


def test_retain_grad_keeps_a_non_leaf_gradient_like_torch() -> None:
    grads = []
    for m in _both():
        x = m.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        h = x.exp()
        h.retain_grad()
        assert h.retains_grad
        (h * h).sum().backward(retain_graph=True)
        (h * h).sum().backward()  # accumulates, as for leaves
        grads.append(h.grad)
    assert_like_torch(*grads)


def test_non_leaf_grad_is_none_without_retain_grad() -> None:
    x = engine.tensor([1.0], requires_grad=True)
    y = x * 2
    y.sum().backward()
    assert y.grad is None and not y.retains_grad and x.retains_grad is False


def test_next_functions_walks_the_graph_like_torch() -> None:
    torch = torch_or_skip()
    shapes = []
    for m in (engine, torch):
        a = m.tensor([1.0], requires_grad=True)
        b = m.tensor([2.0])
        y = (a * b).exp()
        (mul, _), = y.grad_fn.next_functions
        acc, none = mul.next_functions
        shapes.append((len(y.grad_fn.next_functions), acc[0].variable is a, none[0]))
    assert shapes[0] == shapes[1] == (1, True, None)


def test_backward_inputs_accumulates_only_into_those() -> None:
    results = []
    for m in _both():
        a = m.tensor([1.0, 2.0], requires_grad=True)
        b = m.tensor([3.0, 4.0], requires_grad=True)
        (a * b).sum().backward(inputs=[a])
        results.append((a.grad, b.grad))
    assert_like_torch(*results)
    assert results[0][1] is None


def test_hooks_run_in_autograd_grad_too() -> None:
    x = engine.tensor(np.array([1.0, 2.0]), requires_grad=True)
    x.register_hook(lambda g: g + 1)
    (g,) = engine.autograd.grad((x * x).sum(), [x])
    np.testing.assert_allclose(g.numpy(), [3.0, 5.0])


def _hooked_pair():
    from torch_reference import module_pair

    return module_pair(lambda m: m.nn.Sequential(m.nn.Linear(3, 4), m.nn.Tanh(),
                                                 m.nn.Linear(4, 2)))


def test_full_backward_hook_sees_grad_input_and_output_like_torch() -> None:
    torch = torch_or_skip()
    emod, tmod = _hooked_pair()
    x = np.random.default_rng(0).standard_normal((5, 3))
    seen = {}
    for m, mod in ((engine, emod), (torch, tmod)):
        log = []

        def hook(module, gin, gout, log=log):
            log.append((gin, gout))

        def pre(module, gout, log=log):
            log.append(("pre", gout))

        mod[1].register_full_backward_hook(hook)
        mod[1].register_full_backward_pre_hook(pre)
        xi = m.tensor(x, requires_grad=True)
        mod(xi).sum().backward()
        seen[m.__name__] = log
    e, t = seen["engine"], seen["torch"]
    assert [x[0] == "pre" for x in e] == [x[0] == "pre" for x in t] == [True, False]
    assert_like_torch(e[0][1], t[0][1], rtol=1e-10)
    assert_like_torch(e[1][0], t[1][0], rtol=1e-10)
    assert_like_torch(e[1][1], t[1][1], rtol=1e-10)


def test_full_backward_hook_can_replace_grad_input_like_torch() -> None:
    torch = torch_or_skip()
    emod, tmod = _hooked_pair()
    x = np.random.default_rng(1).standard_normal((2, 3))
    grads = []
    for m, mod in ((engine, emod), (torch, tmod)):
        mod[2].register_full_backward_hook(lambda mod, gin, gout: (gin[0] * 3,))
        xi = m.tensor(x, requires_grad=True)
        mod(xi).sum().backward()
        grads.append((xi.grad, mod[0].weight.grad, mod[2].weight.grad))
    assert_like_torch(*grads, rtol=1e-10)


def test_full_backward_hook_on_first_layer_gets_none_grad_input() -> None:
    torch = torch_or_skip()
    emod, tmod = _hooked_pair()
    calls = []
    for m, mod in ((engine, emod), (torch, tmod)):
        mod[0].register_full_backward_hook(lambda mod, gin, gout: calls.append(gin))
        mod(m.ones(2, 3, dtype=m.float64)).sum().backward()
    assert calls[0] == (None,) and calls[1] == (None,)
