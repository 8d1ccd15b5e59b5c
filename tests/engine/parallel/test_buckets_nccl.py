"""Gradient bucketing plans and the NCCL module's behaviour on machines without it."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.errors import DeviceError
from engine.parallel import nccl_available, pack, plan_buckets, unpack
from engine.parallel.nccl import NcclGroup, nccl_dtype


def test_buckets_respect_the_cap_and_reverse_order():
    mb = 1024 * 1024
    # ten float32 tensors of 1 MB each with a 4 MB cap: 4 + 4 + 2
    specs = [((mb // 4,), "float32")] * 10
    buckets = plan_buckets(specs, cap_mb=4)
    assert [len(b.slots) for b in buckets] == [4, 4, 2]
    assert [s.index for s in buckets[0].slots] == [9, 8, 7, 6]  # gradients arrive last-first
    assert all(b.nbytes <= 4 * mb for b in buckets)
    # calls per step = ceil(total / cap), not one per tensor
    assert len(plan_buckets(specs, cap_mb=25)) == 1


def test_buckets_close_once_full_and_split_by_dtype():
    # 64 MB in three big tensors and small ones, 25 MB cap: never more than ceil(64 / 25)
    mb = 1024 * 1024
    specs = [((8 * mb,), "float32"), ((10,), "float32"), ((8 * mb,), "float32"),
             ((10,), "float32")]
    assert len(plan_buckets(specs, cap_mb=25)) <= 2
    specs = [((10,), "float32"), ((3, 3), "float64"), ((1000,), "float32"), ((2,), "float64")]
    buckets = plan_buckets(specs, cap_mb=1000 * 4 / 2**20, reverse=False)
    kinds = sorted((b.dtype.name, [s.index for s in b.slots]) for b in buckets)
    assert kinds == [("float32", [0, 2]), ("float64", [1, 3])]


def test_pack_unpack_round_trip_with_missing_gradients():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in [(2, 3), (4,), (1, 1, 5)]]
    (bucket,) = plan_buckets([(a.shape, a.dtype) for a in arrays])
    flat = pack(bucket, [arrays[0], None, arrays[2]])
    assert flat.shape == (6 + 4 + 5,)
    out = dict(unpack(bucket, flat))
    assert np.array_equal(out[0], arrays[0]) and np.array_equal(out[2], arrays[2])
    assert not out[1].any()  # a missing gradient travels as zeros


def test_pack_with_scale_multiplies_while_copying_into_a_given_buffer():
    arrays = [np.arange(6.0).reshape(2, 3), None, np.array([4.0])]
    (b,) = plan_buckets([(a.shape if a is not None else (2,), np.float64) for a in arrays])
    out = np.full(b.numel, np.nan)
    flat = pack(b, arrays, out=out, scale=0.5)
    assert flat is out
    got = dict(unpack(b, flat))
    assert np.array_equal(got[0], np.arange(6.0).reshape(2, 3) * 0.5)
    assert np.array_equal(got[1], np.zeros(2)) and np.array_equal(got[2], [2.0])


def test_bucket_cap_must_be_positive():
    with pytest.raises(ValueError, match="bucket_cap_mb must be > 0, got 0"):
        plan_buckets([((3,), "float32")], cap_mb=0)


@pytest.mark.skipif(engine.cuda.is_available(), reason="checks the no-GPU path")
def test_nccl_unavailable_without_gpu():
    assert not nccl_available()
    with pytest.raises(DeviceError, match="CuPy|CUDA"):
        NcclGroup([0])
    with pytest.raises(DeviceError, match="CuPy|CUDA"):
        engine.parallel.nccl_self_check()


def test_nccl_dtype_table_rejects_unsupported_types():
    class FakeNccl:
        NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64 = 6, 7, 8
        NCCL_INT32, NCCL_INT64, NCCL_UINT8, NCCL_INT8 = 2, 4, 1, 0

    assert nccl_dtype(FakeNccl, np.float32) == 7
    with pytest.raises(DeviceError, match="NCCL cannot reduce complex128"):
        nccl_dtype(FakeNccl, np.complex128)


@pytest.mark.skipif(not nccl_available(), reason="needs CuPy with NCCL and a GPU")
def test_nccl_self_check_on_gpu():
    report = engine.parallel.nccl_self_check()
    assert report["group_all_reduce_float64"] == "ok"
