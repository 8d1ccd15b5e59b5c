"""Layer declarations. Importing this package registers every layer type, in palette order."""

from . import core, merge, sequence, vision  # noqa: F401
