"""The dashboard's widgets one by one, offscreen: charts, training panel (devices), data panel,
evaluation view, progress panel, failure descriptions, runs list and export dialog."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore

import engine
from app.core.failures import describe_failure
from app.core.history import RunHistory, sample_history
from app.core.predictions import confusion_matrix, sample_result
from app.core.project import Project
from app.dashboard.charts import TrainingCharts
from app.dashboard.evaluation import EvaluationView, to_qimage
from app.dashboard.failure_dialog import failure_dialog
from app.dashboard.progress import ProgressPanel, describe_progress, format_duration
from app.dashboard.settings import Settings
from app.dashboard.training_panel import DeviceChoice, TrainingPanel


# ---------------------------------------------------------------------- charts
def test_charts_draw_the_history_and_redraw_only_on_change(qtbot):
    charts = TrainingCharts(RunHistory())
    qtbot.addWidget(charts)
    charts.history.append_steps([1, 2, 3], [2.0, 1.5, 1.0], [0.1, 0.1, 0.1])
    assert not charts.refresh()  # hidden: nothing drawn until shown
    charts.show()
    charts.history.append_steps([4], [1.0], [0.1])
    assert charts.refresh()
    assert not charts.refresh()  # nothing new: no redraw
    assert charts.raw_curve.getData()[1].tolist() == [2.0, 1.5, 1.0, 1.0]
    ema_y = charts.ema_curve.getData()[1]
    assert ema_y[0] == 2.0 and 1.0 < ema_y[-1] < 2.0
    charts.set_smoothing(0)
    assert charts.ema_curve.getData()[1].tolist() == [2.0, 1.5, 1.0, 1.0]
    assert not charts.raw_curve.isVisible()
    charts.history.add_epoch({"epoch": 1, "step": 3, "val_loss": 1.2, "train_accuracy": 0.5,
                              "val_accuracy": 0.6})
    charts.refresh()
    assert charts.val_loss_curve.getData()[0].tolist() == [3.0]
    assert charts.val_acc_curve.getData()[1].tolist() == [0.6]
    assert charts.best_marker.getData()[1].tolist() == [1.2]
    assert charts.epoch_lines.getData()[0].tolist() == [3.0, 3.0]  # one boundary line


def test_charts_log_scale_hover_and_overlay(qtbot):
    charts = TrainingCharts(sample_history(300, 30))
    qtbot.addWidget(charts)
    charts.resize(800, 500)
    charts.show()
    charts.refresh(force=True)
    charts.set_log_scale(True)
    assert charts.loss_plot.ctrl.logYCheck.isChecked() and charts.log_check.isChecked()
    text = charts.describe_step(150.2)
    assert text.startswith("step 150") and "loss" in text and "lr" in text
    assert charts.describe_epoch(4.2).startswith("epoch 4")
    # hovering the loss chart shows the nearest step
    qtbot.wait(50)  # let the view range follow the data
    vb = charts.loss_plot.getViewBox()
    pos = vb.mapViewToScene(QtCore.QPointF(100, vb.viewRect().center().y()))
    assert charts.readout_at(pos).startswith("step 100")
    earlier = sample_history(300, 30, seed=5, name="earlier")
    charts.add_overlay(earlier)
    assert charts.overlays == [earlier]
    assert len(charts.loss_legend.items) == 5
    charts.clear_overlays()
    assert charts.overlays == [] and len(charts.loss_legend.items) == 4
    assert charts.history.lr_changes  # the sample run halves its lr: markers are there
    assert len(charts.lr_change_marker.getData()[0]) == len(charts.history.lr_changes)


def test_chart_redraw_with_100k_points_is_fast(qtbot):
    charts = TrainingCharts(RunHistory())
    qtbot.addWidget(charts)
    charts.resize(1000, 600)
    charts.show()
    full = sample_history(100_000, 3000)
    charts.history.append_steps(full.step.data, full.loss.data, full.lr.data)
    charts.refresh()
    charts.view.grab()
    times = []
    for i in range(5):
        charts.history.append_steps([100_001 + i], [0.1], [0.01])
        t0 = time.perf_counter()
        charts.refresh()
        charts.view.grab()  # paint it, offscreen
        times.append(time.perf_counter() - t0)
    # generous bound for a busy 2-core test machine; the benchmark measures the real figure
    assert min(times) < 0.25, times


# ---------------------------------------------------------------------- training panel
def test_device_list_without_gpus_shows_the_cpu_and_why(qtbot):
    if engine.cuda.is_available():
        pytest.skip("this machine has a GPU")
    panel = TrainingPanel(Settings(Project.from_template("mlp_digits")))
    qtbot.addWidget(panel)
    cores = os.cpu_count() or 1
    assert panel.device_list.count() == (3 if cores > 1 else 2)  # Auto, CPU, CPU replicas
    texts = [panel.device_list.item(i).text() for i in range(panel.device_list.count())]
    assert texts[0].startswith("Auto: the CPU") and all(t.startswith("CPU") for t in texts[1:])
    assert panel.device_list.item(0).checkState() == QtCore.Qt.Checked  # the template's
    reason = panel.device_reason.text()
    assert reason.startswith("No GPU") and "CuPy" in reason
    assert panel.can_train


def test_cpu_replicas_are_an_alternative_to_one_cpu(qtbot):
    devices = ([DeviceChoice("auto", "Auto", True),
                DeviceChoice("cpu", "CPU", True),
                DeviceChoice("cpu*2", "CPU × 2", True, "Faster for convolutional networks")],
               "No GPU: none here")
    project = Project.from_template("lenet5")
    assert project.training["devices"] == ["auto"]
    panel = TrainingPanel(Settings(project), devices=devices)
    qtbot.addWidget(panel)
    auto = panel.device_list.takeItem(0)  # "Auto", "CPU" and "CPU × n": one at a time
    panel.device_list.insertItem(2, auto)
    assert auto.checkState() == QtCore.Qt.Checked
    panel.device_list.item(0).setCheckState(QtCore.Qt.Checked)
    assert project.training["devices"] == ["cpu"] and auto.checkState() == QtCore.Qt.Unchecked
    assert panel.device_list.item(1).toolTip() == "Faster for convolutional networks"
    assert panel.device_list.item(0).checkState() == QtCore.Qt.Checked
    panel.device_list.item(1).setCheckState(QtCore.Qt.Checked)
    assert project.training["devices"] == ["cpu", "cpu"]  # what the Trainer's DataParallel takes
    assert panel.device_list.item(0).checkState() == QtCore.Qt.Unchecked
    assert panel.can_train
    panel.device_list.item(0).setCheckState(QtCore.Qt.Checked)
    assert project.training["devices"] == ["cpu"]
    assert panel.device_list.item(1).checkState() == QtCore.Qt.Unchecked
    project.training["devices"] = ["cpu", "cpu"]  # e.g. a project saved with two replicas
    panel.refresh()
    assert panel.device_list.item(1).checkState() == QtCore.Qt.Checked
    assert panel.device_list.item(0).checkState() == QtCore.Qt.Unchecked
    auto.setCheckState(QtCore.Qt.Checked)
    assert project.training["devices"] == ["auto"]
    assert panel.device_list.item(1).checkState() == QtCore.Qt.Unchecked


def test_impossible_device_choices_are_explained(qtbot):
    devices = ([DeviceChoice("cpu", "CPU", True), DeviceChoice("cuda:0", "GPU 0", True),
                DeviceChoice("cuda:1", "GPU 1", True)], None)
    project = Project.from_template("spiral")
    project.training["devices"] = ["cpu"]
    panel = TrainingPanel(Settings(project), devices=devices)
    qtbot.addWidget(panel)
    reasons = []
    panel.sigValidityChanged.connect(lambda ok, why: reasons.append((ok, why)))
    panel.device_list.item(1).setCheckState(QtCore.Qt.Checked)  # cpu + cuda:0
    assert project.training["devices"] == ["cpu", "cuda:0"]
    assert not panel.can_train and reasons[-1][0] is False
    assert panel.problem_label.text()  # CuPy missing here, or CPU mixed with GPUs on a GPU box
    panel.device_list.item(0).setCheckState(QtCore.Qt.Unchecked)
    panel.device_list.item(1).setCheckState(QtCore.Qt.Unchecked)
    assert "at least one device" in panel.reason
    from app.core.settings import device_problem
    assert "smaller than the 3 devices" in device_problem(["cpu", "cpu", "cpu"], 2)
    assert "stands alone" in device_problem(["auto", "cpu"], 64)


def test_training_panel_edits_the_project_and_follows_it(qtbot):
    project = Project.from_template("spiral")
    settings = Settings(project)
    panel = TrainingPanel(settings)
    qtbot.addWidget(panel)
    panel.epochs_spin.setValue(17)
    assert project.training["epochs"] == 17
    panel.optimizer_combo.setCurrentText("SGD")
    assert project.training["optimizer"]["name"] == "SGD"
    panel.opt_widgets["momentum"].setValue(0.5)
    assert project.training["optimizer"]["momentum"] == 0.5
    panel.schedule_combo.setCurrentText("StepLR")
    assert project.training["schedule"]["name"] == "StepLR"
    assert project.training["schedule"]["step_size"] == 17 // 3
    panel.clip_check.setChecked(True)
    assert project.training["grad_clip"] == 1.0
    panel.seed_check.setChecked(False)
    assert project.training["seed"] is None
    settings.set(("training", "batch_size"), 7)  # a change made elsewhere (undo)
    assert panel.batch_spin.value() == 7
    settings.set(("training", "optimizer"), {"name": "Adam", "lr": 0.005, "betas": [0.8, 0.9]})
    assert panel.opt_widgets["betas[0]"].value() == 0.8 and panel.lr_spin.value() == 0.005
    panel.opt_widgets["betas[1]"].setValue(0.95)
    assert project.training["optimizer"]["betas"] == [0.8, 0.95]


def test_panels_edit_through_the_editor_document_as_undoable_steps(qtbot):
    document = pytest.importorskip("app.gui.document")
    from app.dashboard.data_panel import DataPanel

    doc = document.GraphDocument(Project.from_template("spiral"))
    settings = Settings(doc)
    panel = DataPanel(settings, auto_preview=False)
    tpanel = TrainingPanel(settings)
    qtbot.addWidget(panel)
    qtbot.addWidget(tpanel)
    tpanel.epochs_spin.setValue(3)
    panel.choose_dataset("Digits")
    assert doc.project.dataset["name"] == "Digits"
    assert doc.project.graph.node("points").params["shape"] == [1, 8, 8]
    doc.undo_stack.undo()  # the dataset and the Input shape together
    assert doc.project.dataset["name"] == "Spirals"
    assert doc.project.graph.node("points").params["shape"] == [2]
    assert panel.dataset_combo.currentData() == "Spirals"
    doc.undo_stack.undo()
    assert doc.project.training["epochs"] == 30 and tpanel.epochs_spin.value() == 30


# ---------------------------------------------------------------------- data panel
def test_data_panel_preview_and_input_shape(qtbot):
    from app.dashboard.data_panel import DataPanel

    project = Project.from_template("mlp_digits")
    panel = DataPanel(Settings(project), auto_preview=False)
    qtbot.addWidget(panel)
    panel.load_preview()
    panel.wait_idle()
    p = panel.preview
    assert p is not None and p.sample_shape == (1, 28, 28) and p.class_counts.sum() == p.size
    assert panel.view.samples_view.count() == len(p.samples)
    panel.choose_dataset("Moons")
    assert project.graph.node(panel.settings.input_node()).params["shape"] == [2]
    panel.load_preview()
    panel.wait_idle()
    assert panel.preview.points is not None and len(panel.view.scatter_item.data) > 0
    panel._option_widgets["n_samples"].setValue(300)
    assert project.dataset["options"]["n_samples"] == 300
    panel.split_spin.setValue(0.25)
    assert project.dataset["validation_split"] == 0.25


def test_data_panel_csv_label_column_and_shape_from_the_data(qtbot, tmp_path):
    from app.dashboard.data_panel import DataPanel

    (tmp_path / "t.csv").write_text("a,b,c,label\n" + "\n".join(
        f"{i},{i * 2},{i % 3},{'yes' if i % 2 else 'no'}" for i in range(30)))
    project = Project.from_template("spiral")
    project.path = tmp_path / "p.json"
    panel = DataPanel(Settings(project), auto_preview=False)
    qtbot.addWidget(panel)
    panel.choose_dataset("CSV", {"path": "t.csv", "label_column": -1})
    combo = panel._option_widgets["label_column"]
    assert [combo.itemText(i) for i in range(combo.count())][:4] == ["a", "b", "c", "label"]
    combo.setCurrentIndex(3)
    assert project.dataset["options"]["label_column"] == "label"
    panel.load_preview()
    panel.wait_idle()
    assert panel.preview.sample_shape == (3,) and panel.preview.class_names
    assert project.graph.node("points").params["shape"] == [3]  # followed the data
    # a table is previewed as a table: the file's columns, its values and the class names
    table = panel.view.table
    assert panel.view.stack.currentWidget() is table
    headers = [table.horizontalHeaderItem(i).text() for i in range(table.columnCount())]
    assert headers == ["a", "b", "c", "label"]
    assert [table.item(3, i).text() for i in range(4)] == ["3", "6", "0", "yes"]


def test_empty_data_paths_are_refused_with_what_to_do(qtbot, tmp_path, monkeypatch):
    from app.dashboard.data_panel import DataPanel

    monkeypatch.chdir(tmp_path)
    (tmp_path / "cls").mkdir()  # an empty path must not scan the current directory
    project = Project.from_template("lenet5")
    project.path = tmp_path / "p.json"
    panel = DataPanel(Settings(project), auto_preview=False)
    qtbot.addWidget(panel)
    for name, key in (("CSV", "path"), ("ImageFolder", "root")):
        panel.choose_dataset(name, {key: ""})
        panel.load_preview()
        panel.wait_idle()
        text = panel.error_label.text()
        assert f"no {name} {'folder' if key == 'root' else 'file'} chosen yet" in text, text
        assert "Browse" in text and "not found" not in text



def test_data_panel_suggests_normalization(qtbot):
    from app.dashboard.data_panel import DataPanel

    project = Project.from_template("mlp_digits")
    project.dataset["normalize"] = None
    panel = DataPanel(Settings(project), auto_preview=False)
    qtbot.addWidget(panel)
    panel.suggest_statistics()
    panel.wait_idle()
    norm = project.dataset["normalize"]
    assert norm is not None and len(norm["mean"]) == 1 and 0 < norm["mean"][0] < 0.5
    assert panel.norm_check.isChecked()


def test_download_of_a_missing_dataset_fails_cleanly_offline(qtbot, tmp_path, monkeypatch):
    from app.core import dataset_tools
    from app.dashboard.data_panel import DataPanel
    from engine.data import DownloadError

    def offline(url, path, md5=None, **kw):
        kw["progress"](10, 100)
        raise DownloadError(f"{url}: offline")

    monkeypatch.setattr("engine.data.datasets.download.download_url", offline)
    project = Project.from_template("mlp_digits")
    project.path = tmp_path / "p.json"
    panel = DataPanel(Settings(project), auto_preview=False)
    qtbot.addWidget(panel)
    panel.choose_dataset("MNIST", {"root": "data"})
    assert panel.download_row.isVisibleTo(panel)
    panel.start_download()
    panel.wait_idle()
    assert "Download failed" in panel.download_label.text() and "offline" in \
        panel.download_label.text()
    ctx = dataset_tools.TaskContext()
    ctx.cancel()
    with pytest.raises(dataset_tools.Cancelled):
        ctx.progress(1, 2)


# ---------------------------------------------------------------------- evaluation
def test_confusion_matrix_cell_shows_its_samples_most_confident_first(qtbot):
    r = sample_result(200, classes=4, seed=1)
    np.testing.assert_array_equal(r.confusion, confusion_matrix(r.y_true, r.y_pred, 4))
    view = EvaluationView()
    qtbot.addWidget(view)
    view.set_result(r)
    assert view.grid.count() == 0  # hidden: drawn only when shown
    view.show()
    assert view.grid.count() == 48  # the overview grid
    # the axes carry titles beside the table: predicted above the columns, true along the rows
    top, side = view.predicted_title, view.true_title
    assert (top.text(), side.text()) == ("Predicted class", "True class")
    assert top.isVisible() and side.isVisible()
    table = view.matrix.geometry()
    assert top.geometry().bottom() <= table.top() and side.geometry().right() <= table.left()
    assert side.width() < side.height()  # drawn upright along the rows
    i, j = np.argwhere((r.confusion > 1) & ~np.eye(4, dtype=bool))[0]
    view.matrix.cellClicked.emit(int(i), int(j))
    shown = view.grid.shown
    assert len(shown) == r.confusion[i, j]
    assert all(r.y_true[k] == i and r.y_pred[k] == j for k in shown)
    conf = r.confidence[shown]
    assert (np.diff(conf) <= 0).all()
    view.show_mistakes()
    assert len(view.grid.shown) == min(int((r.y_true != r.y_pred).sum()), 120)
    assert to_qimage(np.zeros((3, 32, 32))).width() == 56 and to_qimage(np.zeros(2)) is None


# ---------------------------------------------------------------------- progress, errors
def test_progress_panel_states_and_text(qtbot):
    panel = ProgressPanel()
    qtbot.addWidget(panel)
    asked = []
    panel.sigPause.connect(lambda: asked.append("pause"))
    panel.sigResume.connect(lambda: asked.append("resume"))
    panel.set_state("running")
    assert not panel.start_button.isEnabled() and panel.stop_button.isEnabled()
    panel.pause_button.click()
    panel.set_state("paused")
    panel.pause_button.click()
    assert asked == ["pause", "resume"]
    panel.show_progress({"epoch": 2, "epochs": 4, "batch": 5, "batches": 10, "step": 15,
                         "samples_per_s": 1234.0, "eta_s": 75, "loss": 0.5})
    assert panel.bar.value() == 375 and panel.bar.format() == "38%"
    assert "Epoch 2/4" in panel.status.text() and "ETA 1:15" in panel.status.text()
    assert format_duration(3725) == "1:02:05" and format_duration(None) == "—"
    assert "1,234 samples/s" in describe_progress({"samples_per_s": 1234.0})
    panel.set_can_start(False, "no device")
    panel.set_state("idle")
    assert not panel.start_button.isEnabled() and panel.status.text() == "no device"


def test_failures_say_what_happened_and_what_to_try(qtbot):
    from engine.data import WorkerError

    oom = describe_failure(engine.OutOfMemoryError("cuda:0: out of memory"),
                           settings={"batch_size": 256})
    assert oom.kind == "oom" and any("try 128" in t for t in oom.tips)
    assert describe_failure(WorkerError("worker 1 died")).kind == "worker"
    crash = describe_failure(ZeroDivisionError("boom"))
    assert crash.kind == "crash" and "ZeroDivisionError" in crash.what and "boom" in \
        crash.details
    nan = describe_failure(reason="nan", message="loss is nan", settings={
        "optimizer": {"lr": 0.1}})
    assert "try 0.01" in nan.text()
    box = failure_dialog(oom)
    qtbot.addWidget(box)
    assert "out of memory" in box.text() and "batch size" in box.informativeText()
    with pytest.raises(ValueError, match="needs an exception"):
        describe_failure()


# ---------------------------------------------------------------------- runs, export
def test_runs_panel_names_sorts_compares_reloads_and_sees_new_runs(qtbot, tmp_path):
    from app.core.runner import train
    from app.core.settings import RunOverrides
    from app.dashboard.runs import COLUMNS, NAME, RunsPanel, run_history

    project = Project.from_template("spiral")
    project.dataset["options"]["n_samples"] = 200
    project.save(tmp_path / "p.json")
    train(project, RunOverrides(epochs=2, seed=1, lr=0.05), source="cli")
    train(project, RunOverrides(epochs=2, seed=2, lr=0.005), source="cli")
    panel = RunsPanel(project)
    qtbot.addWidget(panel)
    assert panel.tree.topLevelItemCount() == 2
    assert {"Name", "Optimizer", "LR", "Batch", "Val acc", "Seed"} <= set(COLUMNS)
    # named by what sets them apart; the table shows their settings and sorts as numbers
    names = sorted(panel.tree.topLevelItem(i).text(NAME) for i in range(2))
    assert names == ["lr 0.005 · seed 2", "lr 0.05 · seed 1"]
    lr = COLUMNS.index("LR")
    panel.tree.sortByColumn(lr, QtCore.Qt.AscendingOrder)
    assert [panel.tree.topLevelItem(i).text(lr) for i in range(2)] == ["0.005", "0.05"]
    # selecting runs is comparing them
    overlays = []
    panel.sigOverlayChanged.connect(overlays.append)
    panel.tree.topLevelItem(0).setSelected(True)
    panel.tree.topLevelItem(1).setSelected(True)
    assert len(overlays[-1]) == 2
    first = panel.tree.topLevelItem(0).data(NAME, QtCore.Qt.UserRole)
    assert len(run_history(first).epochs) == 2
    # a name of one's own, kept beside the record and shown in the legends
    panel.tree.topLevelItem(0).setText(NAME, "small steps")
    assert panel.name_of(first) == "small steps"
    assert (Path(first["folder"]) / "name.txt").read_text().strip() == "small steps"
    assert run_history(first, panel.name_of(first)).name == "small steps"
    reloads = []
    panel.sigReload.connect(reloads.append)
    panel.select(first["id"])
    panel.reload_button.click()
    assert reloads[-1]["id"] == first["id"] and panel.export_button.isEnabled()
    # a run started elsewhere (a terminal) shows up by itself while the panel is shown
    panel.show()
    changed = []
    panel.sigRunsChanged.connect(lambda: changed.append(1))
    train(project, RunOverrides(epochs=1, seed=3), source="cli")
    qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 3, timeout=10000)
    assert changed and panel.selected_run()["id"] == first["id"]  # still selected


def test_the_charts_compare_runs_on_every_axis_and_the_shown_run_once(qtbot, dashboard):
    from app.core.runner import train
    from app.core.settings import RunOverrides

    project = dashboard.project
    train(project, RunOverrides(epochs=4, lr=0.5), source="cli")  # a far larger lr
    dashboard.runs.refresh()
    assert dashboard.start_training()
    qtbot.waitUntil(lambda: dashboard.last_outcome is not None, timeout=60000)
    dashboard.show()
    dashboard.view_tabs.setCurrentWidget(dashboard.charts)
    for i in range(dashboard.runs.tree.topLevelItemCount()):
        dashboard.runs.tree.topLevelItem(i).setSelected(True)  # both: the shown one and the other
    overlays = dashboard.charts.overlays
    assert len(overlays) == 1 and overlays[0].name == "lr 0.5 · ep 4"
    dashboard.charts.reset_view()
    y_lo, y_hi = dashboard.charts.lr_plot.getViewBox().viewRange()[1]
    assert y_hi >= 0.5  # the compared run's learning rate is in view
    x_hi = dashboard.charts.acc_plot.getViewBox().viewRange()[0][1]
    assert x_hi >= 4  # and its four epochs


def test_export_dialog_writes_every_format(qtbot, dashboard, spiral_project, tmp_path):
    spiral_project.training["epochs"] = 1
    assert dashboard.start_training()
    qtbot.waitUntil(lambda: dashboard.last_outcome is not None, timeout=60000)
    dialog = dashboard.open_export()
    qtbot.addWidget(dialog)
    for fmt, name in (("npz", "m.npz"), ("onnx", "m.onnx"), ("pytorch", "code")):
        dialog.set_format(fmt)
        dialog.path_edit.setText(str(tmp_path / name))
        dialog.export()
        dialog.wait()
        assert dialog.error == "" and dialog.written, fmt
        assert all(p.exists() for p in dialog.written)
        assert str(dialog.written[0]) in dialog.report.text()
    assert {p.name for p in dialog.written} == {"model.py", "weights.safetensors"}
    dialog.set_format("safetensors")
    dialog.path_edit.setText(str(tmp_path / "no" / "such" / "dir" / "m.safetensors"))
    dialog.export()
    dialog.wait()
    assert dialog.written and dialog.written[0].exists()  # folders are created


def test_export_dialog_keeps_a_chosen_path_and_refuses_a_misnamed_one(qtbot, dashboard,
                                                                        spiral_project, tmp_path):
    spiral_project.training["epochs"] = 1
    assert dashboard.start_training()
    qtbot.waitUntil(lambda: dashboard.last_outcome is not None, timeout=60000)
    dialog = dashboard.open_export()
    qtbot.addWidget(dialog)
    default = dialog.path_edit.text()
    dialog.set_format("npz")
    assert dialog.path_edit.text() != default  # untouched: the run's default follows the format
    chosen = str(tmp_path / "mine" / "mlp.onnx")
    dialog.set_format("onnx")
    dialog.path_edit.clear()
    qtbot.keyClicks(dialog.path_edit, chosen)  # typed, as a person does
    dialog.set_format("npz")
    assert dialog.path_edit.text() == str(tmp_path / "mine" / "mlp.npz")
    dialog.set_format("pytorch")
    assert dialog.path_edit.text() == str(tmp_path / "mine" / "mlp")  # a folder of code
    # a PyTorch export to "mlp.onnx" is refused: no folder named like an ONNX file appears
    dialog.path_edit.setText(chosen)
    dialog.export()
    dialog.wait()
    assert "named like onnx" in dialog.error and "PyTorch" not in dialog.error
    assert not (tmp_path / "mine").exists()


def test_image_folder_preview_sets_the_input_shape(qtbot, tmp_path, image_folder):
    from app.dashboard.data_panel import DataPanel

    image_folder(tmp_path / "imgs")
    project = Project.from_template("lenet5")
    project.path = tmp_path / "p.json"
    panel = DataPanel(Settings(project), auto_preview=False)
    qtbot.addWidget(panel)
    panel.choose_dataset("ImageFolder", {"root": "imgs", "size": 16, "mode": "RGB"})
    panel.load_preview()
    panel.wait_idle()
    p = panel.preview
    assert p.sample_shape == (3, 16, 16) and p.dtype == "float32"
    assert p.class_names == ["cat", "dog"] and p.class_counts.tolist() == [3, 3]
    node = project.graph.node(panel.settings.input_node())
    assert node.params["shape"] == [3, 16, 16]


def test_training_panel_numbers_are_checked_not_changed(qtbot, monkeypatch):
    project = Project.from_template("mlp_digits")
    panel = TrainingPanel(Settings(project))
    qtbot.addWidget(panel)
    before = dict(project.training)
    for field, typed in ((panel.epochs_spin, "0"), (panel.batch_spin, "-5"),
                         (panel.batch_spin, "lots"), (panel.batch_spin, "1000000000"),
                         (panel.lr_spin, "inf"), (panel.opt_widgets["momentum"], "1.5")):
        field.edit.setText(typed)
        field.edit.editingFinished.emit()
        assert field.refused and field.edit.text() == typed, typed
        assert "expected" in field.message.text()
    assert project.training == before  # nothing refused was applied
    panel.batch_spin.edit.setText("32")
    panel.batch_spin.edit.editingFinished.emit()
    assert not panel.batch_spin.refused and project.training["batch_size"] == 32
    assert "Training memory ≈" in panel.memory_label.text() and "batch 32" in \
        panel.memory_label.text()
    monkeypatch.setattr("app.core.memory.device_memory", lambda device: (1 << 20, 1 << 30))
    panel.batch_spin.setValue(4096)  # far more than the 1 MiB free said here
    text = panel.memory_label.text()
    assert "but cpu has 1.0 MiB free: lower the batch size" in text, text
