"""The training dashboard: data and training panels, background training with live charts,
evaluation, export and the runs of a project (issue 8). Qt widgets; the pieces without Qt
(``history``, ``session``, ``predictions``) are usable headless.

Importing ``app.gui`` first pins None/True/False, which PySide6 6.12 on Python 3.11 would
otherwise drain of references until the interpreter aborts (see ``app.gui._compat``).
"""

import app.gui  # noqa: F401
