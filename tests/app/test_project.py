"""The project document: round trips, atomic saves, and load errors that name the place."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import engine
from app.core.datasets import build_datasets, data_spec
from app.core.errors import ProjectChangedError, ProjectError
from app.core.project import FORMAT_VERSION, Project, list_templates
from engine.graph import Graph, TensorType

TEMPLATES = ["lenet5", "lstm_sequence", "mlp_digits", "resnet_cifar10", "spiral",
             "transformer_text"]


def write(tmp_path: Path, data: object, name: str = "p.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_new_project_has_defaults_and_round_trips(tmp_path: Path) -> None:
    project = Project(Graph.sequential((2,), ("Linear", {"out_features": 2})), name="Tiny")
    assert project.training["batch_size"] == 64 and project.dataset["name"] == "Digits"
    path = project.save(tmp_path / "tiny.json")
    loaded = Project.load(path)
    assert loaded.to_dict() == project.to_dict()
    assert loaded.to_dict()["format_version"] == FORMAT_VERSION
    assert loaded.path == path and loaded.name == "Tiny"


def test_unknown_keys_survive_a_save(tmp_path: Path) -> None:
    data = Project.from_template("spiral").to_dict()
    data["plugin_state"] = {"colour": "teal"}
    data["training"]["warmup"] = 3
    data["dataset"]["options"]["turns"] = 2.0
    data["graph"]["nodes"][1]["params"]["future_param"] = 1
    path = write(tmp_path, data)
    project = Project.load(path)
    project.save()
    again = json.loads(path.read_text())
    assert again == data
    problems = project.validate()  # the unknown parameter is reported, not dropped
    assert [p.code for p in problems] == ["param"] and "future_param" in problems[0].message


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = Project.from_template("spiral")
    path = project.save(tmp_path / "p.json")
    before = path.read_bytes()
    project.name = "changed"

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        project.save()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def _good() -> dict:
    return Project.from_template("mlp_digits").to_dict()


def _with(change: object) -> dict:
    d = _good()
    change(d)  # type: ignore[operator]
    return d


@pytest.mark.parametrize(("content", "message"), [
    ("", r"p.json: the file is empty"),
    ('{"format_version": 1,', r"p.json: line 1, column 22: invalid JSON"),
    ("[]", r"expected a JSON object at the top level"),
    ({}, r"p.json: format_version: missing; is this a LayerForge project\?"),
    ({"format_version": "1"}, r"format_version: expected a positive integer, got '1'"),
    (_with(lambda d: d["graph"]["nodes"][1].update(type="Conv3d")),
     r"p.json: graph.nodes\[1\]: unknown layer type 'Conv3d'"),
    (_with(lambda d: d["graph"]["edges"].append({"src": "fc1", "dst": "nowhere"})),
     r"graph.edges\[5\]: no node named 'nowhere'"),
    (_with(lambda d: d["training"].update(batch_size="big")),
     r'training.batch_size: expected a whole number from 1 to 1,048,576, got "big"'),
    (_with(lambda d: d["training"]["optimizer"].update(name="Adamax")),
     r"training.optimizer.name: expected one of SGD, Adam"),
    (_with(lambda d: d["training"]["optimizer"].update(lr=0)),
     r"training.optimizer.lr: expected a number in \(0, 100\], got 0"),
    (_with(lambda d: d["training"]["optimizer"].update(lr=float("inf"))),
     r"training.optimizer.lr: expected a number in \(0, 100\], got Infinity"),
    (_with(lambda d: d["training"]["optimizer"].update(momentum=1.5)),
     r"training.optimizer.momentum: expected a number in \[0, 1\), got 1.5"),
    (_with(lambda d: d["training"]["optimizer"].update(betas=[0.9, 0.999])),
     r"training.optimizer.betas: SGD has no setting 'betas' \(it has: momentum, nesterov"),
    (_with(lambda d: d["training"].update(schedule={"name": "StepLR", "step_size": 0})),
     r"training.schedule.step_size: expected a whole number from 1 to 1,000,000, got 0"),
    (_with(lambda d: d["training"]["early_stopping"].update(monitor="val_f1")),
     r"training.early_stopping.monitor: expected one of val_loss, val_accuracy"),
    (_with(lambda d: d["dataset"].update(normalize={"mean": [0.1], "std": [float("inf")]})),
     r"dataset.normalize: expected null or"),
    (_with(lambda d: d["dataset"].update(name="Imagenet")),
     r"dataset.name: expected one of Digits, MNIST"),
    (_with(lambda d: d["dataset"].update(normalize={"mean": [0.1, 0.2], "std": [0.3]})),
     r"dataset.normalize: expected null or"),
    (_with(lambda d: d["dataset"].update(validation_split=1.5)),
     r"dataset.validation_split: expected a number in \[0, 1\)"),
    (_with(lambda d: d.update(runs={})), r"runs: expected a list of objects"),
    (_with(lambda d: d.update(training=[])), r"training: expected an object"),
    (_with(lambda d: d["training"].update(devices="cpu")), r"training.devices: expected a list"),
])
def test_load_errors_name_the_location(tmp_path: Path, content: object, message: str) -> None:
    path = write(tmp_path, content)
    before = path.read_bytes()
    with pytest.raises(ProjectError, match=message):
        Project.load(path)
    assert path.read_bytes() == before  # never touched


def test_newer_and_unreadable_files(tmp_path: Path) -> None:
    newer = _good()
    newer["format_version"] = FORMAT_VERSION + 1
    path = write(tmp_path, newer)
    before = path.read_bytes()
    with pytest.raises(ProjectError, match=r"format_version: 2 is newer than this LayerForge "
                                           r"reads \(1\); open it with a newer LayerForge"):
        Project.load(path)
    assert path.read_bytes() == before
    binary = tmp_path / "b.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff")
    with pytest.raises(ProjectError, match=r"b.json: byte 0: not a UTF-8 text file"):
        Project.load(binary)
    with pytest.raises(ProjectError, match=r"missing.json: no such file"):
        Project.load(tmp_path / "missing.json")
    with pytest.raises(ProjectError, match="is a folder, not a project file"):
        Project.load(tmp_path)


def test_templates_are_valid_and_match_their_datasets() -> None:
    assert list_templates() == TEMPLATES
    for name in TEMPLATES:
        project = Project.from_template(name)
        assert project.path is None
        assert project.validate() == [], name
        spec = project.data_spec()
        [inp] = project.graph.nodes_of_type("Input")
        assert spec is not None and spec.input == project.graph.info(inp.name).output, name
    mlp = Project.from_template("mlp_digits").graph
    assert [mlp.info(n).output for n in ("fc1", "fc2")] == [TensorType((128,)), TensorType((10,))]
    assert mlp.info("fc1").values["in_features"] == 784
    spiral = Project.from_template("spiral").graph
    assert [spiral.info(n).output.shape for n in ("points", "fc1", "fc2", "fc3")] == \
        [(2,), (16,), (16,), (2,)]
    assert {n.type for n in Project.from_template("resnet_cifar10").graph} >= {"Add",
                                                                                "BatchNorm2d"}
    with pytest.raises(ProjectError, match=r"no template named 'vgg' \(templates: lenet5"):
        Project.from_template("vgg")


def test_template_files_read_like_tables() -> None:
    from app.core.project import TEMPLATES_DIR

    for path in TEMPLATES_DIR.glob("*.json"):
        lines = path.read_text().splitlines()
        assert max(map(len, lines)) <= 100, path.name
        assert any(line.strip().startswith('{"src":') for line in lines)  # one edge per line


def test_dataset_checks_reach_validation() -> None:
    project = Project.from_template("mlp_digits")
    project.dataset["options"]["size"] = 8
    [p] = project.validate()
    assert p.code == "dataset" and p.message.endswith("set shape to [1, 8, 8]")


def test_runs_of_older_files_are_kept_and_listed(tmp_path: Path) -> None:
    """Older versions listed runs inside the project file; they stay there as they were (a save
    writes them back) and are listed with the runs found in the runs folder."""
    from app.core.runs import latest_weights, list_runs

    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "w.safetensors").write_bytes(b"x")
    data = Project.from_template("spiral").to_dict()
    data["runs"] = [{"id": "a", "weights": "runs/a/w.safetensors", "reason": "early_stopping",
                     "epochs": 3, "final": {"val_acc": 0.5}, "created": "2026-01-01T00:00:00"}]
    path = write(tmp_path, data)
    project = Project.load(path)
    [run] = list_runs(project)
    assert run["id"] == "a" and run["status"] == "early_stopped" and run["legacy"]
    assert run["final"] == {"val_accuracy": 0.5}
    assert latest_weights(project) == tmp_path / "runs" / "a" / "w.safetensors"
    project.name = "renamed"
    project.save()
    assert Project.load(path).to_dict()["runs"] == data["runs"]
    assert "runs" not in Project.from_template("spiral").to_dict()  # new projects: no list


def test_a_save_never_replaces_another_programs_change(tmp_path: Path) -> None:
    path = Project.from_template("spiral").save(tmp_path / "p.json")
    mine, theirs = Project.load(path), Project.load(path)
    theirs.name = "theirs"
    theirs.save()
    assert mine.changed_on_disk() and not theirs.changed_on_disk()
    mine.name = "mine"
    with pytest.raises(ProjectChangedError, match="was changed by another program") as caught:
        mine.save()
    assert caught.value.theirs["name"] == "theirs"
    assert Project.load(path).name == "theirs"  # nothing was written
    mine.save(replace_changes=True)  # the user chose to keep theirs out
    assert Project.load(path).name == "mine" and not mine.changed_on_disk()
    path.write_text(path.read_text())  # the same bytes again (a touch): not a change
    assert not mine.changed_on_disk()


def test_only_regular_files_of_sane_size_are_read(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(ProjectError, match="pipe.json: is not a regular file"):
        Project.load(fifo)  # would block for ever if it were opened
    with pytest.raises(ProjectError, match="is not a regular file"):
        Project.load("/dev/zero")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ProjectError, match="nested too deeply"):
        Project.load(deep)


@pytest.mark.parametrize(("dataset", "expected"), [
    ({"name": "Digits", "options": {"size": 8}}, (TensorType((1, 8, 8)), "class", 10, None)),
    ({"name": "CIFAR10", "options": {}}, (TensorType((3, 32, 32)), "class", 10, None)),
    ({"name": "Spirals", "options": {"n_classes": 3}}, (TensorType((2,)), "class", 3, None)),
    ({"name": "Blobs", "options": {"centers": 4, "n_features": 5}},
     (TensorType((5,)), "class", 4, None)),
    ({"name": "SequenceTask", "options": {"task": "adding", "seq_len": 7}},
     (TensorType((7, 2)), "regression", None, (1,))),
])
def test_data_spec_of_each_dataset(dataset: dict, expected: tuple) -> None:
    spec = data_spec(dataset)
    assert (spec.input, spec.label_kind, spec.num_classes, spec.target_shape) == expected
    assert data_spec({"name": "Imagenet"}) is None
    assert data_spec({"name": "CSV", "options": {"path": "x.csv"}}) is None  # a file: probed


def test_build_datasets_splits_and_augments() -> None:
    train, val = build_datasets({"name": "Spirals", "options": {"n_samples": 100},
                                 "validation_split": 0.2, "split_seed": 0})
    assert (len(train), len(val)) == (80, 20)
    x, y = train[0]
    assert tuple(x.shape) == (2,) and y in (0, 1)
    again, _ = build_datasets({"name": "Spirals", "options": {"n_samples": 100},
                               "validation_split": 0.2, "split_seed": 0})
    assert list(again.indices) == list(train.indices)  # the split is reproducible
    digits, none = build_datasets({"name": "Digits", "options": {"size": 8},
                                   "validation_split": 0.0,
                                   "transforms": [{"name": "RandomCrop", "size": 8,
                                                   "padding": 1}]})
    image, label = digits[0]
    assert none is None and tuple(image.shape) == (1, 8, 8) and image.dtype == engine.float32
    assert float(image.max()) <= 1.0


@pytest.mark.parametrize(("dataset", "message"), [
    ({"name": "Imagenet"}, r"dataset.name: unknown dataset 'Imagenet'; choose one of Digits"),
    ({"name": "Spirals", "options": {"n_classes": 0}},
     r"dataset.options: Spirals: n_classes must be >= 1, got 0"),
    ({"name": "Spirals", "options": {"colour": 1}}, r"dataset.options: Spirals: .*colour"),
    ({"name": "Digits", "options": {"size": 8}, "transforms": [{"name": "Sharpen"}]},
     r"dataset.transforms: unknown transform 'Sharpen'"),
    ({"name": "Spirals", "options": {"n_samples": 3}, "validation_split": 0.9},
     r"dataset.validation_split: 0.9 leaves no training samples out of 3"),
])
def test_build_datasets_errors_name_the_setting(dataset: dict, message: str) -> None:
    with pytest.raises(ProjectError, match=message):
        build_datasets(dataset)


def test_transformer_text_template_trains_offline(tmp_path: Path) -> None:
    """The Transformer text classifier learns its synthetic sentiment task in a few steps."""
    from app.core.runner import train
    from app.core.settings import RunOverrides

    project = Project.from_template("transformer_text")
    assert {n.type for n in project.graph} >= {"Embedding", "TransformerEncoderLayer"}
    result = train(project, RunOverrides(epochs=2, max_batches=40), out=tmp_path / "run",
                   listed=False)
    assert result.reason == "completed"
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < first["train_loss"] and last["val_accuracy"] > 0.75
