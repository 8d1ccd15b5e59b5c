"""Training checkpoints: one safetensors file (``engine.save``, written atomically) holding
everything a run needs to continue exactly where it was.

Layout of the saved dict (``FORMAT`` marks it, ``VERSION`` lets a later reader adapt)::

    {"format": "layerforge-checkpoint", "version": 1,
     "model": model.state_dict(),           # keys of the plain model (no "module." prefix)
     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict() or None,
     "trainer": {epoch, step, batches_done, best, bad_epochs, history, epoch sums, ...},
     "rng": {"now": engine.random state, "epoch_start": state when this epoch's loader
             iterator was made}, "loader": {numpy generator states of the loader/sampler}}

``last.safetensors`` is rewritten at every epoch end (and when a run is stopped), and
``best.safetensors`` whenever the monitored metric improves; ``engine.load(path)["model"]`` is a
plain state dict for ``model.load_state_dict``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import load as _load
from .. import save as _save
from .errors import CheckpointError

FORMAT = "layerforge-checkpoint"
VERSION = 1
LAST = "last.safetensors"
BEST = "best.safetensors"


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` (plus the format marker) atomically; creates the folder."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    _save({"format": FORMAT, "version": VERSION, **state}, p)
    return p


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = None) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint``; a plain state dict is refused with a
    message saying how to use it instead."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"checkpoint {p} does not exist; pick a file written by a "
                              f"previous run (its {LAST} or {BEST})")
    obj = _load(p, map_location=map_location)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(
            f"{p} is not a LayerForge training checkpoint (no 'format': '{FORMAT}' entry); if "
            f"it is a model state dict, load it with model.load_state_dict(engine.load(path))"
        )
    if int(obj.get("version", 0)) > VERSION:
        raise CheckpointError(f"{p} was written by a newer LayerForge (checkpoint version "
                              f"{obj['version']}, this one reads up to {VERSION}); upgrade")
    return obj
