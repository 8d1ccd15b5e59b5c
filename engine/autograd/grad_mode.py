"""Whether operations record a graph: a per-thread flag, as in PyTorch, so the GUI thread's
``no_grad()`` inference never switches off recording in a training thread. The flag is a class
attribute default of a ``threading.local`` subclass, so every thread starts enabled and reading
it (``_state.enabled``, once per op) is a plain attribute lookup."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any


class _GradState(threading.local):
    enabled = True


_state = _GradState()


def is_grad_enabled() -> bool:
    return _state.enabled


class _GradMode:
    mode = True

    def __enter__(self) -> None:
        self._prev = _state.enabled
        _state.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._prev

    def _clone(self) -> _GradMode:
        return self.__class__()

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._clone():
                return fn(*args, **kwargs)

        return wrapper


class _BareDecorator(_GradMode):
    """Also usable without parentheses, ``@engine.no_grad``, as PyTorch allows."""

    def __new__(cls, orig_func: Callable[..., Any] | None = None) -> Any:
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)

    def __init__(self, orig_func: Callable[..., Any] | None = None) -> None:
        pass


class no_grad(_BareDecorator):  # noqa: N801 - PyTorch's name
    """Operations inside record no graph (inference, optimizer steps)."""

    mode = False


class enable_grad(_BareDecorator):  # noqa: N801
    """Re-enable recording inside a ``no_grad`` block."""

    mode = True


class set_grad_enabled(_GradMode):  # noqa: N801
    """Switch recording on or off: at once when called (``set_grad_enabled(False)``), until the
    end of the block when used as a context manager (``with set_grad_enabled(train):``), or
    around each call when used as a decorator, as PyTorch's namesake."""

    def __init__(self, mode: bool) -> None:
        self._prev = _state.enabled  # what the end of a `with` block restores
        self.mode = bool(mode)
        _state.enabled = self.mode

    def __enter__(self) -> None:
        _state.enabled = self.mode

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        _state.enabled = self._prev  # as a decorator it changes nothing until the call
        return super().__call__(fn)

    def _clone(self) -> _GradMode:
        return _ModeBlock(self.mode)


class _ModeBlock(_GradMode):
    """A block with a given mode (what a ``set_grad_enabled`` decorator runs each call in)."""

    def __init__(self, mode: bool) -> None:
        self.mode = mode
