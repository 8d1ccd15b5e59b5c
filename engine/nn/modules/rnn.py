"""Recurrent layers ``RNN`` (tanh/relu), ``LSTM``, ``GRU``, and packed sequences.

Parameters are named and shaped as PyTorch's (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``,
``bias_hh_l0``, ``..._reverse``; gate order i,f,g,o and r,z,n) so a PyTorch state_dict loads
unchanged. Each layer and direction is one op (``engine.ops.rnn``) with a hand-written BPTT.

Variable-length batches: pass a ``PackedSequence`` (``pack_padded_sequence``), as in PyTorch.
Inside, the packed batch is unpacked to a padded one plus a 0/1 mask; masked steps keep the state
and output zeros, so ``h_n`` is each sequence's state at its own last element and the reverse
direction starts at each sequence's own end.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ... import creation
from ...errors import ShapeError
from ...ops import rnn as _rnn
from ...tensor import Tensor
from ..parameter import Parameter
from .module import Module

__all__ = ["GRU", "LSTM", "RNN", "RNNBase"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


class PackedSequence(NamedTuple):
    """A batch of variable-length sequences packed time-major (PyTorch's layout): ``data`` holds
    the valid steps of all sequences, ``batch_sizes[t]`` how many sequences are still running at
    step t (sequences sorted by decreasing length; ``sorted_indices`` maps back to the caller's
    order)."""

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None


def _lengths_array(lengths: Any) -> np.ndarray:
    if isinstance(lengths, Tensor):
        lengths = lengths.cpu()._data
    arr = np.asarray(lengths, dtype=np.int64).reshape(-1)
    if arr.size and arr.min() <= 0:
        raise ValueError(f"pack_padded_sequence: every length must be positive, got "
                         f"{arr.tolist()}")
    return arr


def pack_padded_sequence(input: Tensor, lengths: Any, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded (T, B, *) batch (or (B, T, *) with batch_first) with per-sequence lengths."""
    lens = _lengths_array(lengths)
    if batch_first:
        input = input.transpose(0, 1)
    t_max, b = input.shape[:2]
    if lens.size != b:
        raise ShapeError(f"pack_padded_sequence: {lens.size} lengths for a batch of {b}")
    if lens.max() > t_max:
        raise ValueError(f"pack_padded_sequence: a length of {lens.max()} exceeds the padded "
                         f"sequence length {t_max}")
    if enforce_sorted:
        if (np.diff(lens) > 0).any():
            raise RuntimeError("pack_padded_sequence: `lengths` must be sorted in decreasing "
                               "order when enforce_sorted=True; sort the batch or pass "
                               "enforce_sorted=False")
        order = np.arange(b)
        sorted_t = unsorted_t = None
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_t = Tensor._make(order.astype(np.int64), None)
        unsorted_t = Tensor._make(np.argsort(order).astype(np.int64), None)
    slens = lens[order]
    batch_sizes = (slens[None, :] > np.arange(slens[0])[:, None]).sum(axis=1)
    t_idx = np.repeat(np.arange(batch_sizes.size), batch_sizes)
    b_idx = order[np.concatenate([np.arange(n) for n in batch_sizes])]
    xp = input.device.xp
    data = input[xp.asarray(t_idx), xp.asarray(b_idx)]
    return PackedSequence(data, Tensor._make(batch_sizes.astype(np.int64), None), sorted_t,
                          unsorted_t)


def _packed_layout(seq: PackedSequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time index, original batch index) of every packed row, and the lengths (caller order)."""
    bs = seq.batch_sizes.cpu()._data.astype(np.int64)
    b = int(bs[0])
    order = (seq.sorted_indices.cpu()._data if seq.sorted_indices is not None
             else np.arange(b))
    t_idx = np.repeat(np.arange(bs.size), bs)
    b_idx = order[np.concatenate([np.arange(n) for n in bs])]
    lens_sorted = (bs[None, :] > np.arange(b)[:, None]).sum(axis=1)
    lens = np.empty(b, dtype=np.int64)
    lens[order] = lens_sorted
    return t_idx, b_idx, lens


def _unpack(seq: PackedSequence, padding_value: float,
            total_length: int | None) -> tuple[Tensor, np.ndarray]:
    """Padded (T, B, *) tensor in the caller's batch order, and the lengths."""
    t_idx, b_idx, lens = _packed_layout(seq)
    data = seq.data
    t_max = int(lens.max())
    if total_length is not None:
        if total_length < t_max:
            raise ValueError(f"pad_packed_sequence: total_length {total_length} is shorter than "
                             f"the longest sequence ({t_max})")
        t_max = total_length
    b = lens.size
    gather = np.full((t_max, b), data.shape[0], dtype=np.int64)  # -> the padding row
    gather[t_idx, b_idx] = np.arange(data.shape[0])
    pad_row = creation.full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype,
                            device=data.device)
    padded = creation.cat([data, pad_row], 0)[data.device.xp.asarray(gather)]
    return padded, lens


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Inverse of ``pack_padded_sequence``: (padded, lengths) in the original batch order."""
    padded, lens = _unpack(sequence, padding_value, total_length)
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, Tensor._make(lens, None)


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False,
                 padding_value: float = 0.0) -> Tensor:
    """Stack (L_i, *) tensors into (T, B, *) (or (B, T, *)), padding with ``padding_value``."""
    lens = [int(s.shape[0]) for s in sequences]
    t_max = max(lens)
    first = sequences[0]
    pad_row = creation.full((1,) + tuple(first.shape[1:]), padding_value, dtype=first.dtype,
                            device=first.device)
    flat = creation.cat(list(sequences) + [pad_row], 0)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    steps = np.arange(t_max)[:, None]
    gather = np.where(steps < np.asarray(lens)[None, :], starts[None, :] + steps, sum(lens))
    out = flat[first.device.xp.asarray(gather.astype(np.int64))]
    return out.transpose(0, 1) if batch_first else out


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    lengths = [int(s.shape[0]) for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


class RNNBase(Module):
    """Shared construction (PyTorch's parameter names and order), initialisation and the
    layer/direction loop of RNN, LSTM and GRU."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(f"{name}: dropout should be a number in [0, 1], got {dropout}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} has no effect with num_layers=1 (it is "
                          f"applied between layers)", stacklevel=2)
        if hidden_size <= 0 or num_layers <= 0 or input_size <= 0:
            raise ValueError(f"{name}: input_size ({input_size}), hidden_size ({hidden_size}) "
                             f"and num_layers ({num_layers}) must be positive")
        if proj_size:
            raise NotImplementedError(f"{name}: proj_size is not supported; use proj_size=0 "
                                      f"(add a Linear layer after the LSTM instead)")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, 0
        dirs = 2 if bidirectional else 1
        gate = _GATES[mode] * hidden_size
        names = []
        for layer in range(num_layers):
            for direction in range(dirs):
                in_size = input_size if layer == 0 else hidden_size * dirs
                suffix = "_reverse" if direction == 1 else ""
                shapes = [("weight_ih", (gate, in_size)), ("weight_hh", (gate, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gate,)), ("bias_hh", (gate,))]
                for base, shape in shapes:
                    pname = f"{base}_l{layer}{suffix}"
                    setattr(self, pname, Parameter(creation.empty(*shape, dtype=dtype,
                                                                  device=device)))
                    names.append(pname)
        self._flat_weights_names = names
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        from .. import init  # noqa: PLC0415

        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """PyTorch's cuDNN hint; nothing to do here."""

    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Tensor]]:
        per = 4 if self.bias else 2
        w = self._flat_weights
        return [w[i:i + per] for i in range(0, len(w), per)]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # ------------------------------------------------------------------ forward
    def _states(self, hx: Any, batch: int, x: Tensor, unbatched: bool) -> tuple[Any, Any]:
        dirs = 2 if self.bidirectional else 1
        shape = (self.num_layers * dirs, batch, self.hidden_size)
        lstm = self.mode == "LSTM"
        if hx is None:
            z = creation.zeros(*shape, dtype=x.dtype, device=x.device)
            return z, (z if lstm else None)
        if lstm:
            if not isinstance(hx, tuple | list) or len(hx) != 2:
                raise TypeError("LSTM: hx must be a tuple (h_0, c_0)")
            h0, c0 = hx
        else:
            h0, c0 = hx, None
        out = []
        for name, t in (("h_0", h0), ("c_0", c0)):
            if t is None:
                out.append(None)
                continue
            if unbatched:
                t = t.unsqueeze(1)
            if tuple(t.shape) != shape:
                raise ShapeError(f"{type(self).__name__}: expected {name} of shape "
                                 f"{shape if not unbatched else (shape[0], shape[2])}, got "
                                 f"{tuple(t.shape) if not unbatched else tuple(t.shape[::2])}")
            out.append(t)
        return out[0], out[1]

    def forward(self, input: Any, hx: Any = None) -> Any:
        name = type(self).__name__
        packed = isinstance(input, PackedSequence)
        mask = None
        unbatched = False
        if packed:
            x, lens = _unpack(input, 0.0, None)  # the caller's batch order, as hx is
            steps = np.arange(x.shape[0])[:, None]
            mask = x.device.xp.asarray((steps < lens[None, :]).astype(x.dtype)[:, :, None])
        else:
            x = input
            if x.ndim == 2:
                unbatched = True
                x = x.unsqueeze(1)
            elif x.ndim != 3:
                raise ShapeError(f"{name}: expected input of 2 (unbatched) or 3 dims, got shape "
                                 f"{tuple(x.shape)}")
            elif self.batch_first:
                x = x.transpose(0, 1)
        if x.shape[-1] != self.input_size:
            raise ShapeError(f"{name}: input has {x.shape[-1]} features (last dim), expected "
                             f"input_size={self.input_size}")
        t_, batch = x.shape[:2]
        h0, c0 = self._states(hx, batch, x, unbatched)
        out, h_n, c_n = self._run(x, h0, c0, mask)
        if packed:
            t_idx, b_idx, _ = _packed_layout(input)
            xp = x.device.xp
            data = out[xp.asarray(t_idx), xp.asarray(b_idx)]
            output: Any = PackedSequence(data, input.batch_sizes, input.sorted_indices,
                                         input.unsorted_indices)
        elif unbatched:
            output = out.squeeze(1)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        else:
            output = out.transpose(0, 1) if self.batch_first else out
        return output, ((h_n, c_n) if self.mode == "LSTM" else h_n)

    def _run(self, x: Tensor, h0: Tensor, c0: Any, mask: Any) -> tuple[Tensor, Tensor, Any]:
        from ..functional import dropout  # noqa: PLC0415

        dirs = 2 if self.bidirectional else 1
        t_ = x.shape[0]
        op = {"LSTM": _rnn.LSTMLayer, "GRU": _rnn.GRULayer}.get(self.mode, _rnn.RNNLayer)
        extra = {"relu": self.mode == "RNN_RELU"} if op is _rnn.RNNLayer else {}
        weights = self._flat_weights
        per = 4 if self.bias else 2
        hs, cs = [], []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                w = weights[k * per:(k + 1) * per]
                b_ih, b_hh = (w[2], w[3]) if self.bias else (None, None)
                y = op.apply(layer_in, h0[k], c0[k] if c0 is not None else None, w[0], w[1],
                             b_ih, b_hh, reverse=d == 1, mask=mask, **extra)
                outs.append(y[:t_])
                hs.append(y[t_])
                if c0 is not None:
                    cs.append(y[t_ + 1])
            layer_in = outs[0] if dirs == 1 else creation.cat(outs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = dropout(layer_in, self.dropout, True)
        h_n = creation.stack(hs, 0)
        c_n = creation.stack(cs, 0) if cs else None
        return layer_in, h_n, c_n


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu).

    Args: input_size, hidden_size, num_layers=1, nonlinearity="tanh" ("relu"), bias=True,
    batch_first=False, dropout=0.0 (between layers), bidirectional=False.

    Returns ``output`` (T, B, D*H) and ``h_n`` (num_layers*D, B, H).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


class LSTM(RNNBase):
    """Long short-term memory (gate order i, f, g, o as PyTorch).

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False. ``forward(input, (h_0, c_0)=None)`` returns
    ``output, (h_n, c_n)``.

    Example:
        >>> lstm = LSTM(32, 128, batch_first=True)
        >>> out, (h, c) = lstm(engine.randn(4, 50, 32))
        >>> out.shape, h.shape
        ((4, 50, 128), (1, 4, 128))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device: Any = None, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (gate order r, z, n as PyTorch); arguments as ``LSTM``; returns
    ``output, h_n``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)
