"""DataLoader with worker processes: order, seeding, errors, dead workers, shutdown."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import engine
from engine.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    TensorDataset,
    WorkerError,
    get_worker_info,
)

ROOT = Path(__file__).resolve().parents[3]


def _alive(pid: int) -> bool:
    """True while ``pid`` is a live (not zombie) process, read from /proc without psutil."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _wait_gone(pids: list[int], seconds: float = 10.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


class Squares(Dataset):
    """Sample i is (i, i * i) as arrays; module level so spawn workers can import it."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return np.array([i, i * i], dtype=np.float32), i


class RandomDraws(Dataset):
    """Each sample records which worker made it and what the generators gave there."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> tuple[int, float, float, float]:
        info = get_worker_info()
        return (info.id if info else -1, np.random.rand(), random.random(),
                float(engine.rand(1).item()))


class Failing(Dataset):
    def __len__(self) -> int:
        return 20

    def __getitem__(self, i: int) -> int:
        if i == 13:
            raise ValueError(f"sample {i} is broken")
        return i


class MissingKey(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> int:
        return {}["label"]


class SelfKilling(Dataset):
    """The worker that loads sample 5 kills itself with SIGKILL."""

    def __len__(self) -> int:
        return 40

    def __getitem__(self, i: int) -> int:
        if i == 5 and get_worker_info() is not None:
            os.kill(os.getpid(), signal.SIGKILL)
        return i


class Slow(Dataset):
    def __init__(self, delay: float) -> None:
        self.delay = delay

    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int) -> int:
        time.sleep(self.delay)
        return i


