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


class Generator:
    """PyTorch's ``torch.Generator``: an independent stream of random numbers, passed as
    ``generator=`` to the random functions, ``DataLoader``, ``random_split`` and samplers.

    The stream is NumPy's PCG64 (for any device: draws for a GPU tensor are made on the host
    from it, so a seeded Generator gives the same numbers on every device).
    """

    def __init__(self, device: Any = "cpu") -> None:
        from ._backend import get_device  # noqa: PLC0415

        self.device = get_device(device)
        self._seed = int(np.random.SeedSequence().entropy % (2**63))
        self.numpy_generator = np.random.default_rng(self._seed)

    def manual_seed(self, seed: int) -> Generator:
        seed = int(seed)
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self._seed = seed
        self.numpy_generator = np.random.default_rng(seed)
        return self

    def seed(self) -> int:
        """Re-seed from a non-deterministic source; returns the new seed."""
        self.manual_seed(int(np.random.SeedSequence().entropy % (2**63)))
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict[str, Any]:
        return {"seed": self._seed, "state": self.numpy_generator.bit_generator.state}

    def set_state(self, state: dict[str, Any]) -> Generator:
        self._seed = state["seed"]
        self.numpy_generator.bit_generator.state = state["state"]
        return self


def seed() -> int:
    """Seed every device's generator non-deterministically and return the seed (PyTorch's
    ``torch.seed``)."""
    s = int(np.random.SeedSequence().entropy % (2**63))
    manual_seed(s)
    return s


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


def generator(device: Device = CPU, user: Generator | None = None) -> Any:
    """The generator that draws for ``device``: a user's ``Generator`` (always a NumPy one), the
    CPU's NumPy Generator, or a GPU's CuPy RandomState."""
    if user is not None:
        return user.numpy_generator
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


def _on(device: Device, arr: Any) -> Any:
    from ._backend import to_device_array  # noqa: PLC0415

    return to_device_array(arr, device)


def uniform(shape: tuple[int, ...], low: float, high: float, dtype: np.dtype,
            device: Device, user: Generator | None = None) -> Any:
    gen = generator(device, user)
    if user is not None and device.type != "cpu":
        return _on(device, uniform(shape, low, high, dtype, CPU, user))
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
           device: Device, user: Generator | None = None) -> Any:
    gen = generator(device, user)
    if user is not None and device.type != "cpu":
        return _on(device, normal(shape, mean, std, dtype, CPU, user))
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
             device: Device, user: Generator | None = None) -> Any:
    gen = generator(device, user)
    if user is not None and device.type != "cpu":
        return _on(device, integers(low, high, shape, dtype, CPU, user))
    if device.type == "cpu":
        return gen.integers(low, high, shape).astype(dtype, copy=False)
    with device.context():
        return gen.randint(low, high, shape).astype(dtype, copy=False)


def permutation(n: int, device: Device = CPU, user: Generator | None = None) -> Any:
    gen = generator(device, user)
    if user is not None and device.type != "cpu":
        return _on(device, permutation(n, CPU, user))
    if device.type == "cpu":
        return gen.permutation(n)
    with device.context():
        return gen.permutation(n)
