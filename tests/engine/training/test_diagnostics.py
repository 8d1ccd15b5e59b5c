"""Layer diagnostics: every statistic against a hand computation, the collector's hooks against
PyTorch's hooks on the same model and batch, and when it samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from torch_reference import load_torch_weights, to_numpy, to_torch, torch_or_skip
from trainer_helpers import dataset

import engine
from engine import nn, optim
from engine.data import DataLoader
from engine.training import DiagnosticsCollector, Trainer
from engine.training.diagnostics import default_layers
from engine.training.layer_stats import (
    HIST_MAX_VALUES,
    Histogram,
    layer_kind,
    merge_sums,
    rebin,
    tensor_sums,
)

# ---------------------------------------------------------------------- one tensor


def test_tensor_statistics_equal_a_hand_computation() -> None:
    x = np.array([[-2.0, 0.0, 0.5], [0.0, 3.0, 1.5]], dtype=np.float32)
    s = tensor_sums(x, bins=4)
    v = [-2.0, 0.0, 0.5, 0.0, 3.0, 1.5]
    mean = sum(v) / 6
    assert s.n == 6 and s.mean == pytest.approx(mean)
    assert s.std == pytest.approx(math.sqrt(sum((a - mean) ** 2 for a in v) / 6))
    assert s.std == pytest.approx(float(np.std(x.astype(np.float64))))
    assert s.zero_fraction == 2 / 6
    assert s.norm == pytest.approx(math.sqrt(sum(a * a for a in v)))
    assert s.rms == pytest.approx(math.sqrt(sum(a * a for a in v) / 6))
    assert (s.low, s.high) == (-2.0, 3.0)
    # 4 bins of width 1.25 from -2 to 3: [-2,-.75) [-.75,.5) [.5,1.75) [1.75,3]
    np.testing.assert_array_equal(s.hist.edges, [-2.0, -0.75, 0.5, 1.75, 3.0])
    np.testing.assert_array_equal(s.hist.counts, [1, 2, 2, 1])
    np.testing.assert_array_equal(s.hist.counts, np.histogram(x, 4, (-2, 3))[0])


def test_tensor_statistics_are_the_same_on_every_device(device: str) -> None:
    """CuPy arrays go through the same statistics (the GPU run where there is one)."""
    x = np.random.default_rng(2).standard_normal((64, 33)).astype(np.float32)
    x[:, :5] = 0
    ref = tensor_sums(x, (-1.0, 1.0), bins=16)
    on = tensor_sums(engine.tensor(x, device=device)._data, (-1.0, 1.0), bins=16)
    for attr in ("n", "zeros", "saturated", "low", "high"):
        assert getattr(on, attr) == getattr(ref, attr)
    for attr in ("mean", "std", "norm"):
        assert getattr(on, attr) == pytest.approx(getattr(ref, attr), rel=1e-10)
    np.testing.assert_array_equal(on.hist.counts, ref.hist.counts)
    assert isinstance(on.hist.counts, np.ndarray)  # on the host, whatever the device


def test_saturation_counts_outputs_within_one_percent_of_the_range_ends() -> None:
    tanh = np.array([-0.99, -0.981, -0.979, 0.0, 0.5, 0.98, 1.0], dtype=np.float32)
    # |y| >= 0.98 (1% of the range 2 is 0.02): -0.99, -0.981, 0.98, 1.0
    assert tensor_sums(tanh, (-1.0, 1.0)).saturation_fraction == pytest.approx(4 / 7)
    sigmoid = np.array([0.005, 0.01, 0.02, 0.5, 0.99, 0.995], dtype=np.float64)
    assert tensor_sums(sigmoid, (0.0, 1.0)).saturation_fraction == pytest.approx(4 / 6)
    assert tensor_sums(sigmoid).saturated == 0  # unbounded layers count none


def test_histogram_of_a_large_tensor_is_counted_on_a_subset_and_scaled() -> None:
    x = np.random.default_rng(0).standard_normal(HIST_MAX_VALUES * 3 + 5).astype(np.float32)
    s = tensor_sums(x, bins=8)
    assert s.hist.counts.sum() == pytest.approx(x.size)
    exact = np.histogram(x, s.hist.edges)[0]
    np.testing.assert_allclose(s.hist.counts, exact, rtol=0.02, atol=x.size * 1e-3)
    assert s.mean == pytest.approx(float(x.astype(np.float64).mean()), abs=1e-12)


def test_a_constant_tensor_has_one_bin_around_its_value() -> None:
    s = tensor_sums(np.full(5, 0.25, dtype=np.float32), bins=4)
    assert s.std == 0.0 and s.hist.counts.sum() == 5
    assert s.hist.edges[0] < 0.25 < s.hist.edges[-1]


def test_merged_parts_give_the_statistics_of_the_whole() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(300), rng.standard_normal(200) * 3 + 1
    a[:40] = 0
    whole = np.concatenate([a, b])
    merged = merge_sums([tensor_sums(a, bins=16), tensor_sums(b, bins=16)], bins=16)
    ref = tensor_sums(whole, bins=16)
    for attr in ("n", "zeros", "low", "high"):
        assert getattr(merged, attr) == getattr(ref, attr)
    for attr in ("mean", "std", "norm"):
        assert getattr(merged, attr) == pytest.approx(getattr(ref, attr), rel=1e-12)
    assert merged.hist.counts.sum() == pytest.approx(500)
    np.testing.assert_array_equal(merged.hist.edges, ref.hist.edges)
    # spread evenly within bins, the merged histogram is close to the real one
    assert np.abs(merged.hist.counts - ref.hist.counts).sum() < 0.15 * 500
    half = merge_sums([tensor_sums(whole, bins=16), tensor_sums(whole, bins=16)], bins=16,
                      scale=0.5)  # two ranks' gradients of their own means: halved
    assert half.n == 1000 and half.mean == pytest.approx(ref.mean / 2)
    assert half.norm == pytest.approx(math.sqrt(2) * ref.norm / 2)


def test_rebin_keeps_the_counts_and_spreads_them_evenly() -> None:
    h = Histogram(np.array([0.0, 1.0, 2.0]), np.array([4.0, 2.0]))
    np.testing.assert_allclose(rebin(h, np.array([0.0, 0.5, 1.5, 2.0, 3.0])), [2, 3, 1, 0])


def test_layer_kinds() -> None:
    assert layer_kind("ReLU") == "relu" and layer_kind("LeakyReLU") == "relu"
    assert layer_kind("Tanh") == layer_kind("Sigmoid") == "saturating"
    assert layer_kind("Linear") == "other"


# ---------------------------------------------------------------------- the collector
def _net(m, dtype):  # noqa: ANN001, ANN202
    return m.nn.Sequential(m.nn.Linear(6, 8), m.nn.ReLU(), m.nn.Linear(8, 5), m.nn.Tanh(),
                           m.nn.Linear(5, 3))


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_collector_statistics_equal_those_from_pytorchs_hooks_on_the_same_step() -> None:
    """The same model, batch and SGD step in both libraries: PyTorch's forward and full
    backward hooks and its gradients give, computed by hand, the collector's numbers."""
    torch = torch_or_skip()
    from torch_reference import module_pair

    emod, tmod = module_pair(lambda m: _net(m, None))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((10, 6)) * 3, rng.integers(0, 3, 10)
    # the engine: one sampled step through the Trainer
    opt = optim.SGD(emod.parameters(), lr=0.5)
    loader = [(engine.tensor(x), engine.tensor(y))]
    records = []
    collector = DiagnosticsCollector(every=1)
    Trainer(emod, nn.CrossEntropyLoss(), opt, loader, callbacks=[
        collector, lambda e: e.kind.value == "diagnostics" and records.append(
            e.data["diagnostics"])]).fit()
    [record] = records
    # PyTorch: hooks record each layer's output and output gradient
    outs, gouts = {}, {}
    for name, module in tmod.named_children():
        module.register_forward_hook(lambda mod, a, o, n=name: outs.__setitem__(n, o.detach()))
        module.register_full_backward_hook(
            lambda mod, gi, go, n=name: gouts.__setitem__(n, go[0].detach()))
    before = {n: [p.detach().clone() for p in m.parameters()] for n, m in
              tmod.named_children()}
    loss = torch.nn.functional.cross_entropy(tmod(to_torch(x)), to_torch(y))
    loss.backward()
    grads = {n: [p.grad.clone() for p in m.parameters()] for n, m in tmod.named_children()}
    with torch.no_grad():
        for p in tmod.parameters():
            p -= 0.5 * p.grad
    assert list(record.layers) == ["0", "1", "2", "3", "4"]
    for name, stats in record.layers.items():
        out = to_numpy(outs[name])
        assert stats.activation.n == out.size
        assert stats.activation.mean == pytest.approx(out.mean(), rel=1e-10)
        assert stats.activation.std == pytest.approx(out.std(), rel=1e-8)
        gout = to_numpy(gouts[name])
        assert stats.output_grad.norm == pytest.approx(np.linalg.norm(gout), rel=1e-10)
        np.testing.assert_allclose(stats.activation.hist.counts,
                                   np.histogram(out, 32, (out.min(), out.max()))[0])
        if name == "1":
            assert stats.activation.zero_fraction == pytest.approx(np.mean(out == 0))
            assert 0 < stats.activation.zero_fraction < 1
        if name == "3":
            assert stats.activation.saturation_fraction == pytest.approx(
                np.mean(np.abs(out) >= 0.98))
        if name in ("0", "2", "4"):
            g = np.sqrt(sum(float((to_numpy(t) ** 2).sum()) for t in grads[name]))
            p = np.sqrt(sum(float((to_numpy(t) ** 2).sum()) for t in before[name]))
            after = list(dict(tmod.named_children())[name].parameters())
            d = np.sqrt(sum(float(((to_numpy(a) - to_numpy(b)) ** 2).sum())
                            for a, b in zip(after, before[name])))
            assert stats.grad_norm == pytest.approx(g, rel=1e-10)
            assert stats.param_norm == pytest.approx(p, rel=1e-10)
            assert stats.update_ratio == pytest.approx(d / p, rel=1e-8)
        else:
            assert stats.grad_norm is None and stats.update_ratio is None
    assert record.step == 1 and record.epoch == 0 and record.batch == 0
    scalars = record.scalars()
    assert scalars["1/zero_fraction"] == record.layers["1"].activation.zero_fraction
    assert "3/saturation" in scalars and "0/zero_fraction" not in scalars
    # the engine model went on as PyTorch's did (the hooks change nothing)
    load = {k: v.detach().numpy() for k, v in tmod.state_dict().items()}
    for k, v in emod.state_dict().items():
        np.testing.assert_allclose(v.numpy(), load[k], rtol=1e-10)


