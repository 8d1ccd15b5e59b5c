"""Checkpoints a user can break: one from an edited graph, a truncated or edited file, counters
out of range, a run with no epochs left, another optimizer or loader; each is refused on load
with a CheckpointError that names the file, the entry and the fix. And a full disk while a
checkpoint is written keeps the epoch's weights (written first) and leaves no partial file."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from file_properties import loads_or_refuses, mutate, paths_into
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trainer_helpers import dataset, setup

import engine
import engine.optim as optim
from engine import _atomic, nn
from engine.data import DataLoader
from engine.errors import FileWriteError
from engine.export import read_weights, save_weights
from engine.training import (
    CheckpointError,
    EventKind,
    Trainer,
    load_checkpoint,
    save_checkpoint,
)


def trained(tmp_path: Path, epochs: int = 2, **kw: Any) -> Path:
    """A finished run's last checkpoint (the helpers' 6 -> 16 -> 3 network, 6 batches/epoch)."""
    m, loss, opt, sched, train, val = setup(**kw)
    Trainer(m, loss, opt, train, val, epochs=epochs, scheduler=sched, seed=3,
            checkpoint_dir=tmp_path).fit()
    return tmp_path / "last.safetensors"


def resume(path: Path, epochs: int = 4, model: nn.Module | None = None, **kw: Any) -> Any:
    m, loss, opt, sched, train, val = setup(**kw)
    m = model or m
    opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    return Trainer(m, loss, opt, train, val, epochs=epochs, seed=3).fit(resume_from=path)


def edited(path: Path, change: Any) -> Path:
    """The checkpoint at ``path`` loaded, changed by ``change(ck)`` and saved back."""
    ck = engine.load(path)
    change(ck)
    engine.save(ck, path)
    return path


def test_a_checkpoint_of_another_network_names_both_shapes(tmp_path: Path) -> None:
    path = trained(tmp_path)
    wider = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(32, 3)).to(dtype=engine.float64)
    with pytest.raises(CheckpointError) as info:
        resume(path, model=wider)
    assert str(info.value) == (
        f"the checkpoint {path} was saved from a different network: 0.weight is (16, 6) there "
        f"and (32, 6) here; 0.bias is (16,) there and (32,) here; 3.weight is (3, 16) there and "
        f"(3, 32) here; resume only with the graph it was trained on, or start a new run")
    deeper = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.Linear(16, 3))
    with pytest.raises(CheckpointError, match=r": 2.weight is only here; 2.bias is only here;"):
        resume(path, model=deeper.to(dtype=engine.float64))
    shallow = nn.Sequential(nn.Linear(6, 3)).to(dtype=engine.float64)
    with pytest.raises(CheckpointError, match=r": 0.weight is \(16, 6\) there and \(3, 6\) "
                                              r"here; 0.bias .*; 3.weight is only there; "
                                              r"3.bias is only there; resume only"):
        resume(path, model=shallow)


def _set(*keys: Any, value: Any) -> Any:
    def change(ck: dict) -> None:
        node = ck
        for k in keys[:-1]:
            node = node[k]
        if value is KeyError:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return change


@pytest.mark.parametrize(("change", "match"), [
    (_set("trainer", value=KeyError), r"the checkpoint lacks 'trainer'"),
    (_set("trainer", "epoch", value=-5), r"trainer.epoch is -5, not a whole number in \[0, 2\]"),
    (_set("trainer", "epoch", value=99), r"trainer.epoch is 99, not a whole number in \[0, 2\]"),
    (_set("trainer", "epoch", value="2"), r"trainer.epoch is '2', not a whole number"),
    (_set("trainer", "batches_done", value=10**30),
     r"trainer.batches_done is 1000000000000000000000000000000 but all 2 epochs are done"),
    (_set("trainer", "best_epoch", value=7), r"trainer.best_epoch is 7, not a whole number in "),
    (_set("trainer", "history", value=3.0), r"trainer.history is not a list"),
    (_set("trainer", "train_sums", value={"vector": [1]}), r"trainer.train_sums is not"),
    (_set("rng", "now", "engine", "cpu", "state", value={"state": "x", "inc": 1}),
     r"rng.now.engine.cpu is not a valid PCG64 state \("),
    (_set("rng", "now", "engine", "cpu", "bit_generator", value="os.system"),
     r"rng.now.engine.cpu is not a NumPy generator state \(bit_generator 'os.system'"),
    (_set("rng", "epoch_start", value=[1, 2]), r"rng.epoch_start is a list, not a dict"),
    (_set("model", "0.weight", value=1.5), r"model.0.weight is a float, not a tensor"),
    (_set("optimizer", "param_groups", value={}), r"optimizer.param_groups is not a list"),
    (_set("scheduler", value=[1]), r"scheduler is a list, not a dict"),
    (_set("version", value="1"), r"the checkpoint version is '1', not a number"),
])
def test_an_edited_checkpoint_names_the_entry(change: Any, match: str, tmp_path: Path) -> None:
    path = edited(trained(tmp_path), change)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(CheckpointError, match=match):
        resume(path)
    assert path.read_bytes() == before


def test_a_truncated_checkpoint_is_a_checkpoint_error(tmp_path: Path) -> None:
    path = trained(tmp_path)
    data = path.read_bytes()
    for cut in (len(data) - 9, 100, 7, 0):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=f"{path}: not a readable safetensors file"):
            resume(path)


def test_no_epochs_left_is_refused_before_training(tmp_path: Path) -> None:
    path = trained(tmp_path, epochs=2)
    with pytest.raises(CheckpointError, match=r"has already trained 2 epoch\(s\) and this run is "
                                              r"set to 2; to train further set epochs above 2"):
        resume(path, epochs=2)
    edited(path, lambda ck: ck["trainer"].update(epoch=9, epochs=9, history=[{}] * 9))
    with pytest.raises(CheckpointError, match=r"has already trained 9 epoch\(s\) and this run "
                                              r"is set to 4"):
        resume(path, epochs=4)


def test_a_mid_epoch_position_beyond_the_loader_is_refused(tmp_path: Path) -> None:
    path = edited(trained(tmp_path),
                  lambda ck: ck["trainer"].update(epoch=1, best_epoch=1, batches_done=10**12))
    with pytest.raises(CheckpointError, match=r"stopped after batch 1000000000000 of epoch 2, "
                                              r"but an epoch of this data has 6 batches"):
        resume(path)

    class Batches:  # an iterable of batches without a length: found out while skipping
        def __iter__(self):
            return iter(DataLoader(dataset(), batch_size=16))

    m, loss, _, _, _, _ = setup()
    edited(path, lambda ck: ck["trainer"].update(batches_done=9))
    t = Trainer(m, loss, optim.SGD(m.parameters(), lr=0.1, momentum=0.9), Batches(), epochs=4)
    with pytest.raises(CheckpointError, match=r"stopped after batch 9 of its epoch, but this "
                                              r"loader's epoch ends after 6 batches"):
        t.fit(resume_from=path)


def test_another_optimizer_or_loader_generator_is_refused(tmp_path: Path) -> None:
    path = trained(tmp_path)
    m, loss, _, _, train, _ = setup()
    two_groups = optim.SGD([{"params": [p]} for p in m.parameters()], lr=0.1)
    with pytest.raises(CheckpointError, match=r"its optimizer state does not fit this optimizer "
                                              r"\(loaded state dict has a different number of "
                                              r"parameter groups"):
        Trainer(m, loss, two_groups, train, epochs=4).fit(resume_from=path)
    path = trained(tmp_path / "g", generator=np.random.default_rng(1))
    with pytest.raises(CheckpointError, match=r"saved loader generator 0 as a PCG64 but this "
                                              r"loader's is a MT19937"):
        resume(path, generator=np.random.Generator(np.random.MT19937(1)))


def test_a_full_disk_keeps_the_weights_written_before_the_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app writes the epoch's weights when the epoch is reported; the Trainer reports it
    before writing its (larger) checkpoint, so a disk that fills up on the checkpoint still
    leaves the epoch's weights."""
    weights = tmp_path / "weights.safetensors"
    written = _atomic._write_all

    def small_fits(fd: int, data: Any) -> None:  # room for the weights, not the checkpoint
        if memoryview(data).nbytes > 4000:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written(fd, data)

    def keep_weights(event: Any) -> None:
        if event.kind is EventKind.EPOCH_END:
            save_weights(model.state_dict(), weights)

    monkeypatch.setattr(_atomic, "_write_all", small_fits)
    model, loss, opt, _, train, _ = setup()
    t = Trainer(model, loss, opt, train, epochs=2, checkpoint_dir=tmp_path / "checkpoints",
                callbacks=[keep_weights])
    with pytest.raises(FileWriteError, match=r"cannot write .*last.safetensors: No space left "
                                             r"on device \(.* needed, .* free in "):
        t.fit()
    saved = read_weights(weights)
    assert all(np.array_equal(saved[k], v.numpy()) for k, v in model.state_dict().items())
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["checkpoints", "weights.safetensors"]


