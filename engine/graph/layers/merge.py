"""Merge nodes: Add, Multiply and Concat join branches (residual blocks, multi-input models)."""

from __future__ import annotations

import functools
import operator
from typing import Any

from ..errors import ShapeRuleError
from ..params import Int
from ..registry import Inference, LayerSpec, TensorType, out, register
from ._util import full_dim

_NUM_INPUTS = Int("num_inputs", 2, "Number of input ports.", min=2, max=16)


def _first_other(others: dict[int, TensorType]) -> tuple[int, TensorType] | None:
    for port in sorted(others):
        return port, others[port]
    return None


def _same_shape_accepts(p: dict[str, Any], port: int, tt: TensorType,
                        others: dict[int, TensorType]) -> str | None:
    first = _first_other(others)
    if first is not None and first[1].shape != tt.shape:
        return (f"input {port} is {tt} but input {first[0]} is {first[1]}; "
                "elementwise merges need equal shapes")
    return None


def _elementwise_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    for i, tt in enumerate(ins[1:], 1):
        if tt.shape != ins[0].shape:
            raise ShapeRuleError(f"input {i} is {tt} but input 0 is {ins[0]}; elementwise "
                                 "merges need equal shapes (add a Linear or a 1x1 Conv2d "
                                 "to match them)", port=i)
    return out(ins[0], 0, (len(ins) - 1) * ins[0].numel)


register(LayerSpec(
    type="Add", category="Merge",
    help="Sum of its inputs (residual connections). Inputs must have equal shapes.",
    params=(_NUM_INPUTS,), inputs="num_inputs", infer=_elementwise_infer,
    accepts=_same_shape_accepts,
    call=lambda module, xs, p: functools.reduce(operator.add, xs),
    torch_call=lambda attr, xs, p: " + ".join(xs),
    onnx=lambda ctx, name, p, xs, ins: ctx.node("Sum", xs, hint=name),
))


def _mul_onnx(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
    y = xs[0]
    for i, x in enumerate(xs[1:], 1):
        y = ctx.node("Mul", [y, x], hint=name if i == len(xs) - 1 else name + "_part")
    return y


register(LayerSpec(
    type="Multiply", category="Merge",
    help="Elementwise product of its inputs (gating). Inputs must have equal shapes.",
    params=(_NUM_INPUTS,), inputs="num_inputs", infer=_elementwise_infer,
    accepts=_same_shape_accepts,
    call=lambda module, xs, p: functools.reduce(operator.mul, xs),
    torch_call=lambda attr, xs, p: " * ".join(xs),
    onnx=_mul_onnx,
))


def _concat_check(dim: int, tt: TensorType, port: int, ref: TensorType, ref_port: int) -> str:
    if len(tt.shape) != len(ref.shape):
        return (f"input {port} is {tt} but input {ref_port} is {ref}; Concat needs inputs of "
                "the same rank")
    for i, (a, b) in enumerate(zip(tt.shape, ref.shape), 1):
        if i != dim and a != b:
            return (f"input {port} is {tt} but input {ref_port} is {ref}; Concat along dim "
                    f"{dim} needs every other dim equal (dim {i} differs)")
    if tt.dtype != ref.dtype:
        return f"input {port} is {tt.dtype} but input {ref_port} is {ref.dtype}"
    return ""


def _concat_accepts(p: dict[str, Any], port: int, tt: TensorType,
                    others: dict[int, TensorType]) -> str | None:
    first = _first_other(others)
    if first is None:
        return None
    try:
        dim = full_dim(p["dim"], first[1], "dim")
    except ShapeRuleError as exc:
        return str(exc)
    return _concat_check(dim, tt, port, first[1], first[0]) or None


def _concat_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    dim = full_dim(p["dim"], ins[0], "dim")
    for i, tt in enumerate(ins[1:], 1):
        problem = _concat_check(dim, tt, i, ins[0], 0)
        if problem:
            raise ShapeRuleError(problem, port=i)
    shape = list(ins[0].shape)
    shape[dim - 1] = sum(tt.shape[dim - 1] for tt in ins)
    return out(TensorType(tuple(shape), ins[0].dtype), _axis=dim)


def _concat_call(module: Any, xs: list[Any], p: dict[str, Any]) -> Any:
    from ... import cat  # noqa: PLC0415

    return cat(xs, dim=p["_axis"])


register(LayerSpec(
    type="Concat", category="Merge",
    help="Joins its inputs along dim (1 = channels/features); other dims must match.",
    params=(_NUM_INPUTS, Int("dim", 1, "Dimension to join along (1 = first after the batch).",
                             min=-8, max=8)),
    inputs="num_inputs", input_dtype="any", infer=_concat_infer, accepts=_concat_accepts,
    call=_concat_call,
    torch_call=lambda attr, xs, p: f"torch.cat([{', '.join(xs)}], dim={p['_axis']})",
    onnx=lambda ctx, name, p, xs, ins: ctx.node("Concat", xs, {"axis": p["_axis"]}, hint=name),
    face=("dim",),
))
