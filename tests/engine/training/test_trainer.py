"""Trainer: exact resumption, early stopping, NaN detection, stop/pause from another thread,
gradient accumulation, clipping, schedulers, DataParallel devices, events."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from trainer_helpers import dataset, model, params, same, setup

import engine
import engine.optim as optim
from engine import nn
from engine.autograd.function import Function
from engine.data import DataLoader
from engine.training import Callback, EventKind, Trainer, TrainingError, load_checkpoint


def _trainer(tmp_path=None, epochs=4, **kw):
    m, loss, opt, sched, train, val = setup(**{k: kw.pop(k) for k in
                                                ("lr", "shuffle", "batch_size", "dropout",
                                                 "generator") if k in kw})
    t = Trainer(m, loss, opt, train, val, epochs=epochs, scheduler=sched, seed=3,
                checkpoint_dir=tmp_path, **kw)
    return t, m, opt


class StopAt(Callback):
    """Calls trainer.stop() (from another thread, as the GUI would) after a given batch."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch, self.after_stop = epoch, batch, []

    def on_batch_end(self, trainer, event):
        if self.after_stop is not None and trainer._stop_requested.is_set():
            self.after_stop.append(event.batch)
        if event.epoch == self.epoch and event.batch == self.batch:
            th = threading.Thread(target=trainer.stop)
            th.start()
            th.join()


def test_resume_from_epoch_checkpoint_is_bit_exact(tmp_path):
    full, m_full, opt_full = _trainer(epochs=4)
    r_full = full.fit()
    assert r_full.reason == "completed" and r_full.epochs_completed == 4

    first, _, _ = _trainer(tmp_path, epochs=2)
    assert first.fit().reason == "completed"
    second, m_res, opt_res = _trainer(tmp_path, epochs=4)
    r_res = second.fit(resume_from=tmp_path / "last.safetensors")
    assert r_res.epochs_completed == 4 and r_res.global_step == r_full.global_step
    assert same(params(m_res), params(m_full))
    bufs = [s["momentum_buffer"].numpy() for s in opt_res.state.values()]
    ref = [s["momentum_buffer"].numpy() for s in opt_full.state.values()]
    assert all(np.array_equal(a, b) for a, b in zip(bufs, ref))
    assert [h["train_loss"] for h in r_res.history] == [h["train_loss"] for h in r_full.history]
    assert opt_res.param_groups[0]["lr"] == opt_full.param_groups[0]["lr"] == 0.025


def test_stop_mid_epoch_then_resume_is_bit_exact(tmp_path):
    # generator= gives the loader its own shuffling generator: its state must be saved too.
    full, m_full, _ = _trainer(epochs=3, accumulate_grad_batches=2,
                               generator=np.random.default_rng(11))
    r_full = full.fit()

    stopper = StopAt(epoch=1, batch=2)  # 3 batches done, the step after batch 2 pending
    first, _, _ = _trainer(tmp_path, epochs=3, accumulate_grad_batches=2, callbacks=[stopper],
                           generator=np.random.default_rng(11))
    r_stop = first.fit()
    assert r_stop.reason == "stopped" and stopper.after_stop == []  # no batch after stop()
    ck = load_checkpoint(tmp_path / "last.safetensors")
    assert ck["trainer"]["epoch"] == 1 and ck["trainer"]["batches_done"] == 2

    second, m_res, _ = _trainer(tmp_path, epochs=3, accumulate_grad_batches=2,
                                generator=np.random.default_rng(11))
    r_res = second.fit(resume_from=tmp_path / "last.safetensors")
    assert r_res.reason == "completed" and r_res.global_step == r_full.global_step
    assert same(params(m_res), params(m_full))
    assert r_res.history[-1]["train_loss"] == r_full.history[-1]["train_loss"]


def test_early_stopping_on_a_monitored_metric():
    t, _, _ = _trainer(epochs=10, lr=0.0, early_stopping_patience=2)  # nothing ever improves
    r = t.fit()
    assert r.reason == "early_stopped" and r.epochs_completed == 3
    assert r.best_epoch == 1 and "has not improved for 2 epoch(s)" in r.message
    t, _, _ = _trainer(epochs=10, lr=0.0, early_stopping_patience=1, monitor="val_accuracy")
    r = t.fit()
    assert t.mode == "max" and r.epochs_completed == 2


class _PoisonGrad(Function):
    """Identity forward; NaN gradients backward from the armed step on."""

    armed = False

    def forward(self, x):
        return x

    def backward(self, g):
        return (g * np.nan if _PoisonGrad.armed else g,)


