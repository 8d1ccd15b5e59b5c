"""The one registry of layer types.

Each layer type is declared once, as a ``LayerSpec``: its category and help (the GUI palette),
its typed parameters (the inspector), its port counts and the tensors it accepts (connections),
its shape rule (inference, statistics), how to build its engine module (``compile``) and how to
write it as PyTorch code and as ONNX nodes (the exporters). Everything else reads this registry,
so adding a layer is one declaration in ``engine/graph/layers/``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .errors import UnknownLayerError
from .params import ParamSpec

ITEMSIZE = {"float32": 4, "int64": 8}
# Palette order: the order a network is usually built in.
CATEGORY_ORDER = ("Input/Output", "Core", "Convolution", "Pooling", "Normalization", "Activation",
                  "Regularization", "Shape", "Merge", "Recurrent", "Attention", "Embedding")


class TensorType(NamedTuple):
    """What flows along an edge: the per-sample shape (the batch dimension is implicit, first and
    symbolic) and the dtype name."""

    shape: tuple[int, ...]
    dtype: str = "float32"

    def __str__(self) -> str:
        return "(" + ", ".join(["N", *map(str, self.shape)]) + ")"

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.numel * ITEMSIZE.get(self.dtype, 4)


class Inference(NamedTuple):
    """A shape rule's answer: output tensors, inferred parameter values, parameter count and
    FLOPs per sample (multiply-adds count as two)."""

    outputs: tuple[TensorType, ...]
    inferred: dict[str, Any]
    params: int = 0
    flops: int = 0


def out(tt: TensorType, params: int = 0, flops: int = 0, **inferred: Any) -> Inference:
    """Shorthand for the common one-output rule."""
    return Inference((tt,), inferred, params, flops)


ShapeRule = Callable[[dict[str, Any], tuple[TensorType, ...]], Inference]
AcceptRule = Callable[[dict[str, Any], int, TensorType, dict[int, TensorType]], "str | None"]


@dataclass(frozen=True)
class LayerSpec:
    """Everything the app knows about one layer type.

    Args:
        type: the name users see and files store (``Conv2d``); the engine/PyTorch class name
            unless ``module`` says otherwise.
        category: palette group.
        help: one or two sentences for the palette tooltip.
        params: the typed parameters, in inspector order.
        infer: the shape rule ``(params, input tensors) -> Inference``; it may raise
            ``ShapeRuleError``. ``params`` hold every declared parameter (defaults filled).
        inputs: the number of input ports, or the name of the int parameter that gives it.
        outputs: the number of output ports.
        input_ranks: per-sample ranks accepted on every input (None: any).
        input_dtype: ``float``, ``int`` or ``any``.
        accepts: extra check of one incoming tensor against the other inputs (merges).
        module: engine.nn / torch.nn class name of the module; None for functional nodes.
        module_args: ``params -> (args, kwargs)`` for that class; used by the compiler and the
            PyTorch code writer alike, so the two cannot disagree.
        call: engine forward ``(module, inputs, params) -> Tensor`` (default ``module(x)``).
        torch_call: PyTorch expression ``(attr, input names, params) -> str``
            (default ``self.<attr>(x)``).
        onnx: ``(ctx, node name, params, input value names, input tensors) -> output value name``.
        face: parameters shown on the node's face in the editor.
    """

    type: str
    category: str
    help: str
    infer: ShapeRule
    params: tuple[ParamSpec, ...] = ()
    inputs: int | str = 1
    outputs: int = 1
    input_ranks: tuple[int, ...] | None = None
    input_dtype: str = "float"
    accepts: AcceptRule | None = None
    module: str | None = None
    module_args: Callable[[dict[str, Any]], tuple[tuple, dict]] | None = None
    call: Callable[[Any, list[Any], dict[str, Any]], Any] | None = None
    torch_call: Callable[[str, list[str], dict[str, Any]], str] | None = None
    onnx: Callable[..., str] | None = None
    face: tuple[str, ...] = ()
    _by_name: dict[str, ParamSpec] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({p.name: p for p in self.params})

    # ---------------------------------------------------------------- parameters
    def param(self, name: str) -> ParamSpec | None:
        return self._by_name.get(name)

    @property
    def editable_params(self) -> tuple[ParamSpec, ...]:
        return tuple(p for p in self.params if not p.inferred)

    def defaults(self) -> dict[str, Any]:
        """The parameters a new node stores (inferred ones are not stored)."""
        return {p.name: p.to_json(p.default) for p in self.params if not p.inferred}

    def coerce_params(self, raw: dict[str, Any],
                      owner: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Canonical values for every declared parameter (defaults for missing ones) and the
        problems found, as ``(param name, message)`` pairs; bad values fall back to defaults."""
        values: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for p in self.params:
            if p.inferred:
                values[p.name] = None
                continue
            if p.name in raw:
                try:
                    values[p.name] = p.coerce(raw[p.name], owner)
                    continue
                except ValueError as exc:
                    problems.append((p.name, str(exc)))
            values[p.name] = p.coerce(p.default) if p.default is not None else None
        for key in raw:
            if key not in self._by_name:
                known = ", ".join(p.name for p in self.editable_params) or "none"
                problems.append((key, f"{owner + ': ' if owner else ''}unknown parameter "
                                      f"{key!r} for {self.type} (known: {known})"))
            elif self._by_name[key].inferred:
                problems.append((key, f"{owner + ': ' if owner else ''}{key} is inferred from "
                                      "the incoming tensor; remove it from the file"))
        return values, problems

    # ---------------------------------------------------------------- ports
    def n_inputs(self, params: dict[str, Any]) -> int:
        if isinstance(self.inputs, int):
            return self.inputs
        value = params.get(self.inputs, self.param(self.inputs).default)
        return value if isinstance(value, int) and not isinstance(value, bool) else 2

    def check_input(self, params: dict[str, Any], port: int, tt: TensorType,
                    others: dict[int, TensorType]) -> str | None:
        """Why ``tt`` cannot enter input ``port`` (None when it can)."""
        if self.input_dtype == "float" and tt.dtype != "float32":
            return (f"{self.type} needs float32 input, got {tt.dtype} {tt} "
                    "(integer token indices go into an Embedding first)")
        if self.input_dtype == "int" and tt.dtype != "int64":
            return f"{self.type} needs int64 indices, got {tt.dtype} {tt}"
        if self.input_ranks is not None and len(tt.shape) not in self.input_ranks:
            want = " or ".join(_rank_words(r) for r in self.input_ranks)
            return f"{self.type} needs {want} per sample, got {tt}"
        if self.accepts is not None:
            return self.accepts(params, port, tt, others)
        return None

    # ---------------------------------------------------------------- availability
    def available(self) -> bool:
        """Whether this build's engine has the module (layers land over several issues)."""
        if self.module is None:
            return True
        try:
            from .. import nn  # noqa: PLC0415
        except ImportError:
            return False
        return hasattr(nn, self.module)


