"""The Training panel's "Find learning rate": the sweep runs in the background and is plotted,
the suggestion is marked, Apply sets the project's learning rate as one undoable edit, and
closing the dialog early cancels the sweep without touching the project."""

from __future__ import annotations

import math

import pytest

from app.core.project import Project

pytest.importorskip("app.gui.main_window")


def _sweep(qtbot, panel):  # noqa: ANN001, ANN202
    dialog = panel.find_learning_rate()
    qtbot.waitUntil(lambda: dialog.result is not None or dialog.error is not None,
                    timeout=60000)
    assert dialog.error is None, dialog.error
    return dialog


def test_the_finder_plots_marks_and_applies_the_suggestion(qtbot, spiral_project) -> None:
    from app.dashboard.lr_finder_dialog import rounded
    from app.dashboard.settings import Settings
    from app.dashboard.training_panel import TrainingPanel

    panel = TrainingPanel(Settings(spiral_project))
    qtbot.addWidget(panel)
    before = spiral_project.to_dict()
    dialog = _sweep(qtbot, panel)
    result = dialog.result
    assert spiral_project.to_dict() == before  # the sweep used a copy
    x, y = dialog.raw_curve.getData()
    assert len(x) == len(result.lrs) and len(dialog.smooth_curve.getData()[0]) == len(x)
    marker = dialog.markers["suggestion"]
    assert marker.isVisible() and marker.value() == pytest.approx(math.log10(result.suggestion))
    assert dialog.markers["current"].value() == pytest.approx(math.log10(0.02))
    assert dialog.apply_button.isEnabled()
    assert dialog.apply_button.text() == f"Apply {rounded(result.suggestion):g}"
    assert "Suggested learning rate: <b>" in dialog.status.text()
    with qtbot.waitSignal(dialog.sigApplied) as applied:
        dialog.apply_button.click()
    assert spiral_project.training["optimizer"]["lr"] == applied.args[0] == rounded(
        result.suggestion)
    assert panel.lr_spin.value() == pytest.approx(applied.args[0])  # the panel follows


def test_apply_is_one_undoable_edit_in_the_editor(qtbot, make_window) -> None:
    win = make_window(Project.from_template("spiral"), autosave=False)
    panel = win.training.dashboard.training_panel
    dialog = _sweep(qtbot, panel)
    dialog.apply()
    stack = win.doc.undo_stack
    assert stack.undoText().startswith("Set learning rate to ")
    assert win.doc.project.training["optimizer"]["lr"] != 0.02
    applied = win.doc.project.training["optimizer"]["lr"]
    stack.undo()
    assert win.doc.project.training["optimizer"]["lr"] == 0.02
    stack.redo()
    assert win.doc.project.training["optimizer"]["lr"] == applied


def test_closing_the_dialog_cancels_the_sweep(qtbot, spiral_project) -> None:
    from app.core.dataset_tools import Cancelled
    from app.dashboard.lr_finder_dialog import LRFinderDialog
    from app.dashboard.settings import Settings
    from app.dashboard.training_panel import TrainingPanel

    panel = TrainingPanel(Settings(spiral_project))
    qtbot.addWidget(panel)
    dialog = LRFinderDialog(panel.settings, panel, steps=100_000)  # long enough to cancel
    dialog.start()
    task = dialog.task
    failed = []
    task.sigFailed.connect(failed.append)
    qtbot.waitUntil(lambda: len(dialog._lrs) >= 2, timeout=30000)
    dialog.close()
    qtbot.waitUntil(lambda: bool(failed), timeout=30000)
    assert isinstance(failed[0], Cancelled)
    assert spiral_project.training["optimizer"]["lr"] == 0.02
    panel.set_locked(True)
    assert not panel.find_lr_button.isEnabled()
