"""Random number generation: one generator per device, all seeded by ``manual_seed``.

The CPU generator is NumPy's PCG64; each GPU gets a CuPy generator created on first use from the
same seed, so seeding before any GPU work still makes GPU runs reproducible.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._backend import CPU, Device

_seed: int | None = None
_cpu = np.random.default_rng()
_gpu: dict[int, Any] = {}


def manual_seed(seed: int) -> None:
    """Seed every device's generator (and forget GPU generators so they re-seed on next use)."""
    global _seed, _cpu
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    _seed = seed
    _cpu = np.random.default_rng(seed)
    _gpu.clear()


def initial_seed() -> int | None:
    return _seed


def generator(device: Device = CPU) -> Any:
    """The generator that draws for ``device``: a NumPy Generator, or a CuPy RandomState."""
    if device.type == "cpu":
        return _cpu
    gen = _gpu.get(device.index)
    if gen is None:
        with device.context():
            seed = _seed if _seed is not None else int(_cpu.integers(0, 2**63 - 1))
            gen = device.xp.random.RandomState(seed + device.index)
        _gpu[device.index] = gen
    return gen


def get_rng_state() -> dict[str, Any]:
    """A picklable snapshot of the CPU generator, for checkpoints that resume exactly."""
    return {"seed": _seed, "cpu": _cpu.bit_generator.state}


def set_rng_state(state: dict[str, Any]) -> None:
    global _seed
    _seed = state.get("seed")
    _cpu.bit_generator.state = state["cpu"]


def uniform(shape: tuple[int, ...], low: float, high: float, dtype: np.dtype,
            device: Device) -> Any:
    gen = generator(device)
    if device.type == "cpu":
        if dtype.kind == "f" and dtype.itemsize >= 4:
            out = gen.random(shape, dtype=dtype)
        else:
            out = gen.random(shape).astype(dtype)
        if low != 0.0 or high != 1.0:
            out *= high - low
            out += low
        return out
    with device.context():
        return gen.uniform(low, high, shape).astype(dtype, copy=False)


def normal(shape: tuple[int, ...], mean: float, std: float, dtype: np.dtype,
           device: Device) -> Any:
    gen = generator(device)
    if device.type == "cpu":
        if dtype.kind == "f" and dtype.itemsize >= 4:
            out = gen.standard_normal(shape, dtype=dtype)
        else:
            out = gen.standard_normal(shape).astype(dtype)
        if std != 1.0:
            out *= std
        if mean != 0.0:
            out += mean
        return out
    with device.context():
        return gen.normal(mean, std, shape).astype(dtype, copy=False)


def integers(low: int, high: int, shape: tuple[int, ...], dtype: np.dtype,
             device: Device) -> Any:
    gen = generator(device)
    if device.type == "cpu":
        return gen.integers(low, high, shape).astype(dtype, copy=False)
    with device.context():
        return gen.randint(low, high, shape).astype(dtype, copy=False)


def permutation(n: int, device: Device = CPU) -> Any:
    gen = generator(device)
    if device.type == "cpu":
        return gen.permutation(n)
    with device.context():
        return gen.permutation(n)
