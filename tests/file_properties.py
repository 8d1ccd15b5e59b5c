"""Shared by the property-based (hypothesis) tests of files a user gives LayerForge: bounded
settings, the "loads or refuses with the typed error" check, a byte mutator and the places of a
nested structure an edit can reach."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# A few dozen examples each, the same every run (the rest of the suite is seeded too), no
# example database written into the checkout; tmp_path is reused across examples on purpose.
bounded = settings(max_examples=100, deadline=5000, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture,
                                          HealthCheck.too_slow])


def loads_or_refuses(path: Path, read: Callable[[Path], Any],
                     error: type[Exception] | tuple[type[Exception], ...]) -> Any:
    """``read(path)``, or None when it raised ``error`` with a one-line message; any other
    exception fails the test (hypothesis shows the input). The file must not change."""
    before = path.read_bytes()
    try:
        result = read(path)
    except error as exc:
        text = str(exc)
        assert text and "\n" not in text, repr(text)
        result = None
    assert path.read_bytes() == before
    return result


def mutate(data: bytes, draw: Any) -> bytes:
    """``data`` truncated, with bytes overwritten, inserted or removed, at drawn places."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "flip" and out:
            out[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del out[at:at + draw(st.integers(1, 16))]
        else:
            del out[at:]
    return bytes(out)


def paths_into(data: Any, where: tuple = ()) -> list[tuple]:
    """Every path into nested dicts and lists (dict keys, list indices), the root ``()``
    first: the places an edit of a project or a checkpoint can reach."""
    out = [where]
    if isinstance(data, dict):
        for k, v in data.items():
            out += paths_into(v, (*where, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += paths_into(v, (*where, i))
    return out
