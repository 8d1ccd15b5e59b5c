"""Errors of multi-process training, kept apart so the CLI can tell "another rank died" (exit
quietly, the failing rank already explained itself) from "this rank's own code is wrong"."""

from __future__ import annotations

from ..errors import EngineError


class DistributedError(EngineError, RuntimeError):
    """A process group could not be set up or used (missing mpi4py, no group, bad arguments)."""


class RankFailedError(DistributedError):
    """Another rank failed; this rank stops too. ``failed_rank`` names the rank that failed."""

    def __init__(self, message: str, failed_rank: int) -> None:
        super().__init__(message)
        self.failed_rank = failed_rank


class CollectiveTimeoutError(DistributedError):
    """A collective did not complete in time: some rank is stuck, dead or never called it."""


class ModelMismatchError(DistributedError):
    """Ranks hold models of different structure; detected when DistributedDataParallel starts.

    Raised on every rank at once (each rank sees every rank's structure), so no rank needs to
    be told by another: ``raised_on_every_rank`` lets the failure handler skip that step."""

    raised_on_every_rank = True
