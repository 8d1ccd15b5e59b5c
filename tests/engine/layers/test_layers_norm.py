"""BatchNorm (train and eval, running statistics, momentum=None), LayerNorm and GroupNorm:
gradients, PyTorch parity, state_dict layout and errors."""

from __future__ import annotations

import numpy as np
import pytest
from torch_reference import torch_or_skip

import engine
import engine.nn.functional as F
from engine import nn


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 5), (2, 3, 4, 3)])
def test_batch_norm_train_gradcheck(L, shape):
    c = shape[1]
    L.gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                [L.randn(*shape), L.randn(c), L.randn(c)])
    L.gradcheck(lambda x: F.batch_norm(x, None, None, training=True), [L.randn(*shape)])


def test_batch_norm_eval_gradcheck(L):
    rm = L.t(L.randn(3), grad=False)
    rv = L.t(L.rng.random(3) + 0.5, grad=False)
    L.gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False),
                [L.randn(2, 3, 4), L.randn(3), L.randn(3)])
    L.gradcheck(lambda x: F.batch_norm(x, rm, rv, training=False), [L.randn(2, 3, 4)])


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("cls", ["BatchNorm1d", "BatchNorm2d"])
def test_batchnorm_module_running_stats_match_torch(L, load_torch, cls, momentum):
    torch = torch_or_skip()
    t = getattr(torch.nn, cls)(4, momentum=momentum).double()
    e = getattr(nn, cls)(4, momentum=momentum).double()
    with torch.no_grad():
        t.weight.uniform_(0.5, 1.5)
        t.bias.uniform_(-0.5, 0.5)
    load_torch(e, t)
    e.to(L.device)
    shape = (5, 4) if cls == "BatchNorm1d" else (3, 4, 2, 3)
    for step in range(3):
        x = L.randn(*shape) * (step + 1) + step
        xe, xt = L.t(x), torch.tensor(x, requires_grad=True)
        ye, yt = e(xe), t(xt)
        np.testing.assert_allclose(L.np(ye), yt.detach().numpy(), atol=1e-10)
        w = L.randn(*shape)
        (ye * L.t(w, grad=False)).sum().backward()
        (yt * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(L.np(xe.grad), xt.grad.numpy(), atol=1e-10)
    for k, v in t.state_dict().items():
        np.testing.assert_allclose(L.np(e.state_dict()[k]), v.numpy(), atol=1e-12, err_msg=k)
    np.testing.assert_allclose(L.np(e.weight.grad), t.weight.grad.numpy(), atol=1e-10)
    assert int(e.num_batches_tracked.item()) == 3
    e.eval()
    t.eval()
    x = L.randn(*shape)
    np.testing.assert_allclose(L.np(e(L.t(x))), t(torch.tensor(x)).detach().numpy(), atol=1e-10)


def test_batchnorm_without_running_stats_or_affine(L):
    torch = torch_or_skip()
    e = nn.BatchNorm2d(3, affine=False, track_running_stats=False).to(L.device)
    t = torch.nn.BatchNorm2d(3, affine=False, track_running_stats=False)
    assert list(e.state_dict()) == list(t.state_dict()) == []
    e.eval()
    t.eval()  # no running stats: batch statistics even in eval, as torch
    x = L.randn(2, 3, 3, 3, dtype=np.float32)
    np.testing.assert_allclose(L.np(e(L.t(x))), t(torch.tensor(x)).detach().numpy(), atol=1e-5)


def test_batchnorm_state_dict_and_repr_like_torch():
    torch = torch_or_skip()
    e, t = nn.BatchNorm2d(16), torch.nn.BatchNorm2d(16)
    assert list(e.state_dict()) == list(t.state_dict())
    assert e.num_batches_tracked.dtype == engine.int64
    assert repr(e) == repr(t)
    np.testing.assert_array_equal(e.weight.detach().numpy(), np.ones(16))
    np.testing.assert_array_equal(e.running_var.numpy(), np.ones(16))


def test_batchnorm_errors(L):
    bn = nn.BatchNorm2d(3).to(L.device)
    with pytest.raises(engine.ShapeError, match="expected 4D input, got 3D"):
        bn(L.t(L.randn(2, 3, 4)))
    with pytest.raises(engine.ShapeError, match="input has 5 channels.*num_features=5"):
        bn(L.t(L.randn(2, 5, 4, 4)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3).to(L.device)(L.t(L.randn(1, 3)))


@pytest.mark.parametrize("shape,norm", [((3, 5), (5,)), ((2, 3, 4), (3, 4)), ((2, 2, 3), 3)])
def test_layer_norm_gradcheck_and_torch(L, shape, norm):
    torch = torch_or_skip()
    ns = (norm,) if isinstance(norm, int) else norm
    arrays = [L.randn(*shape), L.randn(*ns), L.randn(*ns)]
    L.gradcheck(lambda x, w, b: F.layer_norm(x, norm, w, b), arrays)
    L.gradcheck(lambda x: F.layer_norm(x, norm), arrays[:1])
    L.against_torch(lambda x, w, b: F.layer_norm(x, norm, w, b),
                    lambda x, w, b: torch.nn.functional.layer_norm(x, ns, w, b), arrays)


@pytest.mark.parametrize("shape,groups", [((2, 6), 3), ((2, 4, 5), 2), ((2, 6, 3, 2), 6)])
def test_group_norm_gradcheck_and_torch(L, shape, groups):
    torch = torch_or_skip()
    c = shape[1]
    arrays = [L.randn(*shape), L.randn(c), L.randn(c)]
    L.gradcheck(lambda x, w, b: F.group_norm(x, groups, w, b), arrays)
    L.against_torch(lambda x, w, b: F.group_norm(x, groups, w, b),
                    lambda x, w, b: torch.nn.functional.group_norm(x, groups, w, b), arrays)


def test_norm_modules_like_torch():
    torch = torch_or_skip()
    for e, t in ((nn.LayerNorm((3, 4)), torch.nn.LayerNorm((3, 4))),
                 (nn.LayerNorm(8, elementwise_affine=False),
                  torch.nn.LayerNorm(8, elementwise_affine=False)),
                 (nn.LayerNorm(8, bias=False), torch.nn.LayerNorm(8, bias=False)),
                 (nn.GroupNorm(2, 6), torch.nn.GroupNorm(2, 6)),
                 (nn.GroupNorm(2, 6, bias=False), torch.nn.GroupNorm(2, 6, bias=False)),
                 (nn.BatchNorm1d(5, bias=False), torch.nn.BatchNorm1d(5, bias=False))):
        assert list(e.state_dict()) == list(t.state_dict())
        assert repr(e) == repr(t)
    with pytest.raises(ValueError, match="divisible by num_groups"):
        nn.GroupNorm(4, 6)
    with pytest.raises(engine.ShapeError, match="does not end with normalized_shape"):
        nn.LayerNorm(4)(engine.randn(2, 3))
