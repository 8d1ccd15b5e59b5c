"""Auto-layout on plain graphs (no Qt): wires point right, nothing overlaps, skips get a lane."""

from __future__ import annotations

import pytest

from app.gui.layout import layered_layout, layers_of
from engine.graph import Graph

W, H = 180.0, 70.0


def _chain(n: int) -> Graph:
    g = Graph()
    g.add_node("Input", "x", {"shape": [8]})
    names = ["x"]
    for i in range(n):
        names.append(g.add_node("ReLU", f"r{i}").name)
    g.add_node("Output", "out")
    g.chain(*names, "out")
    return g


def _residual() -> Graph:
    g = Graph()
    g.add_node("Input", "x", {"shape": [8]})
    for name in ("a", "b", "c"):
        g.add_node("Linear", name, {"out_features": 8})
    g.add_node("Add", "add")
    g.add_node("Output", "out")
    g.chain("x", "a", "b", "c")
    g.connect("c", "add", 0, 0)
    g.connect("x", "add", 0, 1)
    g.connect("add", "out")
    return g


def _boxes_overlap(p, q) -> bool:
    return p[0] < q[0] + W and q[0] < p[0] + W and p[1] < q[1] + H and q[1] < p[1] + H


@pytest.mark.parametrize("graph", [_chain(6), _residual()], ids=["chain", "residual"])
def test_layers_point_right_and_do_not_overlap(graph):
    pos = layered_layout(graph, {n: (W, H) for n in graph.nodes})
    assert set(pos) == set(graph.nodes)
    for e in graph.edges:
        assert pos[e.src][0] + W < pos[e.dst][0], e
    names = list(pos)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not _boxes_overlap(pos[a], pos[b]), (a, b)


def test_chain_is_one_straight_row():
    g = _chain(5)
    pos = layered_layout(g, {n: (W, H) for n in g.nodes})
    assert len({p[1] for p in pos.values()}) == 1


def test_skip_connection_gets_its_own_lane():
    g = _residual()
    pos = layered_layout(g, {n: (W, H) for n in g.nodes})
    # the skip x -> add runs straight: both ends on one row, the skipped nodes off that row
    assert pos["x"][1] == pos["add"][1]
    for skipped in ("a", "b", "c"):
        assert abs(pos[skipped][1] - pos["x"][1]) >= H


def test_layout_keeps_the_drawing_where_it_was():
    g = _chain(3)
    for i, n in enumerate(g.nodes):
        g.move(n, (500.0 + 10 * i, -300.0))
    pos = layered_layout(g, {n: (W, H) for n in g.nodes})
    assert min(p[0] for p in pos.values()) == 500.0
    assert min(p[1] for p in pos.values()) == -300.0


def test_cycles_do_not_break_the_layout():
    g = Graph.from_dict({"nodes": [{"name": n, "type": "ReLU"} for n in ("a", "b", "c")],
                         "edges": [{"src": "a", "dst": "b"}, {"src": "b", "dst": "c"},
                                   {"src": "c", "dst": "a"}]})
    assert sum(len(layer) for layer in layers_of(g)) == 3
    assert set(layered_layout(g, {})) == {"a", "b", "c"}
