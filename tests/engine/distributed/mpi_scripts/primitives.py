"""Run under mpiexec: every collective of engine.distributed against what it must give."""

import numpy as np

import engine
import engine.distributed as dist

dist.init_process_group("mpi")
dist.init_process_group("mpi")  # a second call with the same backend is a no-op
rank, world = dist.get_rank(), dist.get_world_size()
assert dist.is_initialized() and dist.get_backend() == "mpi"

t = engine.tensor(np.arange(5.0) + rank)
dist.all_reduce(t)
assert np.array_equal(t.numpy(), world * np.arange(5.0) + sum(range(world))), t

t = engine.tensor([float(rank), -float(rank)])
dist.all_reduce(t, op=dist.ReduceOp.MAX)
assert t.tolist() == [float(world - 1), 0.0], t
t = engine.tensor([float(rank), -float(rank)])
dist.all_reduce(t, op="min")  # strings name ops too
assert t.tolist() == [0.0, -float(world - 1)], t
t = engine.tensor([float(rank + 1)])
dist.all_reduce(t, op=dist.ReduceOp.PRODUCT)
assert t.item() == float(np.prod(np.arange(1, world + 1)))
t = engine.tensor([float(rank)])
dist.all_reduce(t, op=dist.ReduceOp.AVG)
assert abs(t.item() - (world - 1) / 2) < 1e-12

# non-contiguous tensors reduce in place too
m = engine.tensor(np.arange(12.0).reshape(3, 4))
col = m[:, 1]
dist.all_reduce(col)
assert m.numpy()[:, 1].tolist() == [world * v for v in (1.0, 5.0, 9.0)]
assert m.numpy()[:, 0].tolist() == [0.0, 4.0, 8.0]

t = engine.tensor(np.full(3, float(rank)))
dist.broadcast(t, src=world - 1)
assert t.tolist() == [float(world - 1)] * 3

parts = [engine.zeros(2) for _ in range(world)]
dist.all_gather(parts, engine.tensor([float(rank), 10.0 * rank]))
assert [p.tolist() for p in parts] == [[float(r), 10.0 * r] for r in range(world)]

objs = [None] * world
dist.all_gather_object(objs, {"rank": rank, "name": f"r{rank}"})
assert objs == [{"rank": r, "name": f"r{r}"} for r in range(world)]
lst = [f"hello from {rank}", rank] if rank == 0 else [None, None]
dist.broadcast_object_list(lst, src=0)
assert lst == ["hello from 0", 0]

dist.barrier()
stats = dist.collective_stats()
assert stats["calls"] >= 10 and stats["by_kind"]["all_reduce"] >= 6, stats
try:
    dist.broadcast(engine.zeros(1), src=world)
except dist.DistributedError as exc:
    assert f"src={world} is not a rank" in str(exc)
else:
    raise AssertionError("bad src accepted")
print(f"PRIMITIVES OK rank {rank}/{world}", flush=True)
