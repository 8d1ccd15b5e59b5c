"""Run under mpiexec: Trainer(distributed=True) over N ranks equals a one-process Trainer whose
batches are the union of the ranks' batches (unshuffled loaders, so both see the same global
batches); validation metrics are exact sums over the ranks' shards; only rank 0 writes."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
from trainer_helpers import dataset, model, params  # noqa: E402

import engine.distributed as dist  # noqa: E402
import engine.optim as optim  # noqa: E402
from engine import nn  # noqa: E402
from engine.data import DataLoader  # noqa: E402
from engine.training import Callback, EventKind, Trainer  # noqa: E402

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
BS = 8
ckdir = Path(sys.argv[1])


def run(distributed, batch_size, dropout=0.0, shuffle=False, resume_from=None, **kw):
    m = model(dropout=dropout)
    events = []
    t = Trainer(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1, momentum=0.9),
                DataLoader(dataset(), batch_size=batch_size, shuffle=shuffle),
                DataLoader(dataset(50, seed=1), batch_size=10), epochs=2,
                distributed=distributed, callbacks=[events.append, *kw.pop("callbacks", [])],
                seed=5, **kw)
    return t, t.fit(resume_from=resume_from), m, events


t, r, m, events = run(True, BS, checkpoint_dir=ckdir)
assert type(t.net).__name__ == "DistributedDataParallel"
assert r.reason == "completed" and r.global_step == 2 * (96 // (BS * world)), r
saved = [e for e in events if e.kind is EventKind.CHECKPOINT]
assert (len(saved) > 0) == (rank == 0), (rank, len(saved))
if rank == 0:
    _, r1, m1, _ = run(False, BS * world)
    err = max(float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b in zip(params(m),
                                                                                 params(m1)))
    assert err < 1e-10, err
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert abs(r.history[-1][key] - r1.history[-1][key]) < 1e-10, key
    assert (ckdir / "last.safetensors").exists()
    print(f"TRAINER DDP OK world={world} rel_err={err:.2e}", flush=True)

# stop() on rank 0 only (as a GUI would) stops every rank at the same batch; the checkpoint
# (per-rank random state, shuffled DistributedSampler, dropout) resumes bit for bit.
_, r_full, m_full, _ = run(True, BS, dropout=0.3, shuffle=True)


class StopOnRank0(Callback):
    def on_batch_end(self, trainer, event):
        if rank == 0 and event.epoch == 1 and event.batch == 0:
            trainer.stop()


_, r_stop, _, _ = run(True, BS, dropout=0.3, shuffle=True, checkpoint_dir=ckdir / "s",
                      callbacks=[StopOnRank0()])
assert r_stop.reason == "stopped", r_stop
_, r_res, m_res, _ = run(True, BS, dropout=0.3, shuffle=True, checkpoint_dir=ckdir / "s",
                         resume_from=ckdir / "s" / "last.safetensors")
assert r_res.reason == "completed" and r_res.global_step == r_full.global_step
assert all(np.array_equal(a, b) for a, b in zip(params(m_res), params(m_full))), rank
print(f"TRAINER DDP RESUME OK rank {rank}", flush=True)

# A loader without a length, with gradient accumulation: the epoch ends inside an accumulation
# window whose last backward ran under no_sync(); the flush must still average the gradients.
import engine  # noqa: E402

ds = dataset()
xs, ys = ds.tensors
micro = [(xs[i:i + 8], ys[i:i + 8]) for i in range(0, 96, 8)]  # 12 batches of 8


class NoLength:
    def __iter__(self):
        return iter(micro)


def run_acc(loader, distributed):
    m = model(dropout=0.0)
    t = Trainer(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1), loader, epochs=1,
                distributed=distributed, accumulate_grad_batches=4)
    return t.fit(), m


if world == 2:
    r_acc, m_acc = run_acc(NoLength(), True)  # rank r: micro-batches r, r+2, ...: 6 each
    pairs = [(engine.cat([micro[2 * j][0], micro[2 * j + 1][0]]),
              engine.cat([micro[2 * j][1], micro[2 * j + 1][1]])) for j in range(6)]
    r_ref, m_ref = run_acc(pairs, False)
    assert r_acc.global_step == r_ref.global_step == 2
    err = max(float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
              for a, b in zip(params(m_acc), params(m_ref)))
    assert err < 1e-10, err
    print(f"TRAINER DDP ACCUMULATION OK rank {rank}", flush=True)
