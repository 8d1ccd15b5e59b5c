"""Run under mpiexec: ways a rank can go wrong. argv[1] picks one:

raise_in_collective   rank 1 raises while the others wait in an all_reduce
raise_while_busy      rank 1 raises while the others compute (no collective) for a long time
mismatch              rank 1 builds a different model; DistributedDataParallel must say so
timeout               rank 1 never joins the all_reduce; the others time out
excepthook            like raise_in_collective, without the launcher (init_process_group only)
trainer_raise         rank 1's loss function raises inside Trainer(distributed=True).fit()
"""

import sys
import time
from datetime import timedelta

import engine
import engine.distributed as dist
from engine import nn

mode = sys.argv[1]
dist.init_process_group("mpi", timeout=timedelta(seconds=2) if mode == "timeout" else None)
rank = dist.get_rank()
dist.barrier()
print(f"rank {rank} ready", flush=True)

if mode in ("raise_in_collective", "excepthook"):
    if rank == 1:
        time.sleep(0.3)
        raise ValueError("rank one broke on purpose")
    dist.all_reduce(engine.ones(3))
elif mode == "raise_while_busy":
    if rank == 1:
        raise ValueError("rank one broke on purpose")
    time.sleep(60)  # never reaches a collective: the failing rank's abort must end it
elif mode == "mismatch":
    engine.manual_seed(0)
    hidden = 8 if rank != 1 else 9
    model = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2))
    dist.DistributedDataParallel(model)
elif mode == "timeout":
    if rank == 1:
        time.sleep(60)
    dist.all_reduce(engine.ones(3))
elif mode == "trainer_raise":
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
    from trainer_helpers import dataset, model

    import engine.optim as optim
    from engine.data import DataLoader
    from engine.training import Trainer

    calls = []

    def loss_fn(out, y):
        calls.append(1)
        if rank == 1 and len(calls) == 3:
            raise RuntimeError("the loss failed on purpose")
        return nn.functional.cross_entropy(out, y)

    m = model()
    Trainer(m, loss_fn, optim.SGD(m.parameters(), lr=0.1), DataLoader(dataset(), batch_size=8),
            epochs=1, distributed=True).fit()
print(f"rank {rank} finished (unexpected)", flush=True)
