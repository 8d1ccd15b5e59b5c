"""Pooling, interpolation, Upsample and Dropout2d: gradients, PyTorch parity (ties in max
pooling, ceil_mode, count_include_pad), modules and error messages."""

from __future__ import annotations

import numpy as np
import pytest
from torch_reference import torch_or_skip

import engine
import engine.nn.functional as F
from engine import nn

MAX_CASES = [
    (2, {}),
    (3, {"stride": 2, "padding": 1}),
    ((3, 2), {"stride": (2, 1), "padding": (1, 0), "ceil_mode": True}),
    (2, {"stride": 2, "ceil_mode": True}),
    (2, {"stride": 1, "dilation": 2}),
    (3, {"stride": 3, "ceil_mode": True, "padding": 1}),
]


@pytest.mark.parametrize("k,kw", MAX_CASES)
def test_max_pool2d_gradcheck(L, k, kw):
    # Distinct values: no ties, so finite differences are well defined.
    x = L.rng.permutation(2 * 2 * 7 * 6).reshape(2, 2, 7, 6).astype(np.float64) / 10
    L.gradcheck(lambda x: F.max_pool2d(x, k, **kw), [x])


@pytest.mark.parametrize("k,kw", MAX_CASES)
def test_max_pool2d_ties_send_gradient_where_torch_does(L, k, kw):
    torch = torch_or_skip()
    x = np.round(L.randn(2, 3, 7, 6))  # many equal values inside windows
    x[0, 0] = 1.0  # a plane of ties
    L.against_torch(lambda x: F.max_pool2d(x, k, **kw),
                    lambda x: torch.nn.functional.max_pool2d(x, k, **kw), [x])


@pytest.mark.parametrize("k", [2, (2, 3)])
def test_max_pool2d_windows_tiling_the_input(L, k):
    """Windows that tile the input exactly (LeNet's 2x2 pooling of even sizes) take a path
    that writes every input gradient once instead of zero-filling first."""
    x = L.rng.permutation(2 * 3 * 8 * 6).reshape(2, 3, 8, 6).astype(np.float64) / 10
    L.gradcheck(lambda x: F.max_pool2d(x, k), [x])
    torch = torch_or_skip()
    ties = np.round(L.randn(2, 3, 8, 6))
    L.against_torch(lambda x: F.max_pool2d(x, k),
                    lambda x: torch.nn.functional.max_pool2d(x, k), [ties])


def test_max_pool2d_return_indices_like_torch(L):
    torch = torch_or_skip()
    x = np.round(L.randn(2, 2, 7, 7))
    out, idx = F.max_pool2d(L.t(x), 3, 2, 1, ceil_mode=True, return_indices=True)
    t_out, t_idx = torch.nn.functional.max_pool2d(torch.tensor(x), 3, 2, 1, ceil_mode=True,
                                                  return_indices=True)
    np.testing.assert_array_equal(L.np(idx), t_idx.numpy())
    np.testing.assert_array_equal(L.np(out), t_out.numpy())


AVG_CASES = [
    (2, {}),
    (3, {"stride": 2, "padding": 1}),
    (3, {"stride": 2, "padding": 1, "count_include_pad": False}),
    (3, {"stride": 2, "padding": 1, "ceil_mode": True}),
    ((3, 2), {"stride": (2, 3), "padding": (1, 1), "ceil_mode": True,
              "count_include_pad": False}),
    (2, {"divisor_override": 3}),
]


@pytest.mark.parametrize("k,kw", AVG_CASES)
def test_avg_pool2d_gradcheck_and_torch(L, k, kw):
    torch = torch_or_skip()
    x = L.randn(2, 2, 7, 6)
    L.gradcheck(lambda x: F.avg_pool2d(x, k, **kw), [x])
    L.against_torch(lambda x: F.avg_pool2d(x, k, **kw),
                    lambda x: torch.nn.functional.avg_pool2d(x, k, **kw), [x])


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (4, 5), (7, 6), (2, None)])
def test_adaptive_pools_gradcheck_and_torch(L, size):
    torch = torch_or_skip()
    x = L.rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6).astype(np.float64)
    for efn, tfn in ((F.adaptive_avg_pool2d, torch.nn.functional.adaptive_avg_pool2d),
                     (F.adaptive_max_pool2d, torch.nn.functional.adaptive_max_pool2d)):
        L.gradcheck(lambda x, efn=efn: efn(x, size), [x])
        L.against_torch(lambda x, efn=efn: efn(x, size), lambda x, tfn=tfn: tfn(x, size), [x])


def test_adaptive_max_pool_return_indices_and_ties(L):
    torch = torch_or_skip()
    x = np.round(L.randn(1, 2, 7, 5))
    out, idx = F.adaptive_max_pool2d(L.t(x), (3, 2), return_indices=True)
    t_out, t_idx = torch.nn.functional.adaptive_max_pool2d(torch.tensor(x), (3, 2),
                                                           return_indices=True)
    np.testing.assert_array_equal(L.np(idx), t_idx.numpy())
    L.against_torch(lambda x: F.adaptive_max_pool2d(x, (3, 2)),
                    lambda x: torch.nn.functional.adaptive_max_pool2d(x, (3, 2)), [x])


