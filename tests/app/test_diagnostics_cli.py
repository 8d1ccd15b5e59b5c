"""Diagnostics, warnings, TensorBoard files and the learning-rate finder from the command line
(``layerforge train --diagnostics``, ``layerforge lr-find``), one process and under mpiexec."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from diagnostics_helpers import read_events, relu_spiral

from app.cli import main
from app.core.project import Project
from app.core.runner import train
from app.core.settings import RunOverrides

ROOT = Path(__file__).resolve().parents[2]


def relu_spiral_file(tmp_path: Path, lr: float = 3.0, n_samples: int = 400) -> Path:
    path = tmp_path / "relu_spiral.json"
    return relu_spiral(lr, n_samples).save(path)


def test_every_run_writes_tensorboard_scalars(tmp_path: Path) -> None:
    path = relu_spiral_file(tmp_path, lr=0.1, n_samples=200)
    result = train(Project.load(path), RunOverrides(epochs=2), out=tmp_path / "run",
                   listed=False)
    acc = read_events(result.folder)
    loss = acc.Scalars("batch/loss")  # at most 20 points a second, and each epoch's end
    assert 2 <= len(loss) <= result.global_step and loss[-1].step == result.global_step
    assert {5, 10} <= {s.step for s in loss}
    assert [s.step for s in acc.Scalars("epoch/val_accuracy")] == [5, 10]
    assert acc.Scalars("epoch/val_accuracy")[-1].value == pytest.approx(
        result.history[-1]["val_accuracy"])
    assert acc.Tags()["histograms"] == []  # histograms come with diagnostics


def test_train_with_diagnostics_warns_prints_layers_and_logs_histograms(
        capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    path = relu_spiral_file(tmp_path)
    out_dir = tmp_path / "run"
    code = main(["train", str(path), "--epochs", "3", "--diagnostics", "2", "--quiet",
                 "--no-record", "--out", str(out_dir)])
    out, err = capsys.readouterr()
    assert code == 0, err
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert any(line.startswith("warning: relu") and "% of outputs are zero since epoch 1 — "
               "lower the learning rate, or use LeakyReLU" in line for line in warnings), out
    assert "  layers at step " in out and "zero/sat" in out and "  fc1    Linear" in out
    log = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    diags = [e for e in log if e["kind"] == "diagnostics"]
    assert [e["batch"] for e in diags[:3]] == [0, 2, 4] and "relu1/zero_fraction" in diags[0]
    assert any(e["kind"] == "warning" and e["rule"] == "dead" for e in log)
    acc = read_events(out_dir)
    assert {"fc1/activations", "fc1/output_gradients", "relu2/activations"} <= set(
        acc.Tags()["histograms"])
    assert len(acc.Histograms("fc1/activations")) == len(diags)
    assert [s.step for s in acc.Scalars("relu1/zero_fraction")] == [e["step"] for e in diags]


def test_lr_find_prints_the_curve_and_its_suggestion(capsys: pytest.CaptureFixture,
                                                      tmp_path: Path) -> None:
    path = Project.from_template("spiral").save(tmp_path / "spiral.json")
    before = path.read_bytes()
    csv = tmp_path / "curve.csv"
    code = main(["lr-find", str(path), "--steps", "60", "--csv", str(csv)])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("lr-find 'Spiral") and "60 steps from 1e-07 to 10" in lines[0]
    assert any(line.endswith("<- suggested") for line in lines)
    [suggested] = [line for line in lines if line.startswith("suggested learning rate: ")]
    lr = float(suggested.split()[3])
    assert 1e-3 < lr < 1.0 and "before its minimum at " in suggested
    assert lines[-1] == f"train with it: layerforge train {path} --lr {lr:.3g}"
    rows = csv.read_text().splitlines()
    assert rows[0] == "lr,loss,smoothed_loss" and 10 < len(rows) <= 61
    assert path.read_bytes() == before  # the project is not changed
    code = main(["lr-find", str(path), "--start", "1", "--end", "0.1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == "layerforge: error: --start (1) must be below --end (0.1)"


def _mpi_ready() -> bool:
    try:
        import mpi4py  # noqa: F401, PLC0415
    except ImportError:
        return False
    return shutil.which("mpiexec") is not None


@pytest.mark.slow
@pytest.mark.skipif(not _mpi_ready(), reason="needs mpiexec and mpi4py")
def test_under_mpiexec_rank_0_merges_the_ranks_statistics(tmp_path: Path) -> None:
    path = relu_spiral_file(tmp_path, lr=0.1, n_samples=256)
    out_dir = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(["mpiexec", "-n", "2", sys.executable, "-m", "app", "train",
                           str(path), "--distributed", "--epochs", "1", "--diagnostics", "2",
                           "--quiet", "--no-record", "--out", str(out_dir)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("  layers at step ") == 1  # rank 0 prints
    log = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    diags = [e for e in log if e["kind"] == "diagnostics"]
    assert diags and all(e["ranks"] == 2 for e in diags)
    acc = read_events(out_dir)
    # each rank saw 32 of the 64 samples of a global batch; rank 0's histogram covers both
    assert acc.Histograms("fc1/activations")[0].histogram_value.num == 64 * 16
