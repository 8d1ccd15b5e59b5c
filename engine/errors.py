"""Every exception the engine raises on purpose lives here, so callers (the app, the CLI) can
catch engine problems without catching programming errors."""


class EngineError(Exception):
    """Base of the engine's own errors."""


class DeviceError(EngineError, RuntimeError):
    """A device was asked for that this machine cannot give, or devices were mixed."""


class ShapeError(EngineError, ValueError):
    """Operand shapes that cannot work together; the message names both."""


class OutOfMemoryError(EngineError, MemoryError):
    """A device ran out of memory; the message names the size that failed."""


class FileWriteError(EngineError, OSError):
    """A file could not be written (disk full, read-only folder, no permission); the message
    names the file, what it needed and what to free or change. ``errno`` is the system's."""


class FileFormatError(EngineError, ValueError):
    """A file's bytes are not what its format requires (truncated, damaged, edited, or another
    format); the message names the file and the entry that is wrong."""
