"""The network is checked against the data it will train on, before training, in every place:
``layerforge validate``, ``layerforge train``, the Problems panel and the window's Train. Files
(CSV, NPZ, image folders) are read once to know their samples and labels, and the answer is
cached until the file changes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.core import datasets
from app.core.project import Project
from app.core.run import build_run
from engine.graph import CompileError

FIX_CLASSES = "fc3: outputs 2 class scores (N, 2) but three.csv has 3 classes; set " \
              "out_features to 3"


def csv_project(tmp_path: Path, classes: int = 3) -> Path:
    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [f"{x:.3f},{y:.3f},{i % classes}"
                            for i, (x, y) in enumerate(rng.normal(size=(60, 2)))]
    (tmp_path / "three.csv").write_text("\n".join(rows) + "\n")
    project = Project.from_template("spiral")  # 2 features in, 2 class scores out (fc3)
    project.dataset.update(name="CSV", options={"path": "three.csv", "label_column": -1},
                           normalize=None)
    return project.save(tmp_path / "p.json")


def image_project(tmp_path: Path, image_folder) -> Path:  # noqa: ANN001
    image_folder(tmp_path / "imgs", per_class=4, size=(16, 16))
    project = Project.from_template("spiral")
    project.dataset.update(name="ImageFolder", options={"root": "imgs", "size": 16},
                           normalize=None)
    project.graph.set_param("points", "shape", [3, 16, 16])  # the Input follows the data...
    return project.save(tmp_path / "img.json")  # ...but fc1 gets images: no Flatten


def test_a_csv_with_more_classes_than_outputs_is_named_on_the_layer(capsys, tmp_path):
    path = csv_project(tmp_path)
    assert Project.load(path).validate() == []  # not read yet: nothing known, nothing said
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"error: {FIX_CLASSES}" in out
    assert main(["train", str(path), "--quiet", "--no-record"]) == 1
    err = capsys.readouterr().err.strip()
    assert FIX_CLASSES in err and len(err.splitlines()) == 1
    with pytest.raises(CompileError, match="set out_features to 3"):
        build_run(Project.load(path))
    [problem] = Project.load(path).validate()  # cached now: the editor sees it at once
    assert problem.node == "fc3" and problem.severity == "error"


def test_the_probe_is_cached_until_the_file_changes(tmp_path, monkeypatch):
    path = csv_project(tmp_path)
    project = Project.load(path)
    built = []
    real = datasets.build_datasets
    monkeypatch.setattr(datasets, "build_datasets",
                        lambda *a, **k: built.append(1) or real(*a, **k))
    assert project.data_spec(probe=True).num_classes == 3
    assert project.data_spec(probe=True).num_classes == 3
    assert len(built) == 1  # read once
    csv = tmp_path / "three.csv"
    csv.write_text(csv.read_text().replace(",2\n", ",1\n"))  # now 2 classes
    os.utime(csv, ns=(csv.stat().st_atime_ns, csv.stat().st_mtime_ns + 10 ** 9))
    assert project.data_spec(probe=True).num_classes == 2 and len(built) == 2
    assert project.validate(probe=True) == []


def test_images_into_a_linear_without_flatten_say_where_to_add_it(capsys, tmp_path,
                                                                   image_folder):
    path = image_project(tmp_path, image_folder)
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "error: fc1: receives (N, 3, 16, 16) batches, but a classifier's Linear needs " \
           "(N, features) to give (N, classes) scores: add a Flatten before fc1" in out
    project = Project.load(path)
    project.graph.add_node("Flatten", "flat")
    project.graph.disconnect("points", "fc1")
    project.graph.chain("points", "flat", "fc1")
    project.save()
    assert main(["validate", str(path)]) == 0
    capsys.readouterr()


def test_labels_a_network_cannot_take_are_refused_with_the_file(capsys, tmp_path):
    x = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    np.savez(tmp_path / "neg.npz", x=x, y=np.arange(20) - 3)
    project = Project.from_template("spiral")
    project.dataset.update(name="NPZ", options={"path": "neg.npz"})
    path = project.save(tmp_path / "p.json")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "neg.npz: y[0] is -3: class labels must be 0 to 999999; renumber the classes " \
           "from 0" in out  # the engine's NPZDataset says it, at build
    assert "-1 classes" not in out
    (tmp_path / "neg.npz").unlink()
    assert main(["validate", str(path)]) == 0  # a missing file: the data panel says so
    capsys.readouterr()


def test_problems_panel_and_train_in_the_window_say_it_before_training(qtbot, tmp_path):
    pytest.importorskip("pytestqt")
    from app.gui.main_window import MainWindow

    path = csv_project(tmp_path)
    win = MainWindow(Project.load(path), autosave=False)
    qtbot.addWidget(win)
    win.show()
    dash = win.training.dashboard
    dash.show_dialogs = False
    dash.data_panel.load_preview()  # what opening the Training tab does in the background
    dash.data_panel.wait_idle()
    qtbot.waitUntil(lambda: any(p.node == "fc3" for p in win.doc.problems), timeout=5000)
    assert FIX_CLASSES.removeprefix("fc3: ") in [p.message for p in win.doc.problems]
    assert "ready to train" not in win.problems.tree.topLevelItem(0).text(2)
    assert not win.training.train()  # refused before anything runs, with the located fix
    failure = dash.last_failure
    assert failure.kind == "graph" and "set out_features to 3" in failure.what
    assert failure.weights is None and dash.last_outcome is None
