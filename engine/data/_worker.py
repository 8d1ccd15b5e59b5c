"""What runs inside a DataLoader worker process, and what it tells the main process.

A worker seeds Python's ``random``, NumPy's global generator and the engine's generator from
``base_seed + worker_id`` (so random augmentations differ between workers and ``manual_seed``
reproduces them), then loops: read a task from its index pipe, fetch the batch, hand it to a
sender thread that writes it to its result pipe (so the worker can start on the next batch while
the pipe drains). It leaves when told to (None), or when it sees that the main process is gone.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import random
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from . import _transport
from ._fetch import create_fetcher

# How often an idle worker checks that the main process is still alive (seconds).
PARENT_CHECK_INTERVAL = 1.0


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker: its id, how many workers there are,
    its seed, and its own copy of the dataset."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """This worker's ``WorkerInfo`` in a DataLoader worker process; None in the main process.

    Use it in an ``IterableDataset.__iter__`` (or a ``worker_init_fn``) to give each worker its
    own share of the data.
    """
    return _worker_info


class ExceptionWrapper:
    """An exception caught in a worker, with the worker's traceback as text, re-raised in the
    main process as the same exception type (RuntimeError when that type can't be rebuilt)."""

    def __init__(self, exc_info: Any = None, where: str = "in background") -> None:
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self) -> None:
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)  # KeyError would otherwise show repr() of the message
        try:
            exc = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exc


class _KeyErrorMessage(str):
    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class IterableEnd:
    """A worker's iterable dataset is exhausted."""

    worker_id: int


@dataclass(frozen=True)
class ResumeIteration:
    """Persistent workers: a new epoch starts (iterable datasets restart their iterator)."""


def seed_worker(seed: int, worker_id: int, base_seed: int) -> None:
    """Seed every generator a transform or dataset might use in this process."""
    from .. import random as engine_random  # noqa: PLC0415

    random.seed(seed)
    engine_random.manual_seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, base_seed]).generate_state(4))


def _parent_alive(start_ppid: int) -> bool:
    """False once the process that started us is gone: reparenting shows it at once on POSIX;
    multiprocessing's parent sentinel covers spawn and forkserver (and Windows)."""
    if os.name == "posix" and os.getppid() != start_ppid:
        return False
    parent = mp.parent_process()
    return parent is None or parent.is_alive()


def _sender(conn: Connection, q: queue.SimpleQueue) -> None:
    while True:
        parts = q.get()
        if parts is None:
            return
        try:
            _transport.write(conn, parts)
        except (OSError, EOFError):  # main process gone or shutting down: nothing to do
            return


def _encode(send_idx: int, data: Any, worker_id: int) -> list[Any]:
    try:
        return _transport.encode(("data", send_idx, data))
    except Exception:
        err = ExceptionWrapper(where=f"in DataLoader worker process {worker_id} while sending "
                                     f"the batch to the main process (it must be picklable)")
        return _transport.encode(("data", send_idx, err))


def worker_loop(is_iterable: bool, payload: _transport.Payload, index_conn: Connection,
                result_conn: Connection, auto_collation: bool, drop_last: bool, base_seed: int,
                worker_id: int, num_workers: int) -> None:
    """The body of one worker process (the target of ``multiprocessing.Process``)."""
    global _worker_info
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's business
    except (ValueError, OSError):
        pass
    start_ppid = os.getppid() if os.name == "posix" else 0
    dataset, collate_fn, worker_init_fn = payload.obj
    seed = base_seed + worker_id
    seed_worker(seed, worker_id, base_seed)
    _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)

    out: queue.SimpleQueue = queue.SimpleQueue()
    sender = threading.Thread(target=_sender, args=(result_conn, out), daemon=True,
                              name=f"dataloader-worker-{worker_id}-sender")
    sender.start()

    init_error = None
    fetcher = None
    try:
        if worker_init_fn is not None:
            worker_init_fn(worker_id)
        fetcher = create_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last)
    except Exception:
        init_error = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")

    iteration_end = False
    while True:
        try:
            if not index_conn.poll(PARENT_CHECK_INTERVAL):
                if not _parent_alive(start_ppid):
                    break
                continue
            task = index_conn.recv()
        except (EOFError, OSError):
            break
        if task is None:
            break
        if isinstance(task, ResumeIteration):
            if is_iterable and init_error is None:
                fetcher = create_fetcher(is_iterable, dataset, auto_collation, collate_fn,
                                         drop_last)
            iteration_end = False
            out.put(_transport.encode(("resume", worker_id, None)))
            continue
        send_idx, index = task
        if init_error is not None:
            data: Any = init_error
            init_error = None
        elif iteration_end:
            data = IterableEnd(worker_id)
        else:
            try:
                data = fetcher.fetch(index)  # type: ignore[union-attr]
            except StopIteration:
                data = IterableEnd(worker_id)
                iteration_end = True
            except Exception:
                loading = "" if fetcher is None else f" while loading {fetcher.where(index)}"
                data = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}{loading}")
        out.put(_encode(send_idx, data, worker_id))
        del data
    out.put(None)
    sender.join(timeout=1.0)
