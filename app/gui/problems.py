"""The problems panel: every ``validate()`` problem of the project and, while a run is watched,
its training-health warnings (``engine.training.health``: dead or saturated layers, vanishing or
exploding gradients, a NaN loss, each with its fix); clicking one selects and centres its node.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QStyle, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from engine.graph import Problem

from .document import GraphDocument

NODE_ROLE = Qt.ItemDataRole.UserRole


class ProblemsWidget(QWidget):
    """``sigNodeActivated(name)`` when a problem that belongs to a node is clicked."""

    sigNodeActivated = Signal(str)
    sigCountChanged = Signal(int, int)  # errors, warnings

    def __init__(self, doc: GraphDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["", "Node", "Problem"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setWordWrap(True)
        self.tree.setColumnWidth(0, 28)
        self.tree.setColumnWidth(1, 110)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        self._count = 0
        self.training_warnings: list[Any] = []
        self.tree.itemClicked.connect(self._on_clicked)
        self.tree.itemActivated.connect(self._on_clicked)
        doc.sigProblemsChanged.connect(self.show_problems)
        self.show_problems(doc.problems)

    def set_training_warnings(self, warnings: list[Any]) -> None:
        """The run's health warnings in force (``HealthWarning``s), listed after the graph's
        problems until the next run replaces them."""
        self.training_warnings = list(warnings)
        self.show_problems(self.doc.problems)

    def show_problems(self, problems: list[Problem]) -> None:
        style = self.style()
        icons = {"error": style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical),
                 "warning": style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)}
        self.tree.clear()
        for p in problems:
            node = p.node or "(graph)"
            if p.port is not None:
                node += f" [in {p.port}]"
            item = QTreeWidgetItem(["", node, p.message])
            item.setIcon(0, icons.get(p.severity, icons["warning"]))
            item.setToolTip(2, p.message)
            item.setData(0, NODE_ROLE, p.node)
            self.tree.addTopLevelItem(item)
        for w in self.training_warnings:
            item = QTreeWidgetItem(["", w.layer or "(loss)", f"Training: {w.message}"])
            item.setIcon(0, icons["warning"])
            item.setToolTip(2, f"Training: {w.message}\n(a training-health warning; the "
                               f"thresholds are in engine/training/health.py)")
            item.setData(0, NODE_ROLE, w.layer)
            self.tree.addTopLevelItem(item)
        if not problems and not self.training_warnings:
            item = QTreeWidgetItem(["", "", "No problems: every shape fits and the graph is "
                                            "ready to train."])
            item.setIcon(0, style.standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton))
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.tree.addTopLevelItem(item)
        self._count = len(problems) + len(self.training_warnings)
        errors = sum(p.severity == "error" for p in problems)
        self.sigCountChanged.emit(errors, self._count - errors)

    def row_count(self) -> int:
        """The number of problems listed."""
        return self._count

    def activate_row(self, row: int) -> None:
        item = self.tree.topLevelItem(row)
        if item is not None:
            self.tree.setCurrentItem(item)
            self._on_clicked(item, 0)

    def _on_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        name = item.data(0, NODE_ROLE)
        if name:
            self.sigNodeActivated.emit(name)
