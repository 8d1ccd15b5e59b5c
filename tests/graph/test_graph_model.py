"""The graph model's mutation API: every edit applies fully or is refused with its reason."""

from __future__ import annotations

import pytest

from engine.graph import (
    ConnectionRefused,
    CycleError,
    Graph,
    GraphError,
    InvalidNameError,
    ParamError,
    TensorType,
    UnknownNodeError,
)


def mlp() -> Graph:
    return Graph.sequential((1, 28, 28), "Flatten", ("Linear", {"out_features": 128}), "ReLU",
                            ("Linear", {"out_features": 10}))


def test_add_node_names_and_defaults() -> None:
    g = mlp()
    assert list(g.nodes) == ["x", "flatten1", "fc1", "relu1", "fc2", "out"]
    assert dict(g.node("fc1").params) == {"out_features": 128, "bias": True}
    assert g.add_node("Conv2d").name == "conv1"
    assert g.add_node("Conv2d").name == "conv2"
    with pytest.raises(TypeError):
        g.node("fc1").params["bias"] = False  # read-only: edits go through set_param


@pytest.mark.parametrize(("name", "message"), [
    ("2fc", "not a valid node name"), ("fc-1", "not a valid node name"),
    ("class", "reserved"), ("forward", "reserved"), ("torch", "reserved"),
    ("_hidden", "reserved"), ("fc1", "already exists"),
])
def test_invalid_names_are_refused(name: str, message: str) -> None:
    g = mlp()
    with pytest.raises(InvalidNameError, match=message):
        g.add_node("ReLU", name)
    with pytest.raises(InvalidNameError, match=message):
        g.rename("relu1", name)


def test_shapes_are_inferred_and_inferred_params_filled() -> None:
    g = mlp()
    info = g.info("fc1")
    assert info.inputs == (TensorType((784,)),)
    assert info.output == TensorType((128,))
    assert info.values["in_features"] == 784
    assert info.params == 784 * 128 + 128
    assert str(g.output_type("fc2")) == "(N, 10)"


def test_connect_refuses_a_cycle_with_the_path() -> None:
    g = Graph.sequential((8,), ("Linear", {"out_features": 8}), "ReLU")
    g.add_node("Add", "add1")
    g.connect("relu1", "add1", 0, 0)
    with pytest.raises(CycleError, match=r"connecting add1 -> fc1 would make a cycle: add1 -> "
                                         r"fc1 -> relu1 -> add1"):
        g.connect("add1", "fc1")
    reason = g.can_connect("relu1", "relu1")
    assert reason == "cannot connect relu1 to itself"
    assert g.can_connect("x", "add1", 0, 1) is None


@pytest.mark.parametrize(("src", "dst", "sp", "dp", "message"), [
    ("fc1", "fc1", 0, 0, "cannot connect fc1 to itself"),
    ("out", "relu1", 0, 0, r"out \(Output\) has no outputs"),
    ("fc1", "x", 0, 0, r"x \(Input\) has no inputs"),
    ("x", "relu1", 0, 0, "input 0 of relu1 is already connected to fc1; disconnect it first"),
    ("fc1", "relu1", 1, 0, "fc1 has 1 output"),
    ("fc1", "fc2", 0, 3, r"fc2 has 1 input\(s\); there is no input 3"),
])
def test_connect_refusals_say_why(src: str, dst: str, sp: int, dp: int, message: str) -> None:
    g = Graph.sequential((8,), ("Linear", {"out_features": 8}), "ReLU")
    g.add_node("Linear", "fc2")
    with pytest.raises(ConnectionRefused, match=message):
        g.connect(src, dst, sp, dp)
    assert g.can_connect(src, dst, sp, dp) is not None


def test_connect_refuses_incompatible_tensors() -> None:
    g = Graph.sequential((784,), "ReLU")
    g.add_node("Conv2d", "conv")
    g.add_node("Embedding", "emb")
    with pytest.raises(ConnectionRefused, match=r"cannot connect relu1 \(N, 784\) to conv: "
                                                r"Conv2d needs an image \(channels, height, "
                                                r"width\) per sample, got \(N, 784\)"):
        g.connect("relu1", "conv")
    with pytest.raises(ConnectionRefused, match="Embedding needs int64 indices, got float32"):
        g.connect("relu1", "emb")
    g.add_node("Input", "other", {"shape": [10]})
    g.add_node("Add", "add")
    g.connect("relu1", "add", 0, 0)
    reason = g.can_connect("other", "add", 0, 1)
    assert reason is not None and "input 1 is (N, 10) but input 0 is (N, 784)" in reason
    g.add_node("Concat", "cat")
    g.connect("relu1", "cat", 0, 0)
    assert g.can_connect("other", "cat", 0, 1) is None  # only the concatenated dim differs


def test_disconnect_and_unknown_nodes() -> None:
    g = mlp()
    edge = g.disconnect("relu1", "fc2")
    assert edge.src == "relu1" and "fc2" not in g.successors("relu1")
    assert g.info("fc2").output is None  # unknown now, not an error
    with pytest.raises(ConnectionRefused, match="there is no connection from output 0 of relu1"):
        g.disconnect("relu1", "fc2")
    with pytest.raises(UnknownNodeError, match="no node named 'nope'"):
        g.connect("nope", "fc2")


