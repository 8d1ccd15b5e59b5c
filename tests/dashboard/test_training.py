"""Training the spiral template from the dashboard: live per-step loss and per-epoch accuracy,
Stop mid-epoch, Pause/Resume, NaN and dataset failures, the export loading back with
``engine.load``, and the GUI event loop staying responsive during a run."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6 import QtCore

import engine
from app.core.runs import list_runs, run_project, weights_of
from app.dashboard.export_dialog import export_run
from engine.graph import compile_graph
from engine.training import load_checkpoint


def _wait_finished(qtbot, dash, timeout: int = 60000) -> None:
    qtbot.waitUntil(lambda: not dash.is_training and dash.last_outcome is not None,
                    timeout=timeout)


def test_train_spiral_from_the_gui(qtbot, dashboard, spiral_project, tmp_path):
    epochs_seen, steps_seen = [], []
    dashboard.bridge_updates = 0
    assert dashboard.start_training()
    bridge = dashboard.bridge
    bridge.sigEpoch.connect(epochs_seen.append)
    bridge.sigSteps.connect(lambda b: steps_seen.append(len(b.steps)))
    _wait_finished(qtbot, dashboard)
    out = dashboard.last_outcome
    assert out.reason == "completed", out.message
    h = dashboard.history
    # every step reached the charts, in bunches (throttled), not one signal per step
    assert len(h) == out.global_step == 6 * 25
    assert np.array_equal(h.step.data, np.arange(1, len(h) + 1))
    assert np.isfinite(h.loss.data).all()
    assert 0 < len(steps_seen) < len(h)
    assert [int(e["epoch"]) for e in h.epochs] == list(range(1, 7))
    acc = [e["val_accuracy"] for e in h.epochs]
    assert acc[-1] > acc[0] + 0.05 and acc[-1] > 0.7, acc
    assert h.loss.data[-25:].mean() < h.loss.data[:25].mean()
    # the charts drew it
    dashboard.charts.refresh(force=True)
    x, y = dashboard.charts.raw_curve.getData()
    assert len(x) == len(h)
    assert len(dashboard.charts.val_acc_curve.getData()[0]) == 6
    # the evaluation view got the confusion matrix of the last epoch
    ev = dashboard.evaluation.result
    assert ev is not None and ev.epoch == 6 and ev.confusion.sum() == 200
    assert ev.accuracy == pytest.approx(acc[-1], abs=1e-9)
    # the run keeps its record in its folder, beside the project; the project file is not
    # written by a run
    [run] = list_runs(spiral_project)
    assert run["status"] == "completed" and run["source"] == "app"
    assert weights_of(run) == out.weights == out.run_dir / "weights.safetensors"
    assert out.run_dir.parent == spiral_project.path.parent / "runs" / "spiral"
    assert dashboard.runs.tree.topLevelItemCount() == 1
    assert dashboard.export_button.isEnabled()

    # the exported safetensors loads back with engine.load and predicts the same
    target = tmp_path / "exported.safetensors"
    written = export_run(spiral_project, run, "safetensors", target)
    assert written == [target]
    model = compile_graph(run_project(spiral_project, run).graph)
    model.load_state_dict(engine.load(target))
    model.eval()
    out.model.eval()
    x = engine.from_numpy(np.random.default_rng(0).uniform(-1, 1, (64, 2)).astype(np.float32))
    with engine.no_grad():
        np.testing.assert_array_equal(model(x).numpy(), out.model(x).numpy())


def test_stop_mid_epoch_keeps_the_last_finished_step(qtbot, dashboard, spiral_project):
    spiral_project.training["epochs"] = 200
    requested: list[int] = []

    def stop_mid_epoch(event) -> None:  # a Trainer callback: on the training thread
        if event.kind.value == "batch_end" and event.step == 37 and not requested:
            requested.append(event.step)
            dashboard.worker.request_stop()  # takes effect before the next batch

    assert dashboard.start_training(callbacks=[stop_mid_epoch])
    _wait_finished(qtbot, dashboard)
    out = dashboard.last_outcome
    assert out.reason == "stopped"
    assert out.global_step == requested[0] and out.global_step % 25  # mid-epoch
    assert len(dashboard.history.epochs) == out.global_step // 25 < 200
    # every finished step reached the history; the weights are those after the last of them
    assert len(dashboard.history) == out.global_step
    saved = engine.load(out.weights)
    ckpt = load_checkpoint(out.run_dir / "checkpoints" / "last.safetensors")
    assert ckpt["trainer"]["global_step"] == out.global_step
    for k, v in out.model.state_dict().items():
        np.testing.assert_array_equal(saved[k].numpy(), v.numpy())
        np.testing.assert_array_equal(ckpt["model"][k].numpy(), v.numpy())
    assert dashboard.progress.start_button.isEnabled()
    assert list_runs(spiral_project)[-1]["status"] == "stopped"


def test_stop_button_says_stopping_until_the_batch_ends(qtbot, dashboard, spiral_project):
    spiral_project.training["epochs"] = 200
    assert dashboard.start_training()
    qtbot.waitUntil(lambda: len(dashboard.history) >= 5, timeout=30000)
    dashboard.progress.stop_button.click()
    assert dashboard.progress.state == "stopping"
    assert not dashboard.progress.stop_button.isEnabled()
    _wait_finished(qtbot, dashboard)
    assert dashboard.last_outcome.reason == "stopped"
    assert dashboard.progress.state == "idle" and "Stopped" in dashboard.progress.status.text()


def test_pause_and_resume(qtbot, dashboard, spiral_project):
    spiral_project.training["epochs"] = 4

    def pause_at_step_37(event) -> None:  # a Trainer callback: on the training thread
        if event.kind.value == "batch_end" and event.step == 37:
            dashboard.worker.request_pause()  # as the Pause button does, at a known step

    assert dashboard.start_training(callbacks=[pause_at_step_37])
    qtbot.waitUntil(lambda: dashboard.progress.state == "paused", timeout=30000)
    assert dashboard.progress.pause_button.text() == "Resume"
    assert len(dashboard.history) == 37  # every step before the pause reached the charts
    qtbot.wait(300)
    assert len(dashboard.history) == 37  # nothing trains while paused
    assert dashboard.worker.trainer.is_paused
    dashboard.progress.pause_button.click()  # Resume
    _wait_finished(qtbot, dashboard)
    assert dashboard.last_outcome.reason == "completed"
    assert len(dashboard.history) == 4 * 25
    assert np.array_equal(dashboard.history.step.data, np.arange(1, 101))


def test_nan_loss_stops_with_a_dialog_and_keeps_good_weights(qtbot, dashboard, spiral_project,
                                                             tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2)).astype(np.float32)
    x[150] = np.nan  # one bad row: the loss of the batch holding it is NaN
    # (NPZDataset refuses NaN samples when it reads them; let this one through, to reach the
    # guard that stops training on a NaN loss)
    monkeypatch.setattr("engine.data.datasets.tabular._check_finite", lambda *a: None)
    np.savez(tmp_path / "bad.npz", x=x, y=(x[:, 0] > 0).astype(np.int64))
    spiral_project.dataset.update(name="NPZ", options={"path": "bad.npz"})
    dashboard.show_dialogs = True
    assert dashboard.start_training()
    _wait_finished(qtbot, dashboard)
    out = dashboard.last_outcome
    assert out.reason == "nan"
    assert out.failure.kind == "nan" and "learning rate" in out.failure.text()
    assert out.failure.weights == str(out.weights)
    weights = engine.load(out.weights)
    assert all(np.isfinite(v.numpy()).all() for v in weights.values())
    box = dashboard.failure_box
    assert box is not None and box.isVisible() and "NaN" in box.text()
    box.close()


def test_dataset_error_is_explained(qtbot, dashboard, spiral_project, tmp_path):
    spiral_project.dataset.update(name="NPZ", options={"path": str(tmp_path / "absent.npz")})
    assert dashboard.start_training()
    _wait_finished(qtbot, dashboard)
    out = dashboard.last_outcome
    assert out.reason == "failed" and out.failure.kind == "data"
    assert "absent.npz" in out.failure.what
    assert out.record is None and out.weights is None  # nothing trained, no folder claimed
    assert out.failure.weights is None and "last good weights" not in out.failure.text()
    assert dashboard.last_failure is out.failure


def test_event_loop_stays_responsive_while_training(qtbot, dashboard, spiral_project):
    # long enough for well over 20 timer ticks even on a fast, idle machine
    spiral_project.training["epochs"] = 30
    late: list[float] = []
    last = [time.perf_counter()]
    interval_ms = 10

    def tick() -> None:
        now = time.perf_counter()
        late.append(max(0.0, (now - last[0]) * 1000 - interval_ms))
        last[0] = now

    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.PreciseTimer)
    timer.timeout.connect(tick)
    assert dashboard.start_training()
    timer.start(interval_ms)
    _wait_finished(qtbot, dashboard)
    timer.stop()
    assert dashboard.last_outcome.reason == "completed"
    assert len(late) > 20
    p99 = float(np.percentile(late, 99))
    assert p99 < 200, f"GUI timer lateness p99 {p99:.1f} ms"


def test_opening_another_project_mid_run_stops_it_and_keeps_runs_apart(qtbot, dashboard,
                                                                       spiral_project):
    from app.core.project import Project

    spiral_project.training["epochs"] = 200
    assert dashboard.start_training()
    qtbot.waitUntil(lambda: len(dashboard.history) >= 5, timeout=30000)
    other = Project.from_template("mlp_digits")
    dashboard.settings.set_project(other)  # File > Open in the editor does this
    _wait_finished(qtbot, dashboard)
    assert dashboard.last_outcome.reason == "stopped"
    assert list_runs(other) == [] and len(list_runs(spiral_project)) == 1
    assert dashboard.data_panel.dataset["name"] == "Digits"
    assert dashboard.runs.tree.topLevelItemCount() == 0
