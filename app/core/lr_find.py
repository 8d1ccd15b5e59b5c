"""The learning-rate finder of a project: the run ``build_run`` assembles (the same model,
optimizer, data and batch preparation as training), swept by the engine's range test
(``engine.training.lr_finder``, which documents the suggestion). The window's "Find learning
rate" button and ``layerforge lr-find`` both call ``find_lr``.

The sweep trains a fresh copy of the network (built from the project, as each run is), and the
range test restores that copy's weights, optimizer state and random state afterwards; nothing
of the project changes until the user applies the suggestion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.training.lr_finder import END_LR, NUM_ITER, START_LR

from .project import Project
from .run import build_run
from .settings import RunOverrides


def find_lr(project: Project, overrides: RunOverrides | None = None, *,
            start_lr: float = START_LR, end_lr: float = END_LR,
            steps: int = NUM_ITER,
            report: Callable[[int, float, float], None] | None = None) -> Any:
    """Sweep ``project``'s learning rate (an ``LRFinderResult``); raises what ``build_run``
    raises when the project cannot train. ``report(step, lr, loss)`` follows the sweep."""
    from engine.training.lr_finder import lr_range_test  # noqa: PLC0415

    run = build_run(project, overrides)
    return lr_range_test(run.model, run.loss_fn, run.optimizer, run.train_loader,
                         start_lr=start_lr, end_lr=end_lr, num_iter=steps,
                         batch_fn=run.batch_fn, devices=list(run.settings.devices),
                         clip_grad_norm=run.settings.grad_clip, report=report)
