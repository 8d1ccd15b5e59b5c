"""Graph nodes. Each primitive op is one ``Function`` subclass with its forward and backward side
by side, working on raw arrays (NumPy or CuPy): the Tensor wrapper is added once, in ``apply``.

A node keeps only what its backward needs (set in ``forward``) and, for each input, where its
gradient goes next (``next``): the input's own node, or the leaf tensor that accumulates it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .grad_mode import _state as _grad_state


class VersionCounter:
    """Shared by a tensor and its views; bumped by every in-place write."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


# Where a leaf's gradient may be computed straight into, by ``id(leaf)``: ``(array, scale)``,
# the gradient times ``scale`` to be written into ``array``. DistributedDataParallel registers
# views of its shared-memory bucket here for the span of one backward, with the 1/world_size of
# the average (PyTorch's ``gradient_as_bucket_view`` with a pre-divided gradient): a weight
# gradient's GEMM then writes the averaged-to-be values into the bucket, and packing them costs
# nothing. Empty otherwise, so ops pay one dict check.
GRAD_DESTINATIONS: dict[int, tuple[Any, float]] = {}


class Function:
    """Base of every differentiable op.

    Subclasses set ``saves`` (positions of inputs whose data backward reads) and
    ``saves_output`` so in-place writes to those tensors are detected at backward time, and
    implement ``forward(*arrays)`` and ``backward(grad) -> tuple`` (one entry per input; None where
    no gradient flows). ``self.needs[i]`` tells forward/backward which inputs want a gradient.
    A forward that keeps fewer inputs than its class's ``saves`` (only what the wanted gradients
    need) sets ``self.saves`` to those, so in-place writes to the others stay allowed.
    """

    __slots__ = ("next", "needs", "_versions", "_freed", "__weakref__", "__dict__")
    saves: tuple[int, ...] = ()
    saves_output: ClassVar[bool] = False

    @property
    def name(self) -> str:
        """The op's name as users see it in errors (``MulBackward``, like PyTorch's grad_fn)."""
        return type(self).__name__ + "Backward"

    def __repr__(self) -> str:
        return f"<{self.name}>"

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        """Where each input's gradient goes, as PyTorch shows it: ``(node, 0)`` for an input made
        by an op, ``(AccumulateGrad, 0)`` for a leaf that requires grad, ``(None, 0)`` for an input
        that needs no gradient. Empty once backward has freed the node."""
        from .hooks import AccumulateGrad  # noqa: PLC0415

        out = []
        for child in getattr(self, "next", ()):
            if child is None or isinstance(child, Function):
                out.append((child, 0))
            else:
                out.append((AccumulateGrad(child), 0))
        return tuple(out)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass written PyTorch's way (``forward(ctx, ...)`` / ``backward(ctx, ...)`` as
        static methods on Tensors) gets the ctx-style ``apply`` of ``autograd.custom``."""
        super().__init_subclass__(**kwargs)
        if isinstance(cls.__dict__.get("forward"), staticmethod):
            from .custom import custom_apply  # noqa: PLC0415

            cls.apply = classmethod(custom_apply)  # type: ignore[method-assign,assignment]

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        """Override (PyTorch 2's style) to fill ``ctx`` apart from a ctx-less ``forward``."""

    def grad_destination(self, i: int) -> tuple[Any, float] | None:
        """``(array, scale)``: ``backward`` may write input ``i``'s gradient times ``scale`` into
        ``array`` (its shape and dtype), which then becomes the leaf's ``.grad`` uncopied; or
        None. Only for a leaf with no gradient yet that ``GRAD_DESTINATIONS`` names. Ops that
        honour it are optional speed-ups."""
        if not GRAD_DESTINATIONS:
            return None
        child = self.next[i]
        if child is None or isinstance(child, Function) or child.grad is not None:
            return None
        return GRAD_DESTINATIONS.get(id(child))

    def forward(self, *args: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad: Any) -> tuple[Any, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` on the arguments' raw arrays and wrap the result in a Tensor; when
        grad mode is on and some argument requires grad, also make this node the result's
        ``grad_fn``. This runs for every op, so it is written for speed: one pass over the
        arguments, no per-call imports, no generator expressions."""
        Tensor = _tensor_cls
        device = None
        requires = False
        raw = []
        for a in args:
            if isinstance(a, Tensor):
                d = a._device
                if device is None:
                    device = d
                elif d is not device:
                    _raise_mixed_devices(cls, device, d)
                if a.requires_grad:
                    requires = True
                raw.append(a._data)
            else:
                raw.append(a)
        node = _new(cls)
        recording = requires and _grad_state.enabled
        if recording:
            needs = []
            nxt = []
            for a in args:
                if isinstance(a, Tensor) and a.requires_grad:
                    needs.append(True)
                    fn = a.grad_fn
                    nxt.append(a if fn is None else fn)
                else:
                    needs.append(False)
                    nxt.append(None)
            node.needs = tuple(needs)
        else:
            node.needs = _NO_NEEDS if len(args) <= len(_NO_NEEDS) else (False,) * len(args)
        try:
            if device is None or device.type == "cpu":
                out = node.forward(*raw, **kwargs)
            else:
                with device.context():
                    out = node.forward(*raw, **kwargs)
        except ValueError as exc:  # NumPy's broadcasting error, said in the engine's terms
            _reraise_broadcast_error(cls, raw, exc)
            raise
        if not recording:
            return Tensor._make(out, device, False, None)
        node.next = tuple(nxt)
        node._freed = False
        result = Tensor._make(out, device, True, node)
        saves = node.saves  # an op's forward may narrow its class's `saves` to what it kept
        if saves or cls.saves_output:
            versions = []
            for i in saves:
                a = args[i]
                if isinstance(a, Tensor):
                    vc = a._vc
                    versions.append((vc, vc.value))
            if cls.saves_output:
                versions.append((result._vc, 0))
            node._versions = versions
        else:
            node._versions = _NO_VERSIONS
        return result


# ``needs`` outside recording: False at every position an op may ask about.
_NO_NEEDS = (False,) * 64
_NO_VERSIONS: tuple[()] = ()
_new = object.__new__
# The Tensor class; ``engine.tensor`` (which imports the ops, hence no import here) registers it.
_tensor_cls: Any = None


def register_tensor_class(cls: type) -> None:
    global _tensor_cls
    _tensor_cls = cls


def _raise_mixed_devices(cls: type, a: Any, b: Any) -> None:
    from ..errors import DeviceError  # noqa: PLC0415

    raise DeviceError(
        f"{cls.__name__.lower()}: expected all tensors on the same device, but found at least "
        f"two devices, {a} and {b}; move them first with .to('{a}') or .to('{b}')"
    )


def _reraise_broadcast_error(cls: type, raw: list[Any], exc: ValueError) -> None:
    """Turn NumPy's "operands could not be broadcast together" into a ShapeError naming the op,
    the two clashing shapes, the dimension and the fix; other ValueErrors pass through."""
    if "could not be broadcast together" not in str(exc):
        return
    from ..errors import ShapeError  # noqa: PLC0415

    shapes = [tuple(r.shape) for r in raw if hasattr(r, "shape") and hasattr(r, "ndim")]
    for i, a in enumerate(shapes):
        for b in shapes[i + 1:]:
            for k in range(1, min(len(a), len(b)) + 1):
                if a[-k] != b[-k] and 1 not in (a[-k], b[-k]):
                    raise ShapeError(
                        f"{cls.__name__.lower()}: shapes {a} and {b} can't be broadcast together: "
                        f"aligned from the right, dimension {len(a) - k} of the first has size "
                        f"{a[-k]} where the second has {b[-k]}. Fix: make each pair of sizes, "
                        f"aligned from the right, equal or 1 (reshape, unsqueeze or transpose an "
                        f"operand)"
                    ) from exc
