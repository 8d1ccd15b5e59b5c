"""RNN, LSTM and GRU: PyTorch's parameter layout, outputs and gradients equal to torch's with the
same weights (multi-layer, bidirectional, batch_first, initial states, packed variable-length
batches), float64 gradchecks of the hand-written BPTT, and errors."""

from __future__ import annotations

import numpy as np
import pytest
from torch_reference import torch_or_skip

import engine
from engine import nn
from engine.autograd import gradcheck
from engine.nn.modules.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
)
from engine.ops import rnn as R

CONFIGS = [
    ("RNN", {}),
    ("RNN", {"nonlinearity": "relu", "num_layers": 2, "bias": False}),
    ("LSTM", {}),
    ("LSTM", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    ("LSTM", {"bias": False, "bidirectional": True}),
    ("GRU", {}),
    ("GRU", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    ("GRU", {"bias": False}),
]


def _pair(name, kw, load_torch, dtype="double"):
    torch = torch_or_skip()
    t = getattr(getattr(torch.nn, name)(5, 6, **kw), dtype)()
    e = getattr(getattr(nn, name)(5, 6, **kw), dtype)()
    load_torch(e, t)
    return e, t


@pytest.mark.parametrize("name,kw", CONFIGS)
def test_state_dict_layout_equals_torch(name, kw):
    torch = torch_or_skip()
    e, t = getattr(nn, name)(5, 6, **kw), getattr(torch.nn, name)(5, 6, **kw)
    es, ts = e.state_dict(), t.state_dict()
    assert list(es) == list(ts)
    assert all(tuple(es[k].shape) == tuple(ts[k].shape) for k in es)
    assert repr(e) == repr(t)
    bound = 1 / np.sqrt(6)
    assert all(np.abs(p.detach().numpy()).max() <= bound for p in e.parameters())


@pytest.mark.parametrize("name,kw", CONFIGS)
def test_outputs_and_gradients_equal_torch(L, load_torch, name, kw):
    torch = torch_or_skip()
    e, t = _pair(name, kw, load_torch)
    e.to(L.device)
    dirs = 2 if kw.get("bidirectional") else 1
    layers = kw.get("num_layers", 1)
    x = L.randn(3, 4, 5)  # (B, T, I) with batch_first, else (T, B, I)
    batch = 3 if kw.get("batch_first") else 4
    h0 = L.randn(layers * dirs, batch, 6)
    ex, th = L.t(x), torch.tensor(h0, requires_grad=True)
    tx, eh = torch.tensor(x, requires_grad=True), L.t(h0)
    if name == "LSTM":
        c0 = L.randn(*h0.shape)
        ec, tc = L.t(c0), torch.tensor(c0, requires_grad=True)
        eo, (ehn, ecn) = e(ex, (eh, ec))
        to, (thn, tcn) = t(tx, (th, tc))
        e_loss = (eo * eo).sum() + (ehn * 3).sum() + (ecn * ecn * ecn).sum()
        t_loss = (to * to).sum() + (thn * 3).sum() + (tcn ** 3).sum()
        np.testing.assert_allclose(L.np(ecn), tcn.detach().numpy(), atol=1e-10)
    else:
        eo, ehn = e(ex, eh)
        to, thn = t(tx, th)
        e_loss = (eo * eo).sum() + (ehn * 3).sum()
        t_loss = (to * to).sum() + (thn * 3).sum()
    np.testing.assert_allclose(L.np(eo), to.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(L.np(ehn), thn.detach().numpy(), atol=1e-10)
    e_loss.backward()
    t_loss.backward()
    np.testing.assert_allclose(L.np(ex.grad), tx.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(L.np(eh.grad), th.grad.numpy(), atol=1e-10)
    if name == "LSTM":
        np.testing.assert_allclose(L.np(ec.grad), tc.grad.numpy(), atol=1e-10)
    for (pname, ep), tp in zip(e.named_parameters(), t.parameters()):
        np.testing.assert_allclose(L.np(ep.grad), tp.grad.numpy(), atol=1e-10, err_msg=pname)


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_float32_matches_torch_to_1e5(L, load_torch, name):
    torch = torch_or_skip()
    e, t = _pair(name, {"num_layers": 2, "batch_first": True}, load_torch, "float")
    e.to(L.device)
    x = L.randn(4, 20, 5, dtype=np.float32)
    eo, _ = e(L.t(x))
    to, _ = t(torch.tensor(x))
    np.testing.assert_allclose(L.np(eo), to.detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("op", [R.RNNLayer, R.LSTMLayer, R.GRULayer])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_layer_ops_gradcheck(L, op, reverse, masked):
    gates = {R.RNNLayer: 1, R.LSTMLayer: 4, R.GRULayer: 3}[op]
    t_, b, i, h = 4, 3, 2, 3
    mask = None
    if masked:  # lengths 4, 2, 1
        lens = np.array([4, 2, 1])
        mask = (np.arange(t_)[:, None] < lens[None, :]).astype(np.float64)[:, :, None]
        mask = L.t(mask, grad=False)._data  # the op takes raw arrays
    arrays = [L.randn(t_, b, i), L.randn(b, h), L.randn(b, h), L.randn(gates * h, i) * 0.7,
              L.randn(gates * h, h) * 0.7, L.randn(gates * h), L.randn(gates * h)]
    inputs = [L.t(a) for a in arrays]
    if op is not R.LSTMLayer:
        inputs[2] = None

    def fn(*args):
        return op.apply(*args, reverse=reverse, mask=mask)

    assert gradcheck(fn, inputs)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_lstm_rows_split_over_threads_equal_one_block(L, monkeypatch, reverse, masked):
    """The LSTM's time loop over blocks of batch rows on two threads gives the one-block
    outputs, gradients and final-state gradients (float64; only the GEMMs' row counts differ),
    with variable lengths and in reverse too, and passes the finite-difference check."""
    from engine.ops import rnn as rnn_ops  # noqa: PLC0415

    t_, b, i, h = 4, 5, 2, 3
    mask = None
    if masked:
        lens = np.array([4, 2, 1, 3, 4])
        mask = (np.arange(t_)[:, None] < lens[None, :]).astype(np.float64)[:, :, None]
        mask = L.t(mask, grad=False)._data
    arrays = [L.randn(t_, b, i), L.randn(b, h), L.randn(b, h), L.randn(4 * h, i) * 0.7,
              L.randn(4 * h, h) * 0.7, L.randn(4 * h), L.randn(4 * h)]
    gout = L.randn(t_ + 2, b, h)
    monkeypatch.setattr(rnn_ops, "op_threads", lambda: 2)
    results = []
    for rows in (1 << 30, 2):  # one block; blocks of 3 and 2 rows
        monkeypatch.setattr(rnn_ops, "LSTM_SPLIT_MIN_ROWS", rows)
        assert len(rnn_ops._row_blocks(np, b, np.float64)) == (1 if rows > b else 2)
        inputs = [L.t(a) for a in arrays]
        out = R.LSTMLayer.apply(*inputs, reverse=reverse, mask=mask)
        out.backward(L.t(gout, grad=False))
        results.append([L.np(out)] + [L.np(t.grad) for t in inputs])
    for one, two in zip(*results):
        np.testing.assert_allclose(one, two, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda *a: R.LSTMLayer.apply(*a, reverse=reverse, mask=mask),
                     [L.t(a) for a in arrays])


@pytest.mark.parametrize("op", [R.RNNLayer, R.LSTMLayer, R.GRULayer])
def test_layer_ops_gradcheck_without_bias(L, op):
    """Without a bias the input projection carries no column of ones, and every weight
    gradient must come from the plain input."""
    gates = {R.RNNLayer: 1, R.LSTMLayer: 4, R.GRULayer: 3}[op]
    t_, b, i, h = 3, 2, 2, 3
    inputs = [L.t(L.randn(t_, b, i)), L.t(L.randn(b, h)), L.t(L.randn(b, h)),
              L.t(L.randn(gates * h, i) * 0.7), L.t(L.randn(gates * h, h) * 0.7), None, None]
    if op is not R.LSTMLayer:
        inputs[2] = None
    assert gradcheck(lambda *args: op.apply(*args), inputs)


def test_relu_rnn_gradcheck(L):
    inputs = [L.t(L.randn(3, 2, 2)), L.t(L.randn(2, 3)), None, L.t(L.randn(3, 2)),
              L.t(L.randn(3, 3) * 0.5), L.t(L.randn(3)), L.t(L.randn(3))]
    assert gradcheck(lambda *a: R.RNNLayer.apply(*a, relu=True), inputs)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_packed_variable_lengths_equal_torch(L, load_torch, name):
    torch = torch_or_skip()
    e, t = _pair(name, {"num_layers": 2, "bidirectional": True}, load_torch)
    e.to(L.device)
    x = L.randn(6, 4, 5)
    lens = [3, 6, 1, 4]
    ex, tx = L.t(x), torch.tensor(x, requires_grad=True)
    ep = pack_padded_sequence(ex, lens, enforce_sorted=False)
    tp = torch.nn.utils.rnn.pack_padded_sequence(tx, lens, enforce_sorted=False)
    np.testing.assert_array_equal(L.np(ep.data), tp.data.detach().numpy())
    np.testing.assert_array_equal(ep.batch_sizes.numpy(), tp.batch_sizes.numpy())
    eo, eh = e(ep)
    to, th = t(tp)
    assert isinstance(eo, PackedSequence)
    if name == "LSTM":
        eh, th = eh[0], th[0]
    e_pad, e_lens = pad_packed_sequence(eo, batch_first=True)
    t_pad, t_lens = torch.nn.utils.rnn.pad_packed_sequence(to, batch_first=True)
    np.testing.assert_array_equal(e_lens.numpy(), t_lens.numpy())
    np.testing.assert_allclose(L.np(e_pad), t_pad.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(L.np(eh), th.detach().numpy(), atol=1e-10)
    ((e_pad ** 2).sum() + (eh ** 3).sum()).backward()
    ((t_pad ** 2).sum() + (th ** 3).sum()).backward()
    np.testing.assert_allclose(L.np(ex.grad), tx.grad.numpy(), atol=1e-10)
    for ep_, tp_ in zip(e.parameters(), t.parameters()):
        np.testing.assert_allclose(L.np(ep_.grad), tp_.grad.numpy(), atol=1e-10)


def test_pack_helpers_round_trip(L):
    seqs = [L.t(L.randn(n, 2)) for n in (4, 2, 3)]
    padded = pad_sequence(seqs, batch_first=True, padding_value=-1.0)
    assert padded.shape == (3, 4, 2)
    assert (L.np(padded)[1, 2:] == -1).all()
    packed = pack_sequence(seqs, enforce_sorted=False)
    back, lens = pad_packed_sequence(packed, batch_first=True)
    np.testing.assert_array_equal(lens.numpy(), [4, 2, 3])
    for k, s in enumerate(seqs):
        np.testing.assert_array_equal(L.np(back)[k, :s.shape[0]], L.np(s))
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        pack_padded_sequence(padded, [4, 2, 3], batch_first=True)


def test_unbatched_input_and_default_state(L, load_torch):
    torch = torch_or_skip()
    e, t = _pair("GRU", {"num_layers": 2}, load_torch)
    e.to(L.device)
    x = L.randn(7, 5)
    eo, eh = e(L.t(x))
    to, th = t(torch.tensor(x))
    assert eo.shape == (7, 6) and eh.shape == (2, 6)
    np.testing.assert_allclose(L.np(eo), to.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(L.np(eh), th.detach().numpy(), atol=1e-10)


def test_dropout_between_layers_only_in_training(L):
    engine.manual_seed(0)
    m = nn.LSTM(3, 4, num_layers=2, dropout=0.5).to(L.device)
    x = L.t(L.randn(5, 2, 3, dtype=np.float32), grad=False)
    m.eval()
    a, _ = m(x)
    b, _ = m(x)
    np.testing.assert_array_equal(L.np(a), L.np(b))
    m.train()
    c, _ = m(x)
    assert not np.allclose(L.np(a), L.np(c))
    with pytest.warns(UserWarning, match="no effect with num_layers=1"):
        nn.GRU(3, 4, dropout=0.2)


def test_rnn_errors(L):
    m = nn.LSTM(3, 4).double().to(L.device)
    with pytest.raises(engine.ShapeError, match="input has 5 features .* input_size=3"):
        m(L.t(L.randn(2, 2, 5)))
    with pytest.raises(engine.ShapeError, match=r"expected h_0 of shape \(1, 2, 4\)"):
        m(L.t(L.randn(6, 2, 3)), (L.t(L.randn(1, 3, 4)), L.t(L.randn(1, 3, 4))))
    with pytest.raises(TypeError, match="tuple"):
        m(L.t(L.randn(6, 2, 3)), L.t(L.randn(1, 2, 4)))
    with pytest.raises(TypeError, match="input is float32, weights float64"):
        m(L.t(L.randn(6, 2, 3, dtype=np.float32)))
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(NotImplementedError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=2)
