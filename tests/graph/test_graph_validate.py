"""validate(): every problem tied to its node and port, with a message that says what to do."""

from __future__ import annotations

from engine.graph import DataSpec, Graph, Problem, TensorType, errors, validate


def mlp(out_features: int = 10, loss: str = "cross_entropy") -> Graph:
    return Graph.sequential((1, 8, 8), "Flatten", ("Linear", {"out_features": 32}), "ReLU",
                            ("Linear", {"out_features": out_features}), loss=loss)


def by_code(problems: list[Problem], code: str) -> list[Problem]:
    return [p for p in problems if p.code == code]


def test_a_good_graph_has_no_problems() -> None:
    assert validate(mlp()) == []
    digits = DataSpec("Digits", TensorType((1, 8, 8)), "class", 10)
    assert validate(mlp(), digits) == []


def test_empty_graph_and_missing_ends() -> None:
    [p] = validate(Graph())
    assert p.code == "empty" and p.node is None and "add an Input" in p.message
    g = Graph()
    g.add_node("ReLU")
    codes = {p.code for p in validate(g)}
    assert {"no_input", "no_output", "unconnected"} <= codes


def test_unconnected_ports_are_located() -> None:
    g = mlp()
    g.add_node("Add", "add")
    g.connect("relu1", "add", 0, 0)
    problems = validate(g)
    [p] = by_code(problems, "unconnected")
    assert (p.node, p.port) == ("add", 1)
    assert str(p) == ("add (input 1): input 1 is not connected; connect a layer's output to it "
                      "or remove the node")
    [unused] = by_code(problems, "unused")
    assert unused.node == "add" and unused.severity == "warning"


def test_output_without_a_path_from_an_input() -> None:
    g = mlp()
    g.disconnect("x", "flatten1")
    problems = validate(g)
    assert by_code(problems, "unconnected")[0].node == "flatten1"
    [p] = by_code(problems, "no_path")
    assert p.node == "out" and "no path from an Input" in p.message
    assert by_code(problems, "unused")[0].node == "x"


def test_cycle_in_a_loaded_file_is_reported_once_with_its_nodes() -> None:
    d = mlp().to_dict()
    d["edges"] = [e for e in d["edges"] if e["dst"] != "fc1"] + [{"src": "relu1",
                                                                 "dst": "fc1"}]
    problems = validate(Graph.from_dict(d))
    [p] = by_code(problems, "cycle")
    assert p.message == "cycle: fc1 -> relu1 -> fc1; remove one of these connections"


def test_shape_mismatch_names_both_shapes() -> None:
    g = Graph.sequential((8,), ("Linear", {"out_features": 4}))
    g.add_node("Linear", "side", {"out_features": 5})
    g.add_node("Add", "add")
    g.connect("x", "side")
    g.disconnect("fc1", "out")
    g.connect("fc1", "add", 0, 0)
    g.add_node("ReLU", "r")
    g.connect("side", "r")
    g.connect("add", "out")
    # a connection made before the other input changed shape is caught by validate
    g.set_param("side", "out_features", 4)
    g.connect("r", "add", 0, 1)
    assert validate(g) == []
    g.set_param("side", "out_features", 5)
    [p] = by_code(validate(g), "shape")
    assert (p.node, p.port) == ("add", 1)
    assert "input 1 is (N, 5) but input 0 is (N, 4)" in p.message


def test_invalid_parameter_from_a_file() -> None:
    d = mlp().to_dict()
    d["nodes"][2]["params"]["out_features"] = 0
    [p] = validate(Graph.from_dict(d))
    assert (p.code, p.node) == ("param", "fc1")
    assert p.message == "out_features must be an integer in [1, 1048576], got 0"


def test_edge_to_a_port_that_does_not_exist() -> None:
    d = mlp().to_dict()
    d["edges"].append({"src": "x", "dst": "fc2", "dst_port": 1})
    problems = validate(Graph.from_dict(d))
    [p] = by_code(problems, "edge")
    assert p.node == "fc2" and "enters input 1, but Linear has 1 input(s)" in p.message


def test_loss_against_the_output_shape() -> None:
    [p] = validate(mlp(out_features=1))
    assert p.code == "loss" and "use bce_with_logits" in p.message
    g = Graph.sequential((4,), ("Linear", {"out_features": 3}), "Softmax")
    [w] = validate(g)
    assert w.severity == "warning" and "remove the Softmax softmax1" in w.message
    g = Graph.sequential((4,), ("Linear", {"out_features": 1}), loss="bce")
    [w] = validate(g)
    assert w.severity == "warning" and "put a Sigmoid before it" in w.message
    g = Graph.sequential((4,), ("Linear", {"out_features": 3}), "LogSoftmax", loss="nll")
    assert validate(g) == []


def test_loss_against_the_dataset_labels() -> None:
    digits = DataSpec("Digits", TensorType((1, 8, 8)), "class", 10)
    [p] = validate(mlp(out_features=7), digits)
    assert (p.node, p.code) == ("fc2", "dataset")  # on the node to change
    assert p.message == "outputs 7 class scores (N, 7) but Digits has 10 classes; set " \
        "out_features to 10"
    [p] = validate(mlp(out_features=12), digits)  # a dataset's own class count is exact
    assert p.severity == "error" and "set out_features to 10" in p.message
    read = DataSpec("labels.csv", None, "class", 10, None, classes_exact=False)
    [p] = validate(mlp(out_features=12), read)  # labels up to 9 read from a file: more is ok
    assert p.severity == "warning" and "labels of labels.csv go up to 9" in p.message
    [p] = validate(mlp(out_features=7), read)  # fewer could not train: label 9 has no score
    assert p.severity == "error"
    [p] = validate(mlp(loss="mse"), digits)
    assert "gives class indices; use cross_entropy" in p.message
    adding = DataSpec("Adding", None, "regression", None, (1,))
    [p] = validate(mlp(out_features=2, loss="mse"), adding)
    assert "compares the output (N, 2) with targets (N, 1)" in p.message
    [p] = validate(mlp(), adding)
    assert "needs class-index labels" in p.message
    binary = DataSpec("Moons", None, "class", 2)
    assert validate(mlp(out_features=1, loss="bce_with_logits"), binary) == []


def test_input_shape_against_the_dataset() -> None:
    mnist = DataSpec("MNIST", TensorType((1, 28, 28)), "class", 10)
    [p] = validate(mlp(), mnist)
    assert p.code == "dataset" and p.node == "x"
    assert p.message.endswith("set shape to [1, 28, 28]")


def test_errors_come_before_warnings() -> None:
    g = mlp()
    g.add_node("ReLU", "dangling")
    g.connect("relu1", "dangling")
    g.add_node("Linear", "bad")
    problems = validate(g)
    assert [p.severity for p in problems] == sorted((p.severity for p in problems),
                                                    key=lambda s: s != "error")
    assert errors(problems) == [p for p in problems if p.severity == "error"]
    assert {p.node for p in errors(problems)} == {"bad"}
