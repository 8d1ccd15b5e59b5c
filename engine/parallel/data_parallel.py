"""``DataParallel``: one process, several devices (GPUs, or CPU replicas for tests and machines
without GPUs), with ``torch.nn.DataParallel``'s API.

How a step runs:

1. forward: the replicas receive the master's current parameters (on the CPU and on the master's
   own GPU they share its arrays; other GPUs get an NCCL broadcast, bucketed), the batch is
   split along ``dim`` as evenly as possible (sizes differ by at most one), and every replica
   runs forward in its own thread; outputs are gathered on ``output_device``.
2. the caller computes the loss on the gathered output, as with one device, and calls
   ``backward()``. Through ``_bridge.Bridge`` that runs every replica's backward concurrently
   (each in its thread, on its device), then sums their parameter gradients (NCCL all-reduce in
   buckets across distinct GPUs, NumPy otherwise) into the master parameters' ``.grad``.
3. the caller's optimizer steps the master parameters; the next forward hands them on.

Why the sum and not a mean: the loss is computed on the gathered batch, so each replica's
gradient already carries its share of the batch (a mean loss divides by the global batch size).
The sum is therefore exactly the single-device gradient, for uneven splits too.

Why the optimizer steps only the master: it is the one the caller built over ``parameters()``
(PyTorch's API), and handing its result to the replicas makes drift impossible by construction.

Buffers (BatchNorm running statistics) stay per replica in training mode and are averaged by
``average_buffers()`` (the Trainer calls it at each epoch end); in eval mode the replicas use
the master's. ``sync_batchnorm=True`` makes BatchNorm layers use whole-batch statistics.
"""

from __future__ import annotations

import copy
import queue
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import CPU, Device, get_device
from .._blas import use_one_blas_thread
from ..autograd.engine import run_backward
from ..autograd.grad_mode import is_grad_enabled, set_grad_enabled
from ..errors import DeviceError
from ..nn import Module
from ..tensor import Tensor
from ._bridge import accumulate_grad, bridge, make_anchor
from .buckets import DEFAULT_BUCKET_CAP_MB, pack, plan_buckets, unpack


def split_sizes(n: int, parts: int) -> list[int]:
    """``n`` items over at most ``parts`` replicas, sizes differing by at most one (no empty
    part: a batch smaller than the replica count uses fewer replicas)."""
    used = min(n, parts)
    if used == 0:
        return []
    base, extra = divmod(n, used)
    return [base + (1 if i < extra else 0) for i in range(used)]


