"""What the diagnostics tests share: a project built to fail (ReLUs that a too-high learning rate
kills) and the one way the tests read TensorBoard event files back, with TensorBoard's own reader
(the ``dev`` extra installs it; without it those tests skip with the install command)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.core.project import Project


def read_events(folder: Path) -> Any:
    """TensorBoard's ``EventAccumulator`` on ``folder``, loaded, keeping every point."""
    ea = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator",
        reason="the event files are checked with TensorBoard's reader: pip install -e '.[dev]'")
    acc = ea.EventAccumulator(str(folder), size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0})
    acc.Reload()
    return acc


def relu_spiral(lr: float = 3.0, n_samples: int = 400, epochs: int | None = None) -> Project:
    """The spiral template with ReLU instead of tanh and plain SGD at ``lr`` (3.0 kills the
    ReLUs within an epoch)."""
    data = Project.from_template("spiral").to_dict()
    rename = {"tanh1": "relu1", "tanh2": "relu2"}
    for node in data["graph"]["nodes"]:
        if node["type"] == "Tanh":
            node["type"], node["name"] = "ReLU", rename[node["name"]]
    for edge in data["graph"]["edges"]:
        edge["src"] = rename.get(edge["src"], edge["src"])
        edge["dst"] = rename.get(edge["dst"], edge["dst"])
    data["training"]["optimizer"] = {"name": "SGD", "lr": lr, "momentum": 0.9}
    if epochs is not None:
        data["training"]["epochs"] = epochs
    data["dataset"]["options"]["n_samples"] = n_samples
    return Project.from_dict(data)