_RANK_WORDS = {1: "a vector (features)", 2: "a sequence (length, features)",
               3: "an image (channels, height, width)"}


def _rank_words(rank: int) -> str:
    return _RANK_WORDS.get(rank, f"{rank} dimensions")


_REGISTRY: dict[str, LayerSpec] = {}


def register(spec: LayerSpec) -> LayerSpec:
    if spec.type in _REGISTRY:
        raise ValueError(f"layer type {spec.type!r} is declared twice")
    _REGISTRY[spec.type] = spec
    return spec


def _ensure_loaded() -> None:
    if not _REGISTRY:
        from . import layers  # noqa: F401, PLC0415 - declarations register themselves


def get_spec(type_name: str) -> LayerSpec:
    """The declaration of ``type_name``; an error that suggests close names otherwise."""
    _ensure_loaded()
    spec = _REGISTRY.get(type_name)
    if spec is None:
        close = difflib.get_close_matches(type_name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownLayerError(f"unknown layer type {type_name!r}{hint}")
    return spec


def all_specs() -> list[LayerSpec]:
    _ensure_loaded()
    return list(_REGISTRY.values())


def categories() -> dict[str, list[LayerSpec]]:
    """Layer types grouped by category, in declaration order (the palette's tree)."""
    groups: dict[str, list[LayerSpec]] = {c: [] for c in CATEGORY_ORDER}
    for spec in all_specs():
        groups.setdefault(spec.category, []).append(spec)
    return {c: specs for c, specs in groups.items() if specs}