class Stream(IterableDataset):
    """0..n-1, split between workers by ``get_worker_info``."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


def _flat(batches: list) -> list[int]:
    return [int(v) for b in batches for v in (b[1] if isinstance(b, list) else b).numpy()]


def test_batches_in_order_and_equal_to_single_process() -> None:
    ds = Squares(103)
    single = list(DataLoader(ds, batch_size=8))
    multi = list(DataLoader(ds, batch_size=8, num_workers=2))
    assert len(multi) == len(single) == 13
    for (xs, ys), (xm, ym) in zip(single, multi):
        np.testing.assert_array_equal(xs.numpy(), xm.numpy())
        np.testing.assert_array_equal(ys.numpy(), ym.numpy())
    assert multi[0][0].dtype == engine.float32 and multi[0][1].dtype == engine.int64


def test_shuffled_epoch_sees_every_sample_once_and_is_reproducible() -> None:
    ds = Squares(50)
    engine.manual_seed(7)
    a = _flat(list(DataLoader(ds, batch_size=6, shuffle=True, num_workers=2)))
    engine.manual_seed(7)
    b = _flat(list(DataLoader(ds, batch_size=6, shuffle=True, num_workers=2)))
    engine.manual_seed(7)
    c = _flat(list(DataLoader(ds, batch_size=6, shuffle=True, num_workers=0)))
    assert sorted(a) == list(range(50))
    assert a == b == c
    assert a != list(range(50))


def test_fast_path_in_workers_matches_main_process() -> None:
    x = engine.randn(40, 3)
    y = engine.arange(40)
    ds = TensorDataset(x, y)
    engine.manual_seed(3)
    main = list(DataLoader(ds, batch_size=7, shuffle=True))
    engine.manual_seed(3)
    workers = list(DataLoader(ds, batch_size=7, shuffle=True, num_workers=2))
    for (a, b), (c, d) in zip(main, workers):
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        np.testing.assert_array_equal(b.numpy(), d.numpy())
    assert workers[0][0].numpy().flags.writeable  # arrays from the pipe can be trained on


def test_worker_seeds_distinct_and_reproducible() -> None:
    def draws(seed: int) -> list:
        engine.manual_seed(seed)
        loader = DataLoader(RandomDraws(), batch_size=1, num_workers=2)
        return [(int(w), float(a), float(b), float(c)) for w, a, b, c in loader]

    first, again, other = draws(1), draws(1), draws(2)
    assert first == again
    assert first != other
    by_worker = {w: [(a, b, c) for ww, a, b, c in first if ww == w] for w in (0, 1)}
    assert set(by_worker) == {0, 1}
    # Each generator (NumPy, random, engine) differs between the two workers.
    for k in range(3):
        assert by_worker[0][0][k] != by_worker[1][0][k]


def test_generator_argument_gives_reproducible_seeds() -> None:
    def run() -> list:
        loader = DataLoader(RandomDraws(), batch_size=1, num_workers=2,
                            generator=np.random.default_rng(11))
        return [float(a) for _, a, _, _ in loader]

    engine.manual_seed(1)
    a = run()
    engine.manual_seed(2)  # the global seed must not matter when a generator is given
    assert a == run()


def test_worker_init_fn_and_worker_info() -> None:
    seen = []

    def init(worker_id: int) -> None:
        info = get_worker_info()
        assert info.id == worker_id and info.num_workers == 3
        np.random.seed(1000 + worker_id)

    class Who(Dataset):
        def __len__(self) -> int:
            return 6

        def __getitem__(self, i: int) -> tuple[int, int]:
            info = get_worker_info()
            return info.id, info.seed

    for wid, seed in DataLoader(Who(), batch_size=1, num_workers=3, worker_init_fn=init):
        seen.append((int(wid.item()), int(seed.item())))
    assert [w for w, _ in seen] == [0, 1, 2, 0, 1, 2]  # round-robin, in order
    seeds = {w: s for w, s in seen}
    assert seeds[1] == seeds[0] + 1 and seeds[2] == seeds[0] + 2
    assert get_worker_info() is None


def test_worker_exception_reraises_with_worker_traceback() -> None:
    loader = DataLoader(Failing(), batch_size=4, num_workers=2)
    it = iter(loader)
    got = [next(it) for _ in range(3)]
    assert len(got) == 3
    with pytest.raises(ValueError, match="sample 13 is broken") as info:
        next(it)
    text = str(info.value)
    assert "DataLoader worker process" in text
    assert "Traceback" in text and "__getitem__" in text
    assert int(next(it)[0]) == 16  # the loader goes on after a worker's exception
    pids = it.worker_pids
    del it, info  # the traceback holds the iterator's frames
    gc.collect()
    assert _wait_gone(pids) == []


def test_key_error_message_is_readable() -> None:
    with pytest.raises(KeyError, match="label") as info:
        next(iter(DataLoader(MissingKey(), batch_size=2, num_workers=1)))
    assert "\\n" not in str(info.value)  # not the repr of a one-line string


def test_killed_worker_raises_instead_of_hanging() -> None:
    loader = DataLoader(SelfKilling(), batch_size=2, num_workers=2, timeout=30)
    start = time.monotonic()
    with pytest.raises(WorkerError, match=r"exited unexpectedly.*killed by SIGKILL"):
        for _ in loader:
            pass
    assert time.monotonic() - start < 10


def test_timeout_raises() -> None:
    loader = DataLoader(Slow(0.8), batch_size=1, num_workers=1, timeout=0.3)
    with pytest.raises(WorkerError, match=r"timed out after 0.3 seconds"):
        next(iter(loader))


def _worker_children() -> set[int]:
    return {p.pid for p in mp.active_children() if p.name.startswith("dataloader-worker")}


def test_break_shuts_workers_down() -> None:
    loader = DataLoader(Squares(1000), batch_size=4, num_workers=2)
    before = _worker_children()
    pids: list[int] = []
    for i, _ in enumerate(loader):
        if i == 0:
            pids = sorted(_worker_children() - before)
        if i == 2:
            break
    assert len(pids) == 2
    assert _wait_gone(pids) == []  # no gc.collect(): dropping the iterator is enough


def test_exception_in_training_loop_shuts_workers_down() -> None:
    loader = DataLoader(Squares(1000), batch_size=4, num_workers=2)
    before = _worker_children()
    pids: list[int] = []

    def train() -> None:
        for i, _ in enumerate(loader):
            if i == 0:
                pids.extend(sorted(_worker_children() - before))
            if i == 1:
                raise RuntimeError("loss is nan")

    with pytest.raises(RuntimeError, match="loss is nan"):
        train()
    assert len(pids) == 2
    assert _wait_gone(pids) == []


def test_end_of_epoch_and_garbage_collection_shut_workers_down() -> None:
    it = iter(DataLoader(Squares(10), batch_size=5, num_workers=2))
    pids = it.worker_pids
    assert all(_alive(p) for p in pids)
    assert len(list(it)) == 2
    assert _wait_gone(pids) == []
    it2 = iter(DataLoader(Squares(10), batch_size=5, num_workers=2))
    pids2 = it2.worker_pids
    next(it2)
    del it2
    gc.collect()
    assert _wait_gone(pids2) == []


def test_persistent_workers_survive_epochs_and_restart_cleanly() -> None:
    loader = DataLoader(Squares(30), batch_size=4, shuffle=True, num_workers=2,
                        persistent_workers=True, prefetch_factor=3)
    epochs = []
    for _ in range(3):
        epochs.append(_flat(list(loader)))
    pids = loader._iterator.worker_pids
    assert all(_alive(p) for p in pids)
    assert all(sorted(e) == list(range(30)) for e in epochs)
    assert epochs[0] != epochs[1]
    # Abandon an epoch half-way: the next epoch must not see its in-flight batches.
    it = iter(loader)
    next(it)
    full = _flat(list(loader))
    assert sorted(full) == list(range(30))
    assert loader._iterator.worker_pids == pids
    del loader, it
    gc.collect()
    assert _wait_gone(pids) == []


def test_iterable_dataset_with_workers() -> None:
    loader = DataLoader(Stream(23), batch_size=4, num_workers=2)
    values = [int(v) for b in loader for v in b.numpy()]
    assert sorted(values) == list(range(23))
    # Each worker's batches hold its own share; batches alternate between workers.
    first = next(iter(DataLoader(Stream(23), batch_size=4, num_workers=2)))
    assert first.numpy().tolist() == [0, 2, 4, 6]
    dropped = [len(b) for b in DataLoader(Stream(23), batch_size=4, num_workers=2,
                                          drop_last=True)]
    assert all(n == 4 for n in dropped) and sum(dropped) == 20


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_spawn_and_forkserver_with_tensor_dataset(method: str) -> None:
    if method not in mp.get_all_start_methods():
        pytest.skip(f"{method} is not available here")
    ds = TensorDataset(engine.arange(12).float(), engine.arange(12))
    loader = DataLoader(ds, batch_size=5, num_workers=2, multiprocessing_context=method)
    xs = [b[1].numpy().tolist() for b in loader]
    assert xs == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]


def test_spawn_rejects_unpicklable_dataset_clearly() -> None:
    class Local(Dataset):
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int) -> int:
            return i

    loader = DataLoader(Local(), num_workers=1, multiprocessing_context="spawn")
    with pytest.raises(TypeError, match="picklable dataset"):
        iter(loader)


def test_workers_exit_when_main_process_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "victim.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        import numpy as np
        from engine.data import DataLoader, Dataset

        class D(Dataset):
            def __len__(self): return 10**6
            def __getitem__(self, i):
                time.sleep(0.01)
                return np.zeros(3)

        it = iter(DataLoader(D(), batch_size=2, num_workers=2))
        next(it)
        print(*it.worker_pids, flush=True)
        time.sleep(60)
    """))
    with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                          text=True) as proc:
        try:
            pids = [int(p) for p in proc.stdout.readline().split()]
            assert len(pids) == 2 and all(_alive(p) for p in pids)
            proc.kill()
            proc.wait()
            assert _wait_gone(pids, seconds=15) == []
        finally:
            proc.kill()