def test_set_param_validates_and_returns_the_old_value() -> None:
    g = mlp()
    assert g.set_param("fc1", "out_features", 64) == 128
    assert g.info("fc2").values["in_features"] == 64
    with pytest.raises(ParamError, match=r"fc1: out_features must be an integer in \[1, "
                                         r"1048576\], got 0"):
        g.set_param("fc1", "out_features", 0)
    with pytest.raises(ParamError, match="in_features is inferred from the incoming tensor"):
        g.set_param("fc1", "in_features", 5)
    with pytest.raises(ParamError, match=r"Linear has no parameter 'units' \(it has: "
                                         r"out_features, bias\)"):
        g.set_param("fc1", "units", 5)
    assert g.node("fc1").params["out_features"] == 64  # refused edits changed nothing


def test_restore_param_undoes_exactly() -> None:
    d = mlp().to_dict()
    d["nodes"][2]["params"] = {"out_features": -1}  # a hand-edited bad value, and no "bias"
    g = Graph.from_dict(d)
    g.set_param("fc1", "out_features", 64)
    g.set_param("fc1", "bias", False)
    assert g.info("fc1").output == TensorType((64,))
    g.restore_param("fc1", "bias", None, present=False)
    g.restore_param("fc1", "out_features", -1)
    assert g.to_dict() == d
    assert g.info("fc1").error_kind == "param"


def test_set_param_refuses_to_strand_a_connected_port() -> None:
    g = Graph.sequential((4,), "ReLU")
    g.add_node("Add", "add", {"num_inputs": 3})
    g.connect("relu1", "add", 0, 2)
    with pytest.raises(ParamError, match="input 2 is connected; disconnect it before setting "
                                         "num_inputs to 2"):
        g.set_param("add", "num_inputs", 2)


def test_rename_carries_edges_and_shapes() -> None:
    g = mlp()
    g.infer()
    g.rename("fc1", "hidden")
    assert "fc1" not in g and g.predecessors("relu1") == ["hidden"]
    assert g.predecessors("hidden") == ["flatten1"]
    assert g.info("hidden").output == TensorType((128,))
    assert [e.src for e in g.edges].count("hidden") == 1
    assert list(g.nodes).index("hidden") == 2  # keeps its place


def test_move_does_not_rerun_inference() -> None:
    g = mlp()
    g.infer()
    version = g.version
    assert g.move("fc1", (10, 20)) == (320.0, 0.0)
    g.infer()
    assert g._shapes.recomputed == 0 and g.version == version + 1
    assert g.node("fc1").pos == (10.0, 20.0)


def test_remove_and_restore_is_exact() -> None:
    g = Graph.sequential((3, 8, 8), ("Conv2d", {"out_channels": 3, "padding": 1}), "ReLU")
    g.add_node("Add", "add")
    g.add_node("Flatten", "after")  # so "add" is not the last node
    g.disconnect("relu1", "out")
    g.connect("relu1", "add", 0, 0)
    g.connect("x", "add", 0, 1)
    g.connect("add", "out")
    before = g.to_dict()
    snap = g.remove_node("add")
    assert "add" not in g and g.info("out").inputs == (None,)
    g.restore_node(snap)
    assert g.to_dict() == before  # same nodes, order, edges and positions
    assert g.info("out").inputs[0] == TensorType((3, 8, 8))


def test_dict_round_trip() -> None:
    g = mlp()
    g.move("fc2", (5.5, -3))
    d = g.to_dict()
    assert Graph.from_dict(d).to_dict() == d
    assert g.copy().to_dict() == d


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["nodes"][1].update(type="Conv3d"), r"graph.nodes\[1\]: unknown layer type"),
    (lambda d: d["nodes"][1].update(name="for"), r"graph.nodes\[1\]: 'for' is reserved"),
    (lambda d: d["nodes"][2].update(pos=[1]), r"graph.nodes\[2\].pos: expected \[x, y\]"),
    (lambda d: d["nodes"][2].update(params=[]), r"graph.nodes\[2\].params: expected an object"),
    (lambda d: d["edges"][0].update(dst="ghost"), r"graph.edges\[0\]: no node named 'ghost'"),
    (lambda d: d["edges"].append({"src": "x", "dst": "fc1"}),
     r"graph.edges\[5\]: input 0 of fc1 is connected twice \(from flatten1 and from x\)"),
    (lambda d: d["edges"][0].update(dst_port=-1), r"graph.edges\[0\]: ports must be integers"),
    (lambda d: d.update(nodes={}), "'nodes' and 'edges' must be lists"),
])
def test_from_dict_names_the_location_of_damage(mutate: object, message: str) -> None:
    d = mlp().to_dict()
    mutate(d)  # type: ignore[operator]
    with pytest.raises(GraphError, match=message):
        Graph.from_dict(d)


def test_from_dict_keeps_bad_values_for_validate() -> None:
    d = mlp().to_dict()
    d["nodes"][2]["params"] = {"out_features": -3, "color": "red"}
    g = Graph.from_dict(d)
    assert g.node("fc1").params["color"] == "red"  # nothing lost
    assert g.to_dict() == d
    info = g.info("fc1")
    assert info.error_kind == "param" and "out_features must be" in info.error
