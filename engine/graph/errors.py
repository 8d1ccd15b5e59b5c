"""Every error the layer graph raises on purpose, so the GUI and the CLI can catch graph problems
(and show their message) without catching programming errors."""

from __future__ import annotations

from ..errors import EngineError


class GraphError(EngineError):
    """Base of the graph's own errors."""


class GraphEditError(GraphError, ValueError):
    """An edit was refused; the message says why and what to do instead. The graph is unchanged."""


class UnknownNodeError(GraphEditError):
    """A node name that is not in the graph."""


class UnknownLayerError(GraphEditError):
    """A layer type that the registry does not declare."""


class InvalidNameError(GraphEditError):
    """A node name that cannot be used (not an identifier, reserved, or taken)."""


class ParamError(GraphEditError):
    """A parameter value outside its type, range or choices."""


class ConnectionRefused(GraphEditError):
    """A connection that cannot be made (port missing or taken, incompatible tensor)."""


class CycleError(ConnectionRefused):
    """A connection that would close a cycle; the message lists the cycle."""


class ShapeRuleError(GraphError, ValueError):
    """Raised by a layer's shape rule when its inputs do not fit; becomes a validation problem."""

    def __init__(self, message: str, port: int | None = None) -> None:
        super().__init__(message)
        self.port = port


class CompileError(GraphError):
    """``compile(graph)`` on a graph with problems; ``problems`` lists every one."""

    def __init__(self, problems: list) -> None:
        self.problems = list(problems)
        lines = "; ".join(str(p) for p in self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"the graph has {len(self.problems)} problem(s): {lines}{more}")


class ExportError(GraphError):
    """A graph or a layer setting that an export format cannot express."""