def test_invalid_worker_arguments() -> None:
    ds = Squares(4)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified"):
        DataLoader(ds, prefetch_factor=4)
    with pytest.raises(ValueError, match="timeout option should be non-negative"):
        DataLoader(ds, timeout=-1)
    with pytest.raises(ValueError, match="valid start method"):
        DataLoader(ds, num_workers=1, multiprocessing_context="teleport")


def test_argument_types_and_nan_are_refused_where_pytorch_lets_them_through() -> None:
    """PyTorch checks these with comparisons only: num_workers="2" fails there with a bare
    "'<' not supported between instances of 'str' and 'int'" (TypeError, kept as the type)
    and timeout=nan passes (then every wait is for ever); inf is the same as nan here."""
    ds = Squares(4)
    with pytest.raises(TypeError, match=r"num_workers option should be an int, got str '2'"):
        DataLoader(ds, num_workers="2")
    with pytest.raises(TypeError, match=r"num_workers option should be an int, got float 2.0"):
        DataLoader(ds, num_workers=2.0)
    assert DataLoader(ds, num_workers=np.int64(2)).num_workers == 2  # NumPy ints are ints
    with pytest.raises(TypeError, match=r"timeout option should be a number of seconds, got "
                                        r"str '5'"):
        DataLoader(ds, timeout="5")
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match=rf"timeout option should be non-negative, got "
                                             rf"{bad}; it is the seconds to wait"):
            DataLoader(ds, num_workers=1, timeout=bad)


