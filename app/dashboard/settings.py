"""Where the data and training panels read and write the project's settings.

Inside the main window the settings belong to the editor's ``GraphDocument``: every change is one
undoable command there (``set_setting``), and choosing a dataset also sets the Input node's shape
in the same undo step. Standing alone (``python -m app.qt.preview training_panel``, tests) they
belong to a plain ``Project``. ``Settings`` hides the difference, so the panels have one code path.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence
from typing import Any

from PySide6 import QtCore

from app.core.project import Project

Path_ = tuple[str, ...]


class Settings(QtCore.QObject):
    """The dataset/training settings of one project, edited through the document when there is
    one.

    Signals:
        sigChanged(tuple): the path of a setting that changed (``("training", "epochs")``),
            also after undo/redo in the editor.
        sigReset(): a different project replaced this one (New, Open).
    """

    sigChanged = QtCore.Signal(tuple)
    sigReset = QtCore.Signal()

    def __init__(self, source: Any, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._doc = None if isinstance(source, Project) else source
        self._project = source if isinstance(source, Project) else None
        if self._doc is not None:
            self._doc.sigSettingChanged.connect(self.sigChanged)
            if hasattr(self._doc, "sigReset"):
                self._doc.sigReset.connect(self.sigReset)

    @property
    def document(self) -> Any:
        return self._doc

    @property
    def project(self) -> Project:
        return self._doc.project if self._doc is not None else self._project

    def set_project(self, project: Project) -> None:
        """Standalone only: show another project."""
        if self._doc is not None:
            self._doc.set_project(project)
            return
        self._project = project
        self.sigReset.emit()

    # ------------------------------------------------------------------ reading
    def get(self, path: Sequence[str], default: Any = None) -> Any:
        node: Any = getattr(self.project, path[0])
        for key in path[1:]:
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return copy.deepcopy(node)

    # ------------------------------------------------------------------ writing
    def set(self, path: Sequence[str], value: Any, text: str = "") -> None:
        """Change one setting (one undo step in the editor); equal values are ignored."""
        path = tuple(path)
        if path[0] not in ("dataset", "training"):
            raise ValueError(f"setting path must start with 'dataset' or 'training', got {path}")
        if self.get(path, _MISSING) == value:
            return
        if self._doc is not None:
            self._doc.set_setting(path, copy.deepcopy(value), text or _describe(path))
            return
        section: Any = getattr(self._project, path[0])
        for key in path[1:-1]:
            section = section.setdefault(key, {})
        section[path[-1]] = copy.deepcopy(value)
        self.sigChanged.emit(path)

    @contextlib.contextmanager
    def macro(self, text: str) -> Iterator[None]:
        """Group several changes into one undo step (in the editor)."""
        if self._doc is not None and hasattr(self._doc, "macro"):
            with self._doc.macro(text):
                yield
        else:
            yield

    def revalidate(self) -> None:
        """Check the network against its data again (a dataset file was just probed)."""
        if self._doc is not None:
            self._doc.revalidate()
        else:
            self.sigChanged.emit(("dataset",))

    def input_node(self) -> str | None:
        inputs = self.project.graph.nodes_of_type("Input")
        return inputs[0].name if len(inputs) == 1 else None

    def set_input_shape(self, shape: Sequence[int], dtype: str | None = None) -> bool:
        """Make the (single) Input node's shape follow the dataset; returns whether it changed."""
        name = self.input_node()
        if name is None:
            return False
        node = self.project.graph.node(name)
        changed = False
        wanted = {"shape": [int(s) for s in shape]}
        if dtype is not None:
            wanted["dtype"] = dtype
        for param, value in wanted.items():
            if node.params.get(param) == value:
                continue
            changed = True
            if self._doc is not None:
                self._doc.set_param(name, param, value)
            else:
                self.project.graph.set_param(name, param, value)
        if changed and self._doc is None:
            self.sigChanged.emit(("graph", name))
        return changed


_MISSING = object()


def _describe(path: Path_) -> str:
    return "Change " + " ".join(p.replace("_", " ") for p in path[1:])
