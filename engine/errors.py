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