def test_errors_name_the_dataset_index_and_the_worker() -> None:
    with pytest.raises(ValueError, match=r"Caught ValueError in DataLoader worker process 1 "
                                         r"while loading dataset index 13\.\n"):
        list(DataLoader(Failing(), batch_size=4, num_workers=2))
    with pytest.raises(ValueError, match="sample 13 is broken") as info:  # no workers
        list(DataLoader(Failing(), batch_size=4))
    assert info.value.__notes__ == ["(DataLoader: while loading dataset index 13)"]
    with pytest.raises(WorkerError, match=r"DataLoader worker 0 exited unexpectedly \(pid \d+: "
                                          r"killed by SIGKILL.*\) while loading (dataset "
                                          r"indices \[\d+, \d+\] or )*dataset indices \[4, 5\]"
                                          r"( or dataset indices \[\d+, \d+\])*\. "):
        list(DataLoader(SelfKilling(), batch_size=2, num_workers=2))
    with pytest.raises(WorkerError, match=r"timed out after 0.3 seconds waiting for a batch from "
                                          r"its 1 worker processes \(worker 0 loading dataset "
                                          r"index 0\)"):
        next(iter(DataLoader(Slow(0.8), batch_size=None, num_workers=1, timeout=0.3)))


def _bad_init(worker_id: int) -> None:
    raise OSError(f"cannot open the database in worker {worker_id}")


def test_worker_init_fn_error_is_reported() -> None:
    with pytest.raises(OSError, match=r"cannot open the database in worker 0") as info:
        next(iter(DataLoader(Squares(4), num_workers=1, worker_init_fn=_bad_init)))
    assert "_bad_init" in str(info.value)


class Big(Dataset):
    """Batches of several MB: far more than a pipe holds, so reads and writes are partial."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return np.full((3, 300, 300), i, dtype=np.float64), i


@pytest.mark.parametrize("raw_io", [True, False])
def test_big_batches_arrive_intact(raw_io: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.data import _transport

    # raw_io=False: the portable path (Windows), forced here; fork carries it to the workers.
    monkeypatch.setattr(_transport, "_RAW_IO", raw_io and _transport._RAW_IO)
    loader = DataLoader(Big(), batch_size=3, num_workers=2, prefetch_factor=1)
    for k, (x, y) in enumerate(loader):
        assert x.shape[1:] == (3, 300, 300) and x.dtype == engine.float64
        for row, label in zip(x.numpy(), y.numpy()):
            assert label in range(3 * k, 3 * k + 3) and np.all(row == label)


def test_workers_from_a_background_thread() -> None:
    """The app trains on a background thread: workers start and stop from there too."""
    import threading

    out: list = []

    def train() -> None:
        try:
            out.append(_flat(list(DataLoader(Squares(20), batch_size=6, num_workers=2))))
        except BaseException as exc:  # pragma: no cover - reported below
            out.append(exc)

    t = threading.Thread(target=train)
    t.start()
    t.join(60)
    assert out == [list(range(20))]


def test_augmented_epochs_reproducible_with_manual_seed() -> None:
    from engine.data import ArrayDataset
    from engine.data import transforms as T

    x = np.random.default_rng(0).integers(0, 256, (40, 12, 12), dtype=np.uint8)
    tf = T.Compose([T.RandomCrop(10, padding=2), T.RandomHorizontalFlip(), T.ToTensor()])
    ds = ArrayDataset(x, np.arange(40), transform=tf)

    def run() -> list[np.ndarray]:
        return [b[0].numpy() for b in DataLoader(ds, batch_size=8, shuffle=True, num_workers=2)]

    engine.manual_seed(21)
    a = run()
    engine.manual_seed(21)
    b = run()
    engine.manual_seed(22)
    c = run()
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not all(np.array_equal(p, q) for p, q in zip(a, c))
