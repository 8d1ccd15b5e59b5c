"""Helpers the command-line tests share, as fixtures: a small saved spiral project and a quiet
training run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.core.project import Project
from app.core.runner import RunControl, train
from app.core.settings import RunOverrides


def _quiet_train(project: Project, out: Path, control: RunControl | None = None,
                 resume: Path | None = None, **overrides: object):  # noqa: ANN202
    """What ``layerforge train --quiet --no-record`` runs, without the terminal."""
    return train(project, RunOverrides(**overrides), out=out, resume=resume, control=control,
                 listed=False)


def _small_spiral(tmp_path: Path, **training: object) -> Project:
    """The spiral template with 200 samples (and ``training`` changed), saved as
    ``tmp_path/spiral.json``; its ``path`` is that file."""
    project = Project.from_template("spiral")
    project.dataset["options"]["n_samples"] = 200
    project.training.update(training)
    project.save(tmp_path / "spiral.json")
    return project


@pytest.fixture
def quiet_train() -> Callable[..., Any]:
    return _quiet_train


@pytest.fixture
def small_spiral() -> Callable[..., Project]:
    return _small_spiral
