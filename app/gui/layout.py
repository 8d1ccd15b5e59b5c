"""Auto-layout: layers left to right, after Sugiyama, with Brandes-Köpf-style placement.

1. Layer = the longest path from a source, so every wire points right. A wire that spans
   several layers gets a placeholder ("dummy") in each layer it crosses.
2. Order inside a layer by the barycentre of the neighbours (a few sweeps both ways), which
   removes most crossings; ties keep the user's vertical order.
3. Vertical placement: nodes are aligned into straight horizontal runs with a median neighbour;
   long wires (through their dummies) are aligned first, with their two end nodes, so a skip
   connection runs straight in its own lane and the nodes it skips sit beside it, not under it.
   Runs are then packed as close as the node heights allow.

``wrapped_layout`` then cuts the layers into rows that are read like text (left to right, then
the next row below), as many layers to a row as make the whole drawing largest in a given view:
a long chain of layers would otherwise open as a thin strip of unreadable cards.

No Qt: it takes node sizes and returns positions, and is tested on plain graphs.
"""

from __future__ import annotations

from engine.graph import Graph

from .constants import LAYOUT_GAP_X, LAYOUT_GAP_Y, LAYOUT_ROW_GAP

Size = tuple[float, float]
DUMMY_HEIGHT = 24.0  # room for a wire and its shape label


def layers_of(graph: Graph) -> list[list[str]]:
    """Nodes grouped by longest-path depth (nodes caught in a cycle go in one last layer)."""
    order = graph.topological_order()
    depth: dict[str, int] = {}
    for name in order:
        depth[name] = max((depth[p] + 1 for p in graph.predecessors(name) if p in depth),
                          default=0)
    placed = set(order)
    rest = [n for n in graph.nodes if n not in placed]
    n_layers = max(depth.values(), default=-1) + 1
    layers: list[list[str]] = [[] for _ in range(n_layers + (1 if rest else 0))]
    for name in order:
        layers[depth[name]].append(name)
    if rest:
        layers[-1].extend(rest)
    return layers


class _Layered:
    """The layered graph with dummies: ``up[v]`` / ``down[v]`` are neighbours in the adjacent
    layers, ``layer[v]`` its layer index, ``dummy`` the placeholders."""

    def __init__(self, graph: Graph) -> None:
        self.layers = layers_of(graph)
        for layer in self.layers:  # start from the user's vertical order
            layer.sort(key=lambda n: graph.node(n).pos[1])
        self.layer = {v: i for i, layer in enumerate(self.layers) for v in layer}
        self.up: dict[str, list[str]] = {v: [] for v in self.layer}
        self.down: dict[str, list[str]] = {v: [] for v in self.layer}
        self.dummy: set[str] = set()
        for k, e in enumerate(graph.edges):
            a, b = self.layer[e.src], self.layer[e.dst]
            if b <= a:  # an edge of a cycle: not drawn by the layout
                continue
            prev = e.src
            for i in range(a + 1, b):
                d = f"\0{k}:{i}"
                self.dummy.add(d)
                self.layer[d] = i
                self.layers[i].append(d)
                self.up[d], self.down[d] = [], []
                self._link(prev, d)
                prev = d
            self._link(prev, e.dst)

    def _link(self, a: str, b: str) -> None:
        self.down[a].append(b)
        self.up[b].append(a)


def _order(lg: _Layered, sweeps: int) -> dict[str, int]:
    index = {v: float(i) for layer in lg.layers for i, v in enumerate(layer)}

    def sweep(layers: list[list[str]], neighbours: dict[str, list[str]]) -> None:
        for layer in layers:
            def key(v: str) -> tuple[float, float]:
                ns = [index[n] for n in neighbours[v]]
                return (sum(ns) / len(ns) if ns else index[v], index[v])
            layer.sort(key=key)
            for i, v in enumerate(layer):
                index[v] = float(i)

    for _ in range(sweeps):
        sweep(lg.layers, lg.up)
        sweep(lg.layers[::-1], lg.down)
    sweep(lg.layers, lg.up)
    return {v: i for layer in lg.layers for i, v in enumerate(layer)}


