"""Data parallelism inside one process: ``DataParallel`` over several GPUs (NCCL all-reduce in
buckets) or CPU replicas, ``SyncBatchNorm``, and the NCCL self-check used by
``benchmarks/gpu_check.py``.

The module-level names load lazily so ``engine.parallel.buckets`` and ``engine.parallel.nccl``
import without ``engine.nn``.
"""

from __future__ import annotations

from typing import Any

from .buckets import DEFAULT_BUCKET_CAP_MB, Bucket, pack, plan_buckets, unpack
from .nccl import nccl_available

__all__ = [
    "DEFAULT_BUCKET_CAP_MB", "Bucket", "DataParallel", "SyncBatchNorm", "nccl_available",
    "nccl_self_check", "pack", "plan_buckets", "prefer_cpu_replicas", "split_sizes", "unpack",
]


def nccl_self_check(verbose: bool = False) -> dict[str, Any]:
    """Run NCCL on every visible GPU and check the results against NumPy, then check that
    ``DataParallel`` over the GPUs matches a CPU run (float64). Returns a report dict; raises
    AssertionError on a mismatch, DeviceError when CUDA or NCCL is missing."""
    from .gpu_check import data_parallel_gpu_check  # noqa: PLC0415
    from .nccl import nccl_self_check as _nccl_check  # noqa: PLC0415

    report = _nccl_check(verbose=False)
    report.update(data_parallel_gpu_check())
    if verbose:
        for k, v in report.items():
            print(f"{k}: {v}")
    return report


def __getattr__(name: str) -> Any:
    if name in ("DataParallel", "split_sizes"):
        from . import data_parallel  # noqa: PLC0415

        return getattr(data_parallel, name)
    if name == "prefer_cpu_replicas":
        from .cpu_choice import prefer_cpu_replicas  # noqa: PLC0415

        return prefer_cpu_replicas
    if name == "SyncBatchNorm":
        from .sync_batchnorm import SyncBatchNorm  # noqa: PLC0415

        return SyncBatchNorm
    raise AttributeError(f"module 'engine.parallel' has no attribute {name!r}")
