"""Typed layer parameters: what a value may be, its default, its range and its help text.

The inspector builds its widgets from these declarations, ``Graph.set_param`` refuses values
outside them, and ``validate`` reports hand-edited files that break them, all with the same words
(``describe()``), so a user reads one consistent rule wherever a value is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .errors import ParamError

KINDS = ("int", "float", "bool", "choice", "ints")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a layer type.

    Args:
        name: the PyTorch argument name (``out_features``, ``kernel_size``).
        kind: ``int``, ``float``, ``bool``, ``choice`` (one of ``choices``) or ``ints`` (an int,
            or a list of ints; ``length`` fixes the list length, and a single int then stands for
            all of them as in PyTorch's ``kernel_size=3``).
        default: the value a new node gets (PyTorch's default where PyTorch has one).
        help: one sentence for the inspector's tooltip.
        min, max: inclusive bounds of numbers (each element for ``ints``).
        min_exclusive: ``min`` itself is not allowed (``eps > 0``).
        choices: allowed strings for ``choice``; for ``ints``, strings allowed besides numbers
            (``padding="same"``).
        length: exact list length for ``ints`` (None: any length >= 1).
        optional: None is allowed (``stride=None`` means "the kernel size").
        inferred: filled from the incoming tensor (``in_features``); never set by the user.
        allow_minus_one: for ``ints``: one element may be -1 (``Reshape``'s "whatever is left").
    """

    name: str
    kind: str
    default: Any = None
    help: str = ""
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    choices: tuple[str, ...] = field(default_factory=tuple)
    length: int | None = None
    optional: bool = False
    inferred: bool = False
    allow_minus_one: bool = False

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind
        assert self.kind != "choice" or self.choices, self.name

    # ---------------------------------------------------------------- description
    def describe(self) -> str:
        """The rule in words: 'an integer >= 1', 'one of relu, tanh', ..."""
        if self.kind == "bool":
            text = "true or false"
        elif self.kind == "choice":
            text = "one of " + ", ".join(self.choices)
        elif self.kind in ("int", "float"):
            text = ("an integer" if self.kind == "int" else "a number") + self._range_words()
        else:
            elem = "integers" + self._range_words()
            if self.length is None:
                text = f"a list of {elem}"
                if self.allow_minus_one:
                    text += " (one of them may be -1)"
            else:
                text = f"an integer{self._range_words()} or a list of {self.length} {elem}"
            if self.choices:
                text += " or one of " + ", ".join(f'"{c}"' for c in self.choices)
        if self.optional:
            text += " or null"
        return text

    def _range_words(self) -> str:
        lo, hi = self.min, self.max
        if lo is not None and hi is not None:
            return f" in {'(' if self.min_exclusive else '['}{_num(lo)}, {_num(hi)}]"
        if lo is not None:
            return f" {'>' if self.min_exclusive else '>='} {_num(lo)}"
        if hi is not None:
            return f" <= {_num(hi)}"
        return ""

    # ---------------------------------------------------------------- checking
    def coerce(self, value: Any, owner: str = "") -> Any:
        """The value in its canonical Python form (lists become tuples); raises ParamError that
        names the node, the parameter, the value and the rule."""
        where = f"{owner}: " if owner else ""
        if value is None:
            if self.optional:
                return None
            raise ParamError(f"{where}{self.name} must be {self.describe()}, got null")
        try:
            return self._coerce(value)
        except (TypeError, ValueError):
            raise ParamError(f"{where}{self.name} must be {self.describe()}, "
                             f"got {value!r}") from None

    def _coerce(self, value: Any) -> Any:
        kind = self.kind
        if kind == "bool":
            if isinstance(value, bool):
                return value
            raise TypeError
        if kind == "choice":
            if isinstance(value, str) and value in self.choices:
                return value
            raise ValueError
        if kind == "int":
            return self._check_number(_as_int(value))
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError
            value = float(value)
            if not math.isfinite(value):
                raise ValueError
            return self._check_number(value)
        # ints
        if isinstance(value, str):
            if value in self.choices:
                return value
            raise ValueError
        if isinstance(value, list | tuple):
            items = tuple(_as_int(v) for v in value)
            if not items or (self.length is not None and len(items) != self.length):
                raise ValueError
        elif self.length is not None:
            items = (_as_int(value),)
        else:
            raise TypeError
        minus_ones = 0
        for v in items:
            if v == -1 and self.allow_minus_one:
                minus_ones += 1
                continue
            self._check_number(v)
        if minus_ones > 1:
            raise ValueError
        if isinstance(value, list | tuple):
            return items
        return items[0]

    def _check_number(self, v: Any) -> Any:
        if self.min is not None and (v < self.min or (self.min_exclusive and v == self.min)):
            raise ValueError
        if self.max is not None and v > self.max:
            raise ValueError
        return v

    def to_json(self, value: Any) -> Any:
        """The JSON form of a coerced value (tuples become lists)."""
        return list(value) if isinstance(value, tuple) else value


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(v)


def expand(value: Any, n: int) -> tuple[int, ...]:
    """``3`` -> ``(3, 3)``; a tuple stays as it is (PyTorch's ``_pair``)."""
    if isinstance(value, tuple):
        return value
    return (value,) * n


# Short constructors so layer declarations read like a table.
def Int(name: str, default: Any, help: str, **kw: Any) -> ParamSpec:  # noqa: N802
    return ParamSpec(name, "int", default, help, **kw)


def Float(name: str, default: Any, help: str, **kw: Any) -> ParamSpec:  # noqa: N802
    return ParamSpec(name, "float", default, help, **kw)


def Bool(name: str, default: bool, help: str, **kw: Any) -> ParamSpec:  # noqa: N802
    return ParamSpec(name, "bool", default, help, **kw)


def Choice(name: str, default: str, choices: tuple[str, ...], help: str,  # noqa: N802
           **kw: Any) -> ParamSpec:
    return ParamSpec(name, "choice", default, help, choices=choices, **kw)


def Ints(name: str, default: Any, help: str, **kw: Any) -> ParamSpec:  # noqa: N802
    return ParamSpec(name, "ints", default, help, **kw)


def Inferred(name: str, help: str) -> ParamSpec:  # noqa: N802
    return ParamSpec(name, "int", None, help, min=1, optional=True, inferred=True)
