"""NCCL through CuPy (``cupy.cuda.nccl``): the GPU all-reduce of both kinds of data parallelism.

- ``NcclGroup``: one process driving several GPUs (``DataParallel``): one communicator per
  device from ``NcclCommunicator.initAll``, every call issued between ``groupStart()`` and
  ``groupEnd()`` so NCCL launches them together instead of deadlocking on the first.
- ``NcclComm``: one GPU per process (``DistributedDataParallel`` with backend ``nccl``): the
  communicator from ``NcclCommunicator(world_size, unique_id, rank)``; completion is awaited by
  polling the stream, so a dead peer is noticed (failure notices, timeout) instead of hanging.

Buffers are CuPy arrays; calls take raw device pointers (``arr.data.ptr``) and run on the
device's current stream. ``nccl_self_check()`` exercises all of it on the visible GPUs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import DeviceError

_NCCL_HINT = (
    "NCCL is not usable from CuPy here: install it with `pip install nvidia-nccl-cu12` (or "
    "`python -m cupyx.tools.install_library --library nccl --cuda 12.x`), or use CPU reduction "
    "(DataParallel on one GPU, or backend='mpi')"
)


def nccl_module() -> Any:
    """``cupy.cuda.nccl`` with its library loaded, or a DeviceError saying what to install."""
    from .._backend import cupy_module  # noqa: PLC0415

    cupy_module()
    try:
        from cupy.cuda import nccl  # noqa: PLC0415
    except ImportError as exc:
        raise DeviceError(f"{_NCCL_HINT} ({exc})") from exc
    if not (hasattr(nccl, "NcclCommunicator") and hasattr(nccl, "get_unique_id")):
        raise DeviceError(_NCCL_HINT)
    return nccl


def nccl_available() -> bool:
    try:
        nccl_module()
        return True
    except DeviceError:
        return False


def nccl_dtype(nccl: Any, dtype: Any) -> int:
    dt = np.dtype(dtype)
    table = {
        np.dtype(np.float16): nccl.NCCL_FLOAT16, np.dtype(np.float32): nccl.NCCL_FLOAT32,
        np.dtype(np.float64): nccl.NCCL_FLOAT64, np.dtype(np.int32): nccl.NCCL_INT32,
        np.dtype(np.int64): nccl.NCCL_INT64, np.dtype(np.uint8): nccl.NCCL_UINT8,
        np.dtype(np.int8): nccl.NCCL_INT8,
    }
    try:
        return table[dt]
    except KeyError:
        raise DeviceError(f"NCCL cannot reduce {dt} arrays; supported: "
                          f"{sorted(str(k) for k in table)}") from None


def nccl_op(nccl: Any, op: Any) -> int:
    """NCCL's code for a ReduceOp (AVG is SUM here, divided afterwards: older NCCLs lack it)."""
    name = getattr(op, "name", str(op)).upper()
    return {"SUM": nccl.NCCL_SUM, "AVG": nccl.NCCL_SUM, "PRODUCT": nccl.NCCL_PROD,
            "MIN": nccl.NCCL_MIN, "MAX": nccl.NCCL_MAX}[name]


class NcclGroup:
    """Communicators over distinct GPUs of this process, for ``DataParallel``."""

    def __init__(self, device_indices: Sequence[int]) -> None:
        idx = [int(i) for i in device_indices]
        if len(set(idx)) != len(idx):
            raise DeviceError(f"NCCL needs distinct GPUs, got {idx}; list each cuda:N once")
        self.nccl = nccl_module()
        import cupy as cp  # noqa: PLC0415

        self.cp = cp
        self.devices = idx
        self.comms = self.nccl.NcclCommunicator.initAll(idx)
        self.calls = 0

    def all_reduce(self, buffers: Sequence[Any], op: Any = "SUM") -> None:
        """Reduce ``buffers`` (one flat CuPy array per device, same size and dtype) in place."""
        nccl, cp = self.nccl, self.cp
        first = buffers[0]
        dt, code = nccl_dtype(nccl, first.dtype), nccl_op(nccl, op)
        nccl.groupStart()
        try:
            for comm, dev, buf in zip(self.comms, self.devices, buffers):
                with cp.cuda.Device(dev):
                    comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, dt, code,
                                   cp.cuda.get_current_stream().ptr)
        finally:
            nccl.groupEnd()
        self.calls += 1
        if getattr(op, "name", str(op)).upper() == "AVG":
            for dev, buf in zip(self.devices, buffers):
                with cp.cuda.Device(dev):
                    buf /= len(self.devices)

    def broadcast(self, buffers: Sequence[Any], root: int = 0) -> None:
        """Copy ``buffers[root]`` into every other device's buffer."""
        nccl, cp = self.nccl, self.cp
        dt = nccl_dtype(nccl, buffers[0].dtype)
        nccl.groupStart()
        try:
            for comm, dev, buf in zip(self.comms, self.devices, buffers):
                with cp.cuda.Device(dev):
                    comm.broadcast(buf.data.ptr, buf.data.ptr, buf.size, dt, root,
                                   cp.cuda.get_current_stream().ptr)
        finally:
            nccl.groupEnd()
        self.calls += 1

    def synchronize(self) -> None:
        for dev in self.devices:
            with self.cp.cuda.Device(dev):
                self.cp.cuda.get_current_stream().synchronize()

    def destroy(self) -> None:
        for c in self.comms:
            c.destroy()
        self.comms = []


