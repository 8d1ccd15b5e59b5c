"""``Optimizer``: the bookkeeping every optimizer shares, with PyTorch's names and formats.

Parameter groups, per-parameter ``state``, ``zero_grad``, ``state_dict`` / ``load_state_dict`` in
``torch.optim``'s layout (state keyed by each parameter's integer index, groups listing indices),
and ``__repr__`` as PyTorch prints it. Subclasses only write ``step``.

Why the update rules work on raw arrays: the step runs once per batch and is part of the
benchmark, so it must cost no more than hand-written NumPy. Every subclass updates ``p.data`` in
place with ufuncs writing into ``out=`` buffers, never builds engine Tensors or graph nodes, and
keeps its temporaries in a scratch pool (``_buffer``) so nothing is allocated per step.
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any

import numpy as np

from .._backend import to_device_array
from ..autograd.grad_mode import enable_grad
from ..autograd.hooks import RemovableHandle, add_hook
from ..tensor import Tensor

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a default that every parameter group must set (PyTorch's ``required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _track_step_calls(step: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a subclass's ``step`` so LR schedulers can tell whether it ran before their own step
    (PyTorch warns when ``scheduler.step()`` comes first: the first LR value would be skipped),
    and so the step hooks run around it (once: a ``step`` that calls its base class's ``step``
    runs them only in the outer call)."""

    @functools.wraps(step)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        self: Optimizer = args[0]
        self._opt_called = True
        pre = self.__dict__.get("_optimizer_step_pre_hooks")
        post = self.__dict__.get("_optimizer_step_post_hooks")
        if not (pre or post) or self.__dict__.get("_in_step"):
            return step(*args, **kwargs)
        # as PyTorch: the hooks get the step's whole argument tuple, the optimizer first
        for hook in list(pre.values()) if pre else ():
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        f"an optimizer step pre-hook must return None or a tuple (new_args, "
                        f"new_kwargs), but got {result!r}")
                args, kwargs = result
        self._in_step = True
        try:
            out = step(*args, **kwargs)
        finally:
            self._in_step = False
        for hook in list(post.values()) if post else ():
            hook(self, args, kwargs)
        return out

    wrapper._tracks_calls = True  # type: ignore[attr-defined]
    return wrapper


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts each holding a
            ``"params"`` entry plus per-group options that override ``defaults``.
        defaults: the default value of every option (lr, momentum, ...).
    """

    _opt_called: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_tracks_calls", False):
            cls.step = _track_step_calls(step)  # type: ignore[method-assign]

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._optimizer_step_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._scratch: dict[tuple[Any, ...], Any] = {}
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got a {type(params).__name__}; pass model.parameters() or [tensor]"
            )
        self.state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    # ----------------------------------------------------------------- pickling
    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._scratch = {}
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()

    # ----------------------------------------------------------------- hooks
    def register_step_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(optimizer, args, kwargs)`` runs before every ``step`` (the gradients are final,
        the parameters not yet updated: what diagnostics read); it may return ``(new_args,
        new_kwargs)`` for the step. Returns a handle whose ``remove()`` unregisters it."""
        return add_hook(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(optimizer, args, kwargs)`` runs after every ``step`` (the parameters are
        updated). Returns a handle whose ``remove()`` unregisters it."""
        return add_hook(self._optimizer_step_post_hooks, hook)

    def __repr__(self) -> str:
        text = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    # ----------------------------------------------------------------- groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (e.g. a layer unfrozen during fine-tuning) with its own
        options; options it leaves out take the optimizer's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            param_group["params"] = list(params)

        tensors, names = [], []
        for item in param_group["params"]:
            if isinstance(item, tuple):
                names.append(item[0])
                tensors.append(item[1])
            else:
                tensors.append(item)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are "
                    "missing"
                )
            param_group["param_names"] = names

        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    f"{type(p).__module__}.{type(p).__name__}"
                )
            if not p.is_leaf:
                raise ValueError(
                    "can't optimize a non-leaf Tensor; optimize the leaf it was computed from, "
                    "or make it a leaf with .detach().requires_grad_()"
                )

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization parameter "
                    f"{name}"
                )
            param_group.setdefault(name, default)

        ids = [id(p) for p in tensors]
        if len(ids) != len(set(ids)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, "
                "this will cause an error; see github.com/pytorch/pytorch/issues/40967 for more "
                "information",
                stacklevel=3,
            )
        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {which} to the optimizer"
                )
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ----------------------------------------------------------------- gradients
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to None (the default, frees the memory) or to
        zeros in place (keeps the arrays, for code that holds references to ``.grad``)."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    g.detach_()
                    g._data.fill(0)
                    g._vc.value += 1

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} does not implement step()")

    def _params_with_grad(self) -> Iterator[tuple[dict[str, Any], Tensor, dict[str, Any]]]:
        """(group, parameter, its state) for every parameter that has a gradient, in group
        order: the loop of each optimizer's ``step``."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    yield group, p, self.state[p]

    @staticmethod
    def _eval_closure(closure: Callable[[], Any] | None) -> Any:
        """Run the closure (which recomputes the loss and calls backward) with grad enabled."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _buffer(self, like: Any, slot: int) -> Any:
        """A scratch array shaped like ``like``, reused across steps and parameters.

        Why a pool rather than per-parameter state: the buffers only hold temporaries within one
        parameter's update, so parameters of the same shape, dtype and device can share them,
        and they must stay out of ``state_dict``. ``slot`` separates temporaries that are alive
        at the same time.
        """
        dev = -1 if isinstance(like, np.ndarray) else like.device.id
        key = (slot, like.shape, like.dtype.char, dev)
        buf = self._scratch.get(key)
        if buf is None:
            buf = self._scratch[key] = _empty_like(like)
        return buf

    # ----------------------------------------------------------------- state dicts
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as PyTorch lays it out.

        ``{"state": {index: {name: tensor or number}}, "param_groups": [{options...,
        "params": [index, ...]}]}``; indices count parameters across groups in order. Tensors
        are shared with the optimizer (as in PyTorch): save it, or deep-copy it, before stepping
        again if it must stay as it is now.
        """
        mapping: dict[int, int] = {}
        start = 0

        def pack(group: dict[str, Any]) -> dict[str, Any]:
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        param_groups = [pack(g) for g in self.param_groups]
        packed_state = {
            (mapping[id(k)] if isinstance(k, Tensor) else k): dict(v) if isinstance(v, dict) else v
            for k, v in self.state.items()
        }
        return {"state": packed_state, "param_groups": param_groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` (this engine's, or PyTorch's converted to engine tensors).

        The saved groups must have the same number of parameters as this optimizer's, in the same
        order. Tensors are copied (so two optimizers loaded from one dict don't share buffers)
        and cast to their parameter's dtype and device.
        """
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= state_dict.keys():
            got = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(
                "optimizer.load_state_dict() expects a dict with keys 'state' and 'param_groups' "
                f"(what optimizer.state_dict() returns), got {got}"
            )
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError(
                "loaded state dict has a different number of parameter groups: "
                f"{len(saved_groups)} in the state dict, {len(groups)} in this optimizer; "
                "build the optimizer with the same groups as the one that was saved"
            )
        for i, (g, s) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size of "
                    f"optimizer's group: group {i} has {len(s['params'])} parameters in the state "
                    f"dict but {len(g['params'])} in this optimizer; the state dict belongs to a "
                    "different model"
                )
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))

        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            key = k
            if key not in id_map and isinstance(key, str) and key.isdigit():
                key = int(key)  # a state dict that went through a string-keyed format
            if key in id_map:
                param = id_map[key]
                state[param] = {name: _cast_state(param, key, name, val)
                                for name, val in v.items()}
            else:
                state[k] = v

        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            for name, default in self.defaults.items():
                saved.setdefault(name, default)
            self._fix_loaded_group(saved)
            new_groups.append(saved)
        self.param_groups = new_groups
        self.state = state

    def _fix_loaded_group(self, group: dict[str, Any]) -> None:
        """Hook for subclasses whose options are fixed by the class (AdamW's decoupling)."""


def _empty_like(arr: Any) -> Any:
    if isinstance(arr, np.ndarray):
        return np.empty_like(arr)
    import cupy  # noqa: PLC0415 - only reached with CuPy arrays

    with cupy.cuda.Device(arr.device.id):
        return cupy.empty_like(arr)


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__")


def _cast_state(param: Tensor, index: int, name: Any, value: Any) -> Any:
    """Copy one loaded state value onto ``param``'s device (and dtype, for float state).

    ``step`` stays a Python number: the engine keeps step counts on the host, as PyTorch does
    for its non-capturable optimizers, and PyTorch's 0-d ``step`` tensors are read as numbers.
    """
    if isinstance(value, Tensor) or _is_array(value):
        src = value._data if isinstance(value, Tensor) else value
        if name == "step":
            return float(src.item() if src.size == 1 else src)
        if src.ndim and tuple(src.shape) != tuple(param.shape):
            raise ValueError(
                f"loaded optimizer state {name!r} of parameter {index} has shape "
                f"{tuple(src.shape)} but the parameter has shape {tuple(param.shape)}; the state "
                "dict belongs to a different model"
            )
        arr = to_device_array(src, param.device)
        if param._data.dtype.kind == "f" and arr.dtype != param._data.dtype:
            arr = arr.astype(param._data.dtype)
        elif arr is src:
            arr = arr.copy()
        return Tensor._make(arr, param.device)
    if isinstance(value, dict):
        return {k: _cast_state(param, index, k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_cast_state(param, index, name, v) for v in value)
    return value


def effective_grad(xp: Any, p: Any, g: Any, weight_decay: float, maximize: bool,
                   out: Callable[[], Any]) -> Any:
    """The gradient a step uses: ``g``, ``-g``, ``g + wd * p`` or ``-g + wd * p``.

    Never writes into ``g``: PyTorch applies weight decay out of place, and the caller's
    ``p.grad`` must keep its value (gradient clipping, logging and accumulation read it).
    ``out`` gives the scratch buffer, fetched only when one is needed.
    """
    if weight_decay != 0:
        buf = out()
        xp.multiply(p, weight_decay, out=buf)
        if maximize:
            xp.subtract(buf, g, out=buf)
        else:
            xp.add(g, buf, out=buf)
        return buf
    if maximize:
        buf = out()
        xp.negative(g, out=buf)
        return buf
    return g


def new_state_tensor(param: Tensor, fill: float = 0.0) -> Tensor:
    """A state tensor shaped, typed and placed like ``param`` (momentum buffers, moments)."""
    arr = param._data
    xp = param.device.xp
    with param.device.context():
        data = xp.zeros_like(arr) if fill == 0 else xp.full_like(arr, fill)
    return Tensor._make(data, param.device)
