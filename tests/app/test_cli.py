"""The ``layerforge`` command: each subcommand, and one clear stderr line for every mistake."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from torch_reference import torch_or_skip

import engine
from app.cli import main
from app.core.project import Project
from app.core.runner import RunControl, RunResult, train
from app.core.runs import list_runs, read_record
from app.core.settings import RunOverrides
from engine.export import read_weights, save_weights
from engine.graph import compile

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_version_and_help(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == "layerforge 0.1.0"
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "train      train a project headless" in out
    for command in ("train", "validate", "summary", "export", "new"):
        code, out, _ = run(capsys, command, "--help")
        assert code == 0 and out.startswith(f"usage: layerforge {command}")


@pytest.mark.parametrize(("argv", "message"), [
    (("train",), r"layerforge train: error: the following arguments are required: project"),
    (("train", "p.json", "--epochs", "zero"),
     r"argument --epochs: expected a whole number, got 'zero'"),
    (("train", "p.json", "--lr", "-1"), r"argument --lr: must be a positive number, got -1"),
    (("train", "p.json", "--bogus"), r"unrecognized arguments: --bogus"),
    (("export", "p.json", "--format", "tflite", "-o", "x"),
     r"argument --format: invalid choice: 'tflite'"),
    (("export", "p.json", "-o", "x"), r"the following arguments are required: --format"),
])
def test_wrong_arguments_give_one_line(capsys: pytest.CaptureFixture, argv: tuple,
                                       message: str) -> None:
    code, _, err = run(capsys, *argv)
    line = one_line(err)
    assert code == 2
    assert re.search(message, line), line
    assert line.endswith("--help')")


def test_bad_files_give_one_line(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, _, err = run(capsys, "validate", str(tmp_path / "missing.json"))
    assert code == 1 and one_line(err).endswith("missing.json: no such file")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format_version": 1, "graph": {"nodes": [}}')
    code, _, err = run(capsys, "summary", str(bad))
    assert code == 1 and "bad.json: line 1, column 43: invalid JSON" in one_line(err)


def test_validate(capsys: pytest.CaptureFixture, tmp_path: Path,
                  small_spiral: Callable[..., Project]) -> None:
    path = small_spiral(tmp_path).path
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 0 and "no problems (7 nodes, 354 parameters)" in out
    project = Project.load(path)
    project.graph.disconnect("tanh1", "fc2")
    project.graph.add_node("ReLU", "spare")
    project.graph.connect("fc3", "spare")
    project.save()
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert "error: fc2: input 0 is not connected" in out
    assert "warning: spare: does not lead to any Output" in out
    assert out.strip().endswith("2 error(s), 4 warning(s)")
    project.graph.connect("tanh1", "fc2")
    project.save()
    assert run(capsys, "validate", str(path))[0] == 0  # warnings only
    assert run(capsys, "validate", str(path), "--strict")[0] == 1


def test_summary(capsys: pytest.CaptureFixture, tmp_path: Path,
                 small_spiral: Callable[..., Project]) -> None:
    code, out, _ = run(capsys, "summary", str(small_spiral(tmp_path).path), "--batch-size",
                       "1000")
    assert code == 0
    assert "fc1 (Linear)" in out and "(N, 16)" in out
    assert "Total params: 354" in out and "Estimated training memory (batch 1000, adam)" in out


def test_new_and_templates(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "templates")
    assert code == 0 and "spiral" in out and "LeNet-5" in out
    target = tmp_path / "mine.json"
    code, out, _ = run(capsys, "new", str(target), "--template", "lenet5")
    assert code == 0 and Project.load(target).graph.info("conv1").output.shape == (6, 28, 28)
    code, _, err = run(capsys, "new", str(target))
    assert code == 2 and "already exists; use --force" in one_line(err)
    code, _, err = run(capsys, "new", str(tmp_path / "x.json"), "--template", "vgg")
    assert code == 1 and "no template named 'vgg'" in one_line(err)


def test_export_every_format(capsys: pytest.CaptureFixture, tmp_path: Path,
                             small_spiral: Callable[..., Project]) -> None:
    path = small_spiral(tmp_path).path
    code, _, err = run(capsys, "export", str(path), "--format", "npz", "-o", str(tmp_path))
    assert code == 1 and "no trained weights yet" in one_line(err)
    project = Project.load(path)
    weights = save_weights(compile(project.graph, seed=0).state_dict(), tmp_path / "w.npz")
    outputs = {"safetensors": tmp_path / "m.safetensors", "npz": tmp_path / "m.npz",
               "onnx": tmp_path / "m.onnx", "pytorch": tmp_path / "torch_model"}
    for fmt, out in outputs.items():
        code, stdout, err = run(capsys, "export", str(path), "--weights", str(weights),
                                "--format", fmt, "-o", str(out))
        assert code == 0, err
        assert f"wrote {out}" in stdout
    assert set(read_weights(outputs["safetensors"])) == set(read_weights(weights))
    assert (outputs["pytorch"] / "model.py").is_file()
    assert (outputs["pytorch"] / "weights.safetensors").is_file()
    onnx = pytest.importorskip("onnx")
    onnx.checker.check_model(onnx.load(str(outputs["onnx"])))
    bad = save_weights({"fc1.weight": np.zeros((3, 3), np.float32)}, tmp_path / "bad.npz")
    code, _, err = run(capsys, "export", str(path), "--weights", str(bad), "--format", "npz",
                       "-o", str(tmp_path / "x.npz"))
    assert code == 1 and "wrong shape: fc1.weight (3, 3) (the graph needs (16, 2))" in \
        one_line(err)
    code, _, err = run(capsys, "export", str(path), "--weights", str(weights), "--format",
                       "onnx", "-o", str(tmp_path / "no" / "such" / "m.onnx"))
    assert code == 1 and "does not exist" in one_line(err)


def test_train_resume_and_export_the_run(capsys: pytest.CaptureFixture, tmp_path: Path,
                                         small_spiral: Callable[..., Project]) -> None:
    path = small_spiral(tmp_path).path
    before = path.read_bytes()
    out_dir = tmp_path / "run"
    code, out, err = run(capsys, "train", str(path), "--epochs", "2", "--out", str(out_dir),
                         "--quiet")
    assert code == 0, err
    assert "epoch 2/2  loss" in out and "val_acc" in out
    names = sorted(p.name for p in out_dir.iterdir())
    events = [n for n in names if n.startswith("events.out.tfevents.")]
    assert len(events) == 1  # the metrics again, for TensorBoard
    assert [n for n in names if n not in events] == [
        ".lock", "best.safetensors", "checkpoints", "metrics.jsonl", "project.json", "run.json",
        "weights.safetensors"]
    assert sorted(p.name for p in (out_dir / "checkpoints").iterdir()) == [
        "best.safetensors", "last.safetensors"]
    log = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] + 1 for e in log if e["kind"] == "epoch_end"] == [1, 2]
    assert log[-1]["kind"] == "fit_end" and log[-1]["reason"] == "completed"
    record = read_record(out_dir)
    assert record["status"] == "completed" and record["epochs_completed"] == 2
    assert record["weights"] == "weights.safetensors" and record["source"] == "cli"
    assert path.read_bytes() == before  # a run never writes the project file
    [listed] = list_runs(Project.load(path))  # --out elsewhere: linked from runs/spiral/
    assert Path(listed["folder"]) == out_dir.resolve()
    code, out, err = run(capsys, "train", str(path), "--epochs", "3", "--out", str(out_dir),
                         "--resume", str(out_dir / "checkpoints" / "last.safetensors"), "--quiet")
    assert code == 0, err
    assert "epoch 3/3" in out and "epoch 1/3" not in out and f"writing to {out_dir}" in out
    assert read_record(out_dir)["epochs_completed"] == 3
    assert read_record(out_dir)["resumed"]
    code, _, err = run(capsys, "train", str(path), "--out", str(out_dir), "--resume",
                       str(out_dir / "weights.safetensors"))
    assert code == 1 and "is not a LayerForge training checkpoint" in one_line(err)
    assert one_line(err).endswith("to start from plain weights use --init-weights")
    code, _, err = run(capsys, "export", str(path), "--format", "onnx", "-o",
                       str(tmp_path / "m.onnx"))
    assert code == 0 and (tmp_path / "m.onnx").is_file()


def test_runs_never_share_a_folder(capsys: pytest.CaptureFixture, tmp_path: Path,
                                   small_spiral: Callable[..., Project]) -> None:
    """A folder that holds a run is never reused: --out twice gives OUT and OUT-2, and runs in
    the default place get ids of their own even within one second."""
    path = small_spiral(tmp_path).path
    for _ in range(2):
        code, out, err = run(capsys, "train", str(path), "--epochs", "1", "--quiet", "--out",
                             str(tmp_path / "same"))
        assert code == 0, err
    assert f"writing to {tmp_path / 'same-2'}" in out
    assert read_record(tmp_path / "same")["id"] == "same"
    assert read_record(tmp_path / "same-2")["id"] == "same-2"
    project = Project.load(path)
    for _ in range(2):
        assert run(capsys, "train", str(path), "--epochs", "1", "--quiet")[0] == 0
    runs = list_runs(project)
    assert len(runs) == 4 and len({r["folder"] for r in runs}) == 4
    defaults = [r for r in runs if Path(r["folder"]).parent == tmp_path / "runs" / "spiral"]
    assert len(defaults) == 2 and all(r["status"] == "completed" for r in runs)
    for r in runs:  # each log holds exactly its own run
        lines = (Path(r["folder"]) / "metrics.jsonl").read_text().splitlines()
        assert sum('"kind": "fit_start"' in line for line in lines) == 1


def test_a_template_trains_without_being_touched(capsys: pytest.CaptureFixture,
                                                 tmp_path: Path) -> None:
    from app.core.paths import user_data_dir
    from app.core.project import TEMPLATES_DIR

    template = TEMPLATES_DIR / "spiral.json"
    before = template.read_bytes()
    listing = sorted(TEMPLATES_DIR.parent.rglob("*"))
    code, out, err = run(capsys, "train", str(template), "--epochs", "1", "--quiet")
    assert code == 0, err
    assert template.read_bytes() == before and sorted(TEMPLATES_DIR.parent.rglob("*")) == \
        listing
    [record] = list_runs(Project.load(template))
    assert Path(record["folder"]).is_relative_to(user_data_dir())
    code, _, err = run(capsys, "new", str(tmp_path / "p.json"), "--template", str(template))
    assert code == 1 and "no template named" in one_line(err)
    code, _, err = run(capsys, "new", str(tmp_path / "p.json"), "--template", "../spiral")
    assert code == 1 and "no template named '../spiral'" in one_line(err)
    assert Project.from_template("spiral").to_dict().get("runs") is None


def test_export_never_overwrites_its_sources(capsys: pytest.CaptureFixture, tmp_path: Path,
                                             small_spiral: Callable[..., Project]) -> None:
    path = small_spiral(tmp_path).path
    assert run(capsys, "train", str(path), "--epochs", "1", "--quiet", "--out",
               str(tmp_path / "r"))[0] == 0
    weights = tmp_path / "r" / "weights.safetensors"
    sources = {p: p.read_bytes() for p in (path, weights)}
    for fmt, target in (("safetensors", path), ("onnx", path), ("safetensors", weights)):
        code, _, err = run(capsys, "export", str(path), "--weights", str(weights), "--format",
                           fmt, "-o", str(target))
        assert code == 1 and "would overwrite it" in one_line(err), err
    # PyTorch code named weights.py would write its weights to r/weights.safetensors
    code, _, err = run(capsys, "export", str(path), "--format", "pytorch", "-o",
                       str(tmp_path / "r" / "weights.py"))
    assert code == 1 and "the weights being exported" in one_line(err)
    assert {p: p.read_bytes() for p in sources} == sources
    assert not (tmp_path / "r" / "weights.py").exists()
    # an output named like another format is refused before anything is made
    for fmt, target, owner in (("npz", weights, "safetensors"),
                               ("pytorch", tmp_path / "mlp.onnx", "onnx")):
        code, _, err = run(capsys, "export", str(path), "--weights", str(weights), "--format",
                           fmt, "-o", str(target))
        assert code == 1 and f"named like {owner} but the export format is {fmt}" in \
            one_line(err), err
    assert not (tmp_path / "mlp.onnx").exists()
    assert {p: p.read_bytes() for p in sources} == sources


def test_resume_continues_exactly(tmp_path: Path, small_spiral: Callable[..., Project],
                                  quiet_train: Callable[..., RunResult]) -> None:
    project = Project.load(small_spiral(tmp_path).path)
    project.graph.add_node("Dropout", "drop", {"p": 0.2})  # draws random numbers too
    project.graph.disconnect("tanh2", "fc3")
    project.graph.chain("tanh2", "drop", "fc3")
    whole = quiet_train(project, tmp_path / "whole", epochs=3)
    quiet_train(project, tmp_path / "part", epochs=2)
    resumed = quiet_train(project, tmp_path / "part", epochs=3,
                          resume=tmp_path / "part" / "checkpoints" / "last.safetensors")
    assert resumed.folder == tmp_path / "part"
    assert [m["epoch"] for m in resumed.history][-1:] == [3]
    a, b = read_weights(whole.weights), read_weights(resumed.weights)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert resumed.history[-1]["train_loss"] == whole.history[-1]["train_loss"]


def test_train_refusals(capsys: pytest.CaptureFixture, tmp_path: Path,
                        small_spiral: Callable[..., Project]) -> None:
    path = small_spiral(tmp_path).path
    code, _, err = run(capsys, "train", str(path), "--devices", "cpu,cpu,cpu", "--batch-size",
                       "2")
    assert code == 1 and "batch size 2 is smaller than the 3 devices (cpu, cpu, cpu)" in \
        one_line(err)
    code, _, err = run(capsys, "train", str(path), "--devices", "cuda:0")
    reason = engine.cuda.unavailable_reason()
    if reason:  # no CuPy here: the engine's reason, on one line
        assert code == 1 and reason in one_line(err)
    code, _, err = run(capsys, "train", str(path), "--devices", "tpu:0")
    assert code == 1 and "tpu" in one_line(err)
    code, _, err = run(capsys, "train", str(path), "--resume", str(tmp_path / "none"))
    assert code == 1 and "--resume: no such file" in one_line(err)
    project = Project.load(path)
    project.graph.set_param("fc3", "out_features", 3)
    project.dataset["options"]["n_classes"] = 2
    project.save()
    code, _, err = run(capsys, "train", str(path))
    assert code == 1 and "fc3: outputs 3 class scores (N, 3) but Spirals has 2 classes; set " \
        "out_features to 2" in one_line(err)


def test_fine_tune_from_pytorch_weights(capsys: pytest.CaptureFixture, tmp_path: Path,
                                        small_spiral: Callable[..., Project]) -> None:
    torch = torch_or_skip()
    from safetensors.torch import save_file

    path = small_spiral(tmp_path).path
    graph = Project.load(path).graph
    state = {k: torch.full(tuple(v.shape), 0.01) for k, v in compile(graph).state_dict().items()}
    save_file(state, str(tmp_path / "torch.safetensors"))
    code, _, err = run(capsys, "train", str(path), "--epochs", "1", "--quiet", "--no-record",
                       "--init-weights", str(tmp_path / "torch.safetensors"), "--lr", "1e-9",
                       "--out", str(tmp_path / "ft"))
    assert code == 0, err
    trained = read_weights(tmp_path / "ft" / "weights.safetensors")
    np.testing.assert_allclose(trained["fc1.weight"], 0.01, atol=1e-6)  # tiny lr: still 0.01
    del state["fc3.bias"]
    save_file(state, str(tmp_path / "partial.safetensors"))
    code, _, err = run(capsys, "train", str(path), "--init-weights",
                       str(tmp_path / "partial.safetensors"))
    assert code == 1 and "do not match the graph: missing: fc3.bias" in one_line(err)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_loss_stops_and_keeps_the_last_good_weights(
        tmp_path: Path, small_spiral: Callable[..., Project],
        quiet_train: Callable[..., RunResult]) -> None:
    path = small_spiral(tmp_path).path
    project = Project.load(path)
    project.dataset["normalize"] = {"mean": [0.0, 0.0], "std": [1e-45, 1e-45]}  # inputs -> inf
    result = quiet_train(project, tmp_path / "nan")
    assert result.reason == "nan" and result.epochs_completed == 0
    assert "the loss became non-finite (nan) at epoch 1, batch 1" in result.message
    assert result.weights is None  # nothing good to keep: no step was taken
    assert read_record(tmp_path / "nan")["status"] == "nan"
    end = json.loads((tmp_path / "nan" / "metrics.jsonl").read_text().splitlines()[-1])
    assert end["reason"] == "nan"


def test_a_stop_request_ends_after_the_current_batch(tmp_path: Path,
                                                     small_spiral: Callable[..., Project],
                                                     quiet_train: Callable[..., RunResult]) -> None:
    project = Project.load(small_spiral(tmp_path).path)
    control = RunControl()
    control.stop("interrupted")
    result = quiet_train(project, tmp_path / "stop", control=control)
    assert result.reason == "interrupted" and result.epochs_completed == 0
    assert result.global_step == 0 and result.weights is None  # stopped before any step
    control = RunControl()
    steps = []

    def stop_after_one(event):  # noqa: ANN001, ANN202
        if event.kind.value == "batch_end":
            steps.append(event.step)
            control.stop("interrupted")

    result = train(project, out=tmp_path / "one", control=control, callbacks=[stop_after_one],
                   listed=False)
    assert result.reason == "interrupted" and steps == [1] and result.global_step == 1
    initial = compile(project.graph, seed=0).state_dict()
    trained = read_weights(result.weights)  # the weights after that one step were kept
    assert any(not np.array_equal(trained[k], v.numpy()) for k, v in initial.items())
    assert read_record(tmp_path / "one")["status"] == "interrupted"


def test_a_stopped_run_resumes_mid_epoch_exactly(tmp_path: Path,
                                                 small_spiral: Callable[..., Project],
                                                 quiet_train: Callable[..., RunResult]) -> None:
    """Ctrl-C keeps a checkpoint of the last whole step; --resume continues from that batch."""
    project = Project.load(small_spiral(tmp_path, batch_size=16).path)
    whole = quiet_train(project, tmp_path / "whole", epochs=2)
    control = RunControl()

    def stop_at_three(event):  # noqa: ANN001, ANN202
        if event.kind.value == "batch_end" and event.step == 3:
            control.stop("interrupted")

    stopped = train(project, RunOverrides(epochs=2), out=tmp_path / "part", control=control,
                    callbacks=[stop_at_three], listed=False)
    assert stopped.reason == "interrupted" and stopped.checkpoint is not None
    resumed = quiet_train(project, tmp_path / "part", epochs=2, resume=stopped.checkpoint)
    assert resumed.reason == "completed" and [m["epoch"] for m in resumed.history] == [1, 2]
    a, b = read_weights(whole.weights), read_weights(resumed.weights)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert resumed.history[-1]["train_loss"] == whole.history[-1]["train_loss"]


def test_subprocess_errors_have_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "app", "summary", str(tmp_path / "x.json")],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert one_line(proc.stderr) == f"layerforge: error: {tmp_path / 'x.json'}: no such file"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_cleanly_and_keep_weights(
        tmp_path: Path, sig: int, small_spiral: Callable[..., Project]) -> None:
    path = small_spiral(tmp_path, epochs=100000).path
    proc = subprocess.Popen([sys.executable, "-m", "app", "train", str(path), "--quiet",
                             "--out", str(tmp_path / "run")], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait for the first finished epoch
        line = proc.stdout.readline()
        if line.startswith("epoch 2/"):
            break
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert (tmp_path / "run" / "weights.safetensors").is_file()
    end = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert end["kind"] == "fit_end" and end["reason"] == "stopped"
    assert read_record(tmp_path / "run")["status"] == "interrupted"


def test_a_missing_x11_library_is_named_with_its_install_command(capsys, monkeypatch):
    """A minimal Debian lacks libxcb-cursor0: the window would abort inside Qt; instead one line
    says which library and how to install it, and the exit status is 1."""
    from app.cli import system_libs

    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setattr(system_libs, "_loads", lambda soname: soname != "libxcb-cursor.so.0")
    monkeypatch.setattr(system_libs.missing_xcb_libs, "__defaults__", (system_libs._loads,))
    code, _, err = run(capsys, str(ROOT / "resources" / "templates" / "spiral.json"))
    line = one_line(err)
    assert code == 1
    assert "Qt's X11 plugin needs libxcb-cursor.so.0" in line
    assert "sudo apt install libxcb-cursor0" in line and "sudo dnf install xcb-util-cursor" in line
    assert system_libs.missing_xcb_libs(lambda soname: True) == []  # a complete system
