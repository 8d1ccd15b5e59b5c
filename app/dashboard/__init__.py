"""The training dashboard's panels and charts: data and training settings, progress, live
charts, evaluation, runs and export (Qt widgets). What they show comes from ``app.core`` (the
run, its history, its predictions) and, while training, from ``app.qt.training``'s bridge.
"""

import app.qt  # noqa: F401 - pins None/True/False before any PySide6 call (app.qt._compat)
