"""What layer diagnostics cost (issue 22): training throughput of the same run with and without
``--diagnostics`` (the collector's hooks and statistics, the health rules, and the TensorBoard
histograms they feed), timed in alternating rounds because this machine is shared and noisy.

Each round trains a template through ``app.core.runner.train`` (the pipeline of the window, the
CLI and mpiexec) and times only the batches: from each batch's start (the previous batch's end,
or the epoch's start) to the end of its callbacks, so validation and checkpoints, which
diagnostics do not touch, do not dilute the ratio. The figure is the median over rounds of
steps per second; overhead = 1 - on / off. Target: overhead <= 5% on every model.

    python benchmarks/diagnostics_bench.py [--rounds 5] [--steps 300] [--models spiral,...]

Also printed: how many samples the adaptive interval took, and what the TensorBoard writer
costs per batch (it runs in every run, with or without diagnostics).
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
    """Sums the time of the batches alone (a Trainer callback placed last)."""

    def __init__(self) -> None:
        self.busy = 0.0
        self.batches = 0
        self.samples = 0
        self._start: float | None = None

    def __call__(self, event: Any) -> None:
        kind = event.kind.value
        now = time.perf_counter()
        if kind == "epoch_start":
            self._start = now
        elif kind == "batch_end" and self._start is not None:
            self.busy += now - self._start
            self.batches += 1
            self._start = now
        elif kind in ("validation_end", "epoch_end"):
            self._start = None
        elif kind == "diagnostics":
            self.samples += 1


def one_round(template: str, steps: int, diagnostics: bool) -> BatchClock:
    from app.core.project import Project  # noqa: PLC0415
    from app.core.runner import train  # noqa: PLC0415
    from app.core.settings import RunOverrides  # noqa: PLC0415

    project = Project.from_template(template)
    clock = BatchClock()
    probe = project.copy()
    from app.core.run import build_run  # noqa: PLC0415

    per_epoch = build_run(probe).steps_per_epoch
    epochs = max(1, -(-steps // per_epoch))
    with tempfile.TemporaryDirectory() as folder:
        train(project, RunOverrides(epochs=epochs), out=Path(folder) / "run", listed=False,
              callbacks=[clock], diagnostics=diagnostics)
    return clock


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
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps per round")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args(argv)
    worst = 0.0
    print(f"diagnostics overhead, median of {args.rounds} alternating rounds of "
          f"~{args.steps} steps (target <= {TARGET:.0%})")
    for template in args.models.split(","):
        rates: dict[bool, list[float]] = {False: [], True: []}
        samples = []
        one_round(template, 20, True)  # warm-up: imports, first-call costs
        for _ in range(args.rounds):
            for on in (False, True):
                time.sleep(0.3)
                clock = one_round(template, args.steps, on)
                rates[on].append(clock.batches / clock.busy)
                if on:
                    samples.append(clock.samples)
        off, on = statistics.median(rates[False]), statistics.median(rates[True])
        overhead = 1 - on / off
        worst = max(worst, overhead)
        print(f"  {template:<11} off {off:8.1f} steps/s   on {on:8.1f} steps/s   "
              f"ratio {on / off:.3f}   overhead {overhead:+.1%}   "
              f"samples/round {statistics.median(samples):.0f}")
        print(f"  {'':<11} rounds off {[round(r) for r in rates[False]]} "
              f"on {[round(r) for r in rates[True]]}")
    per_batch, per_record = tensorboard_cost()
    print(f"TensorBoard writer: {per_batch:.0f} us per batch event, {per_record:.0f} us per "
          f"diagnostics record of 6 layers (every run writes the batch events)")
    verdict = "PASS" if worst <= TARGET else "FAIL"
    print(f"{verdict}: worst overhead {worst:+.1%} (target <= {TARGET:.0%})")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
