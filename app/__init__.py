"""LayerForge's application: ``core`` (the project, settings, datasets, the one run builder and
run folders, exporting; no Qt), ``cli`` (the ``layerforge`` command), ``qt`` (background tasks,
the training bridge, the widget preview harness), ``gui`` (the editor) and ``dashboard`` (the
training panels and charts)."""

from engine import __version__

__all__ = ["__version__"]
