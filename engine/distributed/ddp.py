"""``DistributedDataParallel``: one model replica per process, gradients averaged across ranks
after every backward, with ``torch.nn.parallel.DistributedDataParallel``'s API.

At construction every rank's model structure (parameter and buffer names, shapes, dtypes) is
compared, and a mismatch raises ``ModelMismatchError`` on every rank naming the first difference;
then rank 0's parameters and buffers are broadcast so every rank starts identical.

Gradient synchronisation needs a "backward is done" moment, which the engine gives through a graph
node (``engine.parallel._bridge``): the module's output reaches the caller through a node whose
backward runs the module's own backward (accumulating into ``.grad``) and then all-reduces every
gradient in buckets of ``bucket_cap_mb`` (one collective call per bucket). Averaging the whole
``.grad`` is right even when it holds gradients accumulated earlier: those are either identical on
every rank (synced before) or local (``no_sync()``), and averaging is linear.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .._backend import device_of_array, xp_of
from ..autograd.engine import run_backward
from ..autograd.function import GRAD_DESTINATIONS
from ..autograd.grad_mode import is_grad_enabled
from ..dtypes import dtype_name
from ..nn import Module
from ..parallel._bridge import bridge, make_anchor
from ..parallel.buckets import DEFAULT_BUCKET_CAP_MB, pack, plan_buckets, unpack
from ..tensor import Tensor
from . import default_group
from .errors import ModelMismatchError
from .process_group import ProcessGroup, ReduceOp


class DistributedDataParallel(Module):
    """Wrap ``module`` so that ``backward()`` leaves the rank-averaged gradient in ``.grad``.

    Args:
        module: the model, already on this rank's device (``cuda:local_rank`` under ``nccl``).
        broadcast_buffers: copy rank 0's buffers (BatchNorm statistics) to every rank at each
            training forward, as PyTorch does.
        bucket_cap_mb: size of the gradient buckets (one collective call each).
        The other PyTorch arguments (device_ids, output_device, dim, process_group,
        find_unused_parameters, ...) are accepted for compatibility.

    ``state_dict()`` keys are prefixed ``module.``.

    Between ranks of one machine, a model whose gradients fit one bucket has its Linear weight
    gradients computed straight into the shared-memory bucket, already divided by the world
    size (what PyTorch's ``gradient_as_bucket_view`` does, always on here): after the reduction
    every ``.grad`` is a view of the reduced bucket either way.
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0, broadcast_buffers: bool = True, process_group: Any = None,
                 bucket_cap_mb: float | None = None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False) -> None:
        super().__init__()
        group = default_group()
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        self.reduce_calls = 0
        self.reduce_seconds = 0.0  # time in reduce_gradients (packing included), for benchmarks
        self.in_place_gradients = 0  # gradients that backward computed straight into a bucket
        self._views: dict[int, Any] = {}  # slot index -> its bucket view, for one backward
        self._seg: np.ndarray | None = None  # that bucket's segment
        self._halves: dict[int, _Half] = {}  # id(segment half) -> what is made once for it
        self._plan: tuple[Any, ...] | None = None  # see _in_place_plan
        # Called after backward, right before the reduction (benchmarks line ranks up there).
        self.before_reduce: Callable[[], None] | None = None
        cap = DEFAULT_BUCKET_CAP_MB if bucket_cap_mb is None else float(bucket_cap_mb)
        params = [p for _, p in module.named_parameters()]
        self._params = params
        self._grad_params = [p for p in params if p.requires_grad]
        self._grad_buckets = plan_buckets([(p.shape, p.dtype) for p in self._grad_params], cap)
        buffers = [b for _, b in module.named_buffers() if b is not None]
        self._buffers_list = buffers
        self._state_buckets = plan_buckets([(t.shape, t.dtype) for t in params + buffers], cap)
        self._buffer_buckets = plan_buckets([(b.shape, b.dtype) for b in buffers], cap)
        self._anchor = make_anchor(params[0]) if params else None
        check_same_structure(group, module)
        _broadcast_arrays(group, [t._data for t in params + buffers], self._state_buckets)

    @property
    def process_group(self) -> ProcessGroup:
        return default_group()

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes inside accumulate local gradients without communicating; the first
        synchronised backward afterwards averages the accumulated total."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        module = self._modules["module"]
        if self._buffers_list and self.broadcast_buffers and module.training:
            group = default_group()
            if group.size > 1:
                _broadcast_arrays(group, [b._data for b in self._buffers_list],
                                  self._buffer_buckets)
        out = module(*inputs, **kwargs)
        if not is_grad_enabled() or self._anchor is None:
            return out
        if type(out) is Tensor:  # the usual single output, without the general walk
            return bridge(out, self._anchor, self._make_hook(out)) if out.requires_grad else out
        leaves = _tensors(out)
        wanted = [t for t in leaves if isinstance(t, Tensor) and t.requires_grad]
        if not wanted:
            return out
        replaced = {id(t): bridge(t, self._anchor, self._make_hook(t)) for t in wanted}
        return _replace(out, replaced)

    def _make_hook(self, local: Tensor) -> Any:
        # The local graph is retained: it goes with the bridge node once the caller's backward
        # has passed it, and retaining lets other outputs and retain_graph=True reuse it.
        def on_backward(grad: Any) -> None:
            dests = self._bucket_views() if self.require_backward_grad_sync else {}
            clear = not GRAD_DESTINATIONS  # the usual case: only ours in there
            GRAD_DESTINATIONS.update(dests)
            try:
                run_backward([local], [grad], retain_graph=True)
            finally:
                if clear:
                    GRAD_DESTINATIONS.clear()
                else:
                    for key in dests:
                        GRAD_DESTINATIONS.pop(key, None)
            if self.require_backward_grad_sync:
                if self.before_reduce is not None:
                    self.before_reduce()
                self.reduce_gradients()

        return on_backward

    def _bucket_views(self) -> dict[int, tuple[Any, float]]:
        """Destinations for ``GRAD_DESTINATIONS``: views of the shared-memory segment that the
        next reduction reads, for parameters without a gradient yet, with the 1/world_size of
        the average. Backward computes those gradients straight into the bucket (PyTorch's
        ``gradient_as_bucket_view``): packing them took 40-80 us of a 1.3 ms MLP step. Only with
        a single bucket (buckets of a similar size share a segment)."""
        self._views = {}
        plan = self._plan
        if plan is None:
            plan = self._plan = self._in_place_plan()
        if not plan:
            return {}
        group, numel, dtype = plan
        seg = group.shared_segment(numel, dtype)
        if seg is None:
            return {}
        self._seg = seg
        half = self._halves.get(id(seg))
        if half is None or half.seg is not seg:
            half = self._halves[id(seg)] = _Half(seg, self._grad_buckets[0], self._grad_params,
                                                 1.0 / group.size)
        for p, _ in half.pairs:
            if p.grad is not None:
                break
        else:  # no gradient yet anywhere: the usual case
            self._views = half.views
            return half.dests
        params = self._grad_params
        self._views = {i: v for i, v in half.views.items() if params[i].grad is None}
        return {id(params[i]): half.dests[id(params[i])] for i in self._views}

    def _in_place_plan(self) -> tuple[ProcessGroup, int, np.dtype] | tuple[()]:
        """What ``_bucket_views`` needs every step, worked out once: the group, and the single
        host bucket's size and dtype; or ``()`` when gradients cannot go into a bucket (one
        rank, several buckets, GPU arrays, no shared memory)."""
        group = default_group()
        if group.size == 1 or len(self._grad_buckets) != 1:
            return ()
        b = self._grad_buckets[0]
        if self._grad_params[b.slots[0].index].device.xp is not np:
            return ()
        if group.shared_segment(b.numel, b.dtype) is None:
            return ()
        return group, b.numel, b.dtype

    def reduce_gradients(self) -> None:
        """Average every parameter's ``.grad`` across ranks, one collective call per bucket.
        (Called automatically after backward; public for custom loops.)"""
        start = time.perf_counter()
        group = default_group()
        if group.size == 1:
            return
        seg_ready, self._seg = self._seg, None  # fetched by _bucket_views for this reduction
        views, self._views = self._views, {}
        half = self._halves.get(id(seg_ready)) if seg_ready is not None else None
        if half is not None and views is half.views and half.all_in_place():
            half.reduce(group)
            self.in_place_gradients += len(half.pairs)
            self.reduce_calls += 1
        else:
            self._reduce_buckets(group, seg_ready, views)
        self.reduce_seconds += time.perf_counter() - start

    def _reduce_buckets(self, group: ProcessGroup, seg_ready: np.ndarray | None,
                        views: dict[int, Any]) -> None:
        params = self._grad_params
        for b in self._grad_buckets:
            first = params[b.slots[0].index]
            xp = first.device.xp
            with first.device.context() if xp is not np else contextlib.nullcontext():
                local = [p.grad._data if p.grad is not None else None for p in params]
                seg = None
                if xp is np:
                    seg = seg_ready if seg_ready is not None else group.shared_segment(
                        b.numel, b.dtype)
                if seg is not None:  # packed (and averaged) straight into shared memory
                    # Gradients that backward computed there (scaled) are in place already.
                    placed = {i for i, view in views.items() if local[i] is view}
                    views = {}
                    if len(placed) < len(b.slots):
                        pack(b, local, xp, out=seg, scale=1.0 / group.size, placed=placed)
                    self.in_place_gradients += len(placed)
                    flat = np.empty(b.numel, dtype=b.dtype)
                    group.all_reduce_shared(flat)
                elif xp is np:  # host: the 1/size is applied while packing, then one SUM
                    flat = pack(b, local, xp, scale=1.0 / group.size)
                    group.all_reduce_array(flat, ReduceOp.SUM)
                else:  # NCCL averages natively
                    flat = pack(b, local, xp)
                    group.all_reduce_array(flat, ReduceOp.AVG)
                self.reduce_calls += 1
                for i, view in unpack(b, flat):
                    p = params[i]
                    if p.grad is None:
                        if not bool((view != 0).any()):
                            continue  # unused on every rank: left None, as in one process
                        p.grad = Tensor._make(view, p.device)
                    else:
                        p.grad._data = view  # a view into this bucket's buffer: no copy

    def broadcast_parameters(self) -> None:
        """Copy rank 0's parameters and buffers to every rank (done at construction)."""
        _broadcast_arrays(default_group(), [t._data for t in self._params + self._buffers_list],
                          self._state_buckets)

    def parameters_in_sync(self) -> bool:
        """True when every rank holds bit-identical parameters (a debugging check: one small
        all-gather of per-parameter checksums)."""
        sums = np.array([float(np.asarray(_host(p._data), dtype=np.float64).sum())
                         for p in self._params], dtype=np.float64)
        gathered = default_group().all_gather_array(sums)
        return bool((gathered == gathered[0]).all())


