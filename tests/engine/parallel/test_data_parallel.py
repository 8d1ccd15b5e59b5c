"""DataParallel over CPU replicas: exactly single-device training on the same global batches."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest
from parallel_models import KINDS, LeNet, loss_fn, make_batch, make_model, max_rel_err

import engine
import engine.optim as optim
from engine import nn
from engine.errors import DeviceError
from engine.parallel import DataParallel, SyncBatchNorm, split_sizes

TOL = {"float64": 1e-10, "float32": 1e-5}


def _train(model, opt, batches):
    for x, y in batches:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_dev", [2, 3])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("steps", [1, 10])
def test_data_parallel_matches_single_device(kind, n_dev, dtype, steps):
    model = make_model(kind, dtype)
    ref = copy.deepcopy(model)
    dp = DataParallel(model, devices=["cpu"] * n_dev)
    rng = np.random.default_rng(1)
    # 10 over 3 devices splits 4/3/3 and 7 over 2 splits 4/3: uneven splits must stay exact.
    batches = [make_batch(kind, 10 if s % 2 == 0 else 7, rng, dtype) for s in range(steps)]
    _train(dp, optim.SGD(dp.parameters(), lr=0.1, momentum=0.9), batches)
    _train(ref, optim.SGD(ref.parameters(), lr=0.1, momentum=0.9), batches)
    assert max_rel_err(list(dp.module.parameters()), list(ref.parameters())) < TOL[dtype]


@pytest.mark.parametrize("kind", KINDS)
def test_one_step_gradients_equal_single_device(kind):
    model = make_model(kind)
    ref = copy.deepcopy(model)
    dp = DataParallel(model, devices=["cpu"] * 3)
    x, y = make_batch(kind, 8, np.random.default_rng(2))
    loss_dp = loss_fn(dp(x), y)
    loss_ref = loss_fn(ref(x), y)
    loss_dp.backward()
    loss_ref.backward()
    assert abs(loss_dp.item() - loss_ref.item()) < 1e-12
    grads = [p.grad for p in dp.parameters()]
    assert all(g is not None for g in grads)
    assert max_rel_err(grads, [p.grad for p in ref.parameters()]) < 1e-10


def test_split_is_as_even_as_possible():
    assert split_sizes(10, 3) == [4, 3, 3]
    assert split_sizes(7, 2) == [4, 3]
    assert split_sizes(2, 3) == [1, 1]  # fewer samples than replicas: fewer replicas used
    assert split_sizes(0, 2) == []


def test_batch_smaller_than_replica_count():
    model = make_model("mlp")
    ref = copy.deepcopy(model)
    dp = DataParallel(model, devices=["cpu"] * 3)
    x, y = make_batch("mlp", 2, np.random.default_rng(3))
    loss_fn(dp(x), y).backward()
    loss_fn(ref(x), y).backward()
    assert max_rel_err([p.grad for p in dp.parameters()], [p.grad for p in ref.parameters()]) \
        < 1e-10


def test_state_dict_keys_and_parameters_like_pytorch():
    model = make_model("mlp")
    dp = DataParallel(model, devices=["cpu", "cpu"])
    assert list(dp.state_dict()) == ["module." + k for k in model.state_dict()]
    assert [id(p) for p in dp.parameters()] == [id(p) for p in model.parameters()]
    other = DataParallel(make_model("mlp", seed=5), devices=["cpu", "cpu"])
    other.load_state_dict(dp.state_dict())
    assert max_rel_err(list(other.parameters()), list(dp.parameters())) == 0.0
    # the replicas follow the master after a load
    x, _ = make_batch("mlp", 4, np.random.default_rng(0))
    assert np.array_equal(other(x).detach().numpy(), model(x).detach().numpy())


def test_replicas_run_in_separate_threads():
    model = make_model("mlp")
    dp = DataParallel(model, devices=["cpu"] * 3)
    seen = set()
    lock = threading.Lock()

    def record(module, args, out):
        with lock:
            seen.add(threading.get_ident())

    for r in dp._replicas:
        r.fc1.register_forward_hook(record)
    dp(make_batch("mlp", 9, np.random.default_rng(0))[0])
    assert len(seen) == 3 and threading.get_ident() not in seen


def test_replica_failure_names_the_replica():
    class Picky(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 3)

        def forward(self, x):
            if x.shape[0] < 5:
                raise ValueError("batch too small")
            return self.fc(x)

    dp = DataParallel(Picky(), devices=["cpu", "cpu"])
    with pytest.raises(ValueError, match=r"replica 1 on cpu failed in forward: batch too small"):
        dp(engine.randn(9, 6))


def test_constructor_errors():
    with pytest.raises(ValueError, match="needs devices="):
        DataParallel(make_model("mlp"))
    with pytest.raises(ValueError, match="either devices or device_ids"):
        DataParallel(make_model("mlp"), device_ids=[0], devices=["cpu"])
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        DataParallel(make_model("mlp"), devices=["tpu"])


@pytest.mark.skipif(engine.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_devices_without_gpu_explain_what_is_missing():
    with pytest.raises(DeviceError, match="CuPy|CUDA"):
        DataParallel(make_model("mlp"), devices=["cuda:0", "cuda:1"])


def test_eval_mode_uses_master_buffers_and_no_graph():
    model = make_model("lenet")
    dp = DataParallel(model, devices=["cpu", "cpu"])
    model.bn1.running_mean.data[...] = 3.0  # changed on the master only
    x, _ = make_batch("lenet", 6, np.random.default_rng(0))
    with engine.no_grad():
        out = dp(x)
    assert not out.requires_grad
    assert np.allclose(out.numpy(), model(x).detach().numpy(), rtol=1e-12, atol=1e-12)


def _bn_net():
    engine.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3 * 8 * 8, 3)).to(dtype=engine.float64)


def test_sync_batchnorm_matches_whole_batch_statistics():
    model = _bn_net()
    ref = copy.deepcopy(model)
    dp = DataParallel(model, devices=["cpu"] * 3, sync_batchnorm=True)
    assert isinstance(model[1], SyncBatchNorm)
    rng = np.random.default_rng(4)
    batches = [make_batch("lenet", 10, rng) for _ in range(3)]
    _train(dp, optim.SGD(dp.parameters(), lr=0.1, momentum=0.9), batches)
    _train(ref, optim.SGD(ref.parameters(), lr=0.1, momentum=0.9), batches)
    assert max_rel_err(list(dp.parameters()), list(ref.parameters())) < 1e-10
    ours, theirs = dp.module[1], ref[1]
    assert max_rel_err([ours.running_mean, ours.running_var],
                       [theirs.running_mean, theirs.running_var]) < 1e-10
    assert int(ours.num_batches_tracked.item()) == 3
    assert list(dp.state_dict()) == ["module." + k for k in ref.state_dict()]


def test_without_sync_batchnorm_buffers_are_averaged_on_request():
    model = _bn_net()
    dp = DataParallel(model, devices=["cpu", "cpu"])
    x, y = make_batch("lenet", 8, np.random.default_rng(5))
    loss_fn(dp(x), y).backward()
    means = [r[1].running_mean.numpy().copy() for r in dp._replicas]
    assert not np.allclose(means[0], means[1])  # each replica saw its own half
    dp.average_buffers()
    for r in dp._replicas:
        assert np.allclose(r[1].running_mean.numpy(), (means[0] + means[1]) / 2, atol=1e-14)


def test_sync_batchnorm_alone_is_batchnorm():
    engine.manual_seed(0)
    bn = nn.BatchNorm2d(3).to(dtype=engine.float64)
    sbn = SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(bn))
    x = engine.randn(4, 3, 5, 5, dtype=engine.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    (bn(x) ** 2).sum().backward()
    (sbn(x2) ** 2).sum().backward()
    assert np.allclose(x.grad.numpy(), x2.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert np.allclose(bn.running_var.numpy(), sbn.running_var.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="expected at least 2D input"):
        sbn(engine.randn(3, dtype=engine.float64))


def test_lenet_in_train_mode_without_bn_sync_is_still_deterministic():
    # Per-replica batch statistics differ from single-device ones (PyTorch's DataParallel does
    # the same), but two identical runs agree exactly.
    results = []
    for _ in range(2):
        engine.manual_seed(0)
        m = LeNet().to(dtype=engine.float64)
        dp = DataParallel(m, devices=["cpu", "cpu"])
        rng = np.random.default_rng(0)
        _train(dp, optim.SGD(dp.parameters(), lr=0.1), [make_batch("lenet", 6, rng)])
        results.append([p.detach().numpy().copy() for p in m.parameters()])
    assert all(np.array_equal(a, b) for a, b in zip(*results))


def test_two_outputs_and_retain_graph():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(6, 8)
            self.a = nn.Linear(8, 3)
            self.b = nn.Linear(8, 1)

        def forward(self, x):
            h = self.body(x).tanh()
            return {"logits": self.a(h), "score": self.b(h)}

    engine.manual_seed(0)
    model = TwoHeads().to(dtype=engine.float64)
    ref = copy.deepcopy(model)
    dp = DataParallel(model, devices=["cpu"] * 3)
    x, y = make_batch("mlp", 10, np.random.default_rng(0))

    def loss_of(out):
        return loss_fn(out["logits"], y) + (out["score"] ** 2).mean()

    loss = loss_of(dp(x))
    loss.backward(retain_graph=True)
    loss.backward()  # a second pass through the same graph doubles the gradients
    ref_loss = loss_of(ref(x))
    ref_loss.backward()
    assert max_rel_err([p.grad / 2 for p in dp.parameters()],
                       [p.grad for p in ref.parameters()]) < 1e-10


_BLAS_CHILD = """
import json
from threadpoolctl import threadpool_info
import engine
from engine import nn
from engine.parallel import DataParallel