class DataParallel(Module):
    """Run ``module`` on several devices of this process, splitting each batch among them.

    Args:
        module: the model; its parameters must live on the first device.
        device_ids: PyTorch's form, GPU indices (``[0, 1]``).
        output_device: where outputs are gathered (default: the first device).
        dim: the batch dimension of inputs and outputs.
        devices: LayerForge's form, device names, e.g. ``["cuda:0", "cuda:1"]`` or
            ``["cpu", "cpu"]`` (CPU replicas running in threads; NumPy's BLAS is then set to
            one thread for the rest of the process, since the replicas use the cores).
        bucket_cap_mb: gradient bucket size for the NCCL all-reduce.
        sync_batchnorm: replace BatchNorm layers by ``SyncBatchNorm`` (whole-batch statistics).

    ``state_dict()`` keys are prefixed ``module.``, as PyTorch's.

    Example::

        model = DataParallel(Net(), devices=["cpu", "cpu"])
        loss = F.cross_entropy(model(x), y)
        loss.backward()          # both replicas' backward, gradients summed
        optimizer.step()
    """

    def __init__(self, module: Module, device_ids: Sequence[int] | None = None,
                 output_device: Any = None, dim: int = 0, *, devices: Sequence[Any] | None = None,
                 bucket_cap_mb: float = DEFAULT_BUCKET_CAP_MB,
                 sync_batchnorm: bool = False) -> None:
        super().__init__()
        if devices is None and device_ids is None:
            raise ValueError("DataParallel needs devices=[...] (e.g. ['cpu', 'cpu'] or "
                             "['cuda:0', 'cuda:1']) or device_ids=[0, 1, ...]")
        if devices is not None and device_ids is not None:
            raise ValueError("give either devices or device_ids, not both")
        specs = list(devices) if devices is not None else [
            d if isinstance(d, str | Device) else f"cuda:{int(d)}" for d in device_ids]
        if not specs:
            raise ValueError("DataParallel needs at least one device")
        devs = [get_device(d) for d in specs]
        if sync_batchnorm:
            from .sync_batchnorm import SyncBatchNorm  # noqa: PLC0415

            module = SyncBatchNorm.convert_sync_batchnorm(module)
        self.module = module
        self.dim = int(dim)
        params = list(module.parameters())
        for name, p in module.named_parameters():
            if p.device is not devs[0]:
                raise DeviceError(
                    f"DataParallel: module parameter {name!r} is on {p.device} but the first "
                    f"device is {devs[0]}; call module.to('{devs[0]}') before wrapping it "
                    f"(and before creating the optimizer)"
                )
        self._devices = tuple(devs)
        if len(devs) > 1 and not any(d.is_cuda for d in devs):
            use_one_blas_thread()  # the replicas take the cores (see engine._blas)
        self._output_device = get_device(output_device) if output_device is not None else devs[0]
        replicas: list[Module] = [module]
        for dev in devs[1:]:
            r = copy.deepcopy(module)
            if dev is not devs[0]:
                r = r.to(dev)
            replicas.append(r)
        self._replicas = tuple(replicas)
        self._names = [n for n, _ in module.named_parameters()]
        self._replica_params = [_params_by_name(r, self._names) for r in replicas]
        self._buckets = plan_buckets([(p.shape, p.dtype) for p in params], bucket_cap_mb)
        self._nccl = None
        cuda_idx = [d.index for d in devs if d.is_cuda]
        if len(devs) > 1 and len(cuda_idx) == len(devs) and len(set(cuda_idx)) == len(devs):
            from .nccl import NcclGroup  # noqa: PLC0415

            self._nccl = NcclGroup(cuda_idx)
        self._workers = ReplicaThreads(len(devs))
        self._anchor = make_anchor(params[0]) if params else None
        self.reduce_calls = 0  # collective calls made by gradient reduction (benchmarks)
        for r in replicas[1:]:
            r.train(module.training)
        self._sync_group = None
        if sync_batchnorm:
            from .sync_batchnorm import ThreadSyncGroup  # noqa: PLC0415

            self._sync_group = ThreadSyncGroup()
            self._sync_group.attach(replicas)

    # ------------------------------------------------------------------ Module plumbing
    @property
    def devices(self) -> tuple[Device, ...]:
        return self._devices

    @property
    def device_ids(self) -> list[Any]:
        return [d.index if d.is_cuda else str(d) for d in self._devices]

    @property
    def output_device(self) -> Device:
        return self._output_device

    def train(self, mode: bool = True) -> DataParallel:
        super().train(mode)
        for r in self._replicas[1:]:
            r.train(mode)
        return self

    def extra_repr(self) -> str:
        return f"devices={[str(d) for d in self._devices]}"

    # ------------------------------------------------------------------ forward
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        if len(self._devices) == 1:
            return self.module(*inputs, **kwargs)
        batch = _batch_size(inputs, kwargs, self.dim)
        if batch is None:
            raise ValueError("DataParallel: no tensor with a batch dimension among the inputs; "
                             "pass the batch as a tensor (or call the module directly)")
        sizes = split_sizes(batch, len(self._devices))
        used = len(sizes)
        self._broadcast_parameters(used)
        if not self.module.training:
            self._copy_buffers_to_replicas(used)
        scattered = [_scatter((inputs, kwargs), self.dim, sizes, i, self._devices[i])
                     for i in range(used)]
        grad_on = is_grad_enabled()

        def run(i: int) -> Any:
            set_grad_enabled(grad_on)
            dev = self._devices[i]
            args, kw = scattered[i]
            with dev.context():
                return self._replicas[i](*args, **kw)

        outputs = self._run_all(run, used, "forward")
        return self._gather(outputs, sizes)

    def _run_all(self, fn: Any, used: int, what: str) -> list[Any]:
        """Run ``fn(i)`` for replicas 0..used-1 concurrently, one thread each."""
        group = self._sync_group

        def call(i: int) -> Any:
            if group is not None:
                group.set_index(i)
            return fn(i)

        if group is not None:
            group.begin(used)
        outcomes = self._workers.run(call, used, on_error=group.abort if group else None)
        for i, (ok, value) in enumerate(outcomes):
            if not ok:
                raise _with_context(value, f"DataParallel replica {i} on {self._devices[i]} "
                                           f"failed in {what}") from value
        return [value for _, value in outcomes]

    # ------------------------------------------------------------------ parameters
    def _broadcast_parameters(self, used: int) -> None:
        """Give replicas 1..used-1 the master's current parameter values."""
        master = self._replica_params[0]
        if self._nccl is not None and used > 1:
            self._nccl_broadcast_parameters(used)
            return
        for i in range(1, used):
            dev = self._devices[i]
            for mp, rp in zip(master, self._replica_params[i]):
                rp._data = mp._data if dev is mp.device else _to(mp._data, dev)
                rp.requires_grad = mp.requires_grad

    def _nccl_broadcast_parameters(self, used: int) -> None:
        """One NCCL broadcast per bucket from the first GPU (all GPUs join: NCCL groups are
        fixed at creation; extra ones just receive)."""
        cp = self._nccl.cp
        master = self._replica_params[0]
        for b in self._buckets:
            flats = []
            for i, dev in enumerate(self._devices):
                with dev.context():
                    if i == 0:
                        flats.append(pack(b, [p._data for p in master], cp))
                    else:
                        flats.append(cp.empty(b.numel, dtype=b.dtype))
            self._nccl.broadcast(flats, root=0)
            for i in range(1, len(self._devices)):
                params = self._replica_params[i]
                for j, view in unpack(b, flats[i]):
                    params[j]._data = view
                    params[j].requires_grad = master[j].requires_grad

    def _copy_buffers_to_replicas(self, used: int) -> None:
        master = dict(self.module.named_buffers())
        for i in range(1, used):
            dev = self._devices[i]
            for name, buf in self._replicas[i].named_buffers():
                src = master.get(name)
                if src is not None:
                    with dev.context():
                        buf._data = src._data.copy() if dev is src.device else _to(src._data, dev)

    def average_buffers(self) -> None:
        """Average floating-point buffers (BatchNorm running statistics) over the replicas and
        give every replica the result; integer buffers take the master's value."""
        if len(self._replicas) == 1:
            return
        per_replica = [dict(r.named_buffers()) for r in self._replicas]
        for name, mb in per_replica[0].items():
            if mb is None:
                continue
            if mb.dtype.kind == "f":
                with mb.device.context():
                    total = mb._data.astype(np.float64)
                    for bufs in per_replica[1:]:
                        total = total + _to(bufs[name]._data, mb.device).astype(np.float64)
                    mb._data[...] = (total / len(self._replicas)).astype(mb.dtype)
            for i, bufs in enumerate(per_replica[1:], start=1):
                dev = self._devices[i]
                with dev.context():
                    bufs[name]._data = mb._data.copy() if dev is mb.device else _to(mb._data, dev)

    # ------------------------------------------------------------------ gather & backward
    def _gather(self, outputs: list[Any], sizes: list[int]) -> Any:
        tensors = [_flatten(o) for o in outputs]
        leaves0 = tensors[0]
        gathered: list[Any] = []
        needs_grad = [isinstance(t, Tensor) and t.requires_grad for t in leaves0]
        for k, t0 in enumerate(leaves0):
            if not isinstance(t0, Tensor):
                gathered.append(t0)
                continue
            parts = [ts[k] for ts in tensors]
            gathered.append(self._gather_one(parts, needs_grad[k]))
        return _unflatten(outputs[0], gathered)

    def _gather_one(self, parts: list[Tensor], with_grad: bool) -> Tensor:
        out_dev = self._output_device
        xp = out_dev.xp
        zero_d = parts[0].ndim == 0
        arrays = [_to(p._data, out_dev) for p in parts]
        with out_dev.context():
            value = xp.stack(arrays) if zero_d else xp.concatenate(arrays, axis=self.dim)
        result = Tensor._make(value, out_dev)
        if not with_grad or self._anchor is None:
            return result
        lengths = [1 if zero_d else p.shape[self.dim] for p in parts]

        def on_backward(grad: Any) -> None:
            self._replica_backward(parts, grad, lengths, zero_d)

        return bridge(result, self._anchor, on_backward)

    def _replica_backward(self, outs: list[Tensor], grad: Any, lengths: list[int],
                          zero_d: bool) -> None:
        """Run every replica's backward for its slice of ``grad`` and reduce the gradients.

        The replica graphs are retained: they are freed with this bridge node once the caller's
        backward is done with it, and retaining them lets a second output (or a caller's
        ``retain_graph=True``) run through them again."""
        bounds = np.cumsum([0, *lengths])
        used = len(outs)
        out_dev = self._output_device

        def run(i: int) -> list[Any]:
            dev = self._devices[i]
            if zero_d:
                g = grad[i]
            else:
                index = [slice(None)] * grad.ndim
                index[self.dim] = slice(int(bounds[i]), int(bounds[i + 1]))
                g = grad[tuple(index)]
            with out_dev.context():  # a contiguous slice first: copies across GPUs want one
                g = out_dev.xp.ascontiguousarray(g)
            g = _to(g, dev)
            params = self._replica_params[i]
            wanted = [p for p in params if p.requires_grad]
            if not outs[i].requires_grad or not wanted:
                return [None] * len(params)
            with dev.context():
                got = run_backward([outs[i]], [g], retain_graph=True, capture=wanted)
            it = iter(got)
            return [next(it) if p.requires_grad else None for p in params]

        grads = self._run_all(run, used, "backward")
        if self._nccl is not None:
            self._reduce_nccl(grads)
        else:
            self._reduce_host(grads)

    def _reduce_host(self, grads: list[list[Any]]) -> None:
        master = self._replica_params[0]
        dev0 = master[0].device if master else CPU
        for j, mp in enumerate(master):
            parts = [g[j] for g in grads if g[j] is not None]
            if not parts:
                continue
            parts = [_to(p, dev0) for p in parts]
            with dev0.context():
                total = parts[0] if len(parts) == 1 else parts[0] + parts[1]
                for extra in parts[2:]:
                    total = total + extra
            accumulate_grad(mp, total, owned=len(parts) > 1)
        self.reduce_calls += 1

    def _reduce_nccl(self, grads: list[list[Any]]) -> None:
        """Sum replica gradients across GPUs: pack each bucket per device, one grouped NCCL
        all-reduce per bucket, unpack on the master's device."""
        cp = self._nccl.cp
        master = self._replica_params[0]
        n_dev = len(self._devices)
        for b in self._buckets:
            flats = []
            for i, dev in enumerate(self._devices):
                with dev.context():
                    arrays = grads[i] if i < len(grads) else [None] * len(master)
                    flats.append(pack(b, arrays, cp))
            self._nccl.all_reduce(flats)
            self.reduce_calls += 1
            with self._devices[0].context():
                for j, view in unpack(b, flats[0]):
                    if any(i < len(grads) and grads[i][j] is not None for i in range(n_dev)):
                        accumulate_grad(master[j], view, owned=False)
        self._nccl.synchronize()


