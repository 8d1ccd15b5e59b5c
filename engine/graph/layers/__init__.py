"""Layer declarations. Importing this package registers every layer type, in palette order."""

from . import attention, core, extra, merge, sequence, vision  # noqa: F401