def test_nan_loss_stops_and_keeps_last_good_weights():
    ds = dataset()
    x = ds.tensors[0].detach().numpy().copy()
    x[40] = np.nan  # batch 3 (0-based 2) of the first epoch, loader not shuffled
    bad = engine.data.TensorDataset(engine.tensor(x), ds.tensors[1])
    m = model(dropout=0.0)
    snapshots = []
    t = Trainer(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1),
                DataLoader(bad, batch_size=16), epochs=2,
                callbacks=[lambda e: snapshots.append(params(m))
                           if e.kind is EventKind.BATCH_END else None])
    seen = []
    t.callbacks.append(lambda e: seen.append(e.kind))
    r = t.fit()
    assert r.reason == "nan" and "non-finite" in r.message and r.global_step == 2
    assert EventKind.NAN_DETECTED in seen and len(snapshots) == 2
    assert same(params(m), snapshots[-1])  # the weights after the last good step


def test_nan_gradients_stop_before_the_update():
    m = model(dropout=0.0)

    class Poisoned(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = m

        def forward(self, x):
            return _PoisonGrad.apply(self.inner(x))

    before = []

    def arm(event):
        if event.kind is EventKind.BATCH_END and event.batch == 1:
            before.append(params(m))
            _PoisonGrad.armed = True

    try:
        t = Trainer(Poisoned(), nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1),
                    DataLoader(dataset(), batch_size=16), epochs=1, callbacks=[arm])
        r = t.fit()
    finally:
        _PoisonGrad.armed = False
    assert r.reason == "nan" and "gradients became non-finite" in r.message
    assert r.global_step == 2 and same(params(m), before[0])


def test_stop_from_another_thread_takes_effect_within_one_batch():
    class SlowData(engine.data.Dataset):
        def __len__(self):
            return 400

        def __getitem__(self, i):
            time.sleep(0.002)
            return engine.randn(6, dtype=engine.float64), engine.tensor(i % 3)

    m = model()
    batches = []
    t = Trainer(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1),
                DataLoader(SlowData(), batch_size=4), epochs=5,
                callbacks=[lambda e: batches.append(time.perf_counter())
                           if e.kind is EventKind.BATCH_END else None])
    result = {}
    th = threading.Thread(target=lambda: result.update(r=t.fit()))
    th.start()
    while len(batches) < 3:
        time.sleep(0.001)
    t.stop()
    stop_at = time.perf_counter()
    th.join(timeout=30)
    assert result["r"].reason == "stopped"
    assert sum(b > stop_at for b in batches) <= 1  # at most the batch already running


def test_pause_and_resume_from_another_thread():
    t, m, _ = _trainer(epochs=2)
    ref, m_ref, _ = _trainer(epochs=2)
    ref.fit()
    counts, kinds = [], []
    t.callbacks.append(lambda e: kinds.append(e.kind))
    t.callbacks.append(lambda e: counts.append(1) if e.kind is EventKind.BATCH_END else None)
    t.callbacks.append(lambda e: t.pause() if e.kind is EventKind.BATCH_END and e.batch == 1
                       and e.epoch == 0 else None)
    th = threading.Thread(target=t.fit)
    th.start()
    deadline = time.time() + 10
    while not t.is_paused and time.time() < deadline:
        time.sleep(0.005)
    assert t.is_paused
    n = len(counts)
    time.sleep(0.2)
    assert len(counts) == n == 2  # nothing runs while paused
    t.resume()
    th.join(timeout=30)
    assert not t.is_running and kinds.count(EventKind.PAUSED) == 1
    assert kinds.index(EventKind.RESUMED) == kinds.index(EventKind.PAUSED) + 1
    assert same(params(m), params(m_ref))  # a pause changes nothing


def test_gradient_accumulation_equals_one_large_batch():
    results = []
    for batch_size, k in ((8, 4), (32, 1)):
        m = model(dropout=0.0)
        t = Trainer(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.2),
                    DataLoader(dataset(), batch_size=batch_size), epochs=2,
                    accumulate_grad_batches=k)
        r = t.fit()
        results.append((params(m), r.global_step))
    (a, steps_a), (b, steps_b) = results
    assert steps_a == steps_b == 6
    assert max(float(np.max(np.abs(x - y))) for x, y in zip(a, b)) < 1e-12


