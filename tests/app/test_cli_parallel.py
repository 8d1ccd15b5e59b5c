"""``layerforge train`` on several devices (data parallelism) and under mpiexec (distributed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.core.project import Project
from app.core.runner import RunResult, train
from app.core.runs import list_runs, read_record
from app.core.settings import RunOverrides, sync_batchnorm_for
from engine.export import read_weights

ROOT = Path(__file__).resolve().parents[2]


def test_two_cpu_replicas_train_like_one_device(tmp_path: Path,
                                                small_spiral: Callable[..., Project],
                                                quiet_train: Callable[..., RunResult]) -> None:
    """DataParallel sums the replicas' gradients, so the same seed gives the same run (up to
    float rounding) on ``cpu`` and on ``cpu,cpu``, odd last batches included."""
    project = small_spiral(tmp_path, batch_size=33)
    one = quiet_train(project, tmp_path / "one", epochs=2, devices=["cpu"])
    two = quiet_train(project, tmp_path / "two", epochs=2, devices=["cpu", "cpu"])
    assert one.reason == two.reason == "completed" and two.epochs_completed == 2
    a, b = read_weights(one.weights), read_weights(two.weights)
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-4, atol=1e-6)
    assert two.history[-1]["train_loss"] == pytest.approx(one.history[-1]["train_loss"],
                                                          rel=1e-4)
    assert (tmp_path / "two" / "checkpoints" / "last.safetensors").is_file()


def test_a_replica_run_gives_blas_its_threads_back(tmp_path: Path,
                                                   small_spiral: Callable[..., Project],
                                                   quiet_train: Callable[..., RunResult]) -> None:
    """CPU replicas run with one BLAS thread; after the run the count is what it was, so a
    plain run that follows (the window, run after run) trains bit for bit as before."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    project = small_spiral(tmp_path, batch_size=32)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        first = quiet_train(project, tmp_path / "first", epochs=1)
        during = []
        train(project, RunOverrides(epochs=1, devices=["cpu", "cpu"]), out=tmp_path / "two",
              listed=False, callbacks=[lambda e: during.append(blas_threads())])
        assert blas_threads() == before and set(map(tuple, during)) == {(1,) * len(before)}
        again = quiet_train(project, tmp_path / "again", epochs=1)
    a, b = read_weights(first.weights), read_weights(again.weights)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_devices_on_the_command_line(capsys: pytest.CaptureFixture, tmp_path: Path,
                                     small_spiral: Callable[..., Project]) -> None:
    path = small_spiral(tmp_path).path
    code = main(["train", str(path), "--devices", "cpu,cpu", "--epochs", "1", "--quiet",
                 "--no-record", "--out", str(tmp_path / "run")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "on cpu, cpu;" in out and "epoch 1/1  loss" in out
    code = main(["train", str(path), "--devices", "cpu,cpu", "--batch-size", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert "batch size 1 is smaller than the 2 devices (cpu, cpu)" in err


# ---------------------------------------------------------------------- distributed
def _mpi_ready() -> bool:
    try:
        import mpi4py  # noqa: F401, PLC0415
    except ImportError:
        return False
    return shutil.which("mpiexec") is not None


needs_mpi = pytest.mark.skipif(not _mpi_ready(), reason="needs mpiexec and mpi4py")


def _mpiexec(n: int, *argv: str, script: Path | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    target = [str(script)] if script is not None else ["-m", "app"]
    return subprocess.run(["mpiexec", "-n", str(n), sys.executable, *target, *argv],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


def _train_two_ranks_with(tmp_path: Path, project: Path, name: str, source: str,
                          *argv: str, timeout: float) -> subprocess.CompletedProcess:
    """``layerforge train --distributed --quiet --no-record`` of ``project`` on 2 ranks into
    ``tmp_path/run``, each rank started by the script ``source`` (saved as ``tmp_path/name``)."""
    script = tmp_path / name
    script.write_text(source)
    return _mpiexec(2, "train", str(project), "--distributed", "--quiet", "--no-record",
                    "--out", str(tmp_path / "run"), *argv, script=script, timeout=timeout)


@needs_mpi
def test_distributed_run_writes_once_and_resumes(capsys: pytest.CaptureFixture, tmp_path: Path,
                                                 small_spiral: Callable[..., Project]) -> None:
    path = small_spiral(tmp_path).path
    out = tmp_path / "run"
    proc = _mpiexec(2, "train", str(path), "--distributed", "--epochs", "2", "--quiet",
                    "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    # only rank 0 prints: one header, one line per epoch, one end line
    assert proc.stdout.count("training 'Spiral") == 1 and "on 2 ranks" in proc.stdout
    # each rank's process id, so a launcher's "BAD TERMINATION ... PID n" names a rank
    assert re.search(r"rank 0: pid \d+ on \S+, rank 1: pid \d+ on ", proc.stdout)
    assert proc.stdout.count("epoch 2/2  loss") == 1
    assert proc.stdout.count("training finished") == 1
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log if e["kind"] == "epoch_end"] == [0, 1]  # rank 0 only
    assert log[-1]["kind"] == "fit_end" and log[-1]["reason"] == "completed"
    names = sorted(p.name for p in out.iterdir())
    events = [n for n in names if n.startswith("events.out.tfevents.")]
    assert len(events) == 1  # TensorBoard's, written by rank 0 only
    assert [n for n in names if n not in events] == [
        ".lock", "best.safetensors", "checkpoints", "metrics.jsonl", "project.json", "run.json",
        "weights.safetensors"]
    assert read_record(out)["source"] == "mpi" and read_record(out)["status"] == "completed"
    assert len(read_record(out)["ranks"]) == 2
    assert len(list_runs(Project.load(path))) == 1  # recorded once, by rank 0
    ckpt = out / "checkpoints" / "last.safetensors"
    proc = _mpiexec(2, "train", str(path), "--distributed", "--epochs", "3", "--quiet",
                    "--no-record", "--out", str(out), "--resume", str(ckpt))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("epoch 3/3") == 1 and "epoch 1/3" not in proc.stdout
    # a 2-rank checkpoint cannot continue in one process: one line says why
    code = main(["train", str(path), "--quiet", "--no-record", "--out", str(tmp_path / "x"),
                 "--resume", str(ckpt)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "--resume:" in err
    assert err.endswith("was written by a run of 2 rank(s) but this run has 1; resume with the "
                        "same number of processes")


@needs_mpi
def test_a_distributed_run_that_cannot_start_says_so_once(
        tmp_path: Path, small_spiral: Callable[..., Project]) -> None:
    path = small_spiral(tmp_path).path
    for argv, message in ((("--devices", "tpu:0"), "unknown device 'tpu:0'"),
                          (("--resume", str(tmp_path / "none")), "--resume: no such file")):
        proc = _mpiexec(2, "train", str(path), "--distributed", "--quiet", "--no-record",
                        "--out", str(tmp_path / "run"), *argv, timeout=60)
        assert proc.returncode == 1, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], proc.stderr  # rank 0 only
        assert lines[0].startswith("layerforge: error: ")
    # only rank 1 fails to start: rank 0 says which and why
    proc = _train_two_ranks_with(tmp_path, path, "rank1.py", RANK_ONE_CANNOT_START, timeout=60)
    assert proc.returncode == 1 and proc.stderr.strip() == \
        "layerforge: error: rank 1 of 2 could not start: rank one has no data here"


RANK_ONE_CANNOT_START = """
import sys
import engine.distributed as dist
import app.core.runner as runner
from app.core.errors import RunSetupError

original = runner.build_run

def failing(*args, **kwargs):
    if dist.get_rank() == 1:
        raise RunSetupError("rank one has no data here")
    return original(*args, **kwargs)

runner.build_run = failing
from app.cli import main
sys.exit(main(sys.argv[1:]))
"""


RANK_ONE_AT_STEP = """
import os
import signal
import sys
import engine.distributed as dist
import engine.training.trainer as trainer_module

original = trainer_module.Trainer._train_batch

def patched(self, batch, b):
    if dist.get_rank() == 1 and self.global_step {when}:
        {action}
    return original(self, batch, b)

trainer_module.Trainer._train_batch = patched
from app.cli import main
sys.exit(main(sys.argv[1:]))
"""
FAILING_RANK = RANK_ONE_AT_STEP.format(
    when=">= 2", action='raise RuntimeError("rank one broke on purpose")')


@needs_mpi
def test_a_failing_rank_ends_every_rank_with_a_message(
        tmp_path: Path, small_spiral: Callable[..., Project]) -> None:
    path = small_spiral(tmp_path).path
    proc = _train_two_ranks_with(tmp_path, path, "failing.py", FAILING_RANK, "--epochs", "50",
                                 timeout=90)
    assert proc.returncode != 0
    assert "aborting all 2 ranks because rank 1 failed" in proc.stderr
    assert "rank one broke on purpose" in proc.stderr
    assert "epoch 50/50" not in proc.stdout


def test_cpu_replicas_train_batchnorm_like_one_cpu(tmp_path: Path,
                                                   quiet_train: Callable[..., RunResult]) -> None:
    """CPU replicas stand for one faster CPU: the app turns on SyncBatchNorm for them, so
    BatchNorm in training mode still sees the whole batch and the run matches one device."""
    assert sync_batchnorm_for(["cpu", "cpu"]) and not sync_batchnorm_for(["cpu"])
    assert not sync_batchnorm_for(["cuda:0", "cuda:1"])  # GPUs keep PyTorch's DataParallel
    data = json.loads((ROOT / "resources" / "templates" / "spiral.json").read_text())
    graph = data["graph"]
    graph["nodes"].insert(2, {"name": "bn1", "type": "BatchNorm1d", "params": {},
                              "pos": [450, 0]})
    graph["edges"] = [e for e in graph["edges"] if e != {"src": "fc1", "dst": "tanh1"}]
    graph["edges"] += [{"src": "fc1", "dst": "bn1"}, {"src": "bn1", "dst": "tanh1"}]
    # No bias before BatchNorm: its gradient is zero up to rounding, which Adam would blow up
    # into a random walk that differs between any two summation orders.
    next(n for n in graph["nodes"] if n["name"] == "fc1")["params"]["bias"] = False
    data["dataset"]["options"]["n_samples"] = 200
    data["training"]["batch_size"] = 32
    project = Project.from_dict(data, tmp_path / "spiral_bn.json")
    one = quiet_train(project, tmp_path / "one", epochs=2, devices=["cpu"])
    two = quiet_train(project, tmp_path / "two", epochs=2, devices=["cpu", "cpu"])
    assert one.reason == two.reason == "completed"
    a, b = read_weights(one.weights), read_weights(two.weights)
    assert any("running_mean" in k for k in a)
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-4, atol=1e-5, err_msg=k)


RANKS_NOT_ALIKE = """
import sys
import engine.distributed as dist
from app.cli import main

dist.init_process_group("mpi")
argv = sys.argv[1:]
if dist.get_rank() == 1:  # as if rank 1 were started with other options
    argv += ["--epochs", "3", "--batch-size", "16"]
sys.exit(main(argv))
"""


@needs_mpi
def test_ranks_started_unlike_are_refused_naming_the_rank(
        tmp_path: Path, small_spiral: Callable[..., Project]) -> None:
    """Different epochs or batch sizes on the ranks used to wait in a collective until the
    timeout; the start-up agreement says which rank differs, in what, and the fix."""
    path = small_spiral(tmp_path).path
    proc = _train_two_ranks_with(tmp_path, path, "unlike.py", RANKS_NOT_ALIKE, timeout=60)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "rank 1 has epochs 3 (rank 0: 30), batch size 16 (rank 0: 32)" in lines[0]
    assert "batches per epoch" in lines[0] and "Start every rank with the same" in lines[0]


STOPPED_RANK = RANK_ONE_AT_STEP.format(  # frozen: no error, no exit, no heartbeat
    when="== 2", action="os.kill(os.getpid(), signal.SIGSTOP)")


@needs_mpi
def test_a_stopped_rank_is_named_after_the_timeout(tmp_path: Path,
                                                   small_spiral: Callable[..., Project]) -> None:
    path = small_spiral(tmp_path).path
    proc = _train_two_ranks_with(tmp_path, path, "stopped.py", STOPPED_RANK, "--epochs", "50",
                                 "--timeout", "8", timeout=90)
    assert proc.returncode != 0
    assert "did not complete within 8 s" in proc.stderr, proc.stderr
    assert "rank 1 of 2 has not been heard from for" in proc.stderr
    assert "--timeout" in proc.stderr


def test_auto_devices_resolve_to_replicas_only_where_they_pay() -> None:
    from app.core.settings import resolve_devices
    from engine.graph import compile_graph

    def model(template: str):  # noqa: ANN202
        project = Project.from_template(template)
        return compile_graph(project.graph, project.data_spec())

    lenet, mlp, lstm = model("lenet5"), model("mlp_digits"), model("lstm_sequence")
    assert resolve_devices(["auto"], lenet, 64, cores=2) == ("cpu", "cpu")
    assert resolve_devices(["auto"], lenet, 64, cores=1) == ("cpu",)
    assert resolve_devices(["auto"], lenet, 3, cores=2) == ("cpu",)  # < 2 samples a replica
    assert resolve_devices(["auto"], lenet, 64, distributed=True, cores=2) == ("cpu",)
    assert resolve_devices(["auto"], mlp, 64, cores=2) == ("cpu",)
    assert resolve_devices(["auto"], lstm, 64, cores=2) == ("cpu",)
    assert resolve_devices(["cpu"], lenet, 64, cores=2) == ("cpu",)  # a choice stands