def _align(lg: _Layered, pos: dict[str, int]) -> tuple[dict[str, str], dict[str, str]]:
    """Vertical alignment (Brandes-Köpf, one of its four passes): each node joins the run of
    a median upper neighbour unless that would cross a run already made. Segments of long
    wires win conflicts."""
    dummy = lg.dummy
    marked: set[tuple[str, str]] = set()
    for i in range(1, len(lg.layers)):
        layer, above = lg.layers[i], lg.layers[i - 1]
        k0, start = 0, 0
        for l1, v in enumerate(layer):
            inner = next((u for u in lg.up[v] if u in dummy), None) if v in dummy else None
            if l1 == len(layer) - 1 or inner is not None:
                k1 = pos[inner] if inner is not None else len(above) - 1
                for w in layer[start:l1 + 1]:
                    for u in lg.up[w]:
                        if (pos[u] < k0 or pos[u] > k1) and not (u in dummy and w in dummy):
                            marked.add((u, w))
                start, k0 = l1 + 1, k1
        # a node whose wire continues into a long wire keeps that lane: its other,
        # ordinary segments give way (the skipped nodes then sit beside the skip)
        for w in layer:
            for u in lg.up[w]:
                if u in dummy or w in dummy:
                    continue
                if any(d in dummy for d in lg.down[u]) or any(d in dummy for d in lg.up[w]):
                    marked.add((u, w))
    root = {v: v for v in pos}
    align = {v: v for v in pos}
    for layer in lg.layers[1:]:
        r = -1
        for v in layer:
            ups = sorted(lg.up[v], key=pos.__getitem__)
            if not ups:
                continue
            preferred = [u for u in ups if u in dummy]
            if preferred:
                ups = preferred
            m = (len(ups) - 1) / 2
            for u in dict.fromkeys((ups[int(m)], ups[int(m + 0.5)])):
                if align[v] == v and (u, v) not in marked and r < pos[u]:
                    align[u] = v
                    root[v] = root[u]
                    align[v] = root[v]
                    r = pos[u]
    return root, align


def layered_layout(graph: Graph, sizes: dict[str, Size], sweeps: int = 4,
                   gap_x: float = LAYOUT_GAP_X,
                   gap_y: float = LAYOUT_GAP_Y) -> dict[str, tuple[float, float]]:
    """name -> top-left position. The drawing's top-left stays where the graph's was."""
    if not len(graph):
        return {}
    lg = _Layered(graph)
    pos = _order(lg, sweeps)
    root, align = _align(lg, pos)

    def height(v: str) -> float:
        return DUMMY_HEIGHT if v in lg.dummy else sizes.get(v, (180.0, 80.0))[1]

    # pack runs top to bottom: a run sits just below the runs above it in every layer it
    # passes through (centre-to-centre distance = half heights + gap)
    y: dict[str, float] = {}

    def place(v: str) -> None:
        if v in y:
            return
        y[v] = 0.0
        w = v
        while True:
            i = pos[w]
            if i > 0:
                above = lg.layers[lg.layer[w]][i - 1]
                u = root[above]
                place(u)
                y[v] = max(y[v], y[u] + height(above) / 2 + gap_y + height(w) / 2)
            w = align[w]
            if w == v:
                break

    import sys  # noqa: PLC0415 - deep chains of runs recurse once per run

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * len(pos) + 100))
    try:
        for v in pos:
            if root[v] == v:
                place(v)
    finally:
        sys.setrecursionlimit(limit)

    out: dict[str, tuple[float, float]] = {}
    x = 0.0
    for layer in lg.layers:
        real = [v for v in layer if v not in lg.dummy]
        width = max((sizes.get(v, (180.0, 80.0))[0] for v in real), default=0.0)
        for v in real:
            out[v] = (x, y[root[v]] - height(v) / 2)
        x += width + gap_x
    old_x = min(node.pos[0] for node in graph)
    old_y = min(node.pos[1] for node in graph)
    dx = old_x - min(p[0] for p in out.values())
    dy = old_y - min(p[1] for p in out.values())
    return {n: (round(p[0] + dx, 1), round(p[1] + dy, 1)) for n, p in out.items()}


