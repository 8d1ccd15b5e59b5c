"""The process group: an MPI communicator for host arrays and control messages, an NCCL
communicator for GPU arrays (backend ``nccl``), and a failure channel.

Why a failure channel: a rank that raises while the others wait inside a collective would leave
them blocked for ever. Every wait here is a non-blocking MPI request polled together with a
second communicator that carries failure notices, so a waiting rank learns within milliseconds
that rank *k* failed, prints a message naming it and exits; the failing rank waits (bounded) for
those acknowledgements and then aborts the whole job, which also ends ranks that were busy
computing. A rank that hangs without failing is caught by the collective timeout instead.
"""

from __future__ import annotations

import atexit
import enum
import os
import pickle
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from .._backend import CPU, Device, get_device, xp_of
from . import shm_allreduce
from .errors import CollectiveTimeoutError, DistributedError, RankFailedError
from .shm_allreduce import SharedMemoryAllReduce

DEFAULT_TIMEOUT_S = 1800.0  # PyTorch's default process-group timeout (30 minutes)
FAILURE_GRACE_S = 5.0  # how long a failing rank waits for the others to acknowledge
_FAIL_TAG = 7001
_ACK_TAG = 7002
_BEAT_TAG = 7003
WATCH_INTERVAL_S = 0.1  # how often an idle rank looks for failure notices
# Each rank's watcher thread tells the others it is alive this often. A rank stopped by a
# signal, frozen, or cut off sends nothing, so a collective that times out can name it.
HEARTBEAT_S = 1.0
SILENT_AFTER_S = 5.0  # heard from longer ago than this: reported as silent
# Waiting: busy-poll (every Test also drives MPI's progress) for a spin time, then nap _NAP_S
# between polls, then after _IDLE_S sleep longer so a long wait costs no CPU.
# The spin time depends on whether this node's ranks each have a core:
# - they do (ranks <= cores): spin _SPIN_DEDICATED_S. A nap costs far more than its 0.1 ms
#   here (a sleeping vCPU takes 0.1-0.2 ms to wake), and a 0.44 MB all-reduce of the seed MLP
#   that takes 0.14 ms came out at 0.7 ms, 28% of its step, when every wait napped early;
# - they don't (more ranks than cores): nap after _SPIN_SHARED_S, since a spinning rank would
#   take cycles from the very rank it waits for.
_SPIN_DEDICATED_S = 5e-3
_SPIN_SHARED_S = 5e-5
_NAP_S = 1e-4
_IDLE_S = 0.1
_CHECK_EVERY_S = 2e-4  # failure notices are looked for this often while waiting (~10 us each)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class ReduceOp(enum.Enum):
    """Reduction operations, as ``torch.distributed.ReduceOp``."""

    SUM = "sum"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    AVG = "avg"


class CollectiveStats:
    """Counts of collective calls, bytes moved and seconds spent waiting (for the benchmarks)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.calls = 0
        self.bytes = 0
        self.seconds = 0.0
        self.by_kind: dict[str, int] = {}

    def add(self, kind: str, nbytes: int, seconds: float) -> None:
        self.calls += 1
        self.bytes += int(nbytes)
        self.seconds += seconds
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "bytes": self.bytes, "seconds": self.seconds,
                "by_kind": dict(self.by_kind)}


def mpi_module() -> Any:
    """Import mpi4py's MPI (which initialises MPI) or say what to install."""
    try:
        from mpi4py import MPI  # noqa: PLC0415 - optional dependency, imported on demand
    except ImportError as exc:
        raise DistributedError(
            "distributed training needs mpi4py and an MPI library, which are not installed: "
            "pip install 'layerforge[distributed]' (mpi4py and the mpich wheel); then launch "
            "with `mpiexec -n N python -m engine.distributed.launch script.py`"
        ) from exc
    return MPI


def _mpi_op(MPI: Any, op: ReduceOp) -> Any:  # noqa: N803 - the module's own name
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
            ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}[op]


