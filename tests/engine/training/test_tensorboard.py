"""TensorBoard event files written by hand, read back with TensorBoard's own reader (the ``dev``
extra installs ``tensorboard``; the engine never imports it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from diagnostics_helpers import read_events

import engine
from engine import nn, optim
from engine.data import DataLoader, TensorDataset
from engine.training import DiagnosticsCollector, Trainer
from engine.training.tensorboard import (
    EventFileWriter,
    TensorBoardLogger,
    crc32c,
    histogram_value,
    scalar_value,
)


def test_crc32c_matches_tensorboards_at_every_length_around_the_chunk_size() -> None:
    reference = pytest.importorskip(
        "tensorboard.compat.tensorflow_stub.pywrap_tensorflow",
        reason="checked against TensorBoard's crc32c: pip install -e '.[dev]'").crc32c

    assert crc32c(b"123456789") == 0xE3069283  # the standard check value
    rng = np.random.default_rng(0)
    for n in (0, 1, 3, 4, 5, 127, 128, 129, 1023, 1024, 1025, 1026, 1027, 1028, 2048, 5000):
        data = rng.bytes(n)
        assert crc32c(data) == reference(data), n


def test_written_scalars_and_histograms_read_back(tmp_path: Path) -> None:
    writer = EventFileWriter(tmp_path)
    edges, counts = np.linspace(-1.0, 1.0, 5), np.array([1.0, 2.0, 3.0, 4.0])
    for step in range(1, 4):
        writer.write(step, [scalar_value("a/loss", 0.5 * step),
                            histogram_value("a/hist", edges * step, counts, 10, 0.5, 3.0)])
    writer.close()
    assert writer.path.name.startswith("events.out.tfevents.")
    acc = read_events(tmp_path)
    assert [(s.step, s.value) for s in acc.Scalars("a/loss")] == [(1, 0.5), (2, 1.0), (3, 1.5)]
    h = acc.Histograms("a/hist")[-1]
    assert h.step == 3
    v = h.histogram_value
    assert (v.min, v.max, v.num, v.sum, v.sum_squares) == (-3.0, 3.0, 10.0, 0.5, 3.0)
    assert list(v.bucket_limit) == [-1.5, 0.0, 1.5, 3.0] and list(v.bucket) == [1, 2, 3, 4]


def test_a_training_run_logs_metrics_lr_and_layer_histograms(tmp_path: Path) -> None:
    engine.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    rng = np.random.default_rng(0)
    data = TensorDataset(engine.tensor(rng.standard_normal((64, 4)).astype(np.float32)),
                         engine.tensor(rng.integers(0, 2, 64)))
    seen = []
    logger = TensorBoardLogger(tmp_path, batch_points_per_s=0)  # a point for every batch
    Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
            DataLoader(data, batch_size=16), DataLoader(data, batch_size=32), epochs=2,
            callbacks=[DiagnosticsCollector(every=3), logger, seen.append]).fit()
    acc = read_events(tmp_path)
    batches = [e for e in seen if e.kind.value == "batch_end"]
    loss = acc.Scalars("batch/loss")
    assert [s.step for s in loss] == [e.step for e in batches] == list(range(1, 9))
    np.testing.assert_allclose([s.value for s in loss], [e.metrics["loss"] for e in batches],
                               rtol=1e-6)
    assert [s.value for s in acc.Scalars("batch/lr")] == pytest.approx([0.1] * 8)
    assert [s.step for s in acc.Scalars("epoch/val_loss")] == [4, 8]
    diags = [e.data["diagnostics"] for e in seen if e.kind.value == "diagnostics"]
    assert [d.step for d in diags] == [1, 4, 7]
    relu = acc.Scalars("1/zero_fraction")
    assert [s.value for s in relu] == pytest.approx(
        [d.layers["1"].activation.zero_fraction for d in diags])
    assert [s.step for s in acc.Scalars("0/update_ratio")] == [1, 4, 7]
    hist = acc.Histograms("0/activations")
    assert [h.step for h in hist] == [1, 4, 7]
    last = diags[-1].layers["0"].activation
    v = hist[-1].histogram_value
    assert v.num == last.n and v.sum == pytest.approx(last.total)
    assert list(v.bucket) == pytest.approx(list(last.hist.counts))
    assert len(acc.Histograms("2/output_gradients")) == 3
    assert logger.path is not None and logger.path.parent == tmp_path


def test_batch_points_are_thinned_to_the_mean_of_their_batches(tmp_path: Path) -> None:
    from engine.training import Event, EventKind

    logger = TensorBoardLogger(tmp_path, batch_points_per_s=1e-6)  # the first, then epoch ends
    for step, loss in enumerate([1.0, 2.0, 3.0, 4.0, 5.0], 1):
        logger.on_event(None, Event(EventKind.BATCH_END, step=step,
                                    metrics={"loss": loss, "lr": 0.1 * step}))
        if step == 3:
            logger.on_event(None, Event(EventKind.EPOCH_END, step=3, metrics={"val_loss": 9.0}))
    logger.on_event(None, Event(EventKind.FIT_END, step=5))
    acc = read_events(tmp_path)
    assert [(s.step, s.value) for s in acc.Scalars("batch/loss")] == [(1, 1.0), (3, 2.5),
                                                                       (5, 4.5)]
    assert [s.value for s in acc.Scalars("batch/lr")] == pytest.approx([0.1, 0.25, 0.45])
    assert [s.step for s in acc.Scalars("epoch/val_loss")] == [3]
