"""Per-layer and whole-graph statistics: the summary table (like ``torchinfo``) and an estimate of
the memory training needs for a batch size, shown in the status bar and by ``layerforge summary``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import Graph

BYTES_PER_VALUE = 4  # float32 parameters, gradients and optimizer state
# Extra float32 values per parameter that each optimizer keeps (momentum, second moments).
OPTIMIZER_SLOTS = {"sgd": 0, "sgd_momentum": 1, "adam": 2, "adamw": 2, "rmsprop": 1,
                   "adagrad": 1}


@dataclass
class LayerRow:
    name: str
    type: str
    output: str
    params: int
    flops: int
    activation_bytes: int
    problem: str | None = None


@dataclass
class Summary:
    """Rows in topological order, totals, and the training-memory estimate.

    ``training_bytes`` = parameters x (weights + gradients + optimizer slots) x 4 bytes
    + batch_size x activations per sample x 2 (kept for backward, and their gradients). It is an
    estimate: the engine frees some activations early and keeps a few extra temporaries.
    """

    rows: list[LayerRow] = field(default_factory=list)
    total_params: int = 0
    total_flops: int = 0
    activation_bytes: int = 0
    batch_size: int = 64
    optimizer: str = "adam"
    training_bytes: int = 0

    @property
    def param_bytes(self) -> int:
        return self.total_params * BYTES_PER_VALUE


def training_memory(params: int, activation_bytes: int, batch_size: int,
                    optimizer: str = "adam") -> int:
    slots = OPTIMIZER_SLOTS.get(optimizer.lower(), 2)
    return params * BYTES_PER_VALUE * (2 + slots) + 2 * batch_size * activation_bytes


def summarize(graph: Graph, batch_size: int = 64, optimizer: str = "adam") -> Summary:
    """Statistics of every node in topological order (nodes caught in cycles come last)."""
    infos = graph.infer()
    order = graph.topological_order()
    if len(order) < len(graph):
        placed = set(order)
        order = order + [n for n in graph.nodes if n not in placed]
    s = Summary(batch_size=batch_size, optimizer=optimizer)
    for name in order:
        node = graph._nodes[name]
        info = infos[name]
        if node.type == "Output":
            tt = info.inputs[0] if info.inputs else None
            kind = f"Output[{info.values.get('loss')}]"
        else:
            tt = info.output
            kind = node.type
        s.rows.append(LayerRow(name, kind, "?" if tt is None else str(tt), info.params,
                               info.flops, info.activation_bytes, info.error))
        s.total_params += info.params
        s.total_flops += info.flops
        s.activation_bytes += info.activation_bytes
    s.training_bytes = training_memory(s.total_params, s.activation_bytes, batch_size, optimizer)
    return s


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover - loop always returns


def human_count(n: float, unit: str = "") -> str:
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {suffix}{unit}"
    return f"{n:.0f} {unit}".rstrip()


def format_summary(s: Summary, title: str = "") -> str:
    """A fixed-width table: layer, output shape, parameters, FLOPs; then the totals."""
    name_w = max([len(f"{r.name} ({r.type})") for r in s.rows] + [20])
    shape_w = max([len(r.output) for r in s.rows] + [14])
    width = name_w + shape_w + 30
    rule = "=" * width
    lines = [title] if title else []
    lines += [rule, f"{'Layer (type)':<{name_w}}  {'Output shape':<{shape_w}}  {'Param #':>12}"
                    f"  {'FLOPs':>12}", rule]
    for r in s.rows:
        lines.append(f"{f'{r.name} ({r.type})':<{name_w}}  {r.output:<{shape_w}}  "
                     f"{r.params:>12,}  {r.flops:>12,}")
    lines += [
        rule,
        f"Total params: {s.total_params:,} ({human_bytes(s.param_bytes)})",
        f"FLOPs per sample (forward): {s.total_flops:,} ({human_count(s.total_flops, 'FLOPs')})",
        f"Activations per sample: {human_bytes(s.activation_bytes)}",
        f"Estimated training memory (batch {s.batch_size}, {s.optimizer}): "
        f"{human_bytes(s.training_bytes)}",
        rule,
    ]
    return "\n".join(lines)
