"""DataParallel on real GPUs compared with the CPU: the part of ``nccl_self_check`` that needs
``engine.nn`` (kept apart so the NCCL check itself imports nothing but CuPy and NumPy)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np


def _rel_err(a: list[Any], b: list[Any]) -> float:
    worst = 0.0
    for x, y in zip(a, b):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        worst = max(worst, float(np.max(np.abs(x - y))) / max(float(np.max(np.abs(y))), 1e-30))
    return worst


def data_parallel_gpu_check(steps: int = 5) -> dict[str, Any]:
    """Train a small MLP (float64) for ``steps`` SGD steps with DataParallel over every visible
    GPU (NCCL when there are two or more) and over ``cuda:0`` twice (same-device replicas), and
    compare the weights with a CPU run: relative error must stay below 1e-10."""
    import engine  # noqa: PLC0415
    import engine.nn.functional as F  # noqa: PLC0415
    import engine.optim as optim  # noqa: PLC0415
    from engine import nn  # noqa: PLC0415

    from .data_parallel import DataParallel  # noqa: PLC0415

    n = engine.cuda.device_count()
    layouts = {"all_gpus": [f"cuda:{i}" for i in range(n)], "cuda0_twice": ["cuda:0", "cuda:0"]}
    report: dict[str, Any] = {}
    engine.manual_seed(0)
    base = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 4)).to(dtype=engine.float64)
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((11, 12)), rng.integers(0, 4, 11)) for _ in range(steps)]

    def run(model: Any, device: str) -> list[np.ndarray]:
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for x, y in batches:
            opt.zero_grad()
            out = model(engine.tensor(x, device=device))
            F.cross_entropy(out, engine.tensor(y, device=device)).backward()
            opt.step()
        return [p.detach().cpu().numpy() for p in model.parameters()]

    want = run(copy.deepcopy(base), "cpu")
    for name, devices in layouts.items():
        model = copy.deepcopy(base).to(devices[0])
        dp = DataParallel(model, devices=devices)
        err = _rel_err(run(dp, devices[0]), want)
        assert err < 1e-10, f"DataParallel {devices} differs from the CPU run by {err:.3g}"
        report[f"data_parallel_{name}"] = {"devices": devices, "rel_err": err,
                                           "nccl": dp._nccl is not None,
                                           "reduce_calls": dp.reduce_calls}
    return report
