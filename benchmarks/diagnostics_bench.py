"""What layer diagnostics cost (issue 22): training throughput of the same run with and without
``--diagnostics`` (the collector's hooks and statistics, the health rules, and the TensorBoard
histograms they feed), timed in alternating rounds because this machine is shared and noisy.

Each round trains a template through ``app.core.runner.train`` (the pipeline of the window, the
CLI and mpiexec) and times only the batches: from each batch's start (the previous batch's end,
or the epoch's start) to the end of its callbacks, so validation and checkpoints, which
diagnostics do not touch, do not dilute the ratio. Two clocks: the training thread's CPU time
(``time.thread_time``: what the run itself spent, whatever else the machine runs; the figure
the target is checked on) and the wall clock (printed too: on this shared two-core machine it
swings by +-25% between rounds with the other processes' load). The figures are the medians
over rounds of steps per second, and the overhead is 1 - the median over rounds of on / off,
each "on" round divided by the "off" round just before it: a pair shares the machine's state of
the moment, so slow drifts cancel. Target: overhead <= 5% on every model.

    python benchmarks/diagnostics_bench.py [--rounds 21] [--steps 400] [--models spiral,...]

Many short rounds rather than a few long ones: the noise of a shared machine comes in bursts of
seconds, so short neighbouring rounds share its state and more pairs narrow the median.

Also printed: how many samples the adaptive interval took, the collector's own account of its
cost (``DiagnosticsCollector.spent_s``: the time inside its hooks and in handling each record,
TensorBoard included) as a share of the batches' time (a steadier figure than the ratio, which
the noise of a shared machine moves by a few percent), and what the TensorBoard writer costs per
batch (it runs in every run, with or without diagnostics).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# One BLAS thread: on a shared two-core machine OpenBLAS's spinning threads swing timings tenfold.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

TARGET = 0.05
MODELS = ("spiral", "mlp_digits", "lenet5")


class BatchClock:
    """Sums the time of the batches alone, on both clocks (a Trainer callback placed last)."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0
        self.batches = 0
        self.samples = 0
        self._start: tuple[float, float] | None = None

    def __call__(self, event: Any) -> None:
        kind = event.kind.value
        now = (time.perf_counter(), time.thread_time())
        if kind == "epoch_start":
            self._start = now
        elif kind == "batch_end" and self._start is not None:
            self.wall += now[0] - self._start[0]
            self.cpu += now[1] - self._start[1]
            self.batches += 1
            self._start = now
        elif kind in ("validation_end", "epoch_end"):
            self._start = None
        elif kind == "diagnostics":
            self.samples += 1


def one_round(template: str, steps: int, diagnostics: bool) -> tuple[BatchClock, float]:
    """One run: its batch clock, and the collector's own seconds (0 without diagnostics).
    With diagnostics the run gets the callbacks ``train(diagnostics=True)`` adds, made here so
    their account can be read."""
    from app.core.project import Project  # noqa: PLC0415
    from app.core.run import build_run  # noqa: PLC0415
    from app.core.runner import diagnostic_callbacks, train  # noqa: PLC0415
    from app.core.settings import RunOverrides  # noqa: PLC0415

    project = Project.from_template(template)
    clock = BatchClock()
    per_epoch = build_run(project.copy()).steps_per_epoch
    epochs = max(1, -(-steps // per_epoch))
    extra = diagnostic_callbacks() if diagnostics else []
    with tempfile.TemporaryDirectory() as folder:
        train(project, RunOverrides(epochs=epochs), out=Path(folder) / "run", listed=False,
              callbacks=[*extra, clock])
    return clock, extra[0].spent_s if extra else 0.0


def tensorboard_cost(n: int = 2000) -> tuple[float, float]:
    """Microseconds per batch event and per diagnostics record (6 layers) written."""
    import numpy as np  # noqa: PLC0415

    from engine.training.diagnostics import DiagnosticsRecord, LayerStats  # noqa: PLC0415
    from engine.training.events import Event, EventKind  # noqa: PLC0415
    from engine.training.layer_stats import tensor_sums  # noqa: PLC0415
    from engine.training.tensorboard import TensorBoardLogger  # noqa: PLC0415

    rng = np.random.default_rng(0)
    record = DiagnosticsRecord(1, 0, 0)
    for i in range(6):
        record.layers[f"fc{i}"] = LayerStats(
            f"fc{i}", "Linear", "other", tensor_sums(rng.standard_normal((64, 128))),
            tensor_sums(rng.standard_normal((64, 128))), 0.1, 1.0, 1e-3)
    with tempfile.TemporaryDirectory() as folder:
        log = TensorBoardLogger(folder)
        batch = Event(EventKind.BATCH_END, step=1, metrics={"loss": 0.5, "lr": 0.01,
                                                             "accuracy": 0.9})
        diag = Event(EventKind.DIAGNOSTICS, step=1, data={"diagnostics": record})
        t0 = time.perf_counter()
        for _ in range(n):
            log.on_event(None, batch)
        per_batch = (time.perf_counter() - t0) / n
        t0 = time.perf_counter()
        for _ in range(n // 20):
            log.on_event(None, diag)
        per_record = (time.perf_counter() - t0) / (n // 20)
        log.close()
    return per_batch * 1e6, per_record * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--steps", type=int, default=400, help="optimizer steps per round")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args(argv)
    worst = 0.0
    print(f"diagnostics overhead, median of {args.rounds} alternating rounds of "
          f"~{args.steps} steps (target <= {TARGET:.0%} of the training thread's CPU time)")
    for template in args.models.split(","):
        rates: dict[tuple[str, bool], list[float]] = {(c, on): [] for c in ("cpu", "wall")
                                                      for on in (False, True)}
        samples, shares = [], []
        one_round(template, 20, True)  # warm-up: imports, first-call costs
        for _ in range(args.rounds):
            for on in (False, True):
                time.sleep(0.3)
                clock, spent = one_round(template, args.steps, on)
                rates["cpu", on].append(clock.batches / clock.cpu)
                rates["wall", on].append(clock.batches / clock.wall)
                if on:
                    samples.append(clock.samples)
                    shares.append(spent / clock.wall)
        for which in ("cpu", "wall"):
            off = statistics.median(rates[which, False])
            on = statistics.median(rates[which, True])
            ratio = statistics.median(b / a for a, b in zip(rates[which, False],
                                                            rates[which, True]))
            overhead = 1 - ratio
            if which == "cpu":
                worst = max(worst, overhead)
            print(f"  {template:<11} {which:<4} off {off:8.1f} steps/s   on {on:8.1f} steps/s   "
                  f"ratio {ratio:.3f}   overhead {overhead:+.1%}"
                  + (f"   samples/round {statistics.median(samples):.0f}" if which == "cpu"
                     else "   (wall clock, for reference)"))
        print(f"  {'':<11} cpu rounds off {[round(r) for r in rates['cpu', False]]} "
              f"on {[round(r) for r in rates['cpu', True]]}")
        print(f"  {'':<11} the collector's own account: {statistics.median(shares):.1%} of the "
              f"batches' time")
    per_batch, per_record = tensorboard_cost()
    print(f"TensorBoard writer: {per_batch:.0f} us per batch event, {per_record:.0f} us per "
          f"diagnostics record of 6 layers (every run writes the batch events)")
    verdict = "PASS" if worst <= TARGET else "FAIL"
    print(f"{verdict}: worst overhead {worst:+.1%} (target <= {TARGET:.0%})")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