def wrapped_layout(graph: Graph, sizes: dict[str, Size], view: Size,
                   margin: float = 40.0, gap_x: float = LAYOUT_GAP_X,
                   gap_y: float = LAYOUT_GAP_Y,
                   row_gap: float = LAYOUT_ROW_GAP) -> dict[str, tuple[float, float]]:
    """``layered_layout``'s layers cut into rows (see the module docstring): the number of
    layers per row is the one that lets the drawing fill ``view`` (width, height, in pixels)
    at the largest zoom. A row ends, where it can, between two layers joined by a single wire
    (never inside a residual block, whose wires would then cross the next row). Returns
    name -> top-left position; the drawing starts where the graph's did."""
    flat = layered_layout(graph, sizes, gap_x=gap_x, gap_y=gap_y)
    if not flat:
        return {}
    columns = sorted({x for x, _ in flat.values()})
    index = {x: i for i, x in enumerate(columns)}
    crossing = [0] * len(columns)  # wires passing between column i - 1 and column i
    for e in graph.edges:
        a, b = index[flat[e.src][0]], index[flat[e.dst][0]]
        for i in range(min(a, b) + 1, max(a, b) + 1):
            crossing[i] += 1
    best: tuple[float, dict[str, tuple[float, float]]] | None = None
    for per_row in range(1, len(columns) + 1):
        w, h, out = _rows_box(flat, sizes, columns, _cuts(crossing, per_row), row_gap)
        zoom = min((view[0] - 2 * margin) / w, (view[1] - 2 * margin) / h)
        if best is None or zoom > best[0] + 1e-9:
            best = (zoom, out)
    assert best is not None
    return best[1]


def _cuts(crossing: list[int], per_row: int) -> list[int]:
    """Where rows start: at most ``per_row`` columns a row, ending at the last single-wire
    boundary of its second half when there is one (a row is never cut to a stub for it)."""
    starts, s = [0], 0
    while s + per_row < len(crossing):
        end = s + per_row
        clean = [b for b in range(s + (per_row + 1) // 2, end + 1) if crossing[b] == 1]
        s = clean[-1] if clean else end
        starts.append(s)
    return starts


def _rows_box(flat: dict[str, tuple[float, float]], sizes: dict[str, Size],
              columns: list[float], starts: list[int],
              row_gap: float) -> tuple[float, float, dict[str, tuple[float, float]]]:
    """Width, height and positions of the drawing with rows starting at columns ``starts``."""
    x0 = columns[0]
    y0 = min(y for _, y in flat.values())
    rows: list[list[str]] = []
    for s, e in zip(starts, [*starts[1:], len(columns)]):
        keep = set(columns[s:e])
        rows.append([n for n, (x, _) in flat.items() if x in keep])
    out: dict[str, tuple[float, float]] = {}
    top, width = 0.0, 0.0
    for row in rows:
        row_x = min(flat[n][0] for n in row)
        row_y = min(flat[n][1] for n in row)
        bottom = 0.0
        for n in row:
            w, h = sizes.get(n, (180.0, 80.0))
            x, y = flat[n][0] - row_x, flat[n][1] - row_y
            out[n] = (round(x0 + x, 1), round(y0 + top + y, 1))
            bottom = max(bottom, y + h)
            width = max(width, x + w)
        top += bottom + row_gap
    return width, top - row_gap, out
