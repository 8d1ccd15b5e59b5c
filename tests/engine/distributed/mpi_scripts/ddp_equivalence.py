"""Run under mpiexec -n 2 or 3: DistributedDataParallel gives the parameters of single-process
training on the same global batches (each rank trains on its slice), for an MLP, a LeNet with
BatchNorm in eval mode and an LSTM, in float64 and float32; bucketing makes one collective call
per bucket; no_sync accumulates locally and the next synced backward averages the total;
SyncBatchNorm in training mode matches whole-batch BatchNorm."""

import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "parallel"))
from parallel_models import KINDS, loss_fn, make_batch, make_model, max_rel_err  # noqa: E402

import engine  # noqa: E402
import engine.distributed as dist  # noqa: E402
import engine.optim as optim  # noqa: E402
from engine import nn  # noqa: E402
from engine.distributed import DistributedDataParallel as DDP  # noqa: E402
from engine.parallel import SyncBatchNorm, plan_buckets  # noqa: E402

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
GLOBAL = 12  # divisible by 2 and 3: equal local batches, so the mean of means is the mean
TOL = {"float64": 1e-10, "float32": 1e-5}
local = slice(rank * GLOBAL // world, (rank + 1) * GLOBAL // world)

# Tiny buckets (several per model), then the default (one bucket: the Linear layers' weight
# gradients are then computed straight into its shared-memory segment, gradient_as_bucket_view).
for kind, dtype, cap in itertools.product(KINDS, ("float64", "float32"), (0.0001, None)):
    model = make_model(kind, dtype, seed=rank)  # different init: DDP must broadcast rank 0's
    ref = make_model(kind, dtype, seed=0)
    ddp = DDP(model, bucket_cap_mb=cap)
    opt = optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    ref_opt = optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(7)
    n_buckets = len(plan_buckets([(p.shape, p.dtype) for p in model.parameters()],
                                 cap or 25.0))
    assert n_buckets >= 2 if cap else n_buckets == 1, "the test wants several buckets"
    for step in range(10):
        x, y = make_batch(kind, GLOBAL, rng, dtype)
        dist.reset_collective_stats()
        calls_before = ddp.reduce_calls
        opt.zero_grad()
        loss_fn(ddp(x[local]), y[local]).backward()
        assert ddp.reduce_calls - calls_before == n_buckets
        assert dist.collective_stats()["by_kind"].get("all_reduce", 0) == n_buckets
        opt.step()
        ref_opt.zero_grad()
        loss_fn(ref(x), y).backward()
        ref_opt.step()
        if step == 0:
            err1 = max_rel_err(list(model.parameters()), list(ref.parameters()))
            assert err1 < TOL[dtype], (kind, dtype, "one step", err1)
    err = max_rel_err(list(model.parameters()), list(ref.parameters()))
    assert err < TOL[dtype], (kind, dtype, err)
    # Ten steps, each computing every Linear weight and bias gradient in place.
    linear = sum(1 + (m.bias is not None) for m in model.modules() if isinstance(m, nn.Linear))
    assert ddp.in_place_gradients == (0 if cap else 10 * linear), ddp.in_place_gradients
    assert ddp.parameters_in_sync(), (kind, dtype)
    assert list(ddp.state_dict()) == ["module." + k for k in model.state_dict()]
    if rank == 0:
        print(f"{kind} {dtype} world={world} rel_err={err:.2e}", flush=True)

# no_sync: two local micro-batches accumulated, one averaged reduction = the global mean
model = make_model("mlp", seed=rank)
ddp = DDP(model)
ref = make_model("mlp", seed=0)
rng = np.random.default_rng(3)
xa, ya = make_batch("mlp", GLOBAL, rng)
xb, yb = make_batch("mlp", GLOBAL, rng)
calls = ddp.reduce_calls
with ddp.no_sync():
    loss_fn(ddp(xa[local]), ya[local]).backward()
assert ddp.reduce_calls == calls
loss_fn(ddp(xb[local]), yb[local]).backward()
(loss_fn(ref(xa), ya) + loss_fn(ref(xb), yb)).backward()
grads = [p.grad for p in model.parameters()]
assert max_rel_err(grads, [p.grad for p in ref.parameters()]) < 1e-10

# Two synced backwards with no zero_grad between: the first goes into the bucket in place, the
# second adds to those averaged gradients and is averaged again (as in PyTorch: the sum)
model = make_model("mlp", seed=rank)
ddp = DDP(model)
ref = make_model("mlp", seed=0)
placed = ddp.in_place_gradients
loss_fn(ddp(xa[local]), ya[local]).backward()
loss_fn(ddp(xb[local]), yb[local]).backward()
assert ddp.in_place_gradients - placed == len(list(model.parameters())), ddp.in_place_gradients
(loss_fn(ref(xa), ya) + loss_fn(ref(xb), yb)).backward()
assert max_rel_err([p.grad for p in model.parameters()],
                   [p.grad for p in ref.parameters()]) < 1e-10
assert ddp.parameters_in_sync()

# SyncBatchNorm in training mode: statistics over the global batch, as one process computes them
def bn_net(seed):
    engine.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3 * 8 * 8, 3)).to(dtype=engine.float64)


model = SyncBatchNorm.convert_sync_batchnorm(bn_net(rank))
ref = bn_net(0)
ddp = DDP(model)
opt = optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
ref_opt = optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
rng = np.random.default_rng(5)
for _ in range(3):
    x, y = make_batch("lenet", GLOBAL, rng)
    opt.zero_grad()
    loss_fn(ddp(x[local]), y[local]).backward()
    opt.step()
    ref_opt.zero_grad()
    loss_fn(ref(x), y).backward()
    ref_opt.step()
assert max_rel_err(list(model.parameters()), list(ref.parameters())) < 1e-10
assert max_rel_err([model[1].running_mean, model[1].running_var],
                   [ref[1].running_mean, ref[1].running_var]) < 1e-10
print(f"DDP OK rank {rank}", flush=True)