def test_matches_a_hand_written_loop_with_clipping_and_step_scheduler():
    def build():
        m = model(dropout=0.0)
        opt = optim.SGD(m.parameters(), lr=0.5)
        return m, opt, optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)

    m, opt, sched = build()
    Trainer(m, nn.CrossEntropyLoss(), opt, DataLoader(dataset(), batch_size=16), epochs=2,
            scheduler=sched, scheduler_interval="step", clip_grad_norm=0.05).fit()
    m2, opt2, sched2 = build()
    for _ in range(2):
        for x, y in DataLoader(dataset(), batch_size=16):
            opt2.zero_grad()
            nn.CrossEntropyLoss()(m2(x), y).backward()
            nn.utils.clip_grad_norm_(m2.parameters(), 0.05)
            opt2.step()
            sched2.step()
    assert same(params(m), params(m2))
    assert opt.param_groups[0]["lr"] == opt2.param_groups[0]["lr"]


def test_reduce_lr_on_plateau_steps_on_the_monitored_metric():
    m = model(dropout=0.0)
    opt = optim.SGD(m.parameters(), lr=1e-6)  # too small to improve val_loss by 1e-4 (rel)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    t = Trainer(m, nn.CrossEntropyLoss(), opt, DataLoader(dataset(), batch_size=32),
                DataLoader(dataset(48, 1), batch_size=48), epochs=3, scheduler=sched)
    r = t.fit()
    # the lr each epoch trained with; epoch 1 sets the best, epochs 2 and 3 each reduce it
    assert [h["lr"] for h in r.history] == [1e-6, 1e-6, 5e-7]
    assert opt.param_groups[0]["lr"] == 2.5e-7


def test_data_parallel_devices_match_one_device():
    out = []
    for devices in (["cpu"], ["cpu", "cpu", "cpu"]):
        m = model(dropout=0.0)
        t = Trainer(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1, momentum=0.9),
                    DataLoader(dataset(), batch_size=20), DataLoader(dataset(48, 1),
                                                                     batch_size=24),
                    epochs=2, devices=devices)
        r = t.fit()
        out.append((params(m), r.history[-1]["val_loss"], type(t.net).__name__))
    assert out[1][2] == "DataParallel" and out[0][2] == "Sequential"
    assert max(float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
               for a, b in zip(out[0][0], out[1][0])) < 1e-10
    assert abs(out[0][1] - out[1][1]) < 1e-10


def test_events_arrive_in_order_with_metrics(tmp_path):
    events = []
    t, _, _ = _trainer(tmp_path, epochs=2, val_every_n_steps=4, callbacks=[events.append])
    t.fit()
    kinds = [e.kind for e in events]
    assert kinds[0] is EventKind.FIT_START and kinds[-1] is EventKind.FIT_END
    assert kinds.count(EventKind.EPOCH_END) == 2 and kinds.count(EventKind.BATCH_END) == 12
    # every 4 steps and at each epoch end
    assert kinds.count(EventKind.VALIDATION_END) == 3 + 2
    batch = next(e for e in events if e.kind is EventKind.BATCH_END)
    assert {"loss", "accuracy", "lr", "samples_per_s", "elapsed_s", "eta_s"} <= set(batch.metrics)
    assert "top5_accuracy" not in batch.metrics  # only 3 classes
    end = [e for e in events if e.kind is EventKind.EPOCH_END]
    assert [e.epoch for e in end] == [0, 1]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy"} <= set(end[0].metrics)
    ckpts = [e.data["path"] for e in events if e.kind is EventKind.CHECKPOINT]
    assert str(tmp_path / "last.safetensors") in ckpts


def test_configuration_errors_say_how_to_fix_them():
    m, loss, opt, _, train, _ = setup()
    with pytest.raises(TrainingError, match="epochs must be a positive integer, got 0"):
        Trainer(m, loss, opt, train, epochs=0)
    with pytest.raises(TrainingError, match="scheduler_interval must be 'epoch' or 'step'"):
        Trainer(m, loss, opt, train, scheduler_interval="hourly")
    with pytest.raises(TrainingError, match="monitor='val_f1' is not among"):
        Trainer(m, loss, opt, train, setup()[5], monitor="val_f1").fit()
    with pytest.raises(TrainingError, match="a batch must be \\(input, target\\)"):
        Trainer(m, loss, opt, [engine.randn(4, 6, dtype=engine.float64)]).fit()
    with pytest.raises(TrainingError, match="does not exist"):
        Trainer(m, loss, opt, train).fit(resume_from="/nonexistent/last.safetensors")


def test_batch_fn_and_plain_iterables():
    m = model(dropout=0.0)
    data = [{"x": engine.randn(8, 6, dtype=engine.float64),
             "y": engine.tensor(np.arange(8) % 3)} for _ in range(3)]
    t = Trainer(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1), data, epochs=2,
                batch_fn=lambda b: (b["x"], b["y"]))
    r = t.fit()
    assert r.reason == "completed" and r.global_step == 6
