"""The one way tests compare the engine with PyTorch (in the spirit of tinygrad's
``helper_test_op``): the same inputs go through an engine function and a PyTorch function, and the
outputs (values, shapes, dtypes) and the gradients of every input must agree.

PyTorch is a test-only dependency (the ``dev`` extra installs its CPU build), so in CI none of
these comparisons skip; on a checkout without it they skip with the install command as reason.
This module is the only place the tests import ``torch``.

Typical use::

    check(lambda m, x: m.cumsum(x, 1), [(3, 4)])            # m is engine, then torch
    check(lambda m, x, i: x.gather(1, i), [(3, 4), np.array([[0, 1], [2, 3], [1, 1]])])
    emod, tmod = module_pair("Linear", 4, 3)
    check_module(emod, tmod, [(5, 4)])
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import engine
from engine import dtypes
from engine.autograd import gradcheck as engine_gradcheck

_INSTALL = "PyTorch is a test dependency of the engine's comparisons: pip install -e '.[dev]'"


def torch_or_skip() -> Any:
    """The ``torch`` module, or a skip naming the install command when it is missing."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        pytest.skip(_INSTALL, allow_module_level=True)


def to_torch(x: Any, requires_grad: bool = False) -> Any:
    """An engine tensor or NumPy array (or a nest of them) as the equal CPU torch tensor."""
    torch = torch_or_skip()
    if isinstance(x, engine.Tensor):
        x = np.array(x.detach().cpu().numpy(), copy=True)
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.array(x, copy=True))
        return t.requires_grad_(True) if requires_grad else t
    if isinstance(x, tuple | list):
        return type(x)(to_torch(v, requires_grad) for v in x)
    return x


def to_numpy(x: Any) -> np.ndarray:
    """An engine or torch tensor's values as a NumPy array (on the host, detached)."""
    if isinstance(x, engine.Tensor):
        return np.asarray(x.detach().cpu().numpy())
    return x.detach().cpu().numpy()


def _dtype_name(x: Any) -> str:
    if isinstance(x, engine.Tensor):
        return dtypes.dtype_name(x.dtype)
    return str(x.dtype).removeprefix("torch.")


def assert_like_torch(ours: Any, theirs: Any, rtol: float = 1e-5, atol: float = 1e-6,
                      check_dtype: bool = True) -> None:
    """Same structure, types, shapes, dtypes and values (NaNs equal) as PyTorch's result;
    nests (tuples, lists, named tuples) are compared element by element."""
    torch = torch_or_skip()
    if isinstance(theirs, tuple | list):
        assert isinstance(ours, tuple | list), f"expected a sequence, got {type(ours).__name__}"
        assert len(ours) == len(theirs), f"{len(ours)} results but PyTorch gives {len(theirs)}"
        for o, t in zip(ours, theirs):
            assert_like_torch(o, t, rtol, atol, check_dtype)
        return
    if theirs is None:
        assert ours is None, f"expected None, got {type(ours).__name__}"
        return
    if not isinstance(theirs, torch.Tensor):
        if isinstance(theirs, float | int | bool):
            assert ours == pytest.approx(theirs, rel=rtol, abs=atol, nan_ok=True)
        else:
            assert ours == theirs
        return
    assert isinstance(ours, engine.Tensor), f"expected a Tensor, got {type(ours).__name__}"
    assert tuple(ours.shape) == tuple(theirs.shape), (
        f"shape {tuple(ours.shape)} but PyTorch gives {tuple(theirs.shape)}")
    if check_dtype:
        assert _dtype_name(ours) == _dtype_name(theirs), (
            f"dtype {_dtype_name(ours)} but PyTorch gives {_dtype_name(theirs)}")
    expected, got = to_numpy(theirs), to_numpy(ours)
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, expected)


@dataclass
class Compared:
    """What ``check`` ran, for tests that look further (state, parameter gradients)."""

    engine_inputs: list[Any]
    torch_inputs: list[Any]
    engine_out: Any
    torch_out: Any


def _make_input(spec: Any, dtype: Any, rng: np.random.Generator) -> Any:
    """A shape -> a random float array; float arrays -> ``dtype``; anything else unchanged."""
    if isinstance(spec, tuple) and all(isinstance(s, int) for s in spec):
        spec = rng.standard_normal(spec)
    if isinstance(spec, np.ndarray) and spec.dtype.kind == "f" and dtype is not None:
        spec = spec.astype(dtype)
    return spec


def _flat(out: Any) -> list[Any]:
    return list(out) if isinstance(out, tuple | list) else [out]