class ProcessGroup:
    """Every rank of ``MPI.COMM_WORLD``; built by ``init_process_group``."""

    def __init__(self, backend: str, timeout_s: float) -> None:
        MPI = mpi_module()  # noqa: N806
        self.MPI = MPI
        world = MPI.COMM_WORLD
        self.comm = world.Dup()  # data collectives
        self.ctl = world.Dup()  # failure notices and acknowledgements only
        self.beats = world.Dup()  # heartbeats (see HEARTBEAT_S)
        self.rank = int(world.Get_rank())
        self.size = int(world.Get_size())
        node = world.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank = int(node.Get_rank())
        self.local_size = int(node.Get_size())
        self.shm: SharedMemoryAllReduce | None = None
        if (2 <= self.size <= shm_allreduce.MAX_RANKS and self.local_size == self.size
                and os.environ.get("LAYERFORGE_SHM_ALLREDUCE", "1") != "0"):
            self.shm = SharedMemoryAllReduce(node, self._sync, self.wait_until)  # keeps `node`
        else:
            node.Free()
        self.spin_s = (_SPIN_DEDICATED_S if self.local_size <= _usable_cpus()
                       else _SPIN_SHARED_S)
        self.backend = backend
        self.timeout_s = float(timeout_s)
        self._heard = {r: time.monotonic() for r in range(self.size) if r != self.rank}
        self._beat_reqs: list[Any] = []
        self._next_beat = 0.0
        self._watching = False
        self.stats = CollectiveStats()
        self.device: Device = CPU
        self.nccl: Any = None
        self._poll_count = 0
        if backend == "nccl":
            self._init_nccl()

    # ------------------------------------------------------------------ NCCL bootstrap
    def _init_nccl(self) -> None:
        """One GPU per rank (local rank modulo the GPUs of this node); the NCCL unique id made
        by rank 0 reaches the others over MPI, as NCCL's documentation prescribes."""
        from .._backend import cupy_module  # noqa: PLC0415
        from ..parallel.nccl import NcclComm, nccl_module  # noqa: PLC0415

        cp = cupy_module()
        nccl = nccl_module()
        count = int(cp.cuda.runtime.getDeviceCount())
        index = self.local_rank % count
        cp.cuda.Device(index).use()
        self.device = get_device(f"cuda:{index}")
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = self.broadcast_object(uid, 0)
        self.nccl = NcclComm(self.size, uid, self.rank, index, poll=self.check_failures,
                             timeout_s=self.timeout_s)

    # ------------------------------------------------------------------ waiting & failures
    def wait(self, req: Any, what: str) -> None:
        """Complete ``req`` while watching for failure notices and the timeout."""
        self.wait_until(req.Test, what)

    def wait_until(self, done: Callable[[], bool], what: str) -> None:
        """Poll ``done()`` until it is true, watching for failure notices and the timeout."""
        if done():
            return
        start = time.perf_counter()
        next_check = start + _CHECK_EVERY_S
        while not done():
            now = time.perf_counter()
            if now < next_check:
                continue
            next_check = now + _CHECK_EVERY_S
            self.check_failures()
            elapsed = now - start
            if elapsed > self.timeout_s:
                raise CollectiveTimeoutError(
                    f"rank {self.rank}: {what} did not complete within {self.timeout_s:g} s; "
                    f"{self._who_is_missing(what)}. Fix: end the job and start it again; if "
                    f"the ranks are only slow, raise the timeout (layerforge train --timeout, "
                    f"or init_process_group(timeout=...))"
                )
            if elapsed > _IDLE_S:
                time.sleep(0.001)  # a long wait (another rank validating, loading data...)
            elif elapsed > self.spin_s:
                time.sleep(_NAP_S)  # leave the core to ranks (or tenants) that compute

    def silent_ranks(self, after_s: float = SILENT_AFTER_S) -> list[tuple[int, float]]:
        """(rank, seconds) for every rank not heard from for more than ``after_s`` seconds;
        empty when no heartbeats are kept (an MPI without thread support)."""
        if not self._watching:
            return []
        now = time.monotonic()
        return [(r, now - t) for r, t in sorted(self._heard.items()) if now - t > after_s]

    def _who_is_missing(self, what: str) -> str:
        if not self._watching:
            return f"some other rank is stuck, has died, or never called {what}"
        silent = self.silent_ranks()
        if silent:
            return "; ".join(f"rank {r} of {self.size} has not been heard from for {s:.0f} s"
                             for r, s in silent) + \
                " (stopped by a signal, frozen, or its machine cannot be reached)"
        return (f"every other rank is alive, so one of them is busy with something else or "
                f"the ranks run different steps (every rank must call {what} in the same "
                f"order)")

    def _heartbeat(self) -> None:
        """Take the heartbeats that arrived and, every HEARTBEAT_S, send this rank's own."""
        MPI = self.MPI  # noqa: N806
        status = MPI.Status()
        now = time.monotonic()
        while True:
            msg = self.beats.improbe(source=MPI.ANY_SOURCE, tag=_BEAT_TAG, status=status)
            if msg is None:
                break
            msg.recv()
            self._heard[status.Get_source()] = now
        if now >= self._next_beat:
            self._next_beat = now + HEARTBEAT_S
            self._beat_reqs = [r for r in self._beat_reqs if not r.Test()]
            self._beat_reqs += [self.beats.isend(None, dest=r, tag=_BEAT_TAG)
                                for r in range(self.size) if r != self.rank]

    def _take_failure_notice(self) -> RankFailedError | None:
        """Receive one pending failure notice, if any. A matched probe removes the message
        atomically, so the watcher thread and the main thread never both take it."""
        MPI = self.MPI  # noqa: N806
        status = MPI.Status()
        msg = self.ctl.improbe(source=MPI.ANY_SOURCE, tag=_FAIL_TAG, status=status)
        if msg is None:
            return None
        src = status.Get_source()
        summary = msg.recv()
        return RankFailedError(
            f"rank {src} of {self.size} failed ({summary}); every rank is stopping", src)

    def check_failures(self) -> None:
        """Raise RankFailedError when another rank has sent a failure notice."""
        notice = self._take_failure_notice()
        if notice is not None:
            raise notice

    # A rank busy computing (not in a collective) still learns of a failure within
    # WATCH_INTERVAL_S: a daemon thread polls the failure channel and ends the process.
    def start_watcher(self) -> None:
        if self.MPI.Query_thread() < self.MPI.THREAD_MULTIPLE:
            return  # this MPI cannot take calls from two threads: collectives still watch
        self._watch_stop = threading.Event()
        self._watching = True
        self._heard = dict.fromkeys(self._heard, time.monotonic())
        self._watcher = threading.Thread(target=self._watch, name="rank-failure-watcher",
                                         daemon=True)
        self._watcher.start()
        atexit.register(self.stop_watcher)  # before mpi4py's MPI_Finalize (atexit is LIFO)

    def _watch(self) -> None:
        while not self._watch_stop.wait(WATCH_INTERVAL_S):
            try:
                notice = self._take_failure_notice()
                self._heartbeat()
            except Exception:  # noqa: BLE001 - MPI shutting down under us: stop watching
                self._watching = False
                return
            if notice is not None:
                fail_all_ranks(self, notice)

    def stop_watcher(self) -> None:
        stop = getattr(self, "_watch_stop", None)
        if stop is not None and not stop.is_set():
            stop.set()
            self._watcher.join(timeout=2 * WATCH_INTERVAL_S + 1.0)
            self._watching = False

    def notify_failure(self, summary: str, grace_s: float = FAILURE_GRACE_S) -> None:
        """Tell every other rank that this one failed, then wait (at most ``grace_s``) until
        they have acknowledged, so their own messages reach the terminal before the abort."""
        MPI = self.MPI  # noqa: N806
        reqs = [self.ctl.isend(summary, dest=r, tag=_FAIL_TAG)
                for r in range(self.size) if r != self.rank]
        pending = set(range(self.size)) - {self.rank}
        deadline = time.monotonic() + grace_s
        status = MPI.Status()
        while pending and time.monotonic() < deadline:
            if self.ctl.Iprobe(source=MPI.ANY_SOURCE, tag=_ACK_TAG, status=status):
                src = status.Get_source()
                self.ctl.recv(source=src, tag=_ACK_TAG)
                pending.discard(src)
            else:
                time.sleep(0.005)
        for req in reqs:
            req.Test()

    def acknowledge(self, failed_rank: int, timeout_s: float = 1.0) -> None:
        req = self.ctl.isend(self.rank, dest=failed_rank, tag=_ACK_TAG)
        deadline = time.monotonic() + timeout_s
        while not req.Test() and time.monotonic() < deadline:
            time.sleep(0.002)

    # ------------------------------------------------------------------ array collectives
    def all_reduce_array(self, arr: Any, op: ReduceOp = ReduceOp.SUM) -> None:
        """Reduce ``arr`` in place across ranks (NCCL for GPU arrays under backend nccl)."""
        xp = xp_of(arr)
        if xp is not np:
            if self.nccl is not None:
                start = time.perf_counter()
                self.nccl.all_reduce(arr, op)
                self.stats.add("all_reduce", arr.nbytes, time.perf_counter() - start)
                return
            host = arr.get()
            self.all_reduce_array(host, op)
            arr.set(host)
            return
        if op is ReduceOp.AVG and arr.dtype.kind != "f":
            raise DistributedError(
                f"all_reduce(op=AVG) needs a floating-point tensor, got {arr.dtype}; use SUM and "
                f"divide, or convert the tensor to float first"
            )
        work = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
        start = time.perf_counter()
        if self.size > 1:
            if (self.shm is not None and op in (ReduceOp.SUM, ReduceOp.AVG)
                    and self.shm.fits(work.nbytes)):
                self.shm.all_reduce_sum(work)
            else:
                req = self.comm.Iallreduce(self.MPI.IN_PLACE, work, op=_mpi_op(self.MPI, op))
                self.wait(req, "all_reduce")
        if op is ReduceOp.AVG:
            work /= self.size
        self.stats.add("all_reduce", work.nbytes, time.perf_counter() - start)
        if work is not arr:
            arr[...] = work

    def shared_segment(self, numel: int, dtype: Any) -> np.ndarray | None:
        """Where to write a host array that ``all_reduce_shared`` then sums across ranks, or
        None when this group does not reduce through shared memory (several machines, many
        ranks, large arrays): use ``all_reduce_array`` then."""
        nbytes = int(numel) * np.dtype(dtype).itemsize
        if self.shm is None or not self.shm.fits(nbytes):
            return None
        return self.shm.segment(nbytes, np.dtype(dtype))

    def all_reduce_shared(self, out: np.ndarray,
                          meanwhile: Callable[[], None] | None = None) -> None:
        """``out`` = the sum over ranks of what each wrote into its ``shared_segment``;
        ``meanwhile`` runs while this rank waits for the others (see ``reduce_into``)."""
        start = time.perf_counter()
        self.shm.reduce_into(out, meanwhile)
        self.stats.add("all_reduce", out.nbytes, time.perf_counter() - start)

    def broadcast_array(self, arr: Any, src: int) -> None:
        self._check_rank(src, "src")
        xp = xp_of(arr)
        if xp is not np:
            if self.nccl is not None:
                start = time.perf_counter()
                self.nccl.broadcast(arr, src)
                self.stats.add("broadcast", arr.nbytes, time.perf_counter() - start)
                return
            host = arr.get()
            self.broadcast_array(host, src)
            arr.set(host)
            return
        work = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
        start = time.perf_counter()
        if self.size > 1:
            self.wait(self.comm.Ibcast(work, root=src), "broadcast")
        self.stats.add("broadcast", work.nbytes, time.perf_counter() - start)
        if work is not arr:
            arr[...] = work

    def all_gather_array(self, arr: Any) -> np.ndarray:
        """Stack every rank's ``arr`` (same shape and dtype everywhere) along a new axis 0."""
        host = np.ascontiguousarray(arr if xp_of(arr) is np else arr.get())
        out = np.empty((self.size, *host.shape), dtype=host.dtype)
        start = time.perf_counter()
        if self.size > 1:
            self.wait(self.comm.Iallgather(host, out), "all_gather")
        else:
            out[0] = host
        self.stats.add("all_gather", out.nbytes, time.perf_counter() - start)
        return out

    def _sync(self) -> None:
        """A barrier that watches for failures and the timeout, not counted in the stats."""
        self.wait(self.comm.Ibarrier(), "all_reduce")

    def barrier(self) -> None:
        start = time.perf_counter()
        if self.size > 1:
            self.wait(self.comm.Ibarrier(), "barrier")
        self.stats.add("barrier", 0, time.perf_counter() - start)

    # ------------------------------------------------------------------ object collectives
    def broadcast_object(self, obj: Any, src: int = 0) -> Any:
        """Pickle ``obj`` on ``src`` and return it on every rank."""
        self._check_rank(src, "src")
        if self.size == 1:
            return obj
        payload = pickle.dumps(obj) if self.rank == src else b""
        length = np.array([len(payload)], dtype=np.int64)
        self.wait(self.comm.Ibcast(length, root=src), "broadcast_object")
        buf = (np.frombuffer(payload, dtype=np.uint8).copy() if self.rank == src
               else np.empty(int(length[0]), dtype=np.uint8))
        self.wait(self.comm.Ibcast(buf, root=src), "broadcast_object")
        self.stats.add("broadcast_object", buf.nbytes, 0.0)
        return obj if self.rank == src else pickle.loads(buf.tobytes())

    def all_gather_object(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if self.size == 1:
            return [obj]
        payload = np.frombuffer(pickle.dumps(obj), dtype=np.uint8).copy()
        lengths = np.empty(self.size, dtype=np.int64)
        self.wait(self.comm.Iallgather(np.array([payload.size], dtype=np.int64), lengths),
                  "all_gather_object")
        out = np.empty(int(lengths.sum()), dtype=np.uint8)
        displs = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self.wait(self.comm.Iallgatherv(payload, [out, (lengths, displs), self.MPI.BYTE]),
                  "all_gather_object")
        self.stats.add("all_gather_object", out.nbytes, 0.0)
        return [pickle.loads(out[d:d + n].tobytes()) for d, n in zip(displs, lengths)]

    def _check_rank(self, r: int, name: str) -> None:
        if not 0 <= int(r) < self.size:
            raise DistributedError(
                f"{name}={r} is not a rank of this group of {self.size} process(es) "
                f"(valid: 0..{self.size - 1})"
            )

    def free(self) -> None:
        self.stop_watcher()
        if self.shm is not None:
            self.shm.free()
            self.shm = None
        if self.nccl is not None:
            self.nccl.destroy()
            self.nccl = None
        for c in (self.comm, self.ctl, self.beats):
            try:
                c.Free()
            except Exception:  # noqa: BLE001 - best effort at shutdown
                pass


# ---------------------------------------------------------------------- failure handling


def fail_all_ranks(group: ProcessGroup, exc: BaseException, tb: Any = None) -> NoReturn:
    """End this rank after ``exc`` so that every rank ends, each printing why.

    A rank whose own code failed prints its traceback, notifies the others and aborts the job
    (``MPI_Abort``) after they acknowledged or after a grace period. A rank that only learned
    of another rank's failure (``RankFailedError``) prints one line naming that rank,
    acknowledges, and waits to be ended by the failing rank's abort (exiting on its own after a
    bound, so nothing hangs even if the abort is lost).
    """
    err = sys.stderr
    if isinstance(exc, RankFailedError):
        err.write(f"[rank {group.rank}] stopping: {exc}\n")
        err.flush()
        group.acknowledge(exc.failed_rank)
        time.sleep(FAILURE_GRACE_S + 2.0)
        os._exit(1)
    summary = f"{type(exc).__name__}: {exc}"
    if getattr(exc, "raised_on_every_rank", False):
        err.write(f"[rank {group.rank}] stopping: {summary}\n")
        err.flush()
        time.sleep(0.5)  # let every rank print before the first exit ends the job
        os._exit(1)
    if isinstance(exc, CollectiveTimeoutError):
        # Not this rank's bug: the message names the silent ranks; a traceback would bury it.
        err.write(f"[rank {group.rank}] ending all {group.size} ranks: {exc}\n")
    else:
        text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
        err.write(f"[rank {group.rank}] failed:\n{text}")
        err.write(f"[rank {group.rank}] aborting all {group.size} ranks because rank "
                  f"{group.rank} failed: {summary}\n")
    err.flush()
    try:
        group.notify_failure(summary)
    finally:
        err.flush()
        sys.stdout.flush()
        group.MPI.COMM_WORLD.Abort(1)
    os._exit(1)  # pragma: no cover - Abort does not return