# ----------------------------------------------------------------------------- properties
VALUES = (st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([10**12, -1, 2**70])
          | st.floats() | st.text(max_size=4) | st.lists(st.integers(-1, 3), max_size=3)
          | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=60, deadline=10000, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_edited_or_damaged_checkpoint_resumes_or_raises_checkpoint_error(
        data: Any, tmp_path: Path) -> None:
    """Tampering anywhere (bytes, or any entry of the structure: deleted, or replaced by a
    value of another type or range), then load_checkpoint and a resumed fit: either it
    resumes and trains to the end, or one CheckpointError with a one-line message. (A value
    inside the optimizer's per-parameter state is only loaded, not trained on: those are the
    optimizer's own, checked for shape but not kind; a number where SGD keeps its momentum
    tensor fails at its first step.)"""
    if not (tmp_path / "base" / "last.safetensors").exists():
        trained(tmp_path / "base")
    base = (tmp_path / "base" / "last.safetensors").read_bytes()
    path = tmp_path / "edited.safetensors"
    where: tuple = ()
    if data.draw(st.booleans(), "bytes"):
        path.write_bytes(mutate(base, data.draw))
    else:
        ck = engine.load(io.BytesIO(base))
        where = data.draw(st.sampled_from([p for p in paths_into(ck) if p]), "where")
        node = ck
        for k in where[:-1]:
            node = node[k]
        if data.draw(st.booleans(), "delete"):
            del node[where[-1]]
        else:
            node[where[-1]] = data.draw(VALUES, "value")
        save_checkpoint(ck, path)
    optimizer_internal = where[:2] == ("optimizer", "state") and len(where) == 4

    def resume(p: Path) -> Any:
        m, loss, opt, sched, train, _ = setup()
        t = Trainer(m, loss, opt, train, epochs=3, scheduler=sched)
        if optimizer_internal:
            return t.load_state_dict(load_checkpoint(p))
        return t.fit(resume_from=p)

    loads_or_refuses(path, load_checkpoint, CheckpointError)
    result = loads_or_refuses(path, resume, CheckpointError)
    assert result is None or optimizer_internal or result.reason in ("completed", "nan")