def _fit(collector, *, epochs=1, batch_size=16, devices=None, accumulate=1):  # noqa: ANN001, ANN202
    engine.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)).double()
    opt = optim.SGD(model.parameters(), lr=0.1)
    records = []
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt,
                      DataLoader(dataset(), batch_size=batch_size),
                      DataLoader(dataset(48, seed=1), batch_size=24), epochs=epochs,
                      devices=devices, accumulate_grad_batches=accumulate,
                      callbacks=[collector, lambda e: e.kind.value == "diagnostics" and
                                 records.append(e)])
    result = trainer.fit()
    return model, records, result


def test_every_n_samples_those_batches_and_leaves_no_hook_behind() -> None:
    model, events, _ = _fit(DiagnosticsCollector(every=4), epochs=2)  # 6 batches an epoch
    assert [(e.epoch, e.batch) for e in events] == [(0, 0), (0, 4), (1, 2)]
    assert [e.step for e in events] == [1, 5, 9]
    for record in (e.data["diagnostics"] for e in events):
        assert record.layers["0"].activation.n == 16 * 16  # training batches, not validation
    for m in model.modules():
        assert not m._forward_hooks and not m._backward_hooks
    assert events[0].metrics == events[0].data["diagnostics"].scalars()


def test_with_gradient_accumulation_a_sample_waits_for_the_step() -> None:
    _, events, result = _fit(DiagnosticsCollector(every=3), accumulate=2)
    assert result.global_step == 3
    # batch 0 sampled, measured at the step after batch 1; next sample at batch 3 (step 2)
    assert [(e.batch, e.step) for e in events] == [(1, 1), (3, 2)]
    assert all(e.data["diagnostics"].layers["0"].update_ratio > 0 for e in events)