class _Half:
    """What the single-bucket, in-place reduction needs for one half of the double-buffered
    shared segment, made once: the views backward writes into and their destinations. The
    common path then touches few objects: right after backward, whose GEMMs evicted Python's
    working set from the caches, each statement costs several times what it does warm (about
    40 us of a 1.2 ms MLP step went to bookkeeping before this).

    The sum goes to a new array each step, as PyTorch's gradients are new arrays each step
    (without ``gradient_as_bucket_view``); a persistent pair of buffers was measured slower,
    being colder in the caches than the block ``np.empty`` hands back."""

    def __init__(self, seg: np.ndarray, bucket: Any, params: list[Any], scale: float) -> None:
        self.seg = seg
        self.bucket = bucket
        self.views = {s.index: seg[s.offset:s.offset + s.numel].reshape(s.shape)
                      for s in bucket.slots}
        self.dests = {id(params[i]): (v, scale) for i, v in self.views.items()}
        self.pairs = [(params[i], v) for i, v in self.views.items()]

    def all_in_place(self) -> bool:
        """Whether backward computed every gradient into this half (and nothing replaced it)."""
        for p, v in self.pairs:
            g = p.grad
            if g is None or g._data is not v:
                return False
        return True

    def reduce(self, group: ProcessGroup) -> None:
        """Sum the ranks' halves and point each ``.grad`` at its part of the sum (done while
        waiting for the other ranks: nobody reads the gradients before this returns)."""
        b = self.bucket
        flat = np.empty(b.numel, dtype=b.dtype)

        def point_gradients() -> None:
            for (p, _), s in zip(self.pairs, b.slots):
                p.grad._data = flat[s.offset:s.offset + s.numel].reshape(s.shape)

        group.all_reduce_shared(flat, point_gradients)


