"""Embedding: lookups and gradients as PyTorch (repeated indices accumulate, padding_idx gets no
gradient, scale_grad_by_freq, max_norm), the module's layout and errors."""

from __future__ import annotations

import numpy as np
import pytest
from torch_reference import torch_or_skip

import engine
import engine.nn.functional as F
from engine import nn

IDX = np.array([[1, 2, 1, 4], [0, 9, 1, 1]])


@pytest.mark.parametrize("kw", [{}, {"padding_idx": 1}, {"padding_idx": -1},
                                {"scale_grad_by_freq": True, "padding_idx": 0}])
def test_embedding_matches_torch(L, kw):
    torch = torch_or_skip()
    idx = L.t(IDX, grad=False)
    L.against_torch(lambda w: F.embedding(idx, w, **kw),
                    lambda w: torch.nn.functional.embedding(torch.tensor(IDX), w, **kw),
                    [L.randn(10, 3)])


def test_embedding_gradcheck_repeated_indices(L):
    idx = L.t(IDX, grad=False)
    L.gradcheck(lambda w: F.embedding(idx, w), [L.randn(10, 3)])


def test_embedding_max_norm_renormalises_used_rows_like_torch(L):
    torch = torch_or_skip()
    w = L.randn(10, 3) * 3
    ew, tw = L.t(w, grad=False), torch.tensor(w)
    eo = F.embedding(L.t(IDX, grad=False), ew, max_norm=1.5)
    to = torch.nn.functional.embedding(torch.tensor(IDX), tw, max_norm=1.5)
    np.testing.assert_allclose(L.np(eo), to.numpy(), rtol=1e-6)
    np.testing.assert_allclose(L.np(ew), tw.numpy(), rtol=1e-6)  # rows rescaled in place
    assert np.allclose(L.np(ew)[3], w[3])  # unused rows untouched


def test_embedding_module_layout_and_init():
    torch = torch_or_skip()
    e, t = nn.Embedding(1000, 16, padding_idx=0), torch.nn.Embedding(1000, 16, padding_idx=0)
    assert list(e.state_dict()) == list(t.state_dict())
    assert repr(e) == repr(t)
    w = e.weight.detach().numpy()
    assert (w[0] == 0).all()
    assert abs(w[1:].mean()) < 0.05 and abs(w[1:].std() - 1) < 0.05  # N(0, 1)


def test_embedding_from_pretrained_freeze(device):
    w = engine.randn(5, 2, device=device)
    m = nn.Embedding.from_pretrained(w)
    assert not m.weight.requires_grad
    out = m(engine.tensor([4, 0], device=device))
    np.testing.assert_array_equal(out.cpu().numpy(), w.cpu().numpy()[[4, 0]])
    assert nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad


def test_embedding_errors(L):
    w = L.t(L.randn(10, 3))
    with pytest.raises(IndexError, match="index 10 is out of range .* 10 rows"):
        F.embedding(L.t(np.array([1, 10]), grad=False), w)
    with pytest.raises(TypeError, match="must be an integer tensor"):
        F.embedding(L.t(np.array([1.0]), grad=False), w)
    with pytest.raises(ValueError, match="padding_idx 12 must be within"):
        nn.Embedding(10, 3, padding_idx=12)
