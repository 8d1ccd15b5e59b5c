"""PyTorch-style custom Functions (``forward(ctx, ...)``/``backward(ctx, ...)`` static methods):
the same class body runs on the engine and on PyTorch, and gives the same values and gradients
(and the engine's agree with finite differences)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from torch_reference import check, torch_or_skip

import engine


def exp_fn(m: Any) -> Any:
    class MyExp(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    return MyExp


def mul_constant_fn(m: Any) -> Any:
    class MulConstant(m.autograd.Function):
        @staticmethod
        def forward(ctx, x, constant):
            ctx.constant = constant
            return x * constant

        @staticmethod
        def backward(ctx, g):
            return g * ctx.constant, None

    return MulConstant


def linear_fn(m: Any) -> Any:
    """The PyTorch docs' LinearFunction: needs_input_grad decides what backward computes."""

    class LinearFunction(m.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, b=None):
            ctx.save_for_backward(x, w, b)
            out = x.mm(w.t())
            return out if b is None else out + b.unsqueeze(0).expand_as(out)

        @staticmethod
        def backward(ctx, g):
            x, w, b = ctx.saved_tensors
            gx = gw = gb = None
            if ctx.needs_input_grad[0]:
                gx = g.mm(w)
            if ctx.needs_input_grad[1]:
                gw = g.t().mm(x)
            if b is not None and ctx.needs_input_grad[2]:
                gb = g.sum(0)
            return gx, gw, gb

    return LinearFunction


def split_fn(m: Any) -> Any:
    """Two outputs; backward gets a gradient for each (zeros for an unused one)."""

    class SinCos(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin(), x.cos()

        @staticmethod
        def backward(ctx, gs, gc):
            (x,) = ctx.saved_tensors
            return gs * x.cos() - gc * x.sin()

    return SinCos


def sort_fn(m: Any) -> Any:
    class Sort(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            values, idx = m.sort(x, dim=-1)
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            return values, idx

        @staticmethod
        def backward(ctx, gv, gi):
            (idx,) = ctx.saved_tensors
            return m.zeros_like(gv).scatter(-1, idx, gv)

    return Sort


def setup_context_fn(m: Any) -> Any:
    class Cube(m.autograd.Function):
        @staticmethod
        def forward(x):
            return x ** 3

        @staticmethod
        def setup_context(ctx, inputs, output):
            (x,) = inputs
            ctx.save_for_backward(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * g * x ** 2

    return Cube


def broadcast_grad_fn(m: Any) -> Any:
    """backward returns a gradient broadcast to the output's shape; both libraries sum it back."""

    class AddRow(m.autograd.Function):
        @staticmethod
        def forward(ctx, x, row):
            return x + row

        @staticmethod
        def backward(ctx, g):
            return g, g

    return AddRow


def test_saved_output() -> None:
    check(lambda m, x: exp_fn(m).apply(x), [(3, 4)])


def test_non_tensor_argument_gets_none() -> None:
    check(lambda m, x: mul_constant_fn(m).apply(x, 2.5), [(2, 3)])


@pytest.mark.parametrize("bias", [True, False])
def test_needs_input_grad(bias: bool) -> None:
    inputs = [(4, 3), (2, 3)] + ([(2,)] if bias else [])
    check(lambda m, *xs: linear_fn(m).apply(*xs), inputs)


def test_only_some_inputs_need_grad() -> None:
    x = np.random.default_rng(0).standard_normal((4, 3))
    result = check(lambda m, x, w: linear_fn(m).apply(x.detach(), w), [x, (2, 3)],
                   gradcheck=False)  # x is detached on purpose: finite differences would see it
    assert result.engine_inputs[0].grad is None


def test_two_outputs_both_used() -> None:
    check(lambda m, x: split_fn(m).apply(x), [(5,)])


def test_two_outputs_one_used_gets_zeros() -> None:
    check(lambda m, x: split_fn(m).apply(x)[1] * 2, [(5,)])


def test_mark_non_differentiable_and_integer_outputs() -> None:
    x = np.array([[3.0, 1.0, 2.0], [0.5, -1.0, 4.0]])
    result = check(lambda m, x: sort_fn(m).apply(x), [x])
    values, idx = result.engine_out
    assert values.requires_grad and not idx.requires_grad


def test_setup_context_style() -> None:
    check(lambda m, x: setup_context_fn(m).apply(x), [(4,)])


def test_broadcast_gradient_is_summed_to_the_input_shape() -> None:
    check(lambda m, x, r: broadcast_grad_fn(m).apply(x, r), [(3, 4), (4,)])


def test_grad_fn_is_named_after_the_function() -> None:
    torch = torch_or_skip()
    y = exp_fn(engine).apply(engine.ones(2, requires_grad=True))
    yt = exp_fn(torch).apply(torch.ones(2, requires_grad=True))
    assert y.grad_fn.name == "MyExpBackward" and "MyExpBackward" in type(yt.grad_fn).__name__


def test_no_graph_without_grad() -> None:
    y = exp_fn(engine).apply(engine.ones(2))
    assert y.grad_fn is None and not y.requires_grad
    with engine.no_grad():
        y = exp_fn(engine).apply(engine.ones(2, requires_grad=True))
    assert y.grad_fn is None


def test_wrong_gradient_count_and_shape_are_explained() -> None:
    class TooMany(engine.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g, g

    class BadShape(engine.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return engine.ones(7)

    x = engine.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="returned 2 gradients but forward had 1 inputs"):
        TooMany.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match=r"invalid gradient at index 0: got shape \(7,\)"):
        BadShape.apply(x).sum().backward()


def test_saved_tensor_changed_in_place_is_caught() -> None:
    x = engine.ones(3, requires_grad=True)
    y = x * 1
    out = linear_fn(engine).apply(y.unsqueeze(0), engine.ones(2, 3, requires_grad=True))
    with engine.no_grad():
        y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        out.sum().backward()


def test_second_backward_without_retain_graph_is_explained() -> None:
    x = engine.ones(3, requires_grad=True)
    y = exp_fn(engine).apply(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.e * np.ones(3))
    with pytest.raises(RuntimeError, match="a second time"):
        y.backward()
