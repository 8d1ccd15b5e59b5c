"""Reverse-mode execution: topological order over the nodes reachable from the outputs, each node
run once with the sum of the gradients that reached it, its saved data freed afterwards unless
``retain_graph``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .function import Function


def _topological_order(roots: Sequence[Function]) -> list[Function]:
    """Nodes reachable from ``roots``, every node before the nodes it feeds (iterative DFS)."""
    order: list[Function] = []
    seen: set[int] = set()
    for root in roots:
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack: list[tuple[Function, int]] = [(root, 0)]
        while stack:
            node, i = stack[-1]
            nxt = node.next
            while i < len(nxt):
                child = nxt[i]
                i += 1
                if isinstance(child, Function) and id(child) not in seen:
                    seen.add(id(child))
                    stack[-1] = (node, i)
                    stack.append((child, 0))
                    break
            else:
                stack.pop()
                order.append(node)
                continue
    order.reverse()
    return order


def _check_versions(node: Function) -> None:
    for counter, seen in node._versions:
        if counter.value != seen:
            raise RuntimeError(
                f"one of the tensors needed for gradient computation has been modified by an "
                f"in-place operation: {node.name} saved it at version {seen}, it is now at version "
                f"{counter.value}. Fix: use the out-of-place form (e.g. `x = x + y` instead of "
                f"`x += y` / `x.add_(y)`), or `.clone()` the tensor before changing it"
            )


def run_backward(
    roots: Sequence[Any],
    root_grads: Sequence[Any],
    retain_graph: bool = False,
    capture: Sequence[Any] | None = None,
) -> list[Any] | None:
    """Propagate ``root_grads`` (raw arrays) from the tensors ``roots``.

    Without ``capture``, gradients accumulate into the ``.grad`` of leaf tensors. With ``capture``
    (a list of tensors), nothing is accumulated: the gradient of each captured tensor is returned
    instead (``autograd.grad``).
    """
    from ..tensor import Tensor  # noqa: PLC0415

    grads: dict[int, Any] = {}
    leaf_grads: dict[int, Any] = {}
    nodes: list[Function] = []
    for t, g in zip(roots, root_grads):
        fn = t.grad_fn
        if fn is None:
            if t.requires_grad:  # a leaf used as an output
                _add(leaf_grads, id(t), g)
                if capture is None:
                    _accumulate_leaf(t, g, set())
            continue
        nodes.append(fn)
        _add(grads, id(fn), g)

    captured_nodes: dict[int, int] = {}
    captured_leaves: dict[int, int] = {}
    if capture is not None:
        for i, t in enumerate(capture):
            if t.grad_fn is not None:
                captured_nodes[id(t.grad_fn)] = i
            else:
                captured_leaves[id(t)] = i
    results: list[Any] = [None] * (len(capture) if capture is not None else 0)

    given: set[int] = set()  # arrays already handed to a leaf this pass (avoid aliasing)
    for node in _topological_order(nodes):
        g = grads.pop(id(node), None)
        if node._freed:
            raise RuntimeError(
                f"trying to run backward through {node.name} a second time, but its saved data "
                f"was already freed. Fix: pass retain_graph=True to the first backward() if you "
                f"need to go through the graph twice"
            )
        if g is None:
            continue
        if capture is not None and id(node) in captured_nodes:
            results[captured_nodes[id(node)]] = g
        _check_versions(node)
        input_grads = node.backward(g)
        for child, gi in zip(node.next, input_grads):
            if child is None or gi is None:
                continue
            if isinstance(child, Tensor):
                if capture is None:
                    _accumulate_leaf(child, gi, given)
                elif id(child) in captured_leaves:
                    idx = captured_leaves[id(child)]
                    results[idx] = gi if results[idx] is None else results[idx] + gi
            else:
                _add(grads, id(child), gi)
        if not retain_graph:
            _free(node)
    if capture is not None:
        for t in capture:
            if id(t) in leaf_grads and t.grad_fn is None:
                idx = captured_leaves[id(t)]
                g = leaf_grads[id(t)]
                results[idx] = g if results[idx] is None else results[idx] + g
        return results
    return None


def _add(store: dict[int, Any], key: int, g: Any) -> None:
    prev = store.get(key)
    store[key] = g if prev is None else prev + g


def _free(node: Function) -> None:
    node._freed = True
    node.next = ()
    for attr in list(vars(node)):
        delattr(node, attr)


def _accumulate_leaf(t: Any, g: Any, given: set[int]) -> None:
    from ..tensor import Tensor  # noqa: PLC0415

    if g.dtype != t.data.dtype:
        g = g.astype(t.data.dtype)
    if g.shape != t.data.shape:
        g = g.reshape(t.data.shape)
    if t.grad is None:
        if id(g) in given or not g.flags.writeable or not g.flags.c_contiguous:
            g = g.copy()
        given.add(id(g))
        t.grad = Tensor._make(g, t._device, False, None)
    else:
        # Out of place: the old .grad array may be shared with a user's reference.
        t.grad.data = t.grad.data + g
