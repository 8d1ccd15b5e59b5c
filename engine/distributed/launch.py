"""Run a training script on every rank: ``mpiexec -n 4 python -m engine.distributed.launch
train.py --epochs 3`` (or ``python -m engine.distributed.launch -n 4 train.py ...``, which calls
mpiexec itself).

On each rank the launcher joins the default process group (so the script's own
``init_process_group`` call is a no-op) and runs the script as ``__main__``. If the script raises
on any rank, every rank exits within a bounded time with a message naming the failing rank
(see ``process_group.fail_all_ranks``), instead of the others hanging in their next collective.
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from collections.abc import Sequence

from .process_group import DEFAULT_TIMEOUT_S

USAGE = """usage: python -m engine.distributed.launch [-n N] [--backend mpi|nccl] [--timeout S]
                                          (script.py | -m module) [args ...]

  -n N, --nproc N   start N processes with mpiexec (omit when already started by mpiexec)
  --backend B       'mpi' (host arrays over MPI, default) or 'nccl' (one GPU per rank)
  --timeout S       seconds any collective may wait before the job is declared stuck
"""

# Set by every MPI launcher we know of (MPICH/Hydra, Open MPI, PMIx, Intel MPI).
_MPI_ENV = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALRANKID")


def under_mpi() -> bool:
    """True when this process was started by mpiexec."""
    return any(k in os.environ for k in _MPI_ENV)


def _parse(argv: Sequence[str]) -> tuple[dict[str, object], list[str]]:
    opts: dict[str, object] = {"nproc": None, "backend": "mpi", "timeout": DEFAULT_TIMEOUT_S,
                               "module": None}
    args = list(argv)
    while args:
        a = args[0]
        if a in ("-h", "--help"):
            print(USAGE)
            raise SystemExit(0)
        if a in ("-n", "--nproc", "--backend", "--timeout", "-m"):
            if len(args) < 2:
                raise SystemExit(f"{a} needs a value\n{USAGE}")
            value = args[1]
            args = args[2:]
            if a == "-m":
                opts["module"] = value
                return opts, args
            if a in ("-n", "--nproc"):
                opts["nproc"] = int(value)
            elif a == "--backend":
                if value not in ("mpi", "nccl"):
                    raise SystemExit(f"--backend must be 'mpi' or 'nccl', got {value!r}")
                opts["backend"] = value
            else:
                opts["timeout"] = float(value)
            continue
        if a.startswith("-"):
            raise SystemExit(f"unknown option {a}\n{USAGE}")
        break
    if not args:
        raise SystemExit(f"no script to run\n{USAGE}")
    return opts, args


def _spawn(nproc: int, argv: Sequence[str]) -> int:
    from . import mpiexec_path  # noqa: PLC0415

    exe = mpiexec_path()
    if exe is None:
        raise SystemExit("mpiexec was not found: pip install 'layerforge[distributed]' (the "
                         "mpich wheel provides it) or start the ranks with your MPI's launcher")
    env = dict(os.environ)
    # One math-library thread per rank unless told otherwise (torchrun does the same): N ranks
    # each starting a thread per core would oversubscribe the machine.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    cmd = [exe, "-n", str(nproc), sys.executable, "-m", "engine.distributed.launch", *argv]
    return subprocess.call(cmd, env=env)


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    opts, rest = _parse(raw)
    if opts["nproc"] is not None and not under_mpi():
        forwarded = ["--backend", str(opts["backend"]), "--timeout", str(opts["timeout"])]
        if opts["module"] is not None:
            forwarded += ["-m", str(opts["module"])]
        return _spawn(int(opts["nproc"]), forwarded + rest)

    from . import default_group, init_process_group  # noqa: PLC0415
    from .process_group import fail_all_ranks  # noqa: PLC0415

    init_process_group(str(opts["backend"]), timeout=float(opts["timeout"]))
    group = default_group()
    try:
        if opts["module"] is not None:
            sys.argv = [str(opts["module"]), *rest]
            runpy.run_module(str(opts["module"]), run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(rest)
            runpy.run_path(rest[0], run_name="__main__")
    except SystemExit as exc:
        if exc.code in (None, 0):
            return 0
        if group.size > 1:
            fail_all_ranks(group, exc)
        raise
    except BaseException as exc:
        if group.size > 1:
            fail_all_ranks(group, exc)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
