"""``engine.nn.Module`` and the containers: registration, traversal, state dicts (keys and shapes
equal to PyTorch's, loading PyTorch's weights), devices/dtypes in place, modes, hooks, repr."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest
from torch_reference import torch_or_skip

import engine
import engine.nn as nn


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.register_buffer("running", engine.zeros(3))
        self.register_buffer("scratch", engine.ones(2), persistent=False)
        self.scale = nn.Parameter(engine.ones(1))

    def forward(self, x: engine.Tensor) -> engine.Tensor:
        return self.fc(x) * self.scale + self.running


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(3, 2))
        self.tied = self.head  # the same module twice: listed once

    def forward(self, x: engine.Tensor) -> engine.Tensor:
        return self.head(self.block(x))


def seed_mlp() -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def test_registration_and_traversal_order() -> None:
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["block.scale", "block.fc.weight", "block.fc.bias", "head.1.weight",
                     "head.1.bias"]
    assert [n for n, _ in net.named_buffers()] == ["block.running", "block.scratch"]
    assert [n for n, _ in net.named_children()] == ["block", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc", "head", "head.0",
                                                   "head.1"]
    assert len(list(net.parameters())) == 5
    assert [n for n, _ in net.block.named_parameters(prefix="b", recurse=False)] == ["b.scale"]
    assert net.get_submodule("head.1") is net.head[1]
    assert net.get_parameter("block.fc.bias") is net.block.fc.bias


def test_shared_parameter_listed_once() -> None:
    a = nn.Linear(2, 2)
    seq = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4


def test_setattr_getattr_delattr_rules() -> None:
    m = nn.Module()
    m.w = nn.Parameter(engine.ones(2))
    assert "w" in m._parameters and "w" not in m.__dict__
    m.w = None
    assert m._parameters["w"] is None
    with pytest.raises(TypeError, match=r"cannot assign '.*Tensor' as parameter 'w'"):
        m.w = engine.ones(2)
    m.sub = nn.ReLU()
    assert m._modules["sub"] is not None
    with pytest.raises(TypeError, match="as child module 'sub'"):
        m.sub = 3
    m.register_buffer("buf", engine.zeros(1))
    m.buf = engine.ones(1)
    assert m._buffers["buf"].item() == 1.0
    with pytest.raises(TypeError, match="as buffer 'buf'"):
        m.buf = [1.0]
    del m.sub
    assert "sub" not in m._modules
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nope'"):
        _ = m.nope
    with pytest.raises(KeyError, match="attribute 'training' already exists"):
        m.register_buffer("training", engine.zeros(1))
    with pytest.raises(KeyError, match=r'contain "\."'):
        m.register_parameter("a.b", None)

    class Early(nn.Module):
        def __init__(self) -> None:
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"before Module.__init__\(\) call"):
        Early()


def test_state_dict_keys_order_and_sharing() -> None:
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    # A module registered under two names is saved under both, as PyTorch does.
    assert list(sd) == ["block.scale", "block.running", "block.fc.weight", "block.fc.bias",
                        "head.1.weight", "head.1.bias", "tied.1.weight", "tied.1.bias"]
    assert "block.scratch" not in sd  # non-persistent
    entry = sd["block.fc.weight"]
    assert not entry.requires_grad and entry.grad_fn is None
    entry.numpy()[0, 0] = 42.0  # shares memory with the parameter, as in PyTorch
    assert net.block.fc.weight.data[0, 0] == 42.0
    assert net.state_dict(keep_vars=True)["block.scale"] is net.block.scale


def test_state_dict_matches_torch_and_loads_its_weights() -> None:
    torch = torch_or_skip()
    tnet = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 128), torch.nn.ReLU(),
                               torch.nn.Linear(128, 10))
    net = seed_mlp()
    tsd = tnet.state_dict()
    assert list(net.state_dict()) == list(tsd)
    assert [tuple(v.shape) for v in net.state_dict().values()] == [tuple(v.shape)
                                                                   for v in tsd.values()]
    result = net.load_state_dict({k: v.numpy() for k, v in tsd.items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    x = np.random.default_rng(0).standard_normal((5, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(net(engine.tensor(x)).detach().numpy(),
                               tnet(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    # torch tensors themselves are array-like and load too; and the way back
    net.load_state_dict(tsd)
    tnet.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                          for k, v in net.state_dict().items()})


def test_load_state_dict_errors_list_everything() -> None:
    net = seed_mlp()
    bad = {k: v for k, v in net.state_dict().items() if k != "3.bias"}
    bad["1.weight"] = np.zeros((10, 20), dtype=np.float32)
    bad["extra.weight"] = np.zeros(3)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(bad)
    msg = str(info.value)
    assert "Error(s) in loading state_dict for Sequential" in msg
    assert 'Missing key(s) in state_dict: "3.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in msg
    assert "size mismatch for 1.weight: checkpoint has (10, 20), model has (128, 784)" in msg
    assert "Fix:" in msg
    # strict=False reports keys instead of raising, but a shape mismatch is still an error
    bad["1.weight"] = net.state_dict()["1.weight"].numpy().copy()
    missing, unexpected = net.load_state_dict(bad, strict=False)
    assert missing == ["3.bias"] and unexpected == ["extra.weight"]
    bad["1.weight"] = np.zeros((10, 20), dtype=np.float32)
    with pytest.raises(RuntimeError, match="size mismatch for 1.weight"):
        net.load_state_dict(bad, strict=False)
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        net.load_state_dict([1, 2])


def test_load_state_dict_copies_into_same_parameters_and_keeps_dtype() -> None:
    net = seed_mlp()
    w = net[1].weight
    src = seed_mlp().double().state_dict()
    net.load_state_dict(src)
    assert net[1].weight is w and w.dtype == engine.float32
    np.testing.assert_allclose(w.numpy() if not w.requires_grad else w.detach().numpy(),
                               src["1.weight"].numpy().astype(np.float32))


def test_to_dtype_keeps_parameter_identity_and_moves_grads() -> None:
    net = Net()
    params = list(net.parameters())
    net(engine.randn(2, 4)).sum().backward()
    out = net.to(engine.float64)
    assert out is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(p.dtype == engine.float64 and p.grad.dtype == engine.float64 for p in params)
    assert net.block.running.dtype == engine.float64
    net.float()
    assert all(p.dtype == engine.float32 for p in params)
    net.double()
    assert net(engine.randn(2, 4, dtype=engine.float64)).dtype == engine.float64
    with pytest.raises(TypeError, match="only accepts floating point dtypes"):
        net.to(engine.int64)


def test_to_keeps_integer_buffers() -> None:
    m = nn.Module()
    m.register_buffer("count", engine.tensor(3))
    m.to(engine.float64)
    assert m.count.dtype == engine.int64


def test_to_device_in_place(device: str) -> None:
    net = seed_mlp()
    w = net[1].weight
    net.to(device)
    assert net[1].weight is w and str(w.device) == device
    y = net(engine.randn(2, 784, device=device))
    y.sum().backward()
    assert str(w.grad.device) == device
    net.cpu()
    assert str(w.device) == "cpu" and str(w.grad.device) == "cpu"


def test_train_eval_and_dropout() -> None:
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    assert net.training and net[1].training
    x = engine.ones(50, 4)
    with engine.no_grad():
        assert (net(x).numpy() == 0).any()
        assert net.eval() is net and not net[1].training
        np.testing.assert_array_equal(net(x).numpy(), net[0](x).numpy())
    net.train()
    assert net[1].training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        net.train("yes")


def test_zero_grad_apply_requires_grad() -> None:
    net = Net()
    net(engine.randn(2, 4)).sum().backward()
    net.zero_grad(set_to_none=False)
    assert all((p.grad.numpy() == 0).all() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Block", "ReLU", "Linear", "Sequential", "Net"]
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_forward_hooks_fire_and_can_replace() -> None:
    lin = nn.Linear(3, 2)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, args: calls.append(("pre", args[0].shape)))
    h2 = lin.register_forward_hook(lambda m, args, out: out * 0)
    out = lin(engine.randn(4, 3))
    assert calls == [("pre", (4, 3))]
    assert (out.detach().numpy() == 0).all()
    h1.remove()
    h2.remove()
    assert (lin(engine.randn(4, 3)).detach().numpy() != 0).any()
    assert len(calls) == 1
    doubled = lin.register_forward_pre_hook(lambda m, args: args[0] * 2)
    x = engine.randn(1, 3)
    np.testing.assert_allclose(lin(x).detach().numpy(), (x * 2 @ lin.weight.T +
                                                          lin.bias).detach().numpy(), rtol=1e-6)
    doubled.remove()


def test_missing_forward_error() -> None:
    with pytest.raises(NotImplementedError, match='missing the required "forward" function'):
        nn.Module()(1)


def test_repr_equals_torch() -> None:
    torch = torch_or_skip()
    tn = torch.nn

    def build(ns: object) -> object:
        return ns.Sequential(
            ns.Flatten(), ns.Linear(784, 128), ns.ReLU(), ns.Dropout(0.2),
            ns.Sequential(ns.Linear(128, 64, bias=False), ns.LeakyReLU(0.1, inplace=True),
                          ns.ELU(), ns.GELU(approximate="tanh"), ns.SiLU()),
            ns.ModuleList([ns.Tanh(), ns.Tanh(), ns.Sigmoid(), ns.Identity()]),
            ns.ModuleDict({"soft": ns.Softmax(dim=1), "log": ns.LogSoftmax(dim=-1)}),
            ns.Unflatten(1, (8, 8)), ns.CrossEntropyLoss(), ns.MSELoss(), ns.NLLLoss(),
            ns.BCEWithLogitsLoss(), ns.BCELoss(), ns.L1Loss(), ns.Sequential(), ns.ReLU(True),
        )

    assert repr(build(nn)) == repr(build(tn))


def test_sequential_indexing_and_editing() -> None:
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and list(seq) == [a, b, c]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    assert list(sub.state_dict()) == ["2.weight", "2.bias"]  # keeps the original names
    with pytest.raises(IndexError, match="index 3 is out of range"):
        seq[3]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and isinstance(seq[3], nn.Sigmoid)
    del seq[1]
    assert [k for k, _ in seq.named_children()] == ["0", "1", "2"] and seq[1] is c
    seq[0] = nn.Linear(2, 3)
    assert seq[0] is not a
    named = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["enc.weight", "enc.bias"]
    assert named.enc is named[0]
    y = named(engine.randn(5, 2))
    assert y.shape == (5, 2) and (y.detach().numpy() >= 0).all()


def test_module_list_and_dict() -> None:
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity) and isinstance(layers[-1], nn.Tanh)
    assert [k for k, _ in layers.named_children()] == [str(i) for i in range(6)]
    del layers[0]
    assert isinstance(layers[0], nn.Linear)
    assert isinstance(layers[1:3], nn.ModuleList)
    with pytest.raises(NotImplementedError, match="ModuleList has no forward"):
        layers(engine.randn(1, 2))
    heads = nn.ModuleDict({"a": nn.Linear(2, 1)})
    heads["b"] = nn.Linear(2, 3)
    assert list(heads) == ["a", "b"] and "b" in heads and len(heads) == 2
    assert list(heads.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    assert heads.pop("a") is not None and list(heads.keys()) == ["b"]


def test_deepcopy_and_pickle_roundtrip() -> None:
    net = Net()
    twin = copy.deepcopy(net)
    x = engine.randn(3, 4)
    np.testing.assert_allclose(twin(x).detach().numpy(), net(x).detach().numpy())
    assert twin.block.fc.weight is not net.block.fc.weight
    again = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(again(x).detach().numpy(), net(x).detach().numpy())
    assert isinstance(again.block.fc.weight, nn.Parameter)


def test_hook_order_prepend_and_kwargs() -> None:
    order: list[str] = []
    relu = nn.ReLU()
    relu.register_forward_hook(lambda m, a, o: order.append("first"))
    relu.register_forward_hook(lambda m, a, o: order.append("prepended"), prepend=True)
    h = relu.register_forward_hook(lambda m, a, kw, o: order.append(f"kw{sorted(kw)}"),
                                   with_kwargs=True)
    relu(engine.randn(2))
    assert order == ["prepended", "first", "kw[]"]
    h.remove()
    assert h.id not in relu._hooks_with_kwargs


def test_deepcopy_keeps_parameters_on_their_device_and_independent(device):
    """DataParallel replicates modules with copy.deepcopy: copies must stay on the same device
    (pickling goes through the host) and not share memory with the original."""
    m = engine.nn.Linear(3, 2).to(device)
    m.weight.grad = engine.ones(2, 3, device=device)
    c = copy.deepcopy(m)
    assert type(c.weight) is type(m.weight)
    assert c.weight.device == m.weight.device and c.weight.grad.device == m.weight.device
    with engine.no_grad():
        c.weight.add_(1.0)
    assert not np.allclose(c.weight.detach().cpu().numpy(), m.weight.detach().cpu().numpy())
