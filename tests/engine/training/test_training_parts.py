"""Top-k metrics (against torch), metric logs, checkpoint files, events."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from torch_reference import torch_or_skip
from trainer_helpers import setup

import engine
from engine.training import (
    CheckpointError,
    CSVLogger,
    Event,
    EventKind,
    JSONLinesLogger,
    MetricSums,
    ProgressPrinter,
    Trainer,
    load_checkpoint,
    save_checkpoint,
    topk_accuracy,
    topk_correct,
)


def test_topk_matches_torch():
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((50, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 50)
    got = topk_correct(engine.tensor(scores), engine.tensor(labels), (1, 3, 5))
    top = torch.from_numpy(scores).topk(5, dim=1).indices.numpy()
    for k in (1, 3, 5):
        assert got[k] == int((top[:, :k] == labels[:, None]).any(axis=1).sum())
    assert topk_accuracy(scores, labels, 3) == got[3] / 50


def test_topk_for_dense_outputs_and_ties():
    scores = np.zeros((2, 3, 2))  # all tied: argmax picks class 0 everywhere
    labels = np.array([[0, 1], [2, 0]])
    assert topk_correct(scores, labels, (1, 2)) == {1: 2, 2: 3}


def test_metric_sums_weight_by_batch_size_and_combine_exactly():
    a = MetricSums((1, 2))
    a.update(1.0, 10, np.eye(3)[[0, 1, 2, 0]], np.array([0, 1, 0, 0]))
    a.update(4.0, 30)
    assert a.compute()["loss"] == pytest.approx((10 + 120) / 40)
    assert a.compute()["accuracy"] == 0.75 and a.compute()["top2_accuracy"] == 1.0
    b = MetricSums((1, 2))
    b.load_vector(a.as_vector() * 2)  # what an all-reduce over two equal ranks gives
    assert b.compute() == a.compute()


def _epoch_event(epoch, **metrics):
    return Event(EventKind.EPOCH_END, epoch=epoch, epochs=3, step=epoch * 5, metrics=metrics)


def test_csv_logger_widens_its_header_and_continues_after_resume(tmp_path):
    path = tmp_path / "m.csv"
    log = CSVLogger(path)
    log.on_event(None, _epoch_event(0, train_loss=1.0))
    log.on_event(None, _epoch_event(1, train_loss=0.5, val_loss=0.7))
    log.on_event(None, Event(EventKind.BATCH_END, metrics={"loss": 9.0}))  # not an epoch row
    CSVLogger(path).on_event(None, _epoch_event(2, train_loss=0.25, val_loss=0.6))  # resumed
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["val_loss"] == "" and rows[2]["val_loss"] == "0.6"


def test_json_lines_logger_and_rank_filter(tmp_path):
    path = tmp_path / "m.jsonl"
    log = JSONLinesLogger(path, batches=False)
    log.on_event(None, Event(EventKind.BATCH_END, metrics={"loss": 1.0}))
    log.on_event(None, _epoch_event(0, train_loss=float("nan")))
    log.on_event(None, Event(EventKind.EPOCH_END, rank=1))  # only rank 0 writes
    log.close()  # a fit would close it at its end
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 1 and lines[0]["kind"] == "epoch_end"
    assert lines[0]["train_loss"] == "nan"


def test_loggers_in_a_real_run(tmp_path):
    m, loss, opt, sched, train, val = setup()
    out = io.StringIO()
    Trainer(m, loss, opt, train, val, epochs=2,
            callbacks=[CSVLogger(tmp_path / "e.csv"), JSONLinesLogger(tmp_path / "b.jsonl"),
                       ProgressPrinter(out, every_n_batches=3)]).fit()
    with (tmp_path / "e.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {"train_loss", "val_accuracy", "lr"} <= set(rows[0])
    kinds = [json.loads(x)["kind"] for x in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert kinds.count("batch_end") == 12 and kinds[-1] == "fit_end"
    assert "epoch 2/2 batch 6/6" in out.getvalue() and "epoch 2/2 done" in out.getvalue()


def test_checkpoint_round_trip_and_refusals(tmp_path):
    m, loss, opt, sched, train, _ = setup()
    state = Trainer(m, loss, opt, train, epochs=3, scheduler=sched).state_dict()
    path = save_checkpoint(state, tmp_path / "sub" / "last.safetensors")
    back = load_checkpoint(path)
    assert back["trainer"] == state["trainer"] and back["rng"] == state["rng"]  # 128-bit ints
    assert back["model"]["0.weight"].tolist() == m.state_dict()["0.weight"].tolist()
    engine.save({"w": engine.ones(2)}, tmp_path / "plain.safetensors")
    with pytest.raises(CheckpointError, match="not a LayerForge training checkpoint"):
        load_checkpoint(tmp_path / "plain.safetensors")
    engine.save({"format": "layerforge-checkpoint", "version": 99}, tmp_path / "new.safetensors")
    with pytest.raises(CheckpointError, match="newer LayerForge"):
        load_checkpoint(tmp_path / "new.safetensors")


def test_checkpoint_model_entry_is_a_plain_state_dict(tmp_path):
    m, loss, opt, sched, train, val = setup()
    Trainer(m, loss, opt, train, val, epochs=1, devices=["cpu", "cpu"],
            checkpoint_dir=tmp_path).fit()
    ck = load_checkpoint(tmp_path / "best.safetensors")
    assert list(ck["model"]) == list(m.state_dict())  # no "module." prefix
    fresh = setup(seed=9)[0]
    fresh.load_state_dict(ck["model"])


def test_event_to_dict_is_json_ready():
    e = Event(EventKind.CHECKPOINT, epoch=1, metrics={"loss": np.float32(0.5)},
              message="saved", data={"path": "/x", "obj": object()})
    d = e.to_dict()
    json.dumps(d)
    assert d["kind"] == "checkpoint" and d["path"] == "/x" and "obj" not in d


def test_sharded_batches_give_every_rank_the_same_number_of_training_steps():
    from engine.training._setup import ShardedBatches

    batches = list(range(7))
    train = [list(ShardedBatches(batches, r, 3)) for r in range(3)]
    assert train == [[0, 3], [1, 4], [2, 5]] and len(ShardedBatches(batches, 0, 3)) == 2
    val = [list(ShardedBatches(batches, r, 3, drop_tail=False)) for r in range(3)]
    assert val == [[0, 3, 6], [1, 4], [2, 5]]  # validation keeps every batch
    assert [len(ShardedBatches(batches, r, 3, drop_tail=False)) for r in range(3)] == [3, 2, 2]
