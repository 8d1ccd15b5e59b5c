"""Autograd semantics as PyTorch has them: accumulation, retain_graph, ``autograd.grad``, in-place
safety through version counters, grad modes, and the errors a user sees when holding it wrong."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import engine
from engine.autograd import enable_grad, no_grad


def leaf(*shape: int) -> engine.Tensor:
    return engine.randn(*shape, dtype=engine.float64, requires_grad=True)


# ----------------------------------------------------------------------------- backward basics


def test_gradients_accumulate_across_backward_calls_until_zeroed() -> None:
    x = leaf(3)
    (x * 2).sum().backward()
    first = x.grad
    np.testing.assert_allclose(x.grad.numpy(), [2, 2, 2])
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5, 5, 5])
    assert x.grad is first  # the same .grad tensor, updated
    x.grad.zero_()
    (x ** 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy())
    x.grad = None
    x.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1, 1, 1])
    assert not x.grad.requires_grad and x.grad.grad_fn is None


def test_non_leaf_used_several_times_sums_its_gradients() -> None:
    x = leaf(4)
    h = x * 3
    out = h * h + h.exp() + h.sum() * h
    out.sum().backward()
    hv = 3 * x.detach().numpy()
    expected = 3 * (2 * hv + np.exp(hv) + hv.sum() + hv.sum())
    np.testing.assert_allclose(x.grad.numpy(), expected)


def test_diamond_and_shared_leaf_graphs() -> None:
    a = leaf(3)
    b, c = a * 2, a.exp()
    (b * c).sum().backward()
    av = a.detach().numpy()
    np.testing.assert_allclose(a.grad.numpy(), 2 * np.exp(av) + 2 * av * np.exp(av))


def test_deep_graph_needs_no_recursion() -> None:
    x = leaf(1)
    y = x
    for _ in range(5000):
        y = y + x * 0.5
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1 + 5000 * 0.5])


def test_backward_on_leaf_and_with_explicit_gradient() -> None:
    x = engine.tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0
    y = leaf(2, 3)
    z = y * 2
    z.backward(gradient=engine.ones(2, 3, dtype=engine.float64) * 0.5)
    np.testing.assert_allclose(y.grad.numpy(), np.ones((2, 3)))


def test_leaf_grads_never_alias_each_other_or_the_given_gradient() -> None:
    x, y = leaf(6), leaf(2, 3)
    g = engine.ones(2, 3, dtype=engine.float64)
    (x.reshape(2, 3) + y).backward(gradient=g)
    y.grad.mul_(10)  # what clip_grad_norm_ does
    np.testing.assert_allclose(x.grad.numpy(), np.ones(6))
    np.testing.assert_allclose(g.numpy(), np.ones((2, 3)))
    a, b = leaf(3), leaf(3)
    (a + b).sum().backward()
    a.grad.add_(1)
    np.testing.assert_allclose(b.grad.numpy(), np.ones(3))


def test_backward_errors_are_clear() -> None:
    x = leaf(2, 3)
    with pytest.raises(RuntimeError, match=r"only for scalar outputs.*shape \(2, 3\).*\.sum\(\)"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\) but the tensor has shape "
                                           r"\(2, 3\)"):
        (x * 2).backward(gradient=engine.ones(3, dtype=engine.float64))
    with pytest.raises(RuntimeError, match="does not require grad.*requires_grad=True"):
        engine.ones(2).sum().backward()
    with no_grad():
        y = x * 2
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_retain_graph_semantics() -> None:
    x = leaf(3)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.detach().numpy())
    with pytest.raises(RuntimeError, match=r"backward through \w+Backward a second time.*"
                                           r"retain_graph=True"):
        loss.backward()


def test_graph_is_freed_for_other_paths_too() -> None:
    x = leaf(3)
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match="ExpBackward a second time"):
        (h * 2).sum().backward()


# ----------------------------------------------------------------------------- autograd.grad


def test_autograd_grad_returns_without_accumulating() -> None:
    x, w = leaf(3), leaf(3)
    h = x * w
    loss = (h * h).sum()
    gx, gh = engine.autograd.grad(loss, [x, h], retain_graph=True)
    np.testing.assert_allclose(gx.numpy(), 2 * (x * w * w).detach().numpy())
    np.testing.assert_allclose(gh.numpy(), 2 * h.detach().numpy())
    assert x.grad is None and w.grad is None
    (gw,) = engine.autograd.grad(loss, w)
    np.testing.assert_allclose(gw.numpy(), 2 * (x * x * w).detach().numpy())


def test_autograd_grad_results_are_independent_writable_tensors() -> None:
    x = engine.randn(300, 300, requires_grad=True)  # big enough for a broadcast gradient
    (g,) = engine.autograd.grad(x.sum(), x)
    g.mul_(2)  # a result the caller owns
    np.testing.assert_allclose(g.numpy(), np.full((300, 300), 2.0))


def test_create_graph_is_refused_clearly() -> None:
    x = leaf(2)
    with pytest.raises(NotImplementedError, match="higher-order gradients are not supported"):
        (x * x).sum().backward(create_graph=True)


def test_autograd_grad_outputs_unused_and_errors() -> None:
    x, unused = leaf(2, 2), leaf(2)
    y = x * 3
    (g,) = engine.autograd.grad(y, x, grad_outputs=engine.ones(2, 2, dtype=engine.float64),
                                retain_graph=True)
    np.testing.assert_allclose(g.numpy(), np.full((2, 2), 3.0))
    with pytest.raises(RuntimeError, match="not used.*allow_unused=True"):
        engine.autograd.grad(y.sum(), [x, unused], retain_graph=True)
    gx, gu = engine.autograd.grad(y.sum(), [x, unused], allow_unused=True, retain_graph=True)
    assert gu is None and gx.shape == (2, 2)
    with pytest.raises(RuntimeError, match=r"scalar outputs.*shape \(2, 2\).*grad_outputs"):
        engine.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="inputs does not require grad"):
        engine.autograd.grad(y.sum(), engine.ones(2))


# ----------------------------------------------------------------------------- in-place safety


@pytest.mark.parametrize("op", [
    lambda t: t.add_(1), lambda t: t.sub_(1), lambda t: t.mul_(2), lambda t: t.div_(2),
    lambda t: t.zero_(), lambda t: t.fill_(3), lambda t: t.clamp_(0, 1),
    lambda t: t.copy_(engine.ones(3, dtype=engine.float64)), lambda t: t.uniform_(),
    lambda t: t.normal_(), lambda t: t.__setitem__(0, 1.0), lambda t: t.__iadd__(1),
], ids=["add_", "sub_", "mul_", "div_", "zero_", "fill_", "clamp_", "copy_", "uniform_",
        "normal_", "setitem", "iadd"])
def test_inplace_on_leaf_requiring_grad_raises_unless_no_grad(op) -> None:
    x = leaf(3)
    with pytest.raises(RuntimeError, match=r"leaf tensor that requires grad .* in-place.*"
                                           r"engine.no_grad\(\)"):
        op(x)
    with no_grad():
        op(x)  # how optimizers update parameters
    assert x.is_leaf and x.requires_grad and x.grad_fn is None
    assert x._version == 1


@pytest.mark.parametrize("case", ["saved_input", "saved_output", "view_of_saved", "setitem"])
def test_modifying_a_saved_tensor_then_backward_names_the_op(case: str) -> None:
    x = leaf(2, 3)
    h = x * 1
    if case == "saved_input":
        out, name = h * x, "MulBackward"
        h.add_(1)
    elif case == "saved_output":
        out = h.exp()
        name = "ExpBackward"
        out.mul_(2)
    elif case == "view_of_saved":
        out, name = h.sin(), "SinBackward"
        with no_grad():
            h[0].fill_(0.0)  # a view shares the version counter of what it views
    else:
        out, name = h.cos(), "CosBackward"
        h[1, 1] = 5.0
    with pytest.raises(RuntimeError, match=rf"modified by an in-place operation: {name} saved it "
                                           rf"at version 0, it is now at version 1.*clone"):
        out.sum().backward()


def test_modifying_a_tensor_backward_does_not_need_is_fine() -> None:
    x, b = leaf(3), leaf(3)
    h = x * 2
    out = h + b  # add keeps no tensors for its backward
    r = h.relu()  # relu keeps its mask, not h
    h.add_(100)
    (out.sum() + r.sum()).backward()
    np.testing.assert_allclose(b.grad.numpy(), np.ones(3))
    np.testing.assert_allclose(x.grad.numpy(), 2 + 2 * (x.detach().numpy() > 0))


def test_inplace_on_non_leaf_records_the_op() -> None:
    x = leaf(3)
    y = x * 1
    y.mul_(3)
    y.add_(x)
    assert y.grad_fn.name == "AddBackward"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 4.0))


def test_inplace_on_a_view_of_a_tensor_requiring_grad_is_refused_while_recording() -> None:
    w = leaf(3, 2)
    with pytest.raises(RuntimeError, match=r"add_: a view of a leaf tensor that requires grad.*"
                                           r"engine.no_grad\(\)"):
        w[0].add_(1)
    with pytest.raises(RuntimeError, match="a view of a leaf"):
        w.t().zero_()
    h = w * 2
    with pytest.raises(RuntimeError, match=r"mul_: in-place change of a view \(made by "
                                           r"IndexBackward\).*t\[idx\] = value.*\.clone\(\)"):
        h[:, 0].mul_(3)
    with pytest.raises(RuntimeError, match=r"__setitem__: in-place change of a view"):
        h.reshape(6)[0] = 1.0
    v = h[0].clone()
    v.mul_(3)  # a copy is not a view
    h.reshape(6).clone()[0] = 1.0
    h[0] = h[1] * 3  # writing through the tensor itself is tracked
    h.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [[0, 0], [8, 8], [2, 2]])
    with no_grad():
        w[0].add_(1)  # optimizers and initialisers may
    assert w._version == 1


def test_a_copying_reshape_is_not_a_view() -> None:
    x = engine.zeros(2, 3)
    y = x.t().reshape(6)  # NumPy must copy here
    y.add_(1)
    assert x._version == 0 and x.sum().item() == 0
    z = x.t().reshape(3, 2)  # no copy needed: a view
    z.add_(1)
    assert x._version == 1 and x.sum().item() == 6


def test_int_index_gives_a_zero_dim_view_as_in_torch() -> None:
    x = engine.zeros(3)
    x[1].fill_(5.0)
    x[2].add_(2.0)
    assert x.tolist() == [0.0, 5.0, 2.0]
    assert x[0].shape == () and engine.zeros(2, 2)[1, 1].shape == ()


def test_view_and_detach_share_the_version_counter() -> None:
    x = engine.zeros(2, 3)
    v, d, r = x[0], x.detach(), x.view(6)
    v.add_(1)
    assert x._version == v._version == d._version == r._version == 1
    c = x.clone()
    x.add_(1)
    assert c._version == 0


# ----------------------------------------------------------------------------- grad modes


def test_no_grad_and_enable_grad_as_context_managers() -> None:
    x = leaf(2)
    with no_grad():
        assert not engine.is_grad_enabled()
        y = x * 2
        with enable_grad():
            assert engine.is_grad_enabled()
            z = x * 2
        assert not engine.is_grad_enabled()
    assert engine.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None
    with engine.no_grad():
        engine.set_grad_enabled(True)
        assert engine.is_grad_enabled()
    assert engine.is_grad_enabled()


def test_grad_modes_as_decorators_restore_on_error() -> None:
    x = leaf(2)

    @no_grad()
    def infer(t: engine.Tensor) -> engine.Tensor:
        return t * 2

    @enable_grad()
    def train(t: engine.Tensor) -> engine.Tensor:
        return t * 2

    @no_grad()
    def boom() -> None:
        raise ValueError("inside")

    @engine.no_grad
    def bare(t: engine.Tensor) -> engine.Tensor:
        return t * 2

    assert not infer(x).requires_grad and not bare(x).requires_grad
    with no_grad():
        assert train(x).requires_grad
    assert infer.__name__ == "infer"
    with pytest.raises(ValueError, match="inside"):
        boom()
    assert engine.is_grad_enabled()


def test_set_grad_enabled_as_call_context_and_decorator() -> None:
    x = leaf(2)
    with engine.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert engine.is_grad_enabled()
    with no_grad(), engine.set_grad_enabled(True):
        assert (x * 2).requires_grad

    @engine.set_grad_enabled(False)
    def infer(t: engine.Tensor) -> engine.Tensor:
        return t * 2

    assert engine.is_grad_enabled()  # decorating changes nothing by itself
    assert not infer(x).requires_grad and engine.is_grad_enabled()
    engine.set_grad_enabled(False)
    try:
        assert not engine.is_grad_enabled()
    finally:
        engine.set_grad_enabled(True)


def test_grad_mode_is_per_thread() -> None:
    seen = []
    with no_grad():
        worker = threading.Thread(target=lambda: seen.append(engine.is_grad_enabled()))
        worker.start()
        worker.join()
    assert seen == [True]


def test_integer_tensors_cannot_require_grad() -> None:
    with pytest.raises(RuntimeError, match="only floating point tensors can require gradients.*"
                                           "int64"):
        engine.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="int32"):
        engine.zeros(2, dtype=engine.int32, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"bool.*\.float\(\)"):
        engine.ones(2, dtype=engine.bool).requires_grad_()
    x = leaf(3)
    assert not x.argmax().requires_grad and not (x > 0).requires_grad
    assert not x.long().requires_grad and (x.long() + 1).grad_fn is None


def test_requires_grad_propagation_and_names() -> None:
    a, b = engine.ones(2), leaf(2).float()
    assert not (a * 2).requires_grad and (a * 2).grad_fn is None
    assert (a * b).requires_grad and (a * b).grad_fn.name == "MulBackward"
    assert repr((a * b).grad_fn) == "<MulBackward>"
    assert "grad_fn=<AddBackward>" in repr(a + b)
    assert "requires_grad=True" in repr(b.detach().requires_grad_())
    with pytest.raises(RuntimeError, match=r"only works on leaf tensors.*\.detach\(\)"):
        (a * b).requires_grad_(False)


def test_gradient_destination_is_filled_and_adopted() -> None:
    """A registered destination (DDP's bucket view) receives the weight gradient times its
    scale and becomes the leaf's .grad uncopied; a second use of the same weight in the graph
    then accumulates out of place, as without a destination."""
    from engine.autograd.function import GRAD_DESTINATIONS
    from engine.nn import functional as F

    rng = np.random.default_rng(0)
    x = engine.tensor(rng.standard_normal((5, 4)))
    w = engine.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = engine.tensor(rng.standard_normal(3), requires_grad=True)
    (F.linear(x, w, b) ** 2).sum().backward()
    expected, expected_b = w.grad.numpy().copy(), b.grad.numpy().copy()

    w.grad = b.grad = None
    dest, dest_b = np.full((3, 4), np.nan), np.full(3, np.nan)
    GRAD_DESTINATIONS[id(w)] = (dest, 0.5)
    GRAD_DESTINATIONS[id(b)] = (dest_b, 0.5)
    try:
        (F.linear(x, w, b) ** 2).sum().backward()
        assert w.grad._data is dest and b.grad._data is dest_b
        np.testing.assert_allclose(dest, 0.5 * expected, rtol=1e-15)
        np.testing.assert_allclose(dest_b, 0.5 * expected_b, rtol=1e-15)
        GRAD_DESTINATIONS.clear()

        w.grad = None
        dest2 = np.full((3, 4), np.nan)
        GRAD_DESTINATIONS[id(w)] = (dest2, 1.0)
        (F.linear(x, w).sum() + F.linear(2 * x, w).sum()).backward()
        # d/dw of sum(x @ w.T) is x's column sums in every row; the two uses give 1x + 2x.
        shared = np.tile(3 * x.numpy().sum(axis=0), (3, 1))
        np.testing.assert_allclose(w.grad.numpy(), shared, rtol=1e-14)
    finally:
        GRAD_DESTINATIONS.clear()
