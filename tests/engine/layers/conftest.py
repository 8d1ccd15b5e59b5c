"""Helpers shared by the layer tests: build engine tensors on the test's device from NumPy data,
compare values and gradients with PyTorch's, and gradcheck in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from torch_reference import check, load_torch_weights

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
        """Same inputs through the engine and torch: outputs and input gradients must agree
        (the one reference helper, ``torch_reference.check``, on this test's device)."""
        check(lambda m, *xs: efn(*xs), list(arrays), torch_fn=lambda m, *xs: tfn(*xs),
              device=self.device, dtype=None, rtol=rtol, atol=atol, gradcheck=False,
              seed=int(self.rng.integers(1 << 30)))



@pytest.fixture
def L(device: str) -> Layers:  # noqa: N802 - short name reads well in tests
    return Layers(device)


@pytest.fixture
def load_torch() -> Callable[[Any, Any], None]:
    return load_torch_weights
