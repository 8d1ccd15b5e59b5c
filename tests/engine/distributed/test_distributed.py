"""engine.distributed under real MPI: each test starts ``mpiexec`` as a subprocess (with a
timeout) on this machine's loopback; the MPI-free parts run in-process. Skipped cleanly when
mpi4py or mpiexec is missing (``pip install 'layerforge[distributed]'``)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import engine.distributed as dist
from engine.distributed import launch

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = Path(__file__).resolve().parent / "mpi_scripts"
HAVE_MPI = importlib.util.find_spec("mpi4py") is not None and shutil.which("mpiexec") is not None
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="needs mpi4py and mpiexec "
                                                   "(pip install 'layerforge[distributed]')")


def run_mpi(n: int, script: str, *args: str, launcher: bool = True,
            timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    entry = ["-m", "engine.distributed.launch"] if launcher else []
    cmd = ["mpiexec", "-n", str(n), sys.executable, *entry, str(SCRIPTS / script), *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=str(ROOT))
    return proc, time.perf_counter() - start


# ---------------------------------------------------------------------- without MPI


def test_using_the_group_before_init_says_what_to_call():
    if dist.is_initialized():
        pytest.skip("a process group is running in this process")
    with pytest.raises(dist.DistributedError, match="call engine.distributed.init_process_group"):
        dist.get_rank()
    with pytest.raises(dist.DistributedError, match="unknown backend 'gloo'"):
        dist.init_process_group("gloo")


def test_launcher_argument_errors():
    with pytest.raises(SystemExit, match="no script to run"):
        launch.main(["--backend", "mpi"])
    with pytest.raises(SystemExit, match="--backend must be 'mpi' or 'nccl'"):
        launch.main(["--backend", "gloo", "train.py"])
    with pytest.raises(SystemExit, match="unknown option --fast"):
        launch.main(["--fast", "train.py"])


# ---------------------------------------------------------------------- with MPI


@needs_mpi
def test_collectives():
    proc, _ = run_mpi(3, "primitives.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("PRIMITIVES OK") == 3


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_shared_memory_all_reduce_equals_mpi(n):
    proc, _ = run_mpi(n, "shm_allreduce.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("SHM OK") == n


@needs_mpi
def test_shared_memory_all_reduce_can_be_turned_off():
    env = dict(os.environ, PYTHONPATH=str(ROOT), LAYERFORGE_SHM_ALLREDUCE="0")
    # One write per rank: under PYTHONUNBUFFERED a print of several arguments is several
    # writes, and the two ranks' words interleave on mpiexec's shared stdout.
    code = ("import sys, engine.distributed as d; d.init_process_group('mpi'); "
            "sys.stdout.write(f'SHM off={d.default_group().shm is None}\\n')")
    proc = subprocess.run(["mpiexec", "-n", "2", sys.executable, "-c", code], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("SHM off=True") == 2, proc.stdout


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_ddp_matches_single_process(n):
    proc, _ = run_mpi(n, "ddp_equivalence.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("DDP OK") == n
    for kind in ("mlp", "lenet", "lstm"):
        assert f"{kind} float64 world={n}" in proc.stdout


@needs_mpi
def test_failing_rank_stops_every_rank_with_its_name():
    proc, elapsed = run_mpi(3, "failures.py", "raise_in_collective")
    assert proc.returncode != 0 and elapsed < 30
    err = proc.stderr
    assert "[rank 1] failed:" in err and "ValueError: rank one broke on purpose" in err
    for r in (0, 2):
        assert f"[rank {r}] stopping: rank 1 of 3 failed (ValueError: rank one broke on " \
               f"purpose)" in err
    assert "finished (unexpected)" not in proc.stdout


@needs_mpi
def test_failing_rank_stops_ranks_that_are_busy_computing():
    proc, elapsed = run_mpi(2, "failures.py", "raise_while_busy")
    assert proc.returncode != 0 and elapsed < 30  # the others sleep 60 s
    assert "[rank 0] stopping: rank 1 of 2 failed" in proc.stderr


@needs_mpi
def test_failure_without_the_launcher_uses_the_excepthook():
    proc, elapsed = run_mpi(2, "failures.py", "excepthook", launcher=False)
    assert proc.returncode != 0 and elapsed < 30
    assert "[rank 0] stopping: rank 1 of 2 failed (ValueError" in proc.stderr


@needs_mpi
def test_model_mismatch_is_detected_at_start():
    proc, elapsed = run_mpi(2, "failures.py", "mismatch")
    assert proc.returncode != 0 and elapsed < 30
    msg = ("entry 0 is parameter 0.weight [8, 4] float32 on rank 0 but parameter 0.weight "
           "[9, 4] float32 on rank 1")
    assert proc.stderr.count(msg) == 2  # both ranks say it


@needs_mpi
def test_stuck_rank_is_caught_by_the_timeout():
    proc, elapsed = run_mpi(2, "failures.py", "timeout")
    assert proc.returncode != 0 and elapsed < 30  # the stuck rank sleeps 60 s
    assert "all_reduce did not complete within 2 s" in proc.stderr
    assert "[rank 1] stopping: rank 0 of 2 failed (CollectiveTimeoutError" in proc.stderr


@needs_mpi
def test_trainer_failure_on_one_rank_ends_the_run_everywhere():
    # without the launcher: the Trainer itself ends every rank (a CLI may catch exceptions)
    proc, elapsed = run_mpi(2, "failures.py", "trainer_raise", launcher=False)
    assert proc.returncode != 0 and elapsed < 30
    assert "[rank 1] failed:" in proc.stderr
    assert "[rank 0] stopping: rank 1 of 2 failed (RuntimeError: the loss failed on purpose)" \
        in proc.stderr


@needs_mpi
def test_trainer_distributed_equals_one_process(tmp_path):
    proc, _ = run_mpi(2, "trainer_ddp.py", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "TRAINER DDP OK world=2" in proc.stdout
    assert proc.stdout.count("TRAINER DDP RESUME OK") == 2
    assert (tmp_path / "last.safetensors").exists()


@needs_mpi
def test_launcher_starts_mpiexec_itself():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "engine.distributed.launch", "-n", "2",
                           str(SCRIPTS / "primitives.py")], capture_output=True, text=True,
                          timeout=120, env=env, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("PRIMITIVES OK") == 2


@needs_mpi
@pytest.mark.slow
def test_parallel_benchmark_smoke():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "parallel_bench.py"),
                           "--smoke"], capture_output=True, text=True, timeout=300,
                          cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr
    for word in ("scaling", "ceiling", "overhead  mlp", "overhead  lenet", "mlp    floor",
                 "mlp    a DDP adding nothing but that traffic",
                 "buckets   wide"):
        assert word in proc.stdout
