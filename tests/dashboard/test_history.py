"""The run history model (no Qt): growing arrays, EMA smoothing, best epoch, lr changes, and
saving/loading run folders and command-line metrics logs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.core.history import GrowingArray, RunHistory, ema


def test_growing_array_keeps_views_valid_while_growing():
    a = GrowingArray(capacity=4)
    a.extend([1, 2, 3])
    view = a.data
    for i in range(100):
        a.append(i)
    assert len(a) == 103
    assert view.tolist() == [1, 2, 3]  # an old view is unchanged by later appends
    assert a.data[:3].tolist() == [1, 2, 3] and a.data[-1] == 99
    a.clear()
    assert len(a) == 0 and a.data.size == 0


def test_ema_matches_the_definition_and_continues():
    x = np.random.default_rng(0).normal(size=50)
    y = ema(x, 0.8)
    ref = [x[0]]
    for v in x[1:]:
        ref.append(0.8 * ref[-1] + 0.2 * v)
    np.testing.assert_allclose(y, ref)
    np.testing.assert_allclose(np.concatenate([ema(x[:20], 0.8), ema(x[20:], 0.8, y[19])]), y)
    np.testing.assert_array_equal(ema(x, 0.0), x)
    with pytest.raises(ValueError, match="smoothing must be in"):
        ema(x, 1.0)


def test_ema_skips_non_finite_points():
    y = ema(np.array([1.0, np.nan, 3.0]), 0.5)
    assert y[1] == 1.0 and y[2] == 2.0


def test_best_epoch_and_lr_changes():
    h = RunHistory()
    h.append_steps([1, 2, 3, 4], [1.0, 0.9, 0.8, 0.7], [0.1, 0.1, 0.01, 0.01])
    assert h.lr_changes == [(3.0, 0.01)]
    h.add_epoch({"epoch": 1, "step": 2, "val_loss": 0.5, "val_accuracy": 0.7})
    h.add_epoch({"epoch": 2, "step": 4, "val_loss": 0.6, "val_accuracy": 0.8})
    assert h.best["epoch"] == 1
    h.mark_checkpoint(1, 2)
    assert h.best_checkpoint["val_loss"] == 0.5
    x, y = h.epoch_series("val_accuracy")
    assert x.tolist() == [1, 2] and y.tolist() == [0.7, 0.8]
    with pytest.raises(ValueError, match="1 steps, 2 losses"):
        h.append_steps([5], [1, 2])


def test_save_and_load_a_run_folder(tmp_path):
    h = RunHistory("a")
    h.append_steps(np.arange(1, 11), np.linspace(2, 1, 10), np.full(10, 0.1))
    h.add_epoch({"epoch": 1, "step": 10, "train_loss": 1.5, "val_loss": 1.4})
    h.mark_checkpoint(1, 10)
    h.save(tmp_path)
    back = RunHistory.load(tmp_path)
    np.testing.assert_array_equal(back.loss.data, h.loss.data)
    assert back.epochs == h.epochs and back.best_checkpoint["epoch"] == 1


def test_load_command_line_logs(tmp_path):
    log = tmp_path / "metrics.jsonl"
    events = [{"kind": "batch_end", "step": s, "loss": 1.0 / s, "lr": 0.1} for s in (1, 2, 3)]
    events.append({"kind": "epoch_end", "epoch": 0, "step": 3, "val_loss": 0.4,
                   "message": "epoch 1/1"})
    log.write_text("\n".join(json.dumps(e) for e in events))
    h = RunHistory.load(log)
    assert len(h) == 3 and h.epochs[0]["epoch"] == 1 and h.epochs[0]["val_loss"] == 0.4
    cli = tmp_path / "cli.jsonl"
    cli.write_text('{"epoch": 1, "loss": 0.9, "acc": 0.6, "val_loss": 0.8, "val_acc": 0.7}\n'
                   '{"event": "end", "reason": "completed"}\n')
    h = RunHistory.load(cli)
    assert h.epochs[0]["train_accuracy"] == 0.6 and h.epochs[0]["val_accuracy"] == 0.7
    table = tmp_path / "metrics.csv"
    table.write_text("epoch,step,train_loss,val_loss\n1,10,0.9,0.8\n2,20,0.5,0.6\n")
    h = RunHistory.load(table)
    assert [e["val_loss"] for e in h.epochs] == [0.8, 0.6]
    with pytest.raises(FileNotFoundError, match="no such metrics file"):
        RunHistory.load(tmp_path / "missing.jsonl")