# ---------------------------------------------------------------------- helpers


class ReplicaThreads:
    """One long-lived thread per replica: replica ``i`` always runs on thread ``i`` (a CUDA
    replica keeps its device current there, and replicas truly overlap, which a thread pool that
    reuses an idle thread for quick tasks does not guarantee)."""

    def __init__(self, n: int) -> None:
        self._inboxes: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in range(n)]
        self._outbox: queue.SimpleQueue[tuple[int, bool, Any]] = queue.SimpleQueue()
        for i, inbox in enumerate(self._inboxes):
            # The threads hold the queues, not this object, so it can be collected (and its
            # __del__ ends them) when the DataParallel goes away.
            threading.Thread(target=_serve, args=(inbox, self._outbox),
                             name=f"dp-replica-{i}", daemon=True).start()

    def run(self, fn: Any, used: int, on_error: Any = None) -> list[tuple[bool, Any]]:
        """``fn(i)`` on threads 0..used-1 at once; ``(ok, result or exception)`` per replica."""
        for i in range(used):
            self._inboxes[i].put((fn, i))
        results: list[Any] = [None] * used
        for _ in range(used):
            i, ok, value = self._outbox.get()
            results[i] = (ok, value)
            if not ok and on_error is not None:
                on_error()  # e.g. release replicas waiting for the failed one at a barrier
        return results

    def close(self) -> None:
        for inbox in self._inboxes:
            inbox.put(None)

    def __del__(self) -> None:
        self.close()