class NcclComm:
    """This process's rank of a multi-process NCCL communicator (one GPU per rank)."""

    def __init__(self, world_size: int, unique_id: Any, rank: int, device_index: int,
                 poll: Callable[[], None] | None = None, timeout_s: float = 1800.0) -> None:
        self.nccl = nccl_module()
        import cupy as cp  # noqa: PLC0415

        self.cp = cp
        self.device_index = int(device_index)
        self.world_size = int(world_size)
        self.poll = poll
        self.timeout_s = float(timeout_s)
        with cp.cuda.Device(self.device_index):
            self.comm = self.nccl.NcclCommunicator(self.world_size, unique_id, int(rank))

    def _wait(self, what: str) -> None:
        """Wait for this device's stream, checking for failed ranks and the timeout meanwhile."""
        cp = self.cp
        with cp.cuda.Device(self.device_index):
            stream = cp.cuda.get_current_stream()
            start = time.perf_counter()
            while not stream.done:
                if self.poll is not None:
                    try:
                        self.poll()
                    except BaseException:
                        self.comm.abort()
                        raise
                if time.perf_counter() - start > self.timeout_s:
                    self.comm.abort()
                    from ..distributed.errors import CollectiveTimeoutError  # noqa: PLC0415

                    raise CollectiveTimeoutError(
                        f"NCCL {what} did not complete within {self.timeout_s:g} s; another "
                        f"rank is stuck or has died")
                time.sleep(0.0001)
            if hasattr(self.comm, "check_async_error"):
                self.comm.check_async_error()

    def all_reduce(self, arr: Any, op: Any = "SUM") -> None:
        """Reduce a CuPy array in place (made contiguous through a copy if it is not)."""
        cp = self.cp
        with cp.cuda.Device(self.device_index):
            work = arr if arr.flags.c_contiguous else cp.ascontiguousarray(arr)
            self.comm.allReduce(work.data.ptr, work.data.ptr, work.size,
                                nccl_dtype(self.nccl, work.dtype), nccl_op(self.nccl, op),
                                cp.cuda.get_current_stream().ptr)
            self._wait("all_reduce")
            if getattr(op, "name", str(op)).upper() == "AVG":
                work /= self.world_size
            if work is not arr:
                arr[...] = work

    def broadcast(self, arr: Any, root: int) -> None:
        cp = self.cp
        with cp.cuda.Device(self.device_index):
            work = arr if arr.flags.c_contiguous else cp.ascontiguousarray(arr)
            self.comm.broadcast(work.data.ptr, work.data.ptr, work.size,
                                nccl_dtype(self.nccl, work.dtype), int(root),
                                cp.cuda.get_current_stream().ptr)
            self._wait("broadcast")
            if work is not arr:
                arr[...] = work

    def destroy(self) -> None:
        self.comm.destroy()


def nccl_self_check(verbose: bool = False) -> dict[str, Any]:
    """Exercise the NCCL paths on every visible GPU and compare with NumPy; for
    ``benchmarks/gpu_check.py``. Returns a report dict; raises AssertionError on a mismatch and
    DeviceError when CUDA or NCCL is missing. One GPU is enough to run every call."""
    from .buckets import pack, plan_buckets, unpack  # noqa: PLC0415

    nccl = nccl_module()  # DeviceError first when CuPy, a GPU or NCCL is missing
    import cupy as cp  # noqa: PLC0415
    n = int(cp.cuda.runtime.getDeviceCount())
    devices = list(range(n))
    report: dict[str, Any] = {"gpus": n, "nccl_version": getattr(nccl, "get_version",
                                                                 lambda: None)()}
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (10,), (257, 3), (2, 5, 7), (1,)]
    group = NcclGroup(devices)
    for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
        host = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in devices]
        buckets = plan_buckets([(s, dtype) for s in shapes], cap_mb=2000 / 2**20)
        assert len(buckets) >= 2, "the self-check wants several buckets"
        results: list[dict[int, Any]] = [{} for _ in devices]
        for b in buckets:
            flats = []
            for d in devices:
                with cp.cuda.Device(d):
                    flats.append(pack(b, [cp.asarray(a) for a in host[d]], cp))
            group.all_reduce(flats)
            group.synchronize()
            for d, flat in zip(devices, flats):
                for i, view in unpack(b, flat):
                    results[d][i] = cp.asnumpy(view)
        for i in range(len(shapes)):
            want = np.sum([host[d][i] for d in devices], axis=0)
            for d in devices:
                err = float(np.max(np.abs(results[d][i] - want)) /
                            max(float(np.max(np.abs(want))), 1e-30))
                assert err < tol, f"NCCL all-reduce on cuda:{d} ({dtype.__name__}) off by {err}"
        report[f"group_all_reduce_{np.dtype(dtype).name}"] = "ok"
        # broadcast from the first device
        flats = []
        for d in devices:
            with cp.cuda.Device(d):
                flats.append(cp.asarray(host[d][2].reshape(-1)))
        group.broadcast(flats, root=0)
        group.synchronize()
        for d in devices:
            assert np.array_equal(cp.asnumpy(flats[d]), host[0][2].reshape(-1)), \
                f"NCCL broadcast to cuda:{d} differs"
        report[f"group_broadcast_{np.dtype(dtype).name}"] = "ok"
    report["group_calls"] = group.calls
    group.destroy()
    # The one-GPU-per-process communicator, as DistributedDataParallel(backend='nccl') uses it,
    # with a world of one (no MPI needed): all-reduce must leave the data unchanged.
    comm = NcclComm(1, nccl.get_unique_id(), 0, 0)
    with cp.cuda.Device(0):
        x = cp.asarray(rng.standard_normal(1000))
        before = cp.asnumpy(x)
        comm.all_reduce(x, "AVG")
        assert np.array_equal(cp.asnumpy(x), before), "NCCL one-rank all-reduce changed data"
        comm.broadcast(x, 0)
    comm.destroy()
    report["rank_comm"] = "ok"
    if verbose:
        print(report)
    return report
