"""``einsum`` and vector norms: one node each, since their gradients have closed forms that the
chain of primitives would compute less exactly (a norm at zero) or far more slowly (einsum)."""

from __future__ import annotations

import string
from typing import Any

from .._backend import xp_of
from ..autograd.function import Function
from .util import expand_reduced


def parse_einsum(equation: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """Input and output subscripts with ``...`` spelled out as letters and the implicit output
    (the letters that appear once, in order) made explicit."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum(): the equation names {len(ins)} operands but {len(shapes)} "
                         f"were given")
    used = set(eq)
    spare = [c for c in string.ascii_uppercase + string.ascii_lowercase if c not in used]
    n_ell = max((len(s) - len(sub.replace("...", "")) for sub, s in zip(ins, shapes)
                 if "..." in sub), default=0)
    ell = "".join(spare[:n_ell])
    out_ins = []
    for sub, shape in zip(ins, shapes):
        if "..." in sub:
            k = len(shape) - len(sub.replace("...", ""))
            sub = sub.replace("...", ell[n_ell - k:])
        if len(sub) != len(shape):
            raise ValueError(f"einsum(): subscripts '{sub}' name {len(sub)} dimensions but the "
                             f"operand has shape {tuple(shape)}")
        out_ins.append(sub)
    if arrow:
        out = rhs.replace("...", ell)
    else:
        letters = "".join(out_ins)
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1
                                   and c not in ell))
    return out_ins, out


class Einsum(Function):
    """The gradient of operand i is the einsum of the output gradient with the other operands
    into operand i's subscripts (broadcast along letters only operand i has)."""

    def forward(self, *arrays: Any, ins: list[str], out: str) -> Any:
        self.arrays, self.ins, self.out = arrays, ins, out
        if any(self.needs) and any(len(set(s)) != len(s) for s in ins):
            raise NotImplementedError(
                "einsum(): the gradient of a repeated index within one operand (a diagonal, "
                "'ii->i') is not supported; use torch.diagonal-style indexing instead"
            )
        return xp_of(arrays[0]).einsum(",".join(ins) + "->" + out, *arrays)

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = xp_of(g)
        grads = []
        for i, (sub, need) in enumerate(zip(self.ins, self.needs)):
            if not need:
                grads.append(None)
                continue
            others = [(s, a) for j, (s, a) in enumerate(zip(self.ins, self.arrays)) if j != i]
            have = set(self.out).union(*(set(s) for s, _ in others))
            kept = "".join(c for c in sub if c in have)
            eq = ",".join([self.out] + [s for s, _ in others]) + "->" + kept
            gi = xp.einsum(eq, g, *(a for _, a in others))
            if kept != sub:  # letters summed away inside operand i alone: spread back
                shape = [self.arrays[i].shape[k] if c in have else 1 for k, c in enumerate(sub)]
                gi = xp.broadcast_to(gi.reshape(shape), self.arrays[i].shape)
            grads.append(gi.astype(g.dtype, copy=False))
        return tuple(grads)


class Norm(Function):
    """``(sum |a|^p)^(1/p)`` over ``axes``; the gradient is 0 where the norm is 0 (PyTorch's
    subgradient), for p = 1 it is sign(a)."""

    saves = (0,)
    saves_output = True

    def forward(self, a: Any, p: float, axes: tuple[int, ...] | None, keepdim: bool) -> Any:
        xp = xp_of(a)
        self.a, self.p, self.axes, self.keepdim = a, p, axes, keepdim
        if p == 2:  # (no absolute values needed)
            out = xp.sqrt((a * a).sum(axis=axes, keepdims=keepdim))
        elif p == 1:
            out = xp.abs(a).sum(axis=axes, keepdims=keepdim)
        else:
            out = (xp.abs(a) ** p).sum(axis=axes, keepdims=keepdim) ** (1.0 / p)
        self.out = out
        return out

    def backward(self, g: Any) -> tuple[Any, None, None, None]:
        xp, a, p = xp_of(g), self.a, self.p
        g = expand_reduced(g, a.shape, self.axes, self.keepdim)
        out = expand_reduced(self.out, a.shape, self.axes, self.keepdim)
        if p == 1:
            return g * xp.sign(a), None, None, None
        safe = xp.where(out == 0, 1, out)
        if p == 2:
            grad = a / safe
        else:
            grad = a * xp.abs(a) ** (p - 2) / safe ** (p - 1)
        return xp.where(out == 0, 0, g * grad).astype(g.dtype, copy=False), None, None, None
