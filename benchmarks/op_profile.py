"""Where a training step's time goes, op by op: every engine ``Function``'s forward and backward
timed (with a device synchronisation around each on a GPU), plus the step's host time without
any synchronisation.

Why: on a GPU a step is either bound by the host (Python and kernel launches: the host time is
close to the synchronised time) or by the kernels; the per-op table says which ops to fuse or
hand to a vendor library. ``benchmarks/gpu_check.py`` prints it for LeNet-5; on the CPU:

    python benchmarks/op_profile.py [lenet|lstm|resnet18|vgg] [--batch 256] [--device cpu]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _function_classes() -> list[type]:
    from engine.autograd.function import Function

    found, todo = [], [Function]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if "forward" in sub.__dict__ or "backward" in sub.__dict__:
                found.append(sub)
    return found


@contextlib.contextmanager
def _timed_functions(sync: Callable[[], None], totals: dict[tuple[str, str], list[float]]
                     ) -> Iterator[None]:
    """Wrap every Function's forward/backward to add its synchronised time to ``totals``;
    the originals are restored on exit."""
    saved = []

    def wrap(cls: type, attr: str, label: str) -> None:
        original = cls.__dict__[attr]

        def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            sync()
            start = time.perf_counter()
            out = original(self, *args, **kwargs)
            sync()
            entry = totals[(label, cls.__name__)]
            entry[0] += time.perf_counter() - start
            entry[1] += 1
            return out

        saved.append((cls, attr, original))
        setattr(cls, attr, timed)

    for cls in _function_classes():
        for attr, label in (("forward", "F"), ("backward", "B")):
            if attr in cls.__dict__:
                wrap(cls, attr, label)
    try:
        yield
    finally:
        for cls, attr, original in saved:
            setattr(cls, attr, original)


def op_times(step: Callable[[], None], sync: Callable[[], None], steps: int = 10,
             warmup: int = 3) -> dict[str, Any]:
    """``host_ms`` (per step, no synchronisation inside), ``synced_ms`` (per step, synchronised
    once at the end) and ``ops``: ``(F|B, Function name, ms per step, calls per step)`` sorted by
    time, each op synchronised on its own."""
    for _ in range(warmup):
        step()
    sync()
    start = time.perf_counter()
    host = 0.0
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        host += time.perf_counter() - t0
    sync()
    synced = time.perf_counter() - start
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    with _timed_functions(sync, totals):
        for _ in range(steps):
            step()
    ops = sorted(((kind, name, 1e3 * t / steps, n / steps)
                  for (kind, name), (t, n) in totals.items()), key=lambda r: -r[2])
    return {"host_ms": 1e3 * host / steps, "synced_ms": 1e3 * synced / steps, "ops": ops}


def engine_step(which: str, batch: int, device: str) -> Callable[[], None]:
    """A training step of LeNet-5 (images), the benchmark LSTM, or one of the CIFAR CNNs of
    ``benchmarks.cnn_models`` on ``device``."""
    import engine
    import engine.nn
    from benchmarks.bench_models import (
        image_data,
        lenet,
        lstm_classifier,
        sequence_data,
        train_step,
    )
    from benchmarks.cnn_models import MODELS, cifar_data

    engine.manual_seed(0)
    if which in MODELS:
        model, (xn, yn) = MODELS[which](engine.nn), cifar_data(batch)
    elif which == "lenet":
        model, (xn, yn) = lenet(engine.nn), image_data(batch)
    else:
        model, (xn, yn) = lstm_classifier(engine.nn), sequence_data(batch)
    model = model.to(device)
    x, y = engine.tensor(xn, device=device), engine.tensor(yn, device=device)
    return train_step(engine, model, x, y)


def device_sync(device: str) -> Callable[[], None]:
    if device == "cpu":
        return lambda: None
    import engine

    return lambda: engine.cuda.synchronize(device)


def summary(report: dict[str, Any], top: int = 6) -> str:
    """One line: host vs synchronised time per step, and the ``top`` ops."""
    ops = ", ".join(f"{name}.{kind} {ms:.2f}" for kind, name, ms, _ in report["ops"][:top])
    return (f"host {report['host_ms']:.2f} ms/step, synced {report['synced_ms']:.2f} ms/step; "
            f"top ops (ms/step): {ops}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", choices=["lenet", "lstm", "resnet18", "vgg"],
                        default="lenet")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    report = op_times(engine_step(args.model, args.batch, args.device), device_sync(args.device),
                      args.steps)
    print(f"{args.model} b{args.batch} on {args.device}: host {report['host_ms']:.2f} ms/step, "
          f"synced {report['synced_ms']:.2f} ms/step")
    print(f"{'op':<28}{'ms/step':>9}{'calls':>7}")
    for kind, name, ms, calls in report["ops"]:
        print(f"{name + '.' + kind:<28}{ms:>9.2f}{calls:>7.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
