"""``python -m app`` is the ``layerforge`` command."""

import sys

from app.cli import main

sys.exit(main())
