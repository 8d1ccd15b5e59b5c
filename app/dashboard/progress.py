"""Start, Pause/Resume and Stop, and a progress bar that says where the run is: epoch, step,
samples per second and the time left.

The panel only shows state and asks for actions (its signals); the dashboard decides. States:
``idle`` (Start enabled), ``preparing`` (loading data, compiling), ``running``, ``paused``,
``stopping`` (Stop pressed, waiting for the current batch to end), ``finished``.

``python -m app.qt.preview progress`` shows it cycling through sample progress.
"""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtWidgets

STATES = ("idle", "preparing", "running", "paused", "stopping", "finished")


def format_duration(seconds: float | None) -> str:
    """``0:42``, ``12:05``, ``1:02:03``; an em dash when unknown."""
    if seconds is None or seconds != seconds or seconds < 0 or seconds == float("inf"):
        return "—"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_rate(samples_per_s: float | None) -> str:
    if not samples_per_s or samples_per_s != samples_per_s:
        return "—"
    if samples_per_s >= 10000:
        return f"{samples_per_s / 1000:,.0f}k"
    return f"{samples_per_s:,.0f}"


def describe_progress(p: dict[str, Any]) -> str:
    """One line: ``Epoch 3/10 · batch 12/45 · step 102 · 5,230 samples/s · ETA 0:42``."""
    parts = [f"Epoch {int(p.get('epoch', 0))}/{int(p.get('epochs', 0))}"]
    if p.get("batches"):
        parts.append(f"batch {int(p.get('batch', 0))}/{int(p['batches'])}")
    parts.append(f"step {int(p.get('step', 0)):,}")
    parts.append(f"{format_rate(p.get('samples_per_s'))} samples/s")
    parts.append(f"ETA {format_duration(p.get('eta_s'))}")
    return " · ".join(parts)


class ProgressPanel(QtWidgets.QWidget):
    """Run controls and progress.

    Signals:
        sigStart(), sigPause(), sigResume(), sigStop(): what the user asked for.
    """

    sigStart = QtCore.Signal()
    sigPause = QtCore.Signal()
    sigResume = QtCore.Signal()
    sigStop = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        style = self.style()
        self.start_button = QtWidgets.QPushButton(
            style.standardIcon(QtWidgets.QStyle.SP_MediaPlay), "Start")
        self.start_button.setToolTip("Train the model on the chosen dataset (Ctrl+T)")
        self.pause_button = QtWidgets.QPushButton(
            style.standardIcon(QtWidgets.QStyle.SP_MediaPause), "Pause")
        self.pause_button.setToolTip("Pause after the current batch; Resume goes on")
        self.stop_button = QtWidgets.QPushButton(
            style.standardIcon(QtWidgets.QStyle.SP_MediaStop), "Stop")
        self.stop_button.setToolTip("Stop after the current batch, keeping its weights")
        self.bar = QtWidgets.QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setTextVisible(True)
        self.bar.setFormat("")
        self.status = QtWidgets.QLabel("Ready to train")
        self.status.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.status.setWordWrap(True)  # a finished run names its weights' path: never widen
        self.status.setSizePolicy(QtWidgets.QSizePolicy.Ignored,
                                  QtWidgets.QSizePolicy.Preferred)
        self.metrics = QtWidgets.QLabel("")
        self.metrics.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)

        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.start_button)
        top.addWidget(self.pause_button)
        top.addWidget(self.stop_button)
        top.addWidget(self.bar, 1)
        bottom = QtWidgets.QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.metrics)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(bottom)

        self.start_button.clicked.connect(self.sigStart)
        self.pause_button.clicked.connect(self._on_pause)
        self.stop_button.clicked.connect(self.sigStop)
        self.state = ""
        self._can_start = True
        self._why_not = ""
        self.set_state("idle")

    # ------------------------------------------------------------------ state
    def set_state(self, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; one of {', '.join(STATES)}")
        self.state = state
        busy = state in ("preparing", "running", "paused", "stopping")
        self.start_button.setEnabled(not busy and self._can_start)
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.pause_button.setIcon(self.style().standardIcon(
            QtWidgets.QStyle.SP_MediaPlay if state == "paused" else QtWidgets.QStyle.SP_MediaPause))
        self.stop_button.setEnabled(state in ("preparing", "running", "paused"))
        if state == "preparing":
            self.bar.setRange(0, 0)  # busy indicator while the data loads
            self.status.setText("Preparing: loading the dataset and compiling the graph…")
        else:
            self.bar.setRange(0, 1000)
        if state == "paused":
            self.status.setText("Paused — " + self.status.text().split(" — ")[-1])
        elif state == "stopping":
            self.status.setText("Stopping after the current batch…")
        elif state == "idle":
            self.status.setText(self._why_not or "Ready to train")

    def set_can_start(self, ok: bool, reason: str = "") -> None:
        """Whether Start may be pressed (the settings are usable), and why not."""
        self._can_start = ok
        self._why_not = "" if ok else reason
        self.start_button.setToolTip(reason if not ok else
                                     "Train the model on the chosen dataset (Ctrl+T)")
        self.set_state(self.state)

    def _on_pause(self) -> None:
        if self.state == "paused":
            self.sigResume.emit()
        else:
            self.sigPause.emit()

    # ------------------------------------------------------------------ progress
    def show_progress(self, p: dict[str, Any]) -> None:
        """Update from the bridge's latest numbers (``epoch`` 1-based, ``batch``, ``batches``,
        ``epochs``, ``step``, ``samples_per_s``, ``eta_s``, ``loss``, ``accuracy``)."""
        epochs, batches = int(p.get("epochs") or 0), p.get("batches")
        if epochs and batches:
            done = (int(p.get("epoch", 1)) - 1 + int(p.get("batch", 0)) / batches) / epochs
            value = int(1000 * min(max(done, 0.0), 1.0)) // 5 * 5
            if value != self.bar.value():  # QProgressBar repaints at once on every change
                self.bar.setValue(value)
                self.bar.setFormat(f"{value / 10:.0f}%")
        text = describe_progress(p)
        self.status.setText(("Paused — " if self.state == "paused" else "") + text)
        m = []
        if "loss" in p:
            m.append(f"loss {p['loss']:.4g}")
        if "accuracy" in p:
            m.append(f"acc {p['accuracy']:.1%}")
        self.metrics.setText("   ".join(m))

    def reset(self) -> None:
        """Back to the look of a project that has not trained (another project was opened)."""
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setFormat("")
        self.metrics.setText("")
        self.status.setText("")
        self.set_state("idle")

    def show_finished(self, text: str, complete: bool) -> None:
        if complete:
            self.bar.setValue(1000)
            self.bar.setFormat("100%")
        self.metrics.setText("")  # the last batch's numbers would read as the run's result
        self.set_state("idle")
        self.status.setText(text)
