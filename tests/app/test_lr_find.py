"""The learning-rate finder on the templates: its suggestion trains the spiral and the seed MLP
to at least the accuracy the template's own learning rate gives, and the sweep leaves the
project as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.lr_find import find_lr
from app.core.project import Project
from app.core.runner import train
from app.core.settings import RunOverrides


@pytest.mark.slow
@pytest.mark.parametrize("template", ["spiral", "mlp_digits"])
def test_training_at_the_suggestion_is_at_least_as_good_as_the_template(
        template: str, tmp_path: Path) -> None:
    project = Project.from_template(template)
    before = project.to_dict()
    result = find_lr(project)
    assert project.to_dict() == before
    assert result.suggestion is not None and result.suggestion_index < result.min_index
    own = project.training["optimizer"]["lr"]
    accuracy = {}
    for name, lr in (("template", own), ("suggested", result.suggestion)):
        run = train(project, RunOverrides(lr=lr), out=tmp_path / name, listed=False)
        assert run.reason == "completed"
        accuracy[name] = run.history[-1]["val_accuracy"]
    assert accuracy["suggested"] >= accuracy["template"], (result.suggestion, accuracy)


def test_a_project_that_cannot_train_is_refused_before_the_sweep(tmp_path: Path) -> None:
    from engine.graph import CompileError

    project = Project.from_template("spiral")
    project.graph.disconnect("fc1", "tanh1")
    with pytest.raises(CompileError):
        find_lr(project)
