"""compile(graph): an engine Module whose state_dict names are the node names."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.graph import CompileError, Graph, compile, format_summary, summarize, training_memory


def mlp() -> Graph:
    return Graph.sequential((1, 28, 28), "Flatten", ("Linear", {"out_features": 128}), "ReLU",
                            ("Linear", {"out_features": 10}))


def residual() -> Graph:
    g = Graph.sequential((4, 6, 6), ("Conv2d", {"out_channels": 4, "padding": 1}),
                         "BatchNorm2d", "ReLU")
    g.add_node("Add", "add")
    g.add_node("Flatten", "flat")
    g.add_node("Linear", "head", {"out_features": 3})
    g.disconnect("relu1", "out")
    g.connect("relu1", "add", 0, 0)
    g.connect("x", "add", 0, 1)
    g.chain("add", "flat", "head", "out")
    return g


def test_state_dict_names_are_node_names() -> None:
    model = compile(mlp())
    state = model.state_dict()
    assert list(state) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert tuple(state["fc1.weight"].shape) == (128, 784)
    assert model.input_names == ["x"] and model.output_names == ["out"]
    assert model.losses == {"out": "cross_entropy"}
    bn = compile(residual()).state_dict()
    assert {"bn1.running_mean", "bn1.num_batches_tracked", "conv1.weight",
            "head.bias"} <= set(bn)


def test_names_survive_save_and_load() -> None:
    g = residual()
    a = compile(Graph.from_dict(g.to_dict()), seed=1)
    b = compile(g, seed=1)
    assert list(a.state_dict()) == list(b.state_dict())
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), b.state_dict()[k].numpy())


def test_forward_runs_branches_in_topological_order() -> None:
    model = compile(residual(), seed=0)
    model.eval()
    x = engine.randn(5, 4, 6, 6)
    with engine.no_grad():
        y = model(x)
        expected = model.head(model.flat(model.relu1(model.bn1(model.conv1(x))) + x))
    assert tuple(y.shape) == (5, 3)
    np.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-6)


def test_gradients_reach_every_parameter() -> None:
    model = compile(residual(), seed=0)
    x = engine.randn(4, 4, 6, 6)
    loss = engine.nn.functional.cross_entropy(model(x), engine.tensor([0, 1, 2, 0]))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name


def test_compile_refuses_a_graph_with_problems() -> None:
    g = mlp()
    g.disconnect("relu1", "fc2")
    with pytest.raises(CompileError, match=r"2 problem\(s\): fc2: input 0 is not connected"):
        compile(g)
    try:
        compile(g)
    except CompileError as exc:
        assert {p.node for p in exc.problems} == {"fc2", "out"}


def test_wrong_inputs_are_named() -> None:
    model = compile(mlp())
    with pytest.raises(ValueError, match=r"input x expects a batch shaped \(N, 1, 28, 28\), got "
                                         r"\(2, 784\)"):
        model(engine.zeros(2, 784))
    with pytest.raises(TypeError, match=r"takes 1 input\(s\) \(x\), got 2"):
        model(engine.zeros(2, 1, 28, 28), engine.zeros(2, 1, 28, 28))


def test_several_outputs_return_a_tuple() -> None:
    g = mlp()
    g.add_node("Output", "features", {"loss": "none"})
    g.connect("relu1", "features")
    y, f = compile(g)(engine.zeros(3, 1, 28, 28))
    assert tuple(y.shape) == (3, 10) and tuple(f.shape) == (3, 128)


def test_same_seed_same_weights() -> None:
    a, b = compile(mlp(), seed=7), compile(mlp(), seed=7)
    np.testing.assert_array_equal(a.fc1.weight.detach().numpy(), b.fc1.weight.detach().numpy())


def test_summary_totals_match_the_compiled_model() -> None:
    for g in (mlp(), residual()):
        model = compile(g)
        s = summarize(g, batch_size=32, optimizer="adam")
        assert s.total_params == sum(p.numel() for p in model.parameters())
        assert s.total_flops == sum(r.flops for r in s.rows) > 0
        assert s.training_bytes == training_memory(s.total_params, s.activation_bytes, 32, "adam")
    s = summarize(mlp())
    fc1 = next(r for r in s.rows if r.name == "fc1")
    assert fc1.flops == 2 * 784 * 128 and fc1.output == "(N, 128)"
    text = format_summary(s, title="MLP")
    assert "fc1 (Linear)" in text and "101,770" in text and "Estimated training memory" in text
    assert text.splitlines()[0] == "MLP"


def test_training_memory_grows_with_the_batch_and_optimizer_state() -> None:
    assert training_memory(1000, 400, 10, "sgd") == 1000 * 4 * 2 + 2 * 10 * 400
    assert training_memory(1000, 400, 10, "adam") - training_memory(1000, 400, 10, "sgd") == 8000