def _to(arr: Any, dev: Device) -> Any:
    """``arr`` on ``dev``: no copy when it is already there; GPU to GPU through ``cupy.copy``,
    which allocates on the current device and copies across devices (``cupy.asarray`` may hand
    back the array on its old device)."""
    if isinstance(arr, np.ndarray | np.generic):
        if dev.type == "cpu":
            return arr
        with dev.context():
            return dev.xp.asarray(arr)
    if dev.type == "cpu":
        return arr.get()
    if arr.device.id == dev.index:
        return arr
    with dev.context():
        return dev.xp.copy(arr)


def _serve(inbox: queue.SimpleQueue[Any], outbox: queue.SimpleQueue[Any]) -> None:
    while True:
        job = inbox.get()
        if job is None:
            return
        fn, i = job
        try:
            outbox.put((i, True, fn(i)))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outbox.put((i, False, exc))
        del job, fn  # drop references to the caller's closures between jobs


def _with_context(exc: Exception, where: str) -> Exception:
    """The same kind of exception with ``where`` in front of its message (RuntimeError when the
    type cannot be rebuilt from one message)."""
    try:
        return type(exc)(f"{where}: {exc}")
    except Exception:  # noqa: BLE001 - exotic constructors
        return RuntimeError(f"{where}: {type(exc).__name__}: {exc}")


