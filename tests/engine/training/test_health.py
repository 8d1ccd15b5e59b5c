"""Training-health warnings on networks built to fail: a too-high learning rate (dead ReLUs and,
higher still, a NaN loss), a deep sigmoid stack (vanishing gradients), a bad initialisation
(saturated tanh), weights that blow gradients up (exploding); and none on a healthy network."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine import nn, optim
from engine.data import DataLoader, TensorDataset
from engine.training import DiagnosticsCollector, HealthMonitor, Trainer
from engine.training.diagnostics import DiagnosticsRecord, LayerStats
from engine.training.health import (
    DEAD_FRACTION,
    EXPLODING_GRAD_NORM,
    PERSIST,
    SATURATED_FRACTION,
    VANISHING_GRAD_NORM,
    key_statistic,
)
from engine.training.layer_stats import tensor_sums


def _data(n: int = 256, d: int = 20) -> TensorDataset:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (x @ rng.standard_normal((d, 3))).argmax(1)
    return TensorDataset(engine.tensor(x), engine.tensor(y))


def _train(model: nn.Module, opt: optim.Optimizer, epochs: int = 3):  # noqa: ANN202
    warnings, records = [], []

    def seen(event):  # noqa: ANN001, ANN202
        if event.kind.value == "warning":
            warnings.append(event)
        elif event.kind.value == "diagnostics":
            records.append(event.data["diagnostics"])

    engine.manual_seed(0)
    result = Trainer(model, nn.CrossEntropyLoss(), opt,
                     DataLoader(_data(), batch_size=32, shuffle=True), epochs=epochs,
                     callbacks=[DiagnosticsCollector(every=2), HealthMonitor(), seen]).fit()
    return result, warnings, records


def _mlp(act: type = nn.ReLU) -> nn.Module:
    engine.manual_seed(0)
    return nn.Sequential(nn.Linear(20, 64), act(), nn.Linear(64, 64), act(), nn.Linear(64, 3))


def _raised(warnings: list) -> list[tuple[str, str | None]]:
    return [(w.data["rule"], w.data["layer"]) for w in warnings if w.data["active"]]


def test_a_too_high_learning_rate_kills_relus_and_says_so() -> None:
    model = _mlp()
    result, warnings, records = _train(model, optim.SGD(model.parameters(), lr=3.0,
                                                        momentum=0.9))
    assert ("dead", "3") in _raised(warnings)
    w = next(w for w in warnings if w.data["rule"] == "dead")
    assert w.message.startswith("3: ") and "% of outputs are zero since epoch " in w.message
    assert w.message.endswith(" — lower the learning rate, or use LeakyReLU")
    assert w.data["warning"].value >= DEAD_FRACTION and w.data["since_epoch"] >= 1
    # the layers below a dead one get no gradient at all: that is the dead layer's doing, not
    # a vanishing-gradient problem, so only the dead layer is named
    assert not [r for r in _raised(warnings) if r[0] == "vanishing"]
    assert records[-1].layers["0"].grad_norm == 0.0
    assert key_statistic(records[-1].layers["3"]).bad


@pytest.mark.filterwarnings("ignore:overflow", "ignore:invalid value")
def test_a_much_too_high_learning_rate_gives_a_nan_loss_warning() -> None:
    model = _mlp()
    result, warnings, _ = _train(model, optim.SGD(model.parameters(), lr=1e4))
    assert result.reason == "nan"
    [nan] = [w for w in warnings if w.data["rule"] == "nan"]
    step = result.global_step + 1
    assert nan.message == f"loss is NaN at step {step} — lower the learning rate or clip " \
                          f"gradients"
    assert nan.data["layer"] is None and nan.data["since_step"] == step


def test_a_deep_sigmoid_stack_has_vanishing_gradients_at_the_bottom() -> None:
    engine.manual_seed(0)
    layers: list[nn.Module] = []
    width = 20
    for _ in range(10):
        layers += [nn.Linear(width, 32), nn.Sigmoid()]
        width = 32
    model = nn.Sequential(*layers, nn.Linear(32, 3))
    _, warnings, records = _train(model, optim.SGD(model.parameters(), lr=0.1))
    assert ("vanishing", "0") in _raised(warnings)
    w = next(w for w in warnings if w.data["layer"] == "0")
    assert w.message == "0: gradient norm below 1e-07 — vanishing gradients; add " \
                        "normalisation or a residual connection"
    grads = [records[-1].layers[str(i)].grad_norm for i in range(0, 21, 2)]
    assert grads[0] < VANISHING_GRAD_NORM < grads[-1]
    assert grads == sorted(grads)  # each sigmoid shrinks the gradient further
    assert "20" not in {layer for _, layer in _raised(warnings)}


def test_a_bad_initialisation_saturates_tanh() -> None:
    model = _mlp(nn.Tanh)
    with engine.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 3.0)  # ~20x PyTorch's default scale
    _, warnings, records = _train(model, optim.SGD(model.parameters(), lr=0.01))
    assert ("saturated", "3") in _raised(warnings)
    w = next(w for w in warnings if w.data["rule"] == "saturated")
    assert " of outputs are saturated since epoch 1 — " in w.message
    assert records[0].layers["3"].activation.saturation_fraction >= SATURATED_FRACTION


def test_weights_that_multiply_gradients_give_an_exploding_warning() -> None:
    engine.manual_seed(0)
    model = nn.Sequential(*[nn.Linear(32, 32) for _ in range(6)], nn.Linear(32, 3))
    with engine.no_grad():
        for m in model:
            nn.init.normal_(m.weight, 0.0, 0.6)  # each layer multiplies norms by ~3.4
    data = TensorDataset(engine.randn(64, 32), engine.randint(0, 3, (64,)))
    warnings = []
    Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.0),
            DataLoader(data, batch_size=16), epochs=1,
            callbacks=[DiagnosticsCollector(every=1), HealthMonitor(),
                       lambda e: e.kind.value == "warning" and warnings.append(e)]).fit()
    assert ("exploding", "0") in _raised(warnings)
    w = next(w for w in warnings if w.data["layer"] == "0")
    assert w.message.startswith("0: gradient norm above 1e+03 (")
    assert w.message.endswith(") — exploding gradients; lower the learning rate or clip "
                              "gradients")
    assert w.data["warning"].value > EXPLODING_GRAD_NORM


def test_a_healthy_network_gets_no_warning() -> None:
    model = _mlp()
    result, warnings, records = _train(model, optim.SGD(model.parameters(), lr=0.05,
                                                        momentum=0.9), epochs=4)
    assert result.reason == "completed" and result.metrics["train_accuracy"] > 0.8
    assert warnings == [] and len(records) == 16
    assert not any(key_statistic(s).bad for r in records for s in r.layers.values())


def _record(step: int, zero: float) -> DiagnosticsRecord:
    n = 100
    x = np.ones(n)
    x[:int(round(zero * n))] = 0
    record = DiagnosticsRecord(step, step // 10, step % 10)
    record.layers["relu"] = LayerStats("relu", "ReLU", "relu", tensor_sums(x))
    return record


def test_a_warning_needs_persist_samples_in_a_row_and_clears_when_it_no_longer_holds() -> None:
    monitor = HealthMonitor()
    zeros = [0.95, 0.95, 0.5, 0.95, 0.96, 0.97, 0.98, 0.4]
    changes = [monitor.check(_record(10 * i + 1, z)) for i, z in enumerate(zeros)]
    raised = [i for i, c in enumerate(changes) if c and c[0].active]
    assert raised == [PERSIST + 2]  # the streak broken at sample 2 starts again at 3
    w = changes[raised[0]][0]
    assert w.since_step == 31 and w.since_epoch == 4  # the first sample of the streak
    # the value is the one of the sample that raised it
    assert w.message == "relu: 97% of outputs are zero since epoch 4 — lower the learning " \
                        "rate, or use LeakyReLU"
    assert not monitor.active and changes[-1][0].active is False
    assert changes[-1][0].message == "relu: recovered (dead)"
    with pytest.raises(ValueError):
        HealthMonitor(persist=0)
