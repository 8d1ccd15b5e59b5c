"""Layer diagnostics during training: what each layer's activations, gradients and weights do,
sampled every few steps, for the graph editor, the command line and TensorBoard.

``DiagnosticsCollector`` is a Trainer callback that works through the engine's hooks only, so it
sees any model the way a PyTorch user's hooks would, and the Trainer has no special case for it:

- ``register_forward_hook`` on each layer: the output's statistics (``layer_stats``): mean, std,
  the zero fraction (ReLU family), the saturation fraction (sigmoid, tanh), a histogram;
- ``register_full_backward_hook``: the gradient with respect to that output (what flows back
  along the layer's wire in the editor): its norm and a histogram;
- the optimizer's ``register_step_pre_hook``: each layer's parameter gradient norm and parameter
  norm as the step will use them (after clipping, and reduced across devices and ranks);
- ``register_step_post_hook``: the update-to-parameter ratio ``||θ_new - θ_old|| / ||θ_old||``.

Module hooks are registered only for the sampled batch and removed after it, so the other steps
run exactly as without diagnostics. Each finished sample is a ``DiagnosticsRecord`` sent to every
callback as an ``EventKind.DIAGNOSTICS`` event (``event.data["diagnostics"]``; its scalars are
also in ``event.metrics`` as ``"<layer>/<statistic>"``, so the metrics log keeps them).

How often: ``every=N`` samples every N-th batch. By default the interval adapts so the time the
diagnostics take (the statistics in the hooks, and what the callbacks do with the record:
TensorBoard histograms, the window), measured sample by sample, stays near ``budget`` (1%)
of the training time; the first batch is always sampled. What the account leaves out (the
hooks' own plumbing, caches refilled after a sample) comes to about as much again on the
smallest networks: ``benchmarks/diagnostics_bench.py`` measures 2-4% in all (target 5%). The
sampling rate is thus about constant in time (several samples a second), not in steps.

Devices: with ``DataParallel`` the activation statistics are those of the first replica's share
of the batch; under ``mpiexec`` every rank collects its share and rank 0 merges them into the
statistics of the whole batch (one ``all_gather_object`` per sample; gradients with respect to
outputs are scaled by 1/ranks, as the averaged gradient is), and only rank 0 sends the event.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..autograd.grad_mode import is_grad_enabled, no_grad
from ..tensor import Tensor
from .events import Callback, EventKind
from .layer_stats import (
    HIST_BINS,
    SATURATING_RANGES,
    TensorSums,
    layer_kind,
    merge_sums,
    sum_of_squares,
    tensor_sums,
)

DEFAULT_BUDGET = 0.01  # share of training time the adaptive interval aims at
MAX_EVERY = 500  # at least one sample in this many batches, however slow a sample is
FIRST_GAP = 5  # ranks' second sample comes this many batches after the first (no timing yet)
TIMED_BATCHES = 3  # unsampled batches timed before the adaptive interval is trusted
_CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")


@dataclass
class LayerStats:
    """One layer at one sampled step.

    Attributes:
        name / type: the layer's name (a graph node's name) and module class.
        kind: ``"relu"``, ``"saturating"`` or ``"other"`` (``layer_stats.layer_kind``).
        activation: sums of the layer's output on the batch (None if it did not run).
        output_grad: sums of the loss gradient with respect to that output.
        grad_norm: L2 norm of the gradients of the layer's own parameters (None without).
        param_norm: L2 norm of those parameters before the step.
        update_ratio: ``||θ_new - θ_old|| / ||θ_old||`` of the step (None without parameters
            or with all-zero ones).
    """

    name: str
    type: str
    kind: str
    activation: TensorSums | None = None
    output_grad: TensorSums | None = None
    grad_norm: float | None = None
    param_norm: float | None = None
    update_ratio: float | None = None

    def scalars(self) -> dict[str, float]:
        """The numbers of this layer by name (for logs, TensorBoard and the charts)."""
        out: dict[str, float] = {}
        a, g = self.activation, self.output_grad
        if a is not None and a.n:
            out["activation_mean"] = a.mean
            out["activation_std"] = a.std
            if self.kind == "relu":
                out["zero_fraction"] = a.zero_fraction
            elif self.kind == "saturating":
                out["saturation"] = a.saturation_fraction
        if g is not None and g.n:
            out["output_grad_norm"] = g.norm
        for key in ("grad_norm", "param_norm", "update_ratio"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass
class DiagnosticsRecord:
    """All layers at one sampled step. ``step``: optimizer steps done (the update measured is
    the ``step``-th); ``epoch`` and ``batch`` are 0-based; ``ranks``: how many ranks' shares of
    the batch the activation statistics cover."""

    step: int
    epoch: int
    batch: int
    layers: dict[str, LayerStats] = field(default_factory=dict)
    ranks: int = 1

    def scalars(self) -> dict[str, float]:
        """``{"<layer>/<statistic>": value}`` for every layer."""
        return {f"{name}/{k}": v for name, stats in self.layers.items()
                for k, v in stats.scalars().items()}


class _Sample:
    """What the hooks gather for one sampled batch."""

    def __init__(self) -> None:
        self.activations: dict[str, list[TensorSums]] = {}
        self.grads: dict[str, list[TensorSums]] = {}
        # grad², param², their values before the step, the parameters (the layer's trainable)
        self.params: dict[str, tuple[float, float, list[Any], list[Any]]] = {}
        self.updates: dict[str, float | None] = {}
        self.stepped = False
        self.hook_s = 0.0
        self.batch_index = 0  # which batch of the fit (counted from 0) was sampled


def default_layers(model: Any) -> dict[str, Any]:
    """The layers to watch: the model's children (a compiled graph's nodes), looking inside
    plain containers (``Sequential``, ``ModuleList``, ``ModuleDict``) with dotted names."""
    found: dict[str, Any] = {}

    def visit(module: Any, prefix: str) -> None:
        for name, child in module.named_children():
            if child is None:
                continue
            full = f"{prefix}{name}"
            if type(child).__name__ in _CONTAINERS:
                visit(child, full + ".")
            else:
                found[full] = child

    visit(model, "")
    return found


def _first_tensor(value: Any) -> Tensor | None:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, tuple | list):
        for v in value:
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


def _sq_norm(arrays: Iterable[Any]) -> float:
    return sum(sum_of_squares(a) for a in arrays)


class DiagnosticsCollector(Callback):
    """Collect ``DiagnosticsRecord``s while a Trainer fits (see the module docstring).

    Args:
        layers: the modules to watch, ``{name: module}`` (default: ``default_layers`` of the
            Trainer's model).
        every: sample every ``every``-th batch; None adapts the interval to ``budget``.
        budget: the share of training time the adaptive interval allows the diagnostics.
        bins: histogram bins.
        max_every: the longest adaptive interval.
    """

    def __init__(self, layers: Mapping[str, Any] | None = None, every: int | None = None,
                 budget: float = DEFAULT_BUDGET, bins: int = HIST_BINS,
                 max_every: int = MAX_EVERY) -> None:
        if every is not None and (not isinstance(every, int) or every < 1):
            raise ValueError(f"every must be a positive integer or None, got {every!r}")
        if not 0 < budget < 1:
            raise ValueError(f"budget must be a fraction in (0, 1), got {budget!r}")
        self.layers = dict(layers) if layers is not None else None
        self.every = every
        self.budget = float(budget)
        self.bins = int(bins)
        self.max_every = int(max_every)
        self.spent_s = 0.0  # seconds the samples took so far (what the budget is held to)
        self.interval = every or FIRST_GAP  # the interval now in use (adaptive: changes)
        self._watch: dict[str, Any] = {}
        self._kinds: dict[str, str] = {}
        self._module_handles: list[Any] = []
        self._opt_handles: list[Any] = []
        self._optimizer: Any = None
        self._sample: _Sample | None = None
        self._count = 0
        self._next: int | None = 0  # the batch to sample next (None: not decided yet)
        self._last_index = 0
        self._timed = 0
        self._first = True  # the fit's first sample is still to come
        self._last_end: float | None = None
        self._steps_s: deque[float] = deque(maxlen=15)  # the last unsampled batches' times
        self._costs: deque[float] = deque(maxlen=5)  # seconds of the last samples
        self._rank, self._world = 0, 1

    # ------------------------------------------------------------------ lifecycle
    def on_fit_start(self, trainer: Any, event: Any) -> None:
        self._detach()
        self._watch = dict(self.layers) if self.layers is not None else \
            default_layers(trainer.model)
        self._kinds = {name: layer_kind(type(m).__name__) for name, m in self._watch.items()}
        self._rank = int(getattr(trainer, "rank", 0))
        self._world = int(getattr(trainer, "world", 1)) if getattr(
            trainer, "distributed", False) else 1
        self._optimizer = trainer.optimizer
        self._count, self._next, self._timed = 0, 0, 0
        self._first = True
        self._costs.clear()
        self._steps_s.clear()
        self._last_end = time.perf_counter()
        self._sample = None
        self._arm()

    def on_epoch_start(self, trainer: Any, event: Any) -> None:
        self._last_end = time.perf_counter()  # validation and checkpoints are not a batch

    def on_fit_end(self, trainer: Any, event: Any) -> None:
        self._detach()

    def on_error(self, trainer: Any, event: Any) -> None:
        self._detach()

    def _detach(self) -> None:
        self._disarm_modules()
        self._disarm_step()
        self._sample = None

    def _disarm_step(self) -> None:
        for h in self._opt_handles:
            h.remove()
        self._opt_handles = []

    # ------------------------------------------------------------------ sampling
    def _arm(self) -> None:
        """Watch the next batch: module hooks on, the next optimizer step measured (all hooks
        are removed again once used, so unsampled steps run without any)."""
        self._sample = _Sample()
        self._sample.batch_index = self._count
        opt = self._optimizer
        self._opt_handles = [opt.register_step_pre_hook(self._pre_step),
                             opt.register_step_post_hook(self._post_step)]
        for name, module in self._watch.items():
            self._module_handles.append(module.register_forward_hook(self._forward_hook(name)))
            self._module_handles.append(
                module.register_full_backward_hook(self._backward_hook(name)))

    def _disarm_modules(self) -> None:
        for h in self._module_handles:
            h.remove()
        self._module_handles = []

    def _forward_hook(self, name: str) -> Any:
        saturation = SATURATING_RANGES.get(type(self._watch[name]).__name__)

        def hook(module: Any, args: Any, output: Any) -> None:
            sample = self._sample
            # validation and evaluation passes (eval mode, no grad) are not training steps
            if sample is None or not module.training or not is_grad_enabled():
                return
            t0 = time.perf_counter()
            out = _first_tensor(output)
            if out is not None:
                sample.activations.setdefault(name, []).append(
                    tensor_sums(out._data, saturation, self.bins))
            sample.hook_s += time.perf_counter() - t0
        return hook

    def _backward_hook(self, name: str) -> Any:
        def hook(module: Any, grad_input: Any, grad_output: Any) -> None:
            sample = self._sample
            if sample is None:
                return
            t0 = time.perf_counter()
            g = _first_tensor(tuple(x for x in grad_output if x is not None))
            if g is not None:
                sample.grads.setdefault(name, []).append(tensor_sums(g._data, None, self.bins))
            sample.hook_s += time.perf_counter() - t0
        return hook

    def _pre_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        sample = self._sample
        if sample is None or not self._opt_handles:  # the step is measured while hooked
            return
        t0 = time.perf_counter()
        for name, module in self._watch.items():
            params = [p for p in module.parameters(recurse=True) if p.requires_grad]
            if not params:
                continue
            grads = [p.grad._data for p in params if p.grad is not None]
            sample.params[name] = (_sq_norm(grads), _sq_norm(p._data for p in params),
                                   [p._data.copy() for p in params], params)
        sample.hook_s += time.perf_counter() - t0

    def _post_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        sample = self._sample
        if sample is None or not self._opt_handles:
            return
        t0 = time.perf_counter()
        with no_grad():
            for name, (_g2, p2, before, params) in sample.params.items():
                moved = _sq_norm(p._data - b for p, b in zip(params, before))
                sample.updates[name] = math.sqrt(moved / p2) if p2 > 0 else None
                before.clear()  # the copies go as soon as they are used
        sample.stepped = True
        self._disarm_step()
        sample.hook_s += time.perf_counter() - t0

    # ------------------------------------------------------------------ each batch
    def on_batch_end(self, trainer: Any, event: Any) -> None:
        now = time.perf_counter()
        sampled = bool(self._module_handles)
        self._disarm_modules()
        if not sampled and self._last_end is not None:
            self._steps_s.append(now - self._last_end)
            self._timed += 1
        self._count += 1
        sample = self._sample
        if sample is not None and sample.stepped:
            self._finish(trainer, event, sample)
        self._last_end = time.perf_counter()
        if self._next is None and self._timed >= TIMED_BATCHES:  # the steps are timed now
            self.interval = self._proposal(self._cost_estimate())
            self._next = max(self._count, self._last_index + self.interval)
        if self._sample is None and self._next is not None and self._count >= self._next:
            self._arm()

    def _finish(self, trainer: Any, event: Any, sample: _Sample) -> None:
        """Merge the sample (across ranks), send it, and choose when to sample next."""
        self._sample = None
        t0 = time.perf_counter()
        parts = [self._payload(sample)]
        # ranks agree on the next sample (a collective): each proposes, the longest wins
        proposal = self._proposal(self._cost_estimate(sample.hook_s))
        if self._world > 1:
            from .. import distributed as dist  # noqa: PLC0415

            gathered = dist.default_group().all_gather_object((parts[0], proposal))
            parts = [p for p, _ in gathered]
            proposal = max(n for _, n in gathered)
        if self._rank == 0:
            record = self._record(parts, event)
            diag = dataclasses.replace(event, kind=EventKind.DIAGNOSTICS,
                                       metrics=record.scalars(), message="",
                                       data={"diagnostics": record, "ranks": record.ranks})
            trainer.callbacks(trainer, diag)
        # What a sample costs: the hooks' own time and this method's (merging, and every
        # callback's work on the record: TensorBoard, the window), both measured directly. A
        # fit's first record also pays one-time costs downstream (TensorBoard's crc tables,
        # first imports: ten times a usual record), so it counts as twice its hooks' time.
        handled = sample.hook_s if self._first else time.perf_counter() - t0
        self._first = False
        self._costs.append(sample.hook_s + handled)
        self.spent_s += self._costs[-1]
        self._last_index = sample.batch_index
        if self.every is None and self._world == 1:
            if self._timed < TIMED_BATCHES:  # decided once a few plain steps are timed
                self._next = None
                return
            proposal = self._proposal(self._cost_estimate())
        self.interval = proposal
        self._next = max(self._count, sample.batch_index + proposal)

    def _cost_estimate(self, *more: float) -> float:
        """What the next sample will cost: the median of the last few (one sample slowed by
        another process changes nothing)."""
        costs = [*self._costs, *more]
        return statistics.median(costs) if costs else 0.0

    def _proposal(self, cost_s: float) -> int:
        """The next interval: fixed, or long enough that ``cost_s`` per sample stays within
        ``budget`` of the training time (``FIRST_GAP`` while no step is timed yet: ranks must
        agree on the next sample before any of them has timed a step)."""
        if self.every is not None:
            return self.every
        # the median batch: an epoch's first (its loader starting) is no guide to the others
        step_s = statistics.median(self._steps_s) if self._steps_s else 0.0
        if step_s <= 0:
            return FIRST_GAP
        return max(1, min(self.max_every, math.ceil(cost_s / (self.budget * step_s))))

    def _payload(self, sample: _Sample) -> dict[str, Any]:
        """This rank's part of the sample, as plain data (what crosses to rank 0)."""
        return {"act": {n: merge_sums(v, self.bins) for n, v in sample.activations.items()},
                "grad": {n: merge_sums(v, self.bins) for n, v in sample.grads.items()},
                "params": {n: (g2, p2) for n, (g2, p2, _, _) in sample.params.items()},
                "updates": dict(sample.updates)}

    def _record(self, parts: list[dict[str, Any]], event: Any) -> DiagnosticsRecord:
        record = DiagnosticsRecord(step=event.step, epoch=event.epoch, batch=event.batch,
                                   ranks=len(parts))
        first = parts[0]  # parameters, their gradients and updates are the same on every rank
        scale = 1.0 / len(parts)
        for name, module in self._watch.items():
            stats = LayerStats(name, type(module).__name__, self._kinds[name])
            acts = [p["act"][name] for p in parts if name in p["act"]]
            grads = [p["grad"][name] for p in parts if name in p["grad"]]
            if acts:
                stats.activation = merge_sums(acts, self.bins)
            if grads:
                stats.output_grad = merge_sums(grads, self.bins, scale)
            if name in first["params"]:
                g2, p2 = first["params"][name]
                stats.grad_norm, stats.param_norm = math.sqrt(g2), math.sqrt(p2)
                stats.update_ratio = first["updates"].get(name)
            record.layers[name] = stats
        return record
