"""LayerForge's application layer: the project document, the command line and (in later issues)
the desktop GUI. ``app.project`` and ``app.cli`` never import Qt."""

from engine import __version__

__all__ = ["__version__"]