# ---------------------------------------------------------------------- helpers


def structure_of(module: Module) -> list[tuple[str, tuple[int, ...], str]]:
    """What must agree across ranks: parameter and buffer names, shapes and dtypes, in order."""
    out = [(f"parameter {n}", tuple(p.shape), dtype_name(p.dtype))
           for n, p in module.named_parameters()]
    out += [(f"buffer {n}", tuple(b.shape), dtype_name(b.dtype)) for n, b in module.named_buffers()
            if b is not None]
    return out


def check_same_structure(group: ProcessGroup, module: Module) -> None:
    """Raise ModelMismatchError on every rank when any rank's model differs from rank 0's."""
    mine = structure_of(module)
    every = group.all_gather_object(mine)
    ref = every[0]
    for r, other in enumerate(every[1:], start=1):
        if other == ref:
            continue
        for i in range(max(len(ref), len(other))):
            a = ref[i] if i < len(ref) else None
            b = other[i] if i < len(other) else None
            if a != b:
                raise ModelMismatchError(
                    f"DistributedDataParallel: the model differs across ranks: entry {i} is "
                    f"{_describe(a)} on rank 0 but {_describe(b)} on rank {r} (rank 0 has "
                    f"{len(ref)} parameters+buffers, rank {r} has {len(other)}). Fix: build the "
                    f"same model on every rank (same project file, same arguments)"
                )


def _describe(entry: Any) -> str:
    if entry is None:
        return "missing"
    name, shape, dtype = entry
    return f"{name} {list(shape)} {dtype}"


def _broadcast_arrays(group: ProcessGroup, arrays: list[Any], buckets: list[Any]) -> None:
    if group.size == 1:
        return
    for b in buckets:
        first = arrays[b.slots[0].index]
        with device_of_array(first).context():
            flat = pack(b, arrays, xp_of(first))
            group.broadcast_array(flat, 0)
            for i, view in unpack(b, flat):
                arrays[i][...] = view


def _host(arr: Any) -> Any:
    return arr if isinstance(arr, np.ndarray) else arr.get()


def _tensors(obj: Any) -> list[Any]:
    if isinstance(obj, tuple | list):
        return [x for item in obj for x in _tensors(item)]
    if isinstance(obj, dict):
        return [x for k in obj for x in _tensors(obj[k])]
    return [obj]


def _replace(obj: Any, replaced: dict[int, Tensor]) -> Any:
    if isinstance(obj, tuple | list):
        items = [_replace(x, replaced) for x in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)
    if isinstance(obj, dict):
        return type(obj)((k, _replace(v, replaced)) for k, v in obj.items())
    return replaced.get(id(obj), obj)
