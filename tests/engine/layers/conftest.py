"""Helpers shared by the layer tests: build engine tensors on the test's device from NumPy data,
compare values and gradients with PyTorch's, and gradcheck in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import engine
import engine.nn  # noqa: F401 - registers engine.nn for the tests
from engine.autograd import gradcheck


class Layers:
    """Test helpers (a fixture, so test files need no import path tricks)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.rng = np.random.default_rng(0)

    def randn(self, *shape: int, dtype: Any = np.float64) -> np.ndarray:
        return self.rng.standard_normal(shape).astype(dtype)

    def t(self, arr: Any, grad: bool = True) -> engine.Tensor:
        """An engine tensor on the test device (float inputs require grad by default)."""
        out = engine.tensor(np.asarray(arr), device=self.device)
        if grad and out.is_floating_point():
            out.requires_grad_(True)
        return out

    @staticmethod
    def np(t: engine.Tensor) -> np.ndarray:
        return np.asarray(t.detach().cpu().data)

    def gradcheck(self, fn: Callable[..., Any], arrays: Sequence[np.ndarray],
                  **kw: Any) -> None:
        inputs = [self.t(a) for a in arrays]
        assert gradcheck(fn, inputs, **kw)

    def against_torch(self, efn: Callable[..., Any], tfn: Callable[..., Any],
                      arrays: Sequence[np.ndarray], atol: float = 1e-5,
                      rtol: float = 1e-5) -> None:
        """Same inputs through the engine and torch: outputs and input gradients must agree."""
        torch = pytest.importorskip("torch")
        e_in = [self.t(a) for a in arrays]
        t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
        e_out, t_out = efn(*e_in), tfn(*t_in)
        e_outs = e_out if isinstance(e_out, tuple) else (e_out,)
        t_outs = t_out if isinstance(t_out, tuple) else (t_out,)
        e_loss = t_loss = 0
        for eo, to in zip(e_outs, t_outs):
            np.testing.assert_allclose(self.np(eo), to.detach().numpy(), atol=atol, rtol=rtol)
            if not to.is_floating_point():
                continue
            w = self.rng.standard_normal(tuple(to.shape)).astype(a_dtype(arrays))
            e_loss = e_loss + (eo * self.t(w, grad=False)).sum()
            t_loss = t_loss + (to * torch.tensor(w)).sum()
        e_loss.backward()
        t_loss.backward()
        for e, t in zip(e_in, t_in):
            np.testing.assert_allclose(self.np(e.grad), t.grad.numpy(), atol=atol, rtol=rtol)


def a_dtype(arrays: Sequence[np.ndarray]) -> Any:
    return arrays[0].dtype if len(arrays) else np.float64


@pytest.fixture
def L(device: str) -> Layers:  # noqa: N802 - short name reads well in tests
    return Layers(device)


def load_torch_weights(module: Any, torch_module: Any) -> None:
    """Copy a torch module's state_dict into the engine module (keys must match exactly)."""
    sd = {k: v.detach().numpy() for k, v in torch_module.state_dict().items()}
    result = module.load_state_dict(sd)
    assert not result.missing_keys and not result.unexpected_keys


@pytest.fixture
def load_torch() -> Callable[[Any, Any], None]:
    return load_torch_weights
