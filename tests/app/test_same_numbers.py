"""One project, one seed, one set of numbers: pressing Train in the real window, ``layerforge
train`` and ``mpiexec -n 1 layerforge train --distributed`` give identical per-epoch metrics and
bit-identical weights, for every template that trains offline (they all build their run with
``build_run`` and train it with ``runner.train``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.core.datasets import DATASETS
from app.core.project import Project, list_templates
from engine.export import read_weights

ROOT = Path(__file__).resolve().parents[2]
OFFLINE = [t for t in list_templates()
           if DATASETS[Project.from_template(t).dataset["name"]].offline]
TIMING = ("epoch_time_s", "samples_per_s", "elapsed_s", "eta_s")


def _epochs(folder: Path) -> list[dict]:
    """The per-epoch metrics of a run's log, without the timings (which no two runs share)."""
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING and k != "message"}
            for r in rows if r["kind"] == "epoch_end"]


def _blas_threads() -> int:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    counts = {i["num_threads"] for i in threadpoolctl.threadpool_info()
              if i["user_api"] == "blas"}
    assert len(counts) == 1, counts
    return counts.pop()


def _train_in_the_window(qtbot, path: Path) -> Path:
    from app.gui.main_window import MainWindow

    win = MainWindow(Project.load(path), autosave=False)
    qtbot.addWidget(win)
    win.show()
    host = win.training
    dash = host.dashboard
    dash.show_dialogs = False
    host.act_train.trigger()  # what the Train button and Ctrl+T do
    qtbot.waitUntil(lambda: dash.last_outcome is not None, timeout=120000)
    assert dash.last_outcome.reason == "completed", dash.last_outcome.message
    return dash.last_outcome.run_dir


def test_the_offline_templates_are_the_expected_ones() -> None:
    assert set(OFFLINE) == {"spiral", "mlp_digits", "lenet5", "lstm_sequence", "transformer_text"}


@pytest.mark.slow
@pytest.mark.parametrize("template", OFFLINE)
def test_window_cli_and_mpiexec_train_to_the_same_numbers(qtbot, tmp_path: Path,
                                                          template: str) -> None:
    project = Project.from_template(template)
    project.training["epochs"] = 2
    # One device everywhere: a rank of mpiexec is one process on the plain CPU, while "auto"
    # may pick replicas in one process (see the next test).
    project.training["devices"] = ["cpu"]
    path = project.save(tmp_path / f"{template}.json")

    gui = _train_in_the_window(qtbot, path)
    assert main(["train", str(path), "--quiet", "--out", str(tmp_path / "cli")]) == 0
    folders = {"window": gui, "cli": tmp_path / "cli"}
    if shutil.which("mpiexec"):
        pytest.importorskip("mpi4py")
        # BLAS's thread count changes a GEMM's last bits: the rank gets this process's own
        # (which earlier tests may have changed), as two programs on one machine would share
        threads = str(_blas_threads())
        env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS=threads,
                   OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        proc = subprocess.run(["mpiexec", "-n", "1", sys.executable, "-m", "app", "train",
                               str(path), "--distributed", "--quiet", "--out",
                               str(tmp_path / "mpi")], capture_output=True, text=True,
                              cwd=ROOT, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        folders["mpiexec"] = tmp_path / "mpi"
    cli_epochs, cli_weights = _epochs(folders["cli"]), read_weights(folders["cli"] /
                                                                    "weights.safetensors")
    assert len(cli_epochs) == 2
    for where, folder in folders.items():
        assert _epochs(folder) == cli_epochs, where
        weights = read_weights(folder / "weights.safetensors")
        assert set(weights) == set(cli_weights)
        for k, v in cli_weights.items():
            assert np.array_equal(weights[k], v), (where, k)


@pytest.mark.slow
def test_auto_devices_pick_replicas_for_a_cnn_the_same_in_the_window_and_the_cli(
        qtbot, tmp_path: Path) -> None:
    """The templates train on "auto": LeNet-5 over one CPU replica per core (faster on a
    multi-core CPU), an MLP on the plain CPU; the window and the command line choose alike."""
    from app.core.runs import read_record

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: auto is the plain CPU")
    for template, replicas in (("lenet5", True), ("mlp_digits", False)):
        project = Project.from_template(template)
        assert project.training["devices"] == ["auto"]
        project.training["epochs"] = 1
        path = project.save(tmp_path / f"{template}.json")
        gui = _train_in_the_window(qtbot, path)
        cli = tmp_path / f"cli-{template}"
        assert main(["train", str(path), "--quiet", "--out", str(cli)]) == 0
        for folder in (gui, cli):
            devices = read_record(folder)["settings"]["devices"]
            assert (len(devices) > 1) == replicas and set(devices) == {"cpu"}, devices
        assert _epochs(gui) == _epochs(cli)
        a, b = read_weights(gui / "weights.safetensors"), read_weights(cli / "weights.safetensors")
        assert all(np.array_equal(a[k], b[k]) for k in a)
