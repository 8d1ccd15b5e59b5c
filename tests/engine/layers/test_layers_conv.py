"""Convolution: gradients (float64 finite differences), values and gradients against PyTorch,
modules (state_dict layout, initialisation, printing) and error messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
from torch_reference import torch_or_skip

import engine
import engine.nn.functional as F
from engine import nn

CONV_CASES = [
    # (N, C, H, W), (OC, kh, kw), kwargs
    ((2, 3, 5, 6), (4, 3, 3), {}),
    ((1, 2, 7, 5), (3, 3, 2), {"stride": 2, "padding": 1}),
    ((2, 4, 6, 7), (6, 2, 3), {"stride": (2, 1), "padding": (1, 2), "dilation": (2, 1),
                               "groups": 2}),
    ((1, 3, 5, 5), (3, 3, 3), {"padding": "same", "dilation": 2, "groups": 3}),
    ((1, 2, 6, 5), (2, 2, 4), {"padding": "same"}),  # even kernel: asymmetric padding
    ((2, 2, 5, 4), (4, 2, 2), {"padding": "valid", "stride": 3}),
]


@pytest.mark.parametrize("xshape,wshape,kw", CONV_CASES)
def test_conv2d_gradcheck(L, xshape, wshape, kw):
    groups = kw.get("groups", 1)
    w = L.randn(wshape[0], xshape[1] // groups, wshape[1], wshape[2])
    L.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw),
                [L.randn(*xshape), w, L.randn(wshape[0])])


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
@pytest.mark.parametrize("xshape,wshape,kw", CONV_CASES)
def test_conv2d_matches_torch(L, xshape, wshape, kw):
    torch = torch_or_skip()
    groups = kw.get("groups", 1)
    w = L.randn(wshape[0], xshape[1] // groups, wshape[1], wshape[2], dtype=np.float32)
    L.against_torch(lambda x, w, b: F.conv2d(x, w, b, **kw),
                    lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **kw),
                    [L.randn(*xshape, dtype=np.float32), w, L.randn(wshape[0], dtype=np.float32)],
                    atol=1e-4)


def test_conv2d_without_bias_and_unbatched(L):
    torch = torch_or_skip()
    L.against_torch(lambda x, w: F.conv2d(x, w, padding=1),
                    lambda x, w: torch.nn.functional.conv2d(x, w, padding=1),
                    [L.randn(3, 5, 4), L.randn(2, 3, 3, 3)])


def test_conv1d_gradcheck_and_torch(L):
    torch = torch_or_skip()
    kw = {"stride": 2, "padding": 2, "dilation": 2, "groups": 2}
    arrays = [L.randn(2, 4, 9), L.randn(6, 2, 3), L.randn(6)]
    L.gradcheck(lambda x, w, b: F.conv1d(x, w, b, **kw), arrays)
    L.against_torch(lambda x, w, b: F.conv1d(x, w, b, **kw),
                    lambda x, w, b: torch.nn.functional.conv1d(x, w, b, **kw), arrays)


TRANSPOSE_CASES = [
    ((2, 4, 3, 4), (4, 3, 3, 3), {}),
    ((1, 4, 3, 3), (4, 2, 3, 2), {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}),
    ((1, 2, 4, 3), (2, 3, 2, 3), {"stride": (1, 2), "dilation": (2, 1), "padding": (1, 0)}),
    ((2, 2, 3, 4), (2, 2, 2, 3), {"stride": (2, 1), "dilation": (1, 2), "padding": (0, 1),
                                  "output_padding": (1, 1)}),
]


@pytest.mark.parametrize("xshape,wshape,kw", TRANSPOSE_CASES)
def test_conv_transpose2d_gradcheck_and_torch(L, xshape, wshape, kw):
    torch = torch_or_skip()
    groups = kw.get("groups", 1)
    arrays = [L.randn(*xshape), L.randn(*wshape), L.randn(wshape[1] * groups)]
    L.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), arrays)
    L.against_torch(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
                    lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, **kw), arrays)


def test_conv1d_unit_stride_dilated_gradcheck(L):
    # Unit strides take the flat col2im path (dilation shifts the runs).
    L.gradcheck(lambda x, w: F.conv1d(x, w, padding=3, dilation=2),
                [L.randn(2, 3, 7), L.randn(4, 3, 3)])


@pytest.mark.parametrize("keep_bytes", [0, 1 << 30])
def test_kept_or_rebuilt_columns_give_the_same_gradients(L, monkeypatch, keep_bytes):
    """The forward keeps its columns for the weight gradient up to a size, else the backward
    rebuilds them: both ways, in one chunk or many, gradcheck holds."""
    from engine.ops import conv as conv_ops

    monkeypatch.setattr(conv_ops, "KEEP_COLUMNS_BYTES", keep_bytes)
    L.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2),
                [L.randn(3, 4, 5, 6), L.randn(4, 2, 3, 3), L.randn(4)])
    monkeypatch.setattr(conv_ops, "CHUNK_BYTES", 1)
    L.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, dilation=(1, 2)),
                [L.randn(3, 2, 7, 8), L.randn(3, 2, 2, 3), L.randn(3)])


def test_batch_chunking_gives_the_same_result(L, monkeypatch):
    """On the CPU the batch is split into cache-sized chunks; force one sample per chunk."""
    torch = torch_or_skip()
    from engine.ops import conv as conv_ops

    monkeypatch.setattr(conv_ops, "CHUNK_BYTES", 1)
    kw = {"stride": (1, 2), "padding": 1, "groups": 2}
    L.against_torch(lambda x, w, b: F.max_pool2d(F.conv2d(x, w, b, **kw), 2, ceil_mode=True),
                    lambda x, w, b: torch.nn.functional.max_pool2d(
                        torch.nn.functional.conv2d(x, w, b, **kw), 2, ceil_mode=True),
                    [L.randn(5, 4, 7, 8), L.randn(6, 2, 3, 3), L.randn(6)])
    L.gradcheck(lambda x, w: F.conv2d(x, w, padding=1), [L.randn(3, 2, 4, 5), L.randn(2, 2, 3, 3)])


def test_conv_errors_name_both_sides(L):
    x = L.t(L.randn(1, 3, 8, 8))
    with pytest.raises(engine.ShapeError, match="input has 3 channels but the weight"):
        F.conv2d(x, L.t(L.randn(4, 2, 3, 3)))
    with pytest.raises(engine.ShapeError, match="larger than the padded input"):
        F.conv2d(x, L.t(L.randn(4, 3, 9, 9)))
    with pytest.raises(ValueError, match="'same' is not supported for strided"):
        F.conv2d(x, L.t(L.randn(4, 3, 3, 3)), stride=2, padding="same")
    with pytest.raises(TypeError, match="input is float32 but weight is float64"):
        F.conv2d(x.float(), L.t(L.randn(4, 3, 3, 3)))
    with pytest.raises(ValueError, match="in_channels .* divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_conv_modules_state_dict_and_init_like_torch():
    torch = torch_or_skip()
    for e, t in ((nn.Conv2d(6, 16, (5, 3), stride=2, groups=2),
                  torch.nn.Conv2d(6, 16, (5, 3), stride=2, groups=2)),
                 (nn.Conv1d(4, 8, 3, bias=False), torch.nn.Conv1d(4, 8, 3, bias=False)),
                 (nn.ConvTranspose2d(4, 6, 3, groups=2), torch.nn.ConvTranspose2d(4, 6, 3,
                                                                               groups=2))):
        es, ts = e.state_dict(), t.state_dict()
        assert list(es) == list(ts)
        assert all(tuple(es[k].shape) == tuple(ts[k].shape) for k in es)
        assert repr(e).replace("engine.", "") == repr(t)
        fan_in = math.prod(e.weight.shape[1:])
        bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) gives 1/sqrt(fan_in)
        w = e.weight.detach().numpy()
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
        if e.bias is not None:
            assert np.abs(e.bias.detach().numpy()).max() <= bound


def test_conv2d_module_matches_torch_with_loaded_weights(load_torch, device):
    torch = torch_or_skip()
    for mode in ("zeros", "reflect", "circular"):
        t = torch.nn.Conv2d(3, 5, 3, padding=1, padding_mode=mode)
        e = nn.Conv2d(3, 5, 3, padding=1, padding_mode=mode)
        load_torch(e, t)
        e.to(device)
        x = np.random.default_rng(1).standard_normal((2, 3, 6, 7)).astype(np.float32)
        out = e(engine.tensor(x, device=device))
        np.testing.assert_allclose(out.cpu().detach().numpy(),
                                   t(torch.tensor(x)).detach().numpy(), atol=1e-5)


def test_conv_transpose_module_output_size(device):
    m = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).to(device)
    x = engine.randn(1, 2, 4, 4, device=device)
    assert m(x).shape == (1, 3, 7, 7)
    assert m(x, output_size=(8, 8)).shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="not reachable"):
        m(x, output_size=(10, 10))


def test_conv_runs_in_float32_without_upcasting(device):
    conv = nn.Conv2d(1, 6, 5, padding=2).to(device)
    out = conv(engine.randn(4, 1, 28, 28, device=device))
    assert out.dtype == engine.float32 and out.shape == (4, 6, 28, 28)
    out.sum().backward()
    assert conv.weight.grad.dtype == engine.float32
