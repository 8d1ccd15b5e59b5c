"""Run under mpiexec: the shared-memory all-reduce gives MPI's sums, bit-identical on every
rank, for the sizes and dtypes DDP sends, and leaves large arrays to MPI."""

import numpy as np

import engine.distributed as dist
from engine.distributed import shm_allreduce

dist.init_process_group("mpi")
group = dist.default_group()
rank, world = group.rank, group.size
assert group.shm is not None, "one node, few ranks: the shared-memory path must be on"

rng = np.random.default_rng(rank)
for dtype in (np.float32, np.float64, np.int64):
    for numel in (1, 7, 1000, 109_386):
        for _ in range(3):  # several calls: both halves of the double buffer, reused windows
            local = (rng.standard_normal(numel) * 100).astype(dtype)
            mine = local.copy()
            group.shm.all_reduce_sum(mine)
            ref = local.copy()
            group.comm.Allreduce(group.MPI.IN_PLACE, ref)
            # MPI may add in another order: equal to rounding; across ranks: bit-identical
            assert np.allclose(mine, ref, rtol=1e-6 if dtype == np.float32 else 1e-12), dtype
            every = group.all_gather_array(mine)
            assert (every == every[0]).all(), "ranks disagree"
            # Exactly the rank-order sum (each rank adds the chunks in its own order, but
            # every element in rank order), so replicas never drift
            locals_ = group.all_gather_array(local)
            in_order = locals_[0] + locals_[1]
            for other in locals_[2:]:
                in_order = in_order + other
            assert np.array_equal(mine, in_order), (dtype, numel)

# Staged: write into the segment, then reduce into a fresh array (what DDP does).
seg = group.shared_segment(5, np.float64)
seg[...] = np.arange(5.0) * (rank + 1)
out = np.empty(5)
calls = []
group.all_reduce_shared(out, meanwhile=lambda: calls.append(1))
assert np.array_equal(out, np.arange(5.0) * sum(range(1, world + 1))), out
assert calls == [1], "the meanwhile callback runs once per reduction"

# Larger than MAX_BYTES: no segment, the MPI path; the result is the same.
big = np.full(shm_allreduce.MAX_BYTES // 8 + 1, float(rank))
assert group.shared_segment(big.size, big.dtype) is None
group.all_reduce_array(big)
assert (big == sum(range(world))).all()
# Many sizes share a few windows (sizes round up to powers of two, at least 4 KiB).
assert len(group.shm._windows) <= 11, sorted(group.shm._windows)
print(f"SHM OK rank={rank} windows={len(group.shm._windows)}", flush=True)
