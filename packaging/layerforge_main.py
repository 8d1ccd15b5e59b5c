"""The frozen build's entry point: PyInstaller runs this file as ``__main__``.

It is the ``layerforge`` console script (``app.cli:main``) plus ``freeze_support()``: where the
DataLoader's worker processes are started by spawning (Windows, macOS) they re-run the frozen
executable, and ``freeze_support`` turns those runs into workers instead of second copies of the
app.
"""

from __future__ import annotations

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from app.cli import main

    sys.exit(main())
