"""How the canvas names a tensor where room is short (a wire's label, a compact card)."""

from __future__ import annotations


def compact_shape(tt: object) -> str:
    """``16×14×14`` for ``(N, 16, 14, 14)``: the batch dimension goes without saying; a tensor
    of another dtype than float32 says which (``20 int64``)."""
    shape = getattr(tt, "shape", None)
    if shape is None:
        return ""
    text = "×".join(str(d) for d in shape) or "scalar"
    return text if getattr(tt, "dtype", "float32") == "float32" else f"{text} {tt.dtype}"
