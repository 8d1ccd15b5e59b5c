"""The layer graph: what the user draws, checked, measured and compiled into an engine model.

``Graph`` holds nodes and edges and infers shapes incrementally; the registry (``get_spec``,
``categories``) declares every layer type once; ``validate`` lists problems; ``summarize`` gives
statistics; ``compile(graph)`` builds the ``engine.nn.Module``. No Qt here: the editor only edits
this model.
"""

from __future__ import annotations

from typing import Any

from .errors import (
    CompileError,
    ConnectionRefused,
    CycleError,
    ExportError,
    GraphEditError,
    GraphError,
    InvalidNameError,
    ParamError,
    ShapeRuleError,
    UnknownLayerError,
    UnknownNodeError,
)
from .model import Edge, Graph, Node
from .params import ParamSpec
from .registry import LayerSpec, TensorType, all_specs, categories, get_spec
from .shapes import NodeInfo
from .stats import Summary, format_summary, summarize, training_memory
from .validate import DataSpec, Problem, errors, validate

__all__ = [
    "CompileError", "ConnectionRefused", "CycleError", "DataSpec", "Edge", "ExportError", "Graph",
    "GraphEditError", "GraphError", "GraphModule", "InvalidNameError", "LayerSpec", "Node",
    "NodeInfo", "ParamError", "ParamSpec", "Problem", "ShapeRuleError", "Summary", "TensorType",
    "UnknownLayerError", "UnknownNodeError", "all_specs", "categories", "compile", "compile_graph",
    "errors", "format_summary", "get_spec", "summarize", "training_memory", "validate",
]


def __getattr__(name: str) -> Any:
    # The compiler needs engine.nn; importing it lazily keeps the graph, validation and the CLI's
    # summary fast and usable on their own.
    if name in ("compile", "compile_graph", "GraphModule", "build_module"):
        from . import compiler  # noqa: PLC0415

        return compiler.compile_graph if name == "compile" else getattr(compiler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
