"""Ordinary PyTorch programs, unchanged but for the import (``torch`` is the engine here), in the
shape of PyTorch's examples: the MNIST CNN (on the built-in Digits), time-sequence prediction
(LSTMCell + LBFGS), the blitz's autograd lines and the word language model's manual SGD. Each
must run and learn."""

from __future__ import annotations

import math

import numpy as np

import engine as torch
import engine.nn as nn
import engine.nn.functional as F
import engine.optim as optim
from engine.optim.lr_scheduler import StepLR
from engine.utils.data import DataLoader, TensorDataset


class Net(nn.Module):  # examples/mnist/main.py, for 28x28 digits
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(2304, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def test_mnist_example_learns() -> None:
    from engine.data import datasets, transforms

    torch.manual_seed(1)
    use_accel = torch.accelerator.is_available()
    device = torch.accelerator.current_accelerator() if use_accel else torch.device("cpu")
    data = datasets.Digits(train=True, size=28, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]))
    loader = DataLoader(data, batch_size=64, shuffle=True)
    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    losses = []
    for _ in range(2):
        model.train()
        for batch_idx, (data_, target) in enumerate(loader):
            data_, target = data_.to(device), target.to(device)
            optimizer.zero_grad()
            output = model(data_)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if batch_idx == 8:
                break
        scheduler.step()
    model.eval()
    correct = 0
    with torch.no_grad():
        data_, target = next(iter(DataLoader(data, batch_size=256)))
        output = model(data_)
        pred = output.argmax(dim=1, keepdim=True)
        correct += pred.eq(target.view_as(pred)).sum().item()
        correct_legacy = (output.data.max(1)[1] == target).sum().item()
    assert correct == correct_legacy and correct / 256 > 0.5
    assert np.mean(losses[-3:]) < np.mean(losses[:3])


class Sequence(nn.Module):  # examples/time_sequence_prediction/train.py
    def __init__(self) -> None:
        super().__init__()
        self.lstm1 = nn.LSTMCell(1, 12)
        self.lstm2 = nn.LSTMCell(12, 12)
        self.linear = nn.Linear(12, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), 12, dtype=torch.double)
        c_t = torch.zeros(input.size(0), 12, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), 12, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), 12, dtype=torch.double)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return torch.cat(outputs, dim=1)


def test_time_sequence_prediction_learns() -> None:
    np.random.seed(2)
    torch.manual_seed(0)
    t = np.arange(24)[None, :] + np.random.randint(-20, 20, (6, 1))
    data = np.sin(t / 4.0).astype("float64")
    input = torch.from_numpy(data[1:, :-1])
    target = torch.from_numpy(data[1:, 1:])
    seq = Sequence()
    seq.double()
    criterion = nn.MSELoss()
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8, max_iter=6)
    first = None
    for _ in range(3):
        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            loss.backward()
            return loss

        loss = optimizer.step(closure)
        first = loss.item() if first is None else first
    with torch.no_grad():
        pred = seq(input, future=5)
        y = pred.detach().numpy()
    assert y.shape == (5, 28) and loss.item() < first


def test_blitz_autograd_lines() -> None:
    x = torch.randn(3, requires_grad=True)
    y = x * 2
    while y.data.norm() < 1000:
        y = y * 2
    v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
    y.backward(v)
    assert x.grad.shape == torch.Size([3]) and bool((x.grad > 0).all())
    assert str(y.grad_fn).startswith("<MulBackward")
    with torch.no_grad():
        assert not (x ** 2).requires_grad
    z = torch.ones(2, 2, requires_grad=True)
    out = (z * z * 3).mean()
    assert out.grad_fn.next_functions[0][0] is not None  # the blitz prints it before backward
    out.backward()
    assert torch.allclose(z.grad, torch.full((2, 2), 1.5))


def test_word_language_model_manual_sgd() -> None:
    torch.manual_seed(0)
    ntokens, emsize, nhid = 20, 8, 12
    encoder, rnn, decoder = nn.Embedding(ntokens, emsize), nn.LSTM(emsize, nhid), \
        nn.Linear(nhid, ntokens)
    params = list(encoder.parameters()) + list(rnn.parameters()) + list(decoder.parameters())
    for p in (encoder.weight, decoder.weight):
        nn.init.uniform_(p, -0.1, 0.1)
    source = torch.randint(0, ntokens, (10, 4))
    targets = torch.randint(0, ntokens, (10, 4))
    lr, losses = 5.0, []
    for _ in range(15):
        for p in params:
            p.grad = None
        output, _ = rnn(encoder(source))
        loss = F.cross_entropy(decoder(output).view(-1, ntokens), targets.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 0.25)
        for p in params:
            p.data.add_(p.grad, alpha=-lr)
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1
    assert math.isfinite(math.exp(losses[-1]))


def test_tensor_dataset_regression() -> None:
    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 64).unsqueeze(1)
    y = 3 * x.pow(2) + 0.1 * torch.randn(x.size())
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = optim.RAdam(model.parameters(), lr=0.05)
    for _ in range(60):
        for xb, yb in loader:
            opt.zero_grad()
            F.smooth_l1_loss(model(xb), yb).backward()
            opt.step()
    assert F.mse_loss(model(x), y).item() < 0.1
