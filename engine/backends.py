"""``engine.backends``: the ``torch.backends`` switches scripts read or set (``cudnn.benchmark``,
``mps.is_available()``...). The engine has no cuDNN or MPS backend: the flags are kept, so code
that sets and reads them runs, and change nothing (its GPU convolutions are its own kernels)."""

from __future__ import annotations

from types import SimpleNamespace


def _false() -> bool:
    return False


cudnn = SimpleNamespace(enabled=True, benchmark=False, deterministic=False, allow_tf32=True,
                        is_available=_false, version=lambda: None)
mps = SimpleNamespace(is_available=_false, is_built=_false)
cuda = SimpleNamespace(matmul=SimpleNamespace(allow_tf32=False), is_built=_false)
mkldnn = SimpleNamespace(enabled=True, is_available=_false)
