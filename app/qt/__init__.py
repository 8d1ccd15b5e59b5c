"""What the window needs from Qt beyond widgets: background tasks (``tasks``), the training
worker and its throttled bridge (``training``), the widget preview harness (``preview``), and
the PySide6 compatibility shim applied on import (``_compat``)."""

from ._compat import pin_singletons

pin_singletons()  # before any PySide6 call: see _compat for the PySide6 6.12 / Python 3.11 bug