def blas_threads():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

before = blas_threads()
DataParallel(nn.Linear(3, 2), devices=["cpu"])
one = blas_threads()
DataParallel(nn.Linear(3, 2), devices=["cpu", "cpu"])
print(json.dumps([before, one, blas_threads()]))
"""


def test_cpu_replicas_make_numpy_blas_single_threaded():
    """CPU replicas take the cores; OpenBLAS's own threads would spin on them (engine._blas)."""
    pytest.importorskip("threadpoolctl")
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ, PYTHONPATH=str(root), OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", _BLAS_CHILD], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.strip()
    before, one, two = json.loads(out)
    assert before == [2] and one == [2]  # one device: left alone
    assert two == [1]


def test_prefer_cpu_replicas_for_conv_nets_on_several_cores():
    """The default the app takes for "CPU x n": CNNs without recurrent layers, several cores,
    two samples per replica at least (engine.parallel.cpu_choice has the measurements)."""
    from engine.parallel import prefer_cpu_replicas

    cnn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

    class ConvLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(3, 4, 3)
            self.lstm = nn.LSTM(4, 8)

    assert prefer_cpu_replicas(cnn, 64, cores=2)
    assert not prefer_cpu_replicas(cnn, 64, cores=1)
    assert not prefer_cpu_replicas(cnn, 3, cores=2)
    assert not prefer_cpu_replicas(mlp, 64, cores=2)
    assert not prefer_cpu_replicas(ConvLSTM(), 64, cores=2)