def test_cpu_replicas_report_the_first_replicas_share() -> None:
    _, events, _ = _fit(DiagnosticsCollector(every=6), devices=["cpu", "cpu"])
    record = events[0].data["diagnostics"]
    assert record.layers["1"].activation.n == 8 * 16  # half of the batch of 16, 16 units
    assert record.layers["0"].grad_norm > 0  # the reduced gradient of the whole batch


def test_the_adaptive_interval_keeps_the_cost_within_the_budget() -> None:
    c = DiagnosticsCollector(budget=0.02)  # (the default is 1%)
    assert c._proposal(0.001) == 5  # no step time yet: a short first gap
    c._steps_s.extend([0.001, 0.5, 0.001])  # the median batch: one slow one is no guide
    assert c._proposal(0.001) == 50  # 1 ms per sample, 1 ms per step, 2%: one in 50
    assert c._proposal(1.0) == 500  # capped
    assert c._proposal(1e-6) == 1
    _, events, _ = _fit(DiagnosticsCollector(), epochs=3)
    assert events and events[0].batch == 0  # the first batch is always sampled
    with pytest.raises(ValueError, match="every must be"):
        DiagnosticsCollector(every=0)


def test_default_layers_look_inside_containers() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Linear(2, 2)))
    assert list(default_layers(model)) == ["0", "1.0", "1.1"]


def test_module_hooks_of_a_compiled_graph_name_its_nodes() -> None:
    from app.core.project import Project
    from engine.graph import compile_graph

    model = compile_graph(Project.from_template("spiral").graph)
    assert list(default_layers(model)) == ["fc1", "tanh1", "fc2", "tanh2", "fc3"]


def test_statistics_are_exact_in_float64_on_a_model_loaded_from_torch() -> None:
    """Loaded weights, no training: the collector reads what a plain forward computes."""
    torch = torch_or_skip()
    tmod = _net(torch, None).double()
    emod = _net(engine, None).double()
    load_torch_weights(emod, tmod)
    x = np.random.default_rng(3).standard_normal((4, 6))
    out = to_numpy(tmod[:2](to_torch(x)))
    collector = DiagnosticsCollector(every=1)
    records = []
    Trainer(emod, nn.CrossEntropyLoss(), optim.SGD(emod.parameters(), lr=0.0),
            [(engine.tensor(x), engine.tensor(np.array([0, 1, 2, 0])))],
            callbacks=[collector, lambda e: e.kind.value == "diagnostics" and
                       records.append(e.data["diagnostics"])]).fit()
    relu = records[0].layers["1"].activation
    assert relu.mean == pytest.approx(out.mean(), rel=1e-14)
    assert relu.zero_fraction == np.mean(out == 0)
    assert records[0].layers["0"].update_ratio == 0.0  # lr 0: nothing moved
