"""The graph does not outlive its use: nodes and their saved arrays are freed by ``backward()``
and by dropping the output (no reference cycles, so no wait for the cycle collector), and a long
training loop built from raw tensor ops holds its memory flat."""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Iterator

import numpy as np
import pytest

import engine


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    """Run with the cycle collector off: whatever is freed here is freed by reference counts."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _graph(x: engine.Tensor) -> engine.Tensor:
    h = (x * 2).exp()
    return (h * x).sum() + h.logsumexp(0).sum() + x[[0, 0, 1]].sum()


def _nodes(root: engine.Tensor) -> list[object]:
    seen, stack = [], [root.grad_fn]
    while stack:
        node = stack.pop()
        if isinstance(node, engine.autograd.Function) and all(node is not s for s in seen):
            seen.append(node)
            stack.extend(node.next)
    return seen


def test_backward_frees_saved_arrays_and_nodes(no_cycle_collector: None) -> None:
    x = engine.randn(3, 4, dtype=engine.float64, requires_grad=True)
    loss = _graph(x)
    nodes = _nodes(loss)
    assert len(nodes) >= 8
    node_refs = [weakref.ref(n) for n in nodes]
    saved = [weakref.ref(v) for n in nodes for v in vars(n).values()
             if isinstance(v, np.ndarray) and v is not x._data]
    assert saved, "the graph should hold saved arrays before backward"
    del nodes
    loss.backward()
    assert all(r() is None for r in saved), "backward left saved arrays alive"
    assert any(r() is not None for r in node_refs)  # loss.grad_fn still names its op
    del loss
    assert all(r() is None for r in node_refs), "nodes outlived the output"
    assert x.grad is not None and x.grad.grad_fn is None


def test_dropping_the_output_frees_the_graph_without_backward(no_cycle_collector: None) -> None:
    x = engine.randn(3, 4, requires_grad=True)
    h = x.tanh()
    loss = _graph(h)
    node_refs = [weakref.ref(n) for n in _nodes(loss)]
    h_ref = weakref.ref(h)
    del h  # an intermediate tensor is not kept by the graph
    assert h_ref() is None
    del loss
    assert all(r() is None for r in node_refs)


def test_retained_graph_is_freed_when_dropped(no_cycle_collector: None) -> None:
    x = engine.randn(5, requires_grad=True)
    loss = (x.sigmoid() * x).sum()
    loss.backward(retain_graph=True)
    refs = [weakref.ref(n) for n in _nodes(loss)]
    loss.backward()
    del loss
    assert all(r() is None for r in refs)


def test_autograd_grad_frees_the_graph(no_cycle_collector: None) -> None:
    x = engine.randn(4, requires_grad=True)
    y = (x * x).exp().sum()
    saved = [weakref.ref(v) for n in _nodes(y) for v in vars(n).values()
             if isinstance(v, np.ndarray) and v is not x._data]
    engine.autograd.grad(y, x)
    assert all(r() is None for r in saved)


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


@pytest.mark.slow
def test_ten_thousand_training_steps_do_not_grow_memory() -> None:
    """A two-layer classifier from raw ops (matmul, relu, logsumexp, in-place SGD under no_grad)
    trains 10 000 steps; live objects and resident memory stay flat."""
    w1 = (engine.randn(8, 16) * 0.3).requires_grad_()
    b1 = engine.zeros(16, requires_grad=True)
    w2 = (engine.randn(16, 3) * 0.3).requires_grad_()
    b2 = engine.zeros(3, requires_grad=True)
    params = [w1, b1, w2, b2]
    x = engine.randn(32, 8)
    one_hot = engine.eye(3)[engine.randint(0, 3, (32,))]

    def step(i: int) -> float:
        logits = (x @ w1 + b1).relu() @ w2 + b2
        loss = (logits.logsumexp(1) - (logits * one_hot).sum(1)).mean()
        loss.backward()
        with engine.no_grad():
            for p in params:
                p -= 0.05 * p.grad
                if i % 2:
                    p.grad.zero_()
                else:
                    p.grad = None
        return loss.item()

    first = [step(i) for i in range(500)]
    gc.collect()
    objects_before, rss_before = len(gc.get_objects()), _rss_bytes()
    last = [step(i) for i in range(10_000)]
    gc.collect()
    objects_after, rss_after = len(gc.get_objects()), _rss_bytes()
    assert objects_after - objects_before < 200, "Python objects pile up across steps"
    if rss_before is not None:
        assert rss_after - rss_before < 16 * 2**20, (
            f"resident memory grew {(rss_after - rss_before) / 2**20:.1f} MiB")
    assert last[-1] < first[0] * 0.5  # and it really trained
