"""The ``layerforge`` command: argument parsing (``parser``), the commands (``commands``), the
terminal side of training (``presenter``) and ``--self-test`` (``selftest``). No Qt here: the
window is opened only when asked for."""

from .commands import main

__all__ = ["main"]
