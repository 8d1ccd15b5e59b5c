"""The status bar's summary: nodes, parameters, FLOPs, and the estimated training memory for a
batch size the user picks right there.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QWidget

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
        self.batch = QSpinBox(minimum=1, maximum=1 << 16, keyboardTracking=False)
        self.batch.setPrefix("batch ")
        self.batch.setToolTip("Batch size used for the training-memory estimate")
        self.problems = QLabel()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(14)
        for w in (self.problems, self.counts, self.params, self.flops, self.memory, self.batch):
            layout.addWidget(w)
        self.params.setToolTip("Learnable parameters of the whole model")
        self.flops.setToolTip("Forward floating-point operations per sample "
                              "(a multiply-add counts two)")
        self.memory.setToolTip("Estimated training memory: weights, gradients and optimizer "
                               "state, plus activations kept for backward for one batch")
        self.batch.valueChanged.connect(doc.set_batch_size)
        doc.sigStatsChanged.connect(self.show_stats)
        doc.sigProblemsChanged.connect(self.show_problems)
        self.show_stats(doc.stats)
        self.show_problems(doc.problems)

    def show_stats(self, s: GraphStats) -> None:
        self.counts.setText(f"{s.nodes} nodes · {s.edges} wires")
        self.params.setText(f"Params: {s.params:,}")
        self.flops.setText(f"FLOPs: {format_count(s.flops)}")
        self.memory.setText(f"Training memory ≈ {human_bytes(s.training_bytes)}")
        if self.batch.value() != s.batch_size:
            self.batch.blockSignals(True)
            self.batch.setValue(s.batch_size)
            self.batch.blockSignals(False)

    def show_problems(self, problems: list) -> None:
        errors = sum(p.severity == "error" for p in problems)
        warnings = len(problems) - errors
        if not problems:
            self.problems.setText("<span style='color:#1f9d55'>✔ no problems</span>")
        else:
            self.problems.setText(f"<span style='color:#d1242f'>✖ {errors}</span> "
                                  f"<span style='color:#c96b00'>⚠ {warnings}</span>")
