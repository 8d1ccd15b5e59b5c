"""Samplers and random_split: PyTorch's semantics, seeded by the engine's generator."""

from __future__ import annotations

import numpy as np
import pytest
from torch_reference import torch_or_skip

import engine
from engine.data import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    random_split,
)


def test_sequential_and_batch_sampler_match_torch() -> None:
    torch = torch_or_skip()
    tdata = torch.utils.data
    for n, bs, drop in [(10, 3, False), (10, 3, True), (9, 3, True), (1, 4, False)]:
        ours = BatchSampler(SequentialSampler(range(n)), bs, drop)
        ref = tdata.BatchSampler(tdata.SequentialSampler(range(n)), bs, drop)
        assert list(ours) == list(ref)
        assert len(ours) == len(ref)
        arrays = [a.tolist() for a in ours._iter_arrays()]
        assert arrays == list(ref)


def test_random_sampler_is_a_seeded_permutation() -> None:
    s = RandomSampler(range(20))
    engine.manual_seed(5)
    a, b = list(s), list(s)
    engine.manual_seed(5)
    assert list(s) == a
    assert sorted(a) == list(range(20)) and a != b
    assert list(RandomSampler(range(20), generator=np.random.default_rng(1))) == list(
        RandomSampler(range(20), generator=np.random.default_rng(1)))


def test_random_sampler_num_samples_and_replacement() -> None:
    more = list(RandomSampler(range(5), num_samples=12))
    assert len(more) == 12
    assert sorted(more[:5]) == sorted(more[5:10]) == list(range(5))  # chained permutations
    rep = list(RandomSampler(range(3), replacement=True, num_samples=50))
    assert len(rep) == 50 and set(rep) <= {0, 1, 2}
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        RandomSampler(range(3), generator=42)


def test_batch_sampler_arrays_follow_the_same_order() -> None:
    engine.manual_seed(9)
    lists = list(BatchSampler(RandomSampler(range(23)), 5, False))
    engine.manual_seed(9)
    arrays = [a.tolist() for a in BatchSampler(RandomSampler(range(23)), 5, False)._iter_arrays()]
    assert lists == arrays
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        BatchSampler(range(3), 2, 1)


def test_subset_random_sampler() -> None:
    idx = [3, 7, 11, 19]
    out = list(SubsetRandomSampler(idx))
    assert sorted(out) == idx and len(SubsetRandomSampler(idx)) == 4


def test_weighted_random_sampler_follows_weights() -> None:
    engine.manual_seed(0)
    draws = list(WeightedRandomSampler([0.0, 1.0, 3.0], 4000))
    counts = np.bincount(draws, minlength=3)
    assert counts[0] == 0
    assert 2.6 < counts[2] / counts[1] < 3.4
    no_rep = list(WeightedRandomSampler([1, 1, 1, 1], 4, replacement=False))
    assert sorted(no_rep) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="only 2 weights are non-zero"):
        WeightedRandomSampler([1, 0, 1], 3, replacement=False)
    with pytest.raises(ValueError, match="non-negative"):
        WeightedRandomSampler([1, -1], 3)
    with pytest.raises(ValueError, match="weights should be a 1d sequence"):
        WeightedRandomSampler([[1, 2]], 3)


@pytest.mark.parametrize("n,world,drop", [(10, 3, False), (10, 3, True), (9, 3, False),
                                          (2, 4, False), (11, 4, True)])
def test_distributed_sampler_matches_torch_without_shuffle(n: int, world: int,
                                                          drop: bool) -> None:
    torch = torch_or_skip()
    from torch.utils.data.distributed import DistributedSampler as TorchDS

    for rank in range(world):
        ours = DistributedSampler(range(n), world, rank, shuffle=False, drop_last=drop)
        ref = TorchDS(range(n), world, rank, shuffle=False, drop_last=drop)
        assert list(ours) == list(ref)
        assert len(ours) == len(ref)
    del torch


def test_distributed_sampler_shuffles_identically_on_every_rank() -> None:
    n, world = 17, 3
    ranks = [DistributedSampler(range(n), world, r, seed=4) for r in range(world)]
    epoch0 = [list(s) for s in ranks]
    assert len({len(e) for e in epoch0}) == 1  # same number of batches everywhere
    assert set(sum(epoch0, [])) == set(range(n))
    for s in ranks:
        s.set_epoch(1)
    epoch1 = [list(s) for s in ranks]
    assert epoch1 != epoch0
    assert [list(s) for s in ranks] == epoch1  # deterministic per epoch
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval "
                                         r"\[0, 2\]"):
        DistributedSampler(range(n), 3, 3)
    with pytest.raises(RuntimeError, match="num_replicas= and rank="):
        DistributedSampler(range(n))


def test_random_split_lengths_fractions_and_seed() -> None:
    ds = TensorDataset(engine.arange(10))
    a, b = random_split(ds, [7, 3], generator=np.random.default_rng(0))
    assert len(a) == 7 and len(b) == 3
    assert sorted(list(a.indices) + list(b.indices)) == list(range(10))
    c, d = random_split(ds, [7, 3], generator=np.random.default_rng(0))
    assert a.indices == c.indices
    parts = random_split(ds, [0.5, 0.3, 0.2])
    assert [len(p) for p in parts] == [5, 3, 2]
    odd = random_split(TensorDataset(engine.arange(11)), [0.5, 0.5])
    assert sorted(len(p) for p in odd) == [5, 6]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [3, 3])
    (x,) = a[1]
    assert int(x.item()) == a.indices[1]
