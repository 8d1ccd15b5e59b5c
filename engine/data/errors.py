"""Every exception the data pipeline raises on purpose, so the app can tell "your data folder is
wrong" from a programming error and show the message as it is (each one names the file, the
folder or the worker involved, and what to do)."""

from __future__ import annotations

from ..errors import EngineError


class DataError(EngineError):
    """Base of the data pipeline's own errors."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """A dataset's files are not where they should be; the message lists them and the folder."""


class DatasetFormatError(DataError, ValueError):
    """A data file exists but is truncated, corrupt or not in the expected format."""


class DownloadError(DataError, OSError):
    """Every mirror failed (offline, HTTP error, interrupted transfer)."""


class ChecksumError(DownloadError):
    """A downloaded file's MD5 differs from the published one; the bad file was removed."""


class WorkerError(DataError, RuntimeError):
    """A DataLoader worker process died, or timed out, without reporting an exception."""
