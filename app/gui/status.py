"""The status bar's summary: nodes, parameters, FLOPs, and the estimated training memory for the
project's batch size (set in the Training tab: the one place a batch size is edited).
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from engine.graph.stats import human_bytes

from .canvas.node_item import format_count
from .document import GraphDocument, GraphStats


class StatusSummary(QWidget):
    def __init__(self, doc: GraphDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.counts = QLabel()
        self.params = QLabel()
        self.flops = QLabel()
        self.memory = QLabel()
        self.problems = QLabel()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(14)
        for w in (self.problems, self.counts, self.params, self.flops, self.memory):
            layout.addWidget(w)
        self.params.setToolTip("Learnable parameters of the whole model")
        self.flops.setToolTip("Forward floating-point operations per sample "
                              "(a multiply-add counts two)")
        self.memory.setToolTip("Estimated training memory: weights, gradients and optimizer "
                               "state, plus activations kept for backward for one batch (the "
                               "batch size is set in the Training tab)")
        doc.sigStatsChanged.connect(self.show_stats)
        doc.sigProblemsChanged.connect(self.show_problems)
        self.show_stats(doc.stats)
        self.show_problems(doc.problems)

    def show_stats(self, s: GraphStats) -> None:
        self.counts.setText(f"{s.nodes} nodes · {s.edges} wires")
        self.params.setText(f"Params: {s.params:,}")
        self.flops.setText(f"FLOPs: {format_count(s.flops)}")
        self.memory.setText(f"Training memory ≈ {human_bytes(s.training_bytes)} (batch "
                            f"{s.batch_size})")

    def show_problems(self, problems: list) -> None:
        errors = sum(p.severity == "error" for p in problems)
        warnings = len(problems) - errors
        if not problems:
            self.problems.setText("<span style='color:#1f9d55'>✔ no problems</span>")
        else:
            self.problems.setText(f"<span style='color:#d1242f'>✖ {errors}</span> "
                                  f"<span style='color:#c96b00'>⚠ {warnings}</span>")