def check(fn: Callable[..., Any], inputs: Sequence[Any], *,
          torch_fn: Callable[..., Any] | None = None, device: str = "cpu",
          dtype: Any = np.float64, rtol: float = 1e-7, atol: float = 1e-9, grad: bool = True,
          gradcheck: bool | None = None, check_dtype: bool = True, seed: int = 0) -> Compared:
    """Run ``fn(engine, *tensors)`` and ``fn(torch, *tensors)`` (or ``torch_fn``) on the same
    inputs and compare outputs and input gradients.

    Inputs: a shape (random normal floats), a NumPy array (float arrays become ``dtype`` tensors
    that require grad; integer and bool arrays plain tensors), or any other value, passed to both
    as it is. Gradients: every floating output is weighted by fixed random numbers and summed, and
    both libraries' backward passes must give the same gradient for every float input.
    ``gradcheck`` (default: on for float64 inputs) also checks the engine's gradients against
    finite differences.
    """
    torch = torch_or_skip()
    rng = np.random.default_rng(seed)
    arrays = [_make_input(s, dtype, rng) for s in inputs]

    def leaf(a: Any, lib: Any) -> Any:
        if not isinstance(a, np.ndarray):
            return a
        floating = a.dtype.kind == "f"
        if lib is engine:
            t = engine.tensor(a, device=device)
            return t.requires_grad_(True) if grad and floating else t
        return to_torch(a, requires_grad=grad and floating)

    e_in = [leaf(a, engine) for a in arrays]
    t_in = [leaf(a, torch) for a in arrays]
    e_out = fn(engine, *e_in)
    t_out = (torch_fn or fn)(torch, *t_in)
    assert_like_torch(e_out, t_out, rtol, atol, check_dtype)
    result = Compared(e_in, t_in, e_out, t_out)
    if not grad:
        return result
    e_loss = t_loss = None
    for eo, to in zip(_flat(e_out), _flat(t_out)):
        if not isinstance(to, torch.Tensor) or not to.requires_grad:
            continue
        w = rng.standard_normal(tuple(to.shape)).astype(to_numpy(to).dtype)
        e_term = (eo * engine.tensor(w, device=device)).sum()
        t_term = (to * torch.from_numpy(w)).sum()
        e_loss = e_term if e_loss is None else e_loss + e_term
        t_loss = t_term if t_loss is None else t_loss + t_term
    if t_loss is None:
        return result
    t_loss.backward()
    e_loss.backward()
    for i, (e, t) in enumerate(zip(e_in, t_in)):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            if t.grad is None:
                assert e.grad is None, f"input {i}: PyTorch gives no gradient, the engine does"
                continue
            assert e.grad is not None, f"input {i} got no gradient"
            assert_like_torch(e.grad, t.grad, rtol, atol, check_dtype)
    floating = [a for a in arrays if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    if gradcheck is None:
        gradcheck = bool(floating) and all(a.dtype == np.float64 for a in floating)
    if gradcheck:
        fresh = [leaf(a, engine) for a in arrays]
        assert engine_gradcheck(lambda *xs: fn(engine, *xs), fresh)
    return result


def module_pair(name: str | Callable[[Any], Any], *args: Any, dtype: Any = np.float64,
                **kwargs: Any) -> tuple[Any, Any]:
    """The engine module and PyTorch's (``name`` in both ``nn``s, or a factory ``f(lib)``), in
    ``dtype``, the engine one holding PyTorch's weights through ``load_state_dict``."""
    torch = torch_or_skip()
    if isinstance(name, str):
        tmod = getattr(torch.nn, name)(*args, **kwargs)
        emod = getattr(engine.nn, name)(*args, **kwargs)
    else:
        tmod, emod = name(torch), name(engine)
    if dtype == np.float64:
        tmod, emod = tmod.double(), emod.double()
    load_torch_weights(emod, tmod)
    return emod, tmod


def load_torch_weights(module: Any, torch_module: Any) -> None:
    """Copy a torch module's state_dict into the engine module (keys must match exactly)."""
    sd = {k: v.detach().numpy() for k, v in torch_module.state_dict().items()}
    result = module.load_state_dict(sd)
    assert not result.missing_keys and not result.unexpected_keys


def check_module(emod: Any, tmod: Any, inputs: Sequence[Any], *, call: Callable[..., Any]
                 | None = None, **kw: Any) -> Compared:
    """``check`` on a module pair: outputs, input gradients and every parameter's gradient."""
    run = call or (lambda mod, *xs: mod(*xs))
    result = check(lambda m, *xs: run(emod if m is engine else tmod, *xs), inputs,
                   gradcheck=kw.pop("gradcheck", False), **kw)
    tparams = dict(tmod.named_parameters())
    rtol, atol = kw.get("rtol", 1e-7), kw.get("atol", 1e-9)
    for pname, p in emod.named_parameters():
        tp = tparams[pname]
        if tp.grad is None:
            assert p.grad is None, f"{pname}: PyTorch gives no gradient, the engine does"
        else:
            assert p.grad is not None, f"{pname} got no gradient"
            assert_like_torch(p.grad, tp.grad, rtol, atol)
    return result
