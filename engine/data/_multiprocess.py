"""The main-process side of a DataLoader with worker processes.

Tasks go round-robin to the workers, each through its own index pipe, at most
``prefetch_factor`` per worker ahead of the consumer; results come back on one pipe per worker
and are handed out in task order (a reorder buffer holds the ones that arrive early). The main
process waits on the result pipes and the workers' process sentinels together, so a worker that
dies (killed, segfault, out of memory) is noticed at once and reported, never waited on forever.
Workers are shut down when the epoch ends (unless persistent), on any error, and when the
iterator is garbage collected, which is what happens on ``break`` out of a ``for`` loop.
"""

from __future__ import annotations

import itertools
import signal
import time
from multiprocessing.connection import wait
from typing import Any

from . import _transport
from ._fetch import index_words
from ._worker import ExceptionWrapper, IterableEnd, ResumeIteration, worker_loop
from .errors import WorkerError
from .sampler import draw_seed

# Seconds a worker gets to leave after being told to, before it is terminated.
SHUTDOWN_GRACE = 2.0


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = {"SIGKILL": " (often the out-of-memory killer: lower batch_size or num_workers)",
                "SIGSEGV": " (a crash in native code)",
                "SIGBUS": " (often too little shared memory)"}.get(name, "")
        return f"killed by {name}{hint}"
    return f"exit code {code}"


