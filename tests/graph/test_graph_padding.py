"""Shape inference of the padding layers when the padding reaches the input's size."""

from __future__ import annotations

import numpy as np

import engine
from engine.graph import Graph, TensorType


def _info(type_: str, shape: tuple[int, ...], padding: list[int]):  # noqa: ANN202
    g = Graph.sequential(shape, (type_, {"padding": padding}), loss="none")
    return g.info(list(g.nodes)[1])


def test_replication_pad_accepts_padding_as_large_as_the_input() -> None:
    info = _info("ReplicationPad2d", (2, 2, 2), [3, 3, 3, 3])
    assert info.error is None, info.error
    # as PyTorch (and engine.nn.ReplicationPad2d(3) on a 2x2 image): 2 + 3 + 3 = 8
    assert info.output == TensorType((2, 8, 8))
    y = engine.nn.ReplicationPad2d(3)(engine.tensor(np.zeros((1, 2, 2, 2), np.float32)))
    assert tuple(y.shape[1:]) == info.output.shape


def test_reflection_pad_still_refuses_padding_as_large_as_the_input() -> None:
    info = _info("ReflectionPad2d", (2, 2, 2), [2, 0, 0, 0])
    assert info.error_kind == "shape"
    assert info.output is None
    assert "in reflect mode" in info.error
