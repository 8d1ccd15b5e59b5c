"""``python -m app`` is the ``layerforge`` command."""

import sys

from .cli import main

sys.exit(main())