class MultiProcessIter:
    """Iterator over a DataLoader's batches, loaded by ``num_workers`` processes."""

    def __init__(self, loader: Any) -> None:
        self._shutdown = True  # until the workers exist, there is nothing to shut down
        self._workers: list[Any] = []
        self._index_conns: list[Any] = []
        self._result_conns: list[Any] = []
        self._num_workers = n = loader.num_workers
        self._prefetch = loader.prefetch_factor * n
        self._timeout = loader.timeout
        self._persistent = loader.persistent_workers
        self._is_iterable = loader._is_iterable
        ctx = loader._context()
        self._base_seed = draw_seed(loader.generator)
        payload = _transport.Payload((loader.dataset, loader.collate_fn, loader.worker_init_fn))
        forked = ctx.get_start_method() == "fork"
        if not forked:
            _check_picklable(payload, ctx.get_start_method())
        self._shutdown = False
        try:
            for worker_id in range(n):
                index_r, index_w = ctx.Pipe(duplex=False)
                result_r, result_w = ctx.Pipe(duplex=False)
                _transport.enlarge_pipe(result_w)
                w = ctx.Process(
                    target=worker_loop, name=f"dataloader-worker-{worker_id}", daemon=True,
                    args=(self._is_iterable, payload, index_r, result_w,
                          loader._auto_collation, loader.drop_last, self._base_seed, worker_id,
                          n))
                w.start()
                # The worker holds the other ends now; closing ours means its death shows up
                # as end-of-file on the result pipe.
                index_r.close()
                result_w.close()
                self._workers.append(w)
                self._index_conns.append(index_w)
                self._result_conns.append(result_r)
            self._reset(loader, first_iter=True)
        except BaseException:
            self._shutdown_workers()
            raise

    # ----------------------------------------------------------------- epoch
    def _reset(self, loader: Any, first_iter: bool = False) -> None:
        self._index_iter = loader._make_index_iter()
        self._send_idx = 0
        self._rcvd_idx = 0
        self._task_info: dict[int, tuple[Any, ...]] = {}
        # the dataset index of each task not handed out yet, in send order (its worker is
        # ``_task_info[idx][0]``): named when loading fails
        self._task_index: dict[int, Any] = {}
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._worker_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:
            # Persistent workers: results still in flight from an abandoned epoch come before
            # each worker's acknowledgement and are dropped.
            for conn in self._index_conns:
                conn.send(ResumeIteration())
            pending = self._num_workers
            while pending:
                kind, _, _ = self._get_message()
                if kind == "resume":
                    pending -= 1
        for _ in range(self._prefetch):
            self._try_put_index()

    def _try_put_index(self) -> None:
        if self._tasks_outstanding >= self._prefetch:
            return
        try:
            index = next(self._index_iter)
        except StopIteration:
            return
        for _ in range(self._num_workers):
            worker_id = next(self._worker_cycle)
            if self._workers_status[worker_id]:
                break
        else:
            return  # every worker's iterable is exhausted
        try:
            self._index_conns[worker_id].send((self._send_idx, index))
        except OSError:
            self._raise_if_dead(closed_pipe=False)  # a dead worker: say so, not "broken pipe"
            raise
        self._task_info[self._send_idx] = (worker_id,)
        self._task_index[self._send_idx] = index  # named when it fails
        self._tasks_outstanding += 1
        self._send_idx += 1

    # ----------------------------------------------------------------- iteration
    def __iter__(self) -> MultiProcessIter:
        return self

    def __next__(self) -> Any:
        if self._shutdown:
            raise StopIteration
        try:
            return self._next_batch()
        except StopIteration:
            raise
        except WorkerError:
            self._shutdown_workers()
            raise
        except BaseException as exc:
            if not isinstance(exc, Exception) or not self._exception_from_worker:
                self._shutdown_workers()  # KeyboardInterrupt, or our own failure
            raise

    def _next_batch(self) -> Any:
        self._exception_from_worker = False
        while True:
            while self._rcvd_idx < self._send_idx:
                info = self._task_info[self._rcvd_idx]
                if len(info) == 2 or self._workers_status[info[0]]:
                    break
                self._advance()  # its worker ran out of data
            else:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            info = self._task_info[self._rcvd_idx]
            if len(info) == 2:
                self._advance()
                return self._process(info[1])
            kind, idx, data = self._get_message()
            if kind != "data":
                continue
            self._tasks_outstanding -= 1
            if isinstance(data, IterableEnd):
                self._workers_status[data.worker_id] = False
                self._try_put_index()
                continue
            if idx != self._rcvd_idx:
                self._task_info[idx] += (data,)
                continue
            self._advance()
            return self._process(data)

    def _advance(self) -> None:
        """The task at ``_rcvd_idx`` is done (handed out, or its worker ran out of data)."""
        del self._task_info[self._rcvd_idx]
        self._task_index.pop(self._rcvd_idx, None)
        self._rcvd_idx += 1

    def _loading(self, worker_ids: list[int]) -> str:
        """" while loading dataset indices [...]": the tasks of ``worker_ids`` not handed out
        yet (a dead worker may have sent some of them before it died; which one killed it
        only it knew)."""
        tasks = [index_words(index, self._is_iterable)
                 for idx, index in self._task_index.items()  # in send order
                 if len(info := self._task_info[idx]) == 1 and info[0] in worker_ids]
        return f" while loading {' or '.join(tasks)}" if tasks else ""

    def _process(self, data: Any) -> Any:
        self._try_put_index()
        if isinstance(data, ExceptionWrapper):
            self._exception_from_worker = True
            data.reraise()
        return data

    def _get_message(self) -> tuple[str, Any, Any]:
        """The next message from any worker; raises when a worker died or on timeout."""
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        sentinels = {w.sentinel: w for w in self._workers}
        while True:
            conns = [c for c in self._result_conns if not c.closed]
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = wait(conns + list(sentinels), remaining)
            if not ready:
                idx = self._rcvd_idx
                which = "" if idx not in self._task_index else \
                    (f" (worker {self._task_info[idx][0]} loading "
                     f"{index_words(self._task_index[idx], self._is_iterable)})")
                raise WorkerError(
                    f"DataLoader timed out after {self._timeout} seconds waiting for a batch "
                    f"from its {self._num_workers} worker processes{which}. Fix: raise "
                    f"timeout=, or look at what makes loading a batch so slow")
            for obj in ready:
                if obj in sentinels:
                    continue
                try:
                    return _transport.recv(obj)
                except (EOFError, OSError):
                    obj.close()  # its worker is gone; reported below
            self._raise_if_dead(closed_pipe=True)

    def _raise_if_dead(self, closed_pipe: bool = False) -> None:
        dead = [w for w in self._workers if not w.is_alive()]
        if not dead and closed_pipe and any(c.closed for c in self._result_conns):
            dead = [w for w, c in zip(self._workers, self._result_conns) if c.closed]
        if not dead:
            return
        details = ", ".join(f"pid {w.pid}: {_describe_exit(w.exitcode)}" for w in dead)
        ids = [self._workers.index(w) for w in dead]
        loading = self._loading(ids)
        self._shutdown_workers()
        raise WorkerError(
            f"DataLoader worker{'s' if len(dead) > 1 else ''} {', '.join(map(str, ids))} exited "
            f"unexpectedly ({details}){loading}. "
            f"The batch it was loading is lost. Run with num_workers=0 to see the error in the "
            f"main process")

    # ----------------------------------------------------------------- shutdown
    def _shutdown_workers(self) -> None:
        """Stop every worker (politely, then by force) and close the pipes; idempotent."""
        if self._shutdown:
            return
        self._shutdown = True
        try:
            for conn in self._index_conns:
                try:
                    conn.send(None)
                except (OSError, ValueError):
                    pass
            # Keep draining results while the workers leave, so none stays blocked on a full
            # pipe; stop waiting after the grace period.
            deadline = time.monotonic() + SHUTDOWN_GRACE
            alive = {w.sentinel: w for w in self._workers if w.exitcode is None}
            conns = [c for c in self._result_conns if not c.closed]
            while alive and time.monotonic() < deadline:
                ready = wait(list(alive) + conns, max(0.0, deadline - time.monotonic()))
                if not ready:
                    break
                for obj in ready:
                    if obj in alive:
                        alive.pop(obj).join(0)
                        continue
                    try:
                        _transport.recv(obj)
                    except (EOFError, OSError):
                        conns.remove(obj)
            for w in self._workers:
                if w.exitcode is None and w.is_alive():
                    w.terminate()
            for w in self._workers:
                w.join(1.0)
                if w.is_alive():
                    w.kill()
                    w.join()
        finally:
            for conn in self._index_conns + self._result_conns:
                try:
                    conn.close()
                except OSError:
                    pass

    def __del__(self) -> None:
        try:
            self._shutdown_workers()
        except Exception:  # interpreter shutdown: modules may already be gone
            pass

    @property
    def worker_pids(self) -> list[int]:
        """The workers' process ids (for monitoring and tests)."""
        return [w.pid for w in self._workers]

def _check_picklable(payload: _transport.Payload, method: str) -> None:
    try:
        payload.pickled()  # kept: every worker's start reuses it
    except Exception as exc:
        raise TypeError(
            f"DataLoader workers started with {method!r} need a picklable dataset, collate_fn "
            f"and worker_init_fn (defined at module level, no lambdas or local classes): {exc}. "
            f"Fix: move them to module level, or use num_workers=0"
        ) from exc
