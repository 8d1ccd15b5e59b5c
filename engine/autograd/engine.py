"""Reverse-mode execution: topological order over the nodes reachable from the outputs, each node
run once with the sum of the gradients that reached it, its saved data freed afterwards unless
``retain_graph``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._backend import device_of_array
from . import function as _function
from .function import Function
from .hooks import run_hooks


def _topological_order(roots: Sequence[Function]) -> list[Function]:
    """Nodes reachable from ``roots``, every node before the nodes it feeds (iterative DFS, so a
    graph thousands of ops deep needs no recursion)."""
    order: list[Function] = []
    seen: set[Function] = set()
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(root.next))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if isinstance(child, Function) and child not in seen:
                    seen.add(child)
                    stack.append((child, iter(child.next)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()
    return order


def _raise_modified(node: Function, counter: Any, seen: int) -> None:
    raise RuntimeError(
        f"one of the tensors needed for gradient computation has been modified by an "
        f"in-place operation: {node.name} saved it at version {seen}, it is now at version "
        f"{counter.value}. Fix: use the out-of-place form (e.g. `x = x + y` instead of "
        f"`x += y` / `x.add_(y)`), or `.clone()` the tensor before changing it"
    )


def _raise_freed(node: Function) -> None:
    raise RuntimeError(
        f"trying to run backward through {node.name} a second time, but its saved data "
        f"was already freed. Fix: pass retain_graph=True to the first backward() if you "
        f"need to go through the graph twice"
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
    instead (``autograd.grad``). Nodes are dictionary keys by identity (Function defines no
    ``__eq__``), which is cheaper than keying by ``id()``.
    """
    grads: dict[Function, Any] = {}
    leaf_grads: dict[int, Any] = {}
    nodes: list[Function] = []
    # Arrays a leaf's .grad must not take over (it copies them): the caller's root gradients, and
    # every array already handed to another leaf.
    given: set[int] = {id(g) for g in root_grads}
    for t, g in zip(roots, root_grads):
        fn = t.grad_fn
        if fn is None:
            if t.requires_grad:  # a leaf used as an output
                _add(leaf_grads, id(t), g)
                if capture is None:
                    _accumulate_leaf(t, g, given)
            continue
        nodes.append(fn)
        prev = grads.get(fn)
        grads[fn] = g if prev is None else prev + g

    captured_nodes: dict[Function, int] = {}
    captured_leaves: dict[int, int] = {}
    if capture is not None:
        for i, t in enumerate(capture):
            if t.grad_fn is not None:
                captured_nodes[t.grad_fn] = i
            else:
                captured_leaves[id(t)] = i
    results: list[Any] = [None] * (len(capture) if capture is not None else 0)

    def deliver(leaf: Any, g: Any) -> None:
        """A leaf's gradient: into its ``.grad``, or (``capture``) into its place in the
        results."""
        if capture is None:
            _accumulate_leaf(leaf, g, given)
        else:
            idx = captured_leaves.get(id(leaf))
            if idx is not None:
                results[idx] = g if results[idx] is None else results[idx] + g

    pop = grads.pop
    hooked: dict[int, list[Any]] = {}  # leaves with hooks: their gradient summed over paths first
    for node in _topological_order(nodes):
        if node._freed:
            _raise_freed(node)
        g = pop(node, None)
        if g is None:  # every path into it carried no gradient
            if not retain_graph:
                _release(node)
            continue
        node_hooks = node.__dict__.get("_hooks")
        if node_hooks:
            g = run_hooks(node_hooks, g, device_of_array(g))
        if capture is not None and node in captured_nodes:
            results[captured_nodes[node]] = g
        for counter, seen in node._versions:
            if counter.value != seen:
                _raise_modified(node, counter, seen)
        input_grads = node.backward(g)
        for child, gi in zip(node.next, input_grads):
            if child is None or gi is None:
                continue
            if isinstance(child, Function):
                prev = grads.get(child)
                grads[child] = gi if prev is None else prev + gi
            elif child._hooks:
                entry = hooked.get(id(child))
                if entry is None:
                    hooked[id(child)] = [child, gi]
                else:
                    entry[1] = entry[1] + gi
            else:
                deliver(child, gi)
        if not retain_graph:
            _release(node)
    for child, gi in hooked.values():
        deliver(child, run_hooks(child._hooks, gi, child._device))
    if capture is not None:
        for t in capture:
            if id(t) in leaf_grads and t.grad_fn is None:
                deliver(t, leaf_grads[id(t)])
        return results
    return None


def _release(node: Function) -> None:
    """Free what the node saved for backward, so the graph holds no arrays once it has run."""
    node._freed = True
    node.next = ()
    node.__dict__.clear()


def _add(store: dict[int, Any], key: int, g: Any) -> None:
    prev = store.get(key)
    store[key] = g if prev is None else prev + g


def _accumulate_leaf(t: Any, g: Any, given: set[int]) -> None:
    data = t._data
    if g.dtype != data.dtype:
        g = g.astype(data.dtype)
    if g.shape != data.shape:
        g = g.reshape(data.shape)
    grad = t._grad
    if grad is None and _function.GRAD_DESTINATIONS and \
            g is _function.GRAD_DESTINATIONS.get(id(t), (None,))[0]:
        # Computed straight into the destination registered for this leaf: adopt it uncopied.
        given.add(id(g))
        t._grad = _function._tensor_cls._make(g, t._device, False, None)
        return
    if grad is None:
        # A view (reshape, broadcast, transpose) or an array some other leaf or the caller holds
        # would let an in-place change of one .grad (clip_grad_norm_, zero_) leak into another.
        if g.base is not None or id(g) in given or not g.flags.c_contiguous:
            g = g.copy()
        given.add(id(g))
        t._grad = _function._tensor_cls._make(g, t._device, False, None)
    else:
        # Out of place: the old .grad array may be shared with a user's reference.
        grad._data = grad._data + g
