"""Convolution layers: ``Conv1d``, ``Conv2d``, ``ConvTranspose2d`` (PyTorch's arguments, parameter
names, shapes and default initialisation)."""

from __future__ import annotations

import math
from typing import Any

from ... import creation
from ...tensor import Tensor
from .. import _functional_vision as FV
from ..parameter import Parameter
from .module import Module

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(v: Any, n: int, name: str) -> tuple[int, ...]:
    if isinstance(v, int):
        return (v,) * n
    t = tuple(int(a) for a in v)
    if len(t) != n:
        raise ValueError(f"{name} must be an int or a {n}-tuple, got {v!r}")
    return t


class _ConvNd(Module):
    """Shared construction, initialisation and printing of the convolution layers."""

    _dims = 2
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None,
                 output_padding: Any = 0) -> None:
        super().__init__()
        n = self._dims
        name = type(self).__name__
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) must be divisible by groups "
                             f"({groups})")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels ({out_channels}) must be divisible by groups "
                             f"({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size")
        self.stride = _ntuple(stride, n, "stride")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be 'same', 'valid', an int or a tuple, "
                                 f"got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions")
            self.padding: Any = padding
        else:
            self.padding = _ntuple(padding, n, "padding")
        self.dilation = _ntuple(dilation, n, "dilation")
        self.output_padding = _ntuple(output_padding, n, "output_padding")
        self.groups, self.padding_mode = groups, padding_mode
        if self.transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(creation.empty(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform(a=sqrt(5)) weights, U(+-1/sqrt(fan_in)) bias."""
        from .. import init  # noqa: PLC0415 - written alongside; resolved at first use

        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            if fan_in:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = "{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}"
        zeros = (0,) * self._dims
        if self.padding != zeros:
            s += ", padding={padding}"
        if self.dilation != (1,) * self._dims:
            s += ", dilation={dilation}"
        if self.output_padding != zeros:
            s += ", output_padding={output_padding}"
        if self.groups != 1:
            s += ", groups={groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += ", padding_mode={padding_mode}"
        return s.format(**self.__dict__)

    def _mode_padded(self, x: Tensor) -> tuple[Tensor, Any]:
        """Non-zero padding modes pad explicitly first (as PyTorch does), then convolve with 0."""
        if self.padding_mode == "zeros":
            return x, self.padding
        from ..functional import pad  # noqa: PLC0415

        if isinstance(self.padding, str):
            k = self.kernel_size
            if self.padding == "valid":
                return x, 0
            totals = [d * (kk - 1) for d, kk in zip(self.dilation, k)]
            amounts: list[int] = []
            for t in reversed(totals):
                amounts += [t // 2, t - t // 2]
        else:
            amounts = []
            for p in reversed(self.padding):
                amounts += [p, p]
        return pad(x, tuple(amounts), mode=self.padding_mode), 0


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    Args:
        in_channels, out_channels, kernel_size, stride=1, padding=0 (int, pair, "same" or
        "valid"), dilation=1, groups=1, bias=True, padding_mode="zeros" (or "reflect",
        "replicate", "circular").

    Shape: weight (C_out, C_in/groups, kh, kw); H_out = (H + 2p - d(k-1) - 1)//s + 1.

    Example:
        >>> conv = Conv2d(1, 6, 5, padding=2)
        >>> conv(engine.randn(8, 1, 28, 28)).shape
        (8, 6, 28, 28)
    """

    def forward(self, input: Tensor) -> Tensor:
        x, padding = self._mode_padded(input)
        return FV.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                         self.groups)


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L) -> (N, C_out, L_out); weight (C_out, C_in/groups, k)."""

    _dims = 1

    def forward(self, input: Tensor) -> Tensor:
        x, padding = self._mode_padded(input)
        return FV.conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                         self.groups)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution (the gradient of Conv2d), weight (C_in, C_out/groups, kh, kw).

    H_out = (H - 1)s - 2p + d(k - 1) + output_padding + 1. Only zero padding is supported, as in
    PyTorch. ``forward(input, output_size=None)`` picks output_padding from a wanted size."""

    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for '
                             f"{type(self).__name__}, got {padding_mode!r}")
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, output_padding)

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple[int, ...]:
        if output_size is None:
            return self.output_padding
        n = self._dims
        size = tuple(int(s) for s in output_size)[-n:]
        spatial = tuple(input.shape[-n:])
        out = []
        for i in range(n):
            base = ((spatial[i] - 1) * self.stride[i] - 2 * self.padding[i]
                    + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            extra = size[i] - base
            if not 0 <= extra < max(self.stride[i], self.dilation[i]):
                raise ValueError(f"{type(self).__name__}: requested output size {size} is not "
                                 f"reachable from input size {spatial} (smallest {base}, "
                                 f"output_padding must stay below the stride)")
            out.append(extra)
        return tuple(out)

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        op = self._output_padding(input, output_size)
        return FV.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, op,
                                   self.groups, self.dilation)


class ConvTranspose1d(ConvTranspose2d):
    """Transposed 1-D convolution, weight (C_in, C_out/groups, k)."""

    _dims = 1

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        op = self._output_padding(input, output_size)
        return FV.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding, op,
                                   self.groups, self.dilation)