def _params_by_name(module: Module, names: list[str]) -> list[Tensor]:
    own = dict(module.named_parameters())
    missing = [n for n in names if n not in own]
    if missing:
        raise RuntimeError(f"DataParallel: replica lacks parameters {missing}; the module must "
                           f"survive copy.deepcopy unchanged")
    return [own[n] for n in names]


def _batch_size(inputs: Any, kwargs: Any, dim: int) -> int | None:
    for leaf in _flatten((inputs, kwargs)):
        if isinstance(leaf, Tensor) and leaf.ndim > dim:
            return int(leaf.shape[dim])
    return None


def _scatter(obj: Any, dim: int, sizes: list[int], i: int, dev: Device) -> Any:
    """Replica ``i``'s part of every tensor in ``obj`` (other values are shared)."""
    start = int(sum(sizes[:i]))
    stop = start + sizes[i]

    def part(leaf: Any) -> Any:
        if isinstance(leaf, Tensor) and leaf.ndim > dim:
            index = [slice(None)] * leaf.ndim
            index[dim] = slice(start, stop)
            arr = leaf._data[tuple(index)]
            return Tensor._make(_to(arr, dev), dev)
        if isinstance(leaf, Tensor) and leaf.device is not dev:
            return Tensor._make(_to(leaf._data, dev), dev)
        return leaf

    return _unflatten(obj, [part(x) for x in _flatten(obj)])


def _flatten(obj: Any) -> list[Any]:
    if isinstance(obj, tuple | list):
        return [x for item in obj for x in _flatten(item)]
    if isinstance(obj, dict):
        return [x for k in obj for x in _flatten(obj[k])]
    return [obj]


def _unflatten(template: Any, leaves: list[Any]) -> Any:
    it = iter(leaves)

    def build(t: Any) -> Any:
        if isinstance(t, tuple | list):
            items = [build(x) for x in t]
            if hasattr(t, "_fields"):  # namedtuple
                return type(t)(*items)
            return type(t)(items)
        if isinstance(t, dict):
            return type(t)((k, build(t[k])) for k in t)
        return next(it)

    return build(template)
