"""Devices: parsing, the CuPy-less machine's clear errors, and mixed-device errors that name both
devices. A second device is simulated with a Device object backed by NumPy (no GPU here), which
drives the same checks a real GPU tensor would."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import engine
from engine._backend import CPU, device_of_array, xp_of

HAS_CUPY = importlib.util.find_spec("cupy") is not None
no_cupy = pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed: the missing-CuPy path can't run")


def test_device_objects_parse_and_compare() -> None:
    d = engine.device("cpu")
    assert d is CPU and d == "cpu" and str(d) == "cpu" and repr(d) == "device(type='cpu')"
    assert d != "gpu" and d.type == "cpu" and d.index is None and not d.is_cuda
    assert engine.device(d) is d and engine.device(None) is d
    assert engine.ones(2, device=d).device == "cpu"


@pytest.mark.parametrize("spec,message", [
    ("gpu", r"unknown device 'gpu': use 'cpu', 'cuda' or 'cuda:N'"),
    ("cuda:x", r"bad device 'cuda:x': expected 'cuda:N' with N an integer"),
    ("cuda:-1", r"bad device 'cuda:-1': the index must be >= 0"),
    (-1, r"a CUDA device index must be >= 0"),
    (2.5, r"device must be a string like 'cpu' or 'cuda:0', got 2.5"),
])
def test_bad_device_strings_are_rejected(spec: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        engine.zeros(2, device=spec)


@no_cupy
def test_cuda_devices_can_be_named_without_cupy_like_torch() -> None:
    """Scripts build ``device('cuda')`` / ``device('cuda', 0)`` up front; only use fails."""
    d, d0 = engine.device("cuda"), engine.device("cuda", 0)
    assert (d.type, d.index, repr(d)) == ("cuda", None, "device(type='cuda')")
    assert (d0.type, d0.index, str(d0)) == ("cuda", 0, "cuda:0")
    assert d0 == engine.device("cuda:0") and d0 != d and d0 != engine.device("cpu")


@no_cupy
def test_cuda_is_unavailable_without_cupy() -> None:
    assert engine.cuda.is_available() is False
    assert engine.cuda.device_count() == 0
    assert "pip install 'layerforge[cuda12]'" in engine.cuda.unavailable_reason()
    engine.cuda.empty_cache()  # safe without CuPy


@no_cupy
@pytest.mark.parametrize("ask", [
    lambda: engine.zeros(2, device="cuda"), lambda: engine.tensor([1.0], device="cuda:1"),
    lambda: engine.ones(2).cuda(), lambda: engine.ones(2).to("cuda:0"),
    lambda: engine.ones(2).to(engine.device("cuda")), lambda: engine.randn(3, device=0),
    lambda: engine.cuda.get_device_name(),
    lambda: engine.zeros(2, device=engine.device("cuda", 0)),
], ids=["zeros", "tensor", "cuda()", "to", "device", "int_index", "device_name", "device_pair"])
def test_asking_for_cuda_without_cupy_names_what_to_install(ask) -> None:
    with pytest.raises(engine.DeviceError, match=r"CUDA needs CuPy, which is not installed: "
                                                 r"pip install 'layerforge\[cuda12\]'"):
        ask()


def test_cupy_is_imported_only_when_a_gpu_is_asked_for() -> None:
    code = ("import sys, engine; x = engine.randn(3, requires_grad=True); (x * 2).sum().backward();"
            "assert 'cupy' not in sys.modules, 'cupy imported'")
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                            text=True, timeout=120, env={"PYTHONPATH": str(root), "PATH": ""})
    assert result.returncode == 0, result.stderr


def test_array_module_switch_on_the_host() -> None:
    a = np.ones(3)
    assert xp_of(a) is np and xp_of(np.float32(1)) is np and xp_of(2.0) is np
    assert device_of_array(a) is CPU
    assert engine.ones(2).device.xp is np


# ----------------------------------------------------------------------------- mixed devices

OTHER = engine.Device("cuda", 0, np)  # a stand-in second device; never executes anything


def other(*shape: int) -> engine.Tensor:
    return engine.Tensor._make(np.ones(shape, dtype=np.float32), OTHER)


BOTH = r"cpu.*cuda:0|cuda:0.*cpu"


@pytest.mark.parametrize("op,name", [
    (lambda a, b: a + b, "add"), (lambda a, b: b * a, "mul"), (lambda a, b: a @ b, "matmul"),
    (lambda a, b: engine.maximum(a, b), "maximum"), (lambda a, b: engine.where(a > 0, a, b),
                                                     "where"),
    (lambda a, b: a < b, "comparison"), (lambda a, b: a.add_(b), "add_"),
    (lambda a, b: a.__setitem__(0, b), "__setitem__"), (lambda a, b: engine.cat([a, b]), "cat"),
    (lambda a, b: engine.stack([a, b]), "stack"),
    (lambda a, b: a[engine.Tensor._make(np.array([0]), OTHER)], "indexing"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_mixing_devices_names_both(op, name: str) -> None:
    a = engine.ones(3, 3, requires_grad=False)
    with pytest.raises(engine.DeviceError, match=rf"{name}.*({BOTH}).*\.to\('"):
        op(a, other(3, 3))


def test_mixing_devices_with_grad_and_in_backward() -> None:
    a = engine.ones(3, requires_grad=True)
    with pytest.raises(engine.DeviceError, match=rf"expected all tensors on the same device.*"
                                                 rf"({BOTH})"):
        a * other(3)
    y = a * 2
    with pytest.raises(engine.DeviceError, match=rf"backward.*({BOTH})"):
        y.backward(gradient=other(3))


def test_device_errors_are_engine_errors_and_runtime_errors() -> None:
    assert issubclass(engine.DeviceError, engine.EngineError)
    assert issubclass(engine.DeviceError, RuntimeError)
    assert issubclass(engine.ShapeError, ValueError)


# ----------------------------------------------------------------------------- on each device


def test_tensors_live_and_train_on_each_device(device: str) -> None:
    w = engine.randn(3, 2, device=device, requires_grad=True)
    x = engine.randn(4, 3, device=device)
    assert w.device == device and (x @ w).device == device
    loss = (x @ w).relu().sum()
    loss.backward()
    assert w.grad.device == device and w.grad.shape == (3, 2)
    host = w.detach().cpu()
    assert host.device == "cpu"
    np.testing.assert_allclose(host.numpy(), w.detach().to("cpu").numpy())
    back = host.to(device)
    assert back.device == device
    z = (w.to("cpu") * 2).sum()  # gradient flows back across the device move
    z.backward()
    assert w.grad.device == device