def test_pool1d_variants_match_torch(L):
    torch = torch_or_skip()
    x = L.randn(2, 3, 11)
    tf = torch.nn.functional
    L.against_torch(lambda x: F.max_pool1d(x, 3, 2, 1), lambda x: tf.max_pool1d(x, 3, 2, 1), [x])
    L.against_torch(lambda x: F.avg_pool1d(x, 3, 2, 1), lambda x: tf.avg_pool1d(x, 3, 2, 1), [x])
    L.against_torch(lambda x: F.adaptive_avg_pool1d(x, 4),
                    lambda x: tf.adaptive_avg_pool1d(x, 4), [x])


INTERP_CASES = [
    ({"size": (5, 9)}, "nearest", None),
    ({"scale_factor": 2}, "nearest", None),
    ({"scale_factor": 1.7}, "nearest", None),
    ({"size": (3, 2)}, "nearest", None),
    ({"scale_factor": 1.5}, "nearest-exact", None),
    ({"size": (9, 4)}, "bilinear", None),
    ({"size": (9, 4)}, "bilinear", True),
    ({"size": (3, 7)}, "bilinear", False),
    ({"scale_factor": (2.5, 1.3)}, "bilinear", False),
    ({"scale_factor": (2.5, 1.3)}, "bilinear", True),
    ({"size": (3, 2)}, "area", None),
]


@pytest.mark.parametrize("kw,mode,align", INTERP_CASES)
def test_interpolate_gradcheck_and_torch(L, kw, mode, align):
    torch = torch_or_skip()
    x = L.randn(2, 2, 4, 5)
    L.gradcheck(lambda x: F.interpolate(x, mode=mode, align_corners=align, **kw), [x])
    L.against_torch(lambda x: F.interpolate(x, mode=mode, align_corners=align, **kw),
                    lambda x: torch.nn.functional.interpolate(x, mode=mode, align_corners=align,
                                                              **kw), [x])


def test_interpolate_linear_1d_and_float32(L):
    torch = torch_or_skip()
    x = L.randn(1, 2, 7, dtype=np.float32)
    L.against_torch(lambda x: F.interpolate(x, scale_factor=2.3, mode="linear"),
                    lambda x: torch.nn.functional.interpolate(x, scale_factor=2.3, mode="linear"),
                    [x], atol=1e-6)


def test_interpolate_errors(L):
    x = L.t(L.randn(1, 1, 4, 4))
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="mode 'bicubic' is not supported"):
        F.interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="align_corners only applies"):
        F.interpolate(x, scale_factor=2, align_corners=True)


def test_pool_errors(L):
    x = L.t(L.randn(1, 1, 4, 4))
    with pytest.raises(ValueError, match="at most half of the effective kernel"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(engine.ShapeError, match="expected a 3-D .*or 4-D"):
        F.max_pool2d(L.t(L.randn(4, 4)), 2)


def test_modules_print_and_run_like_torch(device):
    torch = torch_or_skip()
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    pairs = [
        (nn.MaxPool2d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
        (nn.AvgPool2d(2), torch.nn.AvgPool2d(2)),
        (nn.AdaptiveAvgPool2d((3, 3)), torch.nn.AdaptiveAvgPool2d((3, 3))),
        (nn.AdaptiveMaxPool2d(2), torch.nn.AdaptiveMaxPool2d(2)),
        (nn.Upsample(scale_factor=2, mode="bilinear"),
         torch.nn.Upsample(scale_factor=2, mode="bilinear")),
        (nn.Upsample(size=(5, 11)), torch.nn.Upsample(size=(5, 11))),
    ]
    for e, t in pairs:
        assert repr(e) == repr(t)
        out = e(engine.tensor(x, device=device))
        np.testing.assert_allclose(out.cpu().numpy(), t(torch.tensor(x)).numpy(), atol=1e-6)


def test_dropout2d_drops_whole_channels(device):
    engine.manual_seed(3)
    x = engine.ones(8, 16, 4, 5, device=device, requires_grad=True)
    m = nn.Dropout2d(0.25)
    y = m(x)
    planes = y.detach().cpu().numpy().reshape(8, 16, -1)
    kept = planes[planes != 0]
    np.testing.assert_allclose(kept, 1 / 0.75, rtol=1e-6)  # survivors scaled by 1/(1-p)
    assert (planes.min(axis=2) == planes.max(axis=2)).all()  # one value per channel
    dropped = (planes[:, :, 0] == 0).mean()
    assert 0.1 < dropped < 0.4
    y.sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), y.detach().cpu().numpy())
    m.eval()
    assert m(x) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout2d(1.5)
