"""The training panel: optimizer and its parameters, learning rate and schedule, batch size,
epochs, gradient accumulation and clipping, early stopping, seed, and the devices to train on.

Every edit goes through ``Settings`` (one undoable step inside the editor); the panel redraws
itself from the project when a setting changes elsewhere (undo, another view). The device list
shows the CPU and every GPU found (name, memory); choices that cannot work are explained in a
line under it (no CuPy, no GPU, batch smaller than the number of devices) and reported by
``sigValidityChanged`` so Start can be disabled.

``python -m app.qt.preview training_panel`` shows it on the MLP template.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from PySide6 import QtCore, QtWidgets

from app.core.memory import memory_note
from app.core.settings import (
    AUTO_DEVICE,
    DEFAULT_LR,
    LOOP,
    LR,
    MAX_CPU_REPLICAS,
    MONITORS,
    OPTIMIZERS,
    SCHEDULES,
    Param,
    canonical_monitor,
    device_problem,
    schedule_defaults,
)
from app.gui.fields import CheckedNumber, narrow_combo

from .settings import Settings


@dataclass
class DeviceChoice:
    """One entry of the device list."""

    id: str  # "cpu", "cuda:0"
    label: str
    available: bool
    reason: str = ""




def cpu_replicas_id(n: int) -> str:
    """The device-list id of ``n`` CPU replicas; the project stores it as ``["cpu"] * n``."""
    return f"cpu*{n}"


def _is_cpu_choice(device_id: str) -> bool:
    return device_id == AUTO_DEVICE or device_id.startswith("cpu")


def expand_device_id(device_id: str) -> list[str]:
    """``"cpu*2"`` -> ``["cpu", "cpu"]``; any other id stands for itself."""
    if device_id.startswith("cpu*"):
        return ["cpu"] * int(device_id[4:])
    return [device_id]


def list_devices() -> tuple[list[DeviceChoice], str | None]:
    """The CPU and every GPU this machine has, and why there are no GPUs (None if there are)."""
    import engine  # noqa: PLC0415

    cores = os.cpu_count() or 1
    mem = _ram_gib()
    cpu_label = f"CPU ({cores} core{'s' if cores != 1 else ''}" + \
        (f", {mem:.0f} GiB RAM)" if mem else ")")
    out = [DeviceChoice(AUTO_DEVICE, "Auto: the CPU, split over its cores when that is faster"
                        if cores > 1 else "Auto: the CPU", True,
                        "Convolutional networks train over one replica per core (LeNet-5 "
                        "1.7-2.8x faster on 2 cores), other networks on the plain CPU"),
           DeviceChoice("cpu", cpu_label, True)]
    if cores > 1:
        n = min(cores, MAX_CPU_REPLICAS)
        out.append(DeviceChoice(
            cpu_replicas_id(n), f"CPU × {n}: one replica per core, each batch split", True,
            "Faster for convolutional networks (LeNet-5 1.7-2.8x on 2 cores); slower for "
            "small MLPs and for LSTM/GRU networks, whose steps are too small to split"))
    reason = engine.cuda.unavailable_reason()
    if reason:
        return out, f"No GPU: {reason}"
    count = engine.cuda.device_count()
    if count == 0:
        return out, "No GPU: CuPy is installed but no CUDA GPU was found on this machine"
    for i in range(count):
        try:
            props = engine.cuda.get_device_properties(f"cuda:{i}")
            gib = props["total_memory"] / 2 ** 30
            out.append(DeviceChoice(f"cuda:{i}", f"GPU {i}: {props['name']} ({gib:.0f} GiB)",
                                    True))
        except Exception as exc:  # noqa: BLE001 - a GPU that cannot be queried is listed so
            out.append(DeviceChoice(f"cuda:{i}", f"GPU {i}", False, str(exc)))
    return out, None


def _ram_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    except (ValueError, OSError, AttributeError):
        return None


def checked_field(p: Param) -> CheckedNumber:
    """A field for one setting: what is typed is checked against the setting's rule (the same
    the project files are checked with), and said wrong next to the field, never changed."""
    def check(value: Any) -> str | None:
        return None if p.check_one(value) else f"{p.label}: expected {p.rule()}"

    return CheckedNumber(p.kind == "int", check, p.rule())


def panel_rows(params: tuple[Param, ...]) -> list[tuple[str, str, Param]]:
    """(widget key, label, setting) for each row of an optimizer's or schedule's settings: a
    pair (Adam's betas) is two rows, ``betas[0]`` and ``betas[1]``."""
    rows = []
    for p in params:
        if not p.panel:
            continue
        if p.kind == "pair":
            stem = p.label.rstrip("s")
            rows += [(f"{p.key}[0]", f"{stem} 1", p), (f"{p.key}[1]", f"{stem} 2", p)]
        else:
            rows.append((p.key, p.label, p))
    return rows


class TrainingPanel(QtWidgets.QWidget):
    """The training settings of the project in ``settings``.

    Signals:
        sigValidityChanged(bool, str): whether training can start with these settings, and the
            reason when it cannot.
    """

    sigValidityChanged = QtCore.Signal(bool, str)

    def __init__(self, settings: Settings, parent: QtWidgets.QWidget | None = None,
                 devices: tuple[list[DeviceChoice], str | None] | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._updating = False
        self.devices, self.gpu_reason = devices if devices is not None else list_devices()
        self.reason = ""

        self.optimizer_combo = narrow_combo()
        self.optimizer_combo.addItems(OPTIMIZERS)
        self.lr_spin = checked_field(LR)
        self.lr_spin.setToolTip("Learning rate (the schedule starts from it)")
        self.find_lr_button = QtWidgets.QPushButton("Find…")
        self.find_lr_button.setToolTip(
            "Find learning rate: sweep it on a copy of the model, plot the loss against it and "
            "suggest one (you choose whether to apply it; undoable)")
        self.lr_finder: Any = None  # the dialog last opened
        self.opt_form = QtWidgets.QFormLayout()
        self.opt_widgets: dict[str, QtWidgets.QWidget] = {}
        self.schedule_combo = narrow_combo()
        self.schedule_combo.addItems(SCHEDULES)
        self.sched_form = QtWidgets.QFormLayout()
        self.sched_widgets: dict[str, QtWidgets.QWidget] = {}

        self.batch_spin = checked_field(LOOP["batch_size"])
        self.memory_label = QtWidgets.QLabel()
        self.memory_label.setWordWrap(True)
        self.memory_label.setObjectName("memoryEstimate")
        self.epochs_spin = checked_field(LOOP["epochs"])
        self.accum_spin = checked_field(LOOP["grad_accumulation"])
        self.accum_spin.setToolTip("Take an optimizer step every k batches (an effective "
                                   "batch k times larger, in the memory of one batch)")
        self.clip_check = QtWidgets.QCheckBox("Clip gradient norm at")
        self.clip_spin = checked_field(LOOP["grad_clip"])
        self.es_check = QtWidgets.QCheckBox("Early stopping")
        self.es_check.setToolTip("Stop when the monitored metric has not improved for "
                                 "'patience' epochs")
        self.monitor_combo = narrow_combo()
        self.monitor_combo.addItems(MONITORS)
        self.patience_spin = checked_field(LOOP["patience"])
        self.seed_check = QtWidgets.QCheckBox("Fixed seed")
        self.seed_check.setToolTip("A fixed seed makes a run reproducible")
        self.seed_spin = checked_field(LOOP["seed"])
        self.device_list = QtWidgets.QListWidget()
        self.device_list.setMaximumHeight(90)
        self.device_reason = QtWidgets.QLabel()
        self.device_reason.setWordWrap(True)
        self.device_reason.setObjectName("deviceReason")
        self.problem_label = QtWidgets.QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #c0392b;")
        for d in self.devices:
            item = QtWidgets.QListWidgetItem(d.label)
            item.setData(QtCore.Qt.UserRole, d.id)
            flags = QtCore.Qt.ItemIsUserCheckable | QtCore.Qt.ItemIsEnabled
            if not d.available:
                flags = QtCore.Qt.ItemIsUserCheckable
            item.setToolTip(d.reason)  # why it is unavailable, or when to choose it
            item.setFlags(flags)
            item.setCheckState(QtCore.Qt.Unchecked)
            self.device_list.addItem(item)

        opt_box = QtWidgets.QGroupBox("Optimizer")
        f = QtWidgets.QFormLayout(opt_box)
        f.addRow("Algorithm", self.optimizer_combo)
        lr_row = QtWidgets.QHBoxLayout()
        lr_row.addWidget(self.lr_spin, 1)
        lr_row.addWidget(self.find_lr_button)
        f.addRow("Learning rate", lr_row)
        f.addRow(self.opt_form)
        sched_box = QtWidgets.QGroupBox("Learning-rate schedule")
        f = QtWidgets.QFormLayout(sched_box)
        f.addRow("Schedule", self.schedule_combo)
        f.addRow(self.sched_form)
        loop_box = QtWidgets.QGroupBox("Loop")
        f = QtWidgets.QFormLayout(loop_box)
        f.addRow("Batch size", self.batch_spin)
        f.addRow(self.memory_label)
        f.addRow("Epochs", self.epochs_spin)
        f.addRow("Accumulate batches", self.accum_spin)
        f.addRow(self.clip_check, self.clip_spin)
        f.addRow(self.es_check)
        f.addRow("    Monitor", self.monitor_combo)
        f.addRow("    Patience (epochs)", self.patience_spin)
        f.addRow(self.seed_check, self.seed_spin)
        dev_box = QtWidgets.QGroupBox("Devices")
        v = QtWidgets.QVBoxLayout(dev_box)
        v.addWidget(self.device_list)
        v.addWidget(self.device_reason)
        layout = QtWidgets.QVBoxLayout(self)
        for w in (opt_box, sched_box, loop_box, dev_box, self.problem_label):
            layout.addWidget(w)
        layout.addStretch(1)

        self.optimizer_combo.currentTextChanged.connect(self._on_optimizer)
        self.lr_spin.sigValue.connect(lambda v: self._set_opt("lr", float(v)))
        self.find_lr_button.clicked.connect(self.find_learning_rate)
        self.schedule_combo.currentTextChanged.connect(self._on_schedule)
        self.batch_spin.sigValue.connect(lambda v: self._set(("batch_size",), int(v)))
        self.epochs_spin.sigValue.connect(lambda v: self._set(("epochs",), int(v)))
        self.accum_spin.sigValue.connect(lambda v: self._set(("grad_accumulation",), int(v)))
        self.clip_check.toggled.connect(self._on_clip)
        self.clip_spin.sigValue.connect(self._on_clip)
        self.es_check.toggled.connect(lambda on: self._set(("early_stopping", "enabled"),
                                                           bool(on)))
        self.monitor_combo.currentTextChanged.connect(
            lambda t: self._set(("early_stopping", "monitor"), t))
        self.patience_spin.sigValue.connect(
            lambda v: self._set(("early_stopping", "patience"), int(v)))
        self.seed_check.toggled.connect(self._on_seed)
        self.seed_spin.sigValue.connect(self._on_seed)
        self.device_list.itemChanged.connect(self._on_devices)
        settings.sigChanged.connect(self._on_setting_changed)
        settings.sigReset.connect(self.refresh)
        self.refresh()

    # ------------------------------------------------------------------ from the project
    def refresh(self) -> None:
        """Show the project's settings."""
        t = self.settings.project.training
        self._updating = True
        try:
            opt = t["optimizer"]
            self.optimizer_combo.setCurrentText(opt["name"])
            self._build_params(self.opt_form, self.opt_widgets,
                               OPTIMIZERS.get(opt["name"], ()), opt, self._on_opt_param)
            self.lr_spin.show_value(float(opt["lr"]))
            sched = t["schedule"]
            self.schedule_combo.setCurrentText(sched.get("name", "none"))
            self._build_params(self.sched_form, self.sched_widgets,
                               SCHEDULES.get(sched.get("name", "none"), ()), sched,
                               self._on_sched_param)
            self.batch_spin.show_value(int(t["batch_size"]))
            self.epochs_spin.show_value(int(t["epochs"]))
            self.accum_spin.show_value(int(t.get("grad_accumulation", 1)))
            clip = t.get("grad_clip")
            self.clip_check.setChecked(clip is not None)
            self.clip_spin.setEnabled(clip is not None)
            self.clip_spin.show_value(float(clip) if clip is not None else 1.0)
            es = t["early_stopping"]
            self.es_check.setChecked(bool(es.get("enabled")))
            self.monitor_combo.setCurrentText(canonical_monitor(es.get("monitor", "val_loss")))
            self.patience_spin.show_value(int(es.get("patience", 5)))
            for w in (self.monitor_combo, self.patience_spin):
                w.setEnabled(bool(es.get("enabled")))
            seed = t.get("seed")
            self.seed_check.setChecked(seed is not None)
            self.seed_spin.setEnabled(seed is not None)
            self.seed_spin.show_value(int(seed) if seed is not None else 0)
            chosen = list(t.get("devices", ["cpu"]))
            cpus = chosen.count("cpu")
            for i in range(self.device_list.count()):
                item = self.device_list.item(i)
                did = item.data(QtCore.Qt.UserRole)
                on = (len(expand_device_id(did)) == cpus if did.startswith("cpu")
                      else did in chosen)
                item.setCheckState(QtCore.Qt.Checked if on else QtCore.Qt.Unchecked)
        finally:
            self._updating = False
        self._check()

    def _on_setting_changed(self, path: tuple) -> None:
        if path and path[0] == "training" and not self._updating:
            self.refresh()

    def _build_params(self, form: QtWidgets.QFormLayout, widgets: dict[str, QtWidgets.QWidget],
                      params: tuple[Param, ...], values: dict[str, Any], slot: Any) -> None:
        """(Re)create the rows of an optimizer's or schedule's settings (``panel_rows``)."""
        rows = panel_rows(params)
        if list(widgets) != [key for key, _label, _p in rows]:
            while form.rowCount():
                form.removeRow(0)
            widgets.clear()
            for key, label, p in rows:
                if p.kind == "bool":
                    w: QtWidgets.QWidget = QtWidgets.QCheckBox()
                    w.toggled.connect(lambda v, k=key: slot(k, bool(v)))
                elif p.kind == "ints":
                    w = QtWidgets.QLineEdit()
                    w.setPlaceholderText("e.g. 30, 60")
                    w.editingFinished.connect(lambda k=key, le=w: slot(k, _ints(le.text())))
                else:
                    w = checked_field(p)
                    w.sigValue.connect(lambda v, k=key: slot(k, v))
                w.setObjectName(key)
                form.addRow(label, w)
                widgets[key] = w
        for key, _label, p in rows:
            w = widgets[key]
            value = _get(values, key, p)
            w.blockSignals(True)
            if p.kind == "bool":
                w.setChecked(bool(value))
            elif p.kind == "ints":
                w.setText(", ".join(str(v) for v in (value or [])))
            else:
                w.show_value(value)
            w.blockSignals(False)

    # ------------------------------------------------------------------ to the project
    def _set(self, path: tuple[str, ...], value: Any) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            self.settings.set(("training", *path), value)
        finally:
            self._updating = False
        self._check()

    def _set_opt(self, key: str, value: Any) -> None:
        opt = self.settings.get(("training", "optimizer"))
        opt[key] = value
        self._set(("optimizer",), opt)

    def _on_optimizer(self, name: str) -> None:
        if self._updating:
            return
        opt: dict[str, Any] = {"name": name, "lr": DEFAULT_LR.get(name, 0.01)}
        opt.update({p.key: list(p.default) if p.kind == "pair" else p.default
                    for p in OPTIMIZERS.get(name, ()) if p.panel})
        self._set(("optimizer",), opt)
        self.refresh()

    def _on_opt_param(self, key: str, value: Any) -> None:
        opt = self.settings.get(("training", "optimizer"))
        _put(opt, key, value, OPTIMIZERS.get(opt["name"], ()))
        self._set(("optimizer",), opt)

    def _on_schedule(self, name: str) -> None:
        if self._updating:
            return
        params = [p for p in SCHEDULES.get(name, ()) if p.panel]
        epochs = int(self.settings.get(("training", "epochs"), 10))
        lr = float(self.settings.get(("training", "optimizer", "lr"), 0.01))
        # the run-length defaults are the run's own (one rule), written here to be seen
        fitted = schedule_defaults(name, {}, epochs, 1, lr)
        sched: dict[str, Any] = {"name": name}
        sched.update({p.key: fitted.get(p.key, p.default) for p in params})
        self._set(("schedule",), sched)
        self.refresh()

    def _on_sched_param(self, key: str, value: Any) -> None:
        sched = self.settings.get(("training", "schedule"))
        sched[key] = value
        self._set(("schedule",), sched)

    def _on_clip(self, *_: Any) -> None:
        on = self.clip_check.isChecked()
        self.clip_spin.setEnabled(on)
        self._set(("grad_clip",), float(self.clip_spin.value() or 1.0) if on else None)

    def _on_seed(self, *_: Any) -> None:
        on = self.seed_check.isChecked()
        self.seed_spin.setEnabled(on)
        self._set(("seed",), int(self.seed_spin.value() or 0) if on else None)

    def _on_devices(self, item: QtWidgets.QListWidgetItem) -> None:
        if self._updating:
            return
        did = item.data(QtCore.Qt.UserRole)
        if _is_cpu_choice(did) and item.checkState() == QtCore.Qt.Checked:
            # "Auto", "CPU" and "CPU × n" are alternatives: checking one unchecks the others
            self._updating = True
            try:
                for i in range(self.device_list.count()):
                    other = self.device_list.item(i)
                    if other is not item and _is_cpu_choice(other.data(QtCore.Qt.UserRole)):
                        other.setCheckState(QtCore.Qt.Unchecked)
            finally:
                self._updating = False
        self._set(("devices",), self.selected_devices())

    def selected_devices(self) -> list[str]:
        return [d for i in range(self.device_list.count())
                if self.device_list.item(i).checkState() == QtCore.Qt.Checked
                for d in expand_device_id(self.device_list.item(i).data(QtCore.Qt.UserRole))]

    def find_learning_rate(self) -> Any:
        """Open the learning-rate finder on the project as it is now (non-modal)."""
        from .lr_finder_dialog import LRFinderDialog  # noqa: PLC0415

        if self.lr_finder is not None:
            self.lr_finder.close()
        dialog = LRFinderDialog(self.settings, self)
        dialog.setAttribute(QtCore.Qt.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda *_: setattr(self, "lr_finder", None))
        self.lr_finder = dialog
        dialog.show()
        dialog.start()
        return dialog

    # ------------------------------------------------------------------ checks
    def _check(self) -> None:
        """Show why the current choice cannot train (devices, batch size), if it cannot."""
        t = self.settings.project.training
        for w in (self.monitor_combo, self.patience_spin):
            w.setEnabled(bool(t["early_stopping"].get("enabled")))
        reason = device_problem(list(t.get("devices", [])), int(t["batch_size"])) or ""
        self._show_memory()
        lines = []
        if self.gpu_reason:
            lines.append(self.gpu_reason)
        self.device_reason.setText("\n".join(lines))
        self.device_reason.setVisible(bool(lines))
        self.problem_label.setText(reason)
        self.problem_label.setVisible(bool(reason))
        if reason != self.reason:
            self.reason = reason
            self.sigValidityChanged.emit(not reason, reason)

    def _show_memory(self) -> None:
        """The estimate for the batch size, in red with the device's free memory when it does
        not fit (the window's one place for the batch size, so the two always agree)."""
        try:
            text, warn = memory_note(self.settings.project)
        except (ValueError, KeyError):  # a graph that cannot be estimated yet: say nothing
            text, warn = "", False
        self.memory_label.setText(text)
        self.memory_label.setStyleSheet("color: #c0392b;" if warn else
                                        "color: palette(placeholder-text);")
        self.memory_label.setVisible(bool(text))

    @property
    def can_train(self) -> bool:
        return not self.reason

    def set_locked(self, locked: bool) -> None:
        """Disable editing while a run uses these settings."""
        for child in self.findChildren(QtWidgets.QWidget):
            if isinstance(child, QtWidgets.QAbstractSpinBox | QtWidgets.QComboBox |
                          QtWidgets.QCheckBox | QtWidgets.QLineEdit | QtWidgets.QListWidget):
                child.setEnabled(not locked)
        self.find_lr_button.setEnabled(not locked)  # the run uses the cores
        if not locked:
            self.refresh()


def _get(values: dict[str, Any], key: str, p: Param) -> Any:
    """The value of a panel row (``betas[1]`` is the second of the pair)."""
    if key.endswith("]"):
        pair = values.get(p.key, p.default)
        index = int(key[-2])
        return pair[index] if isinstance(pair, list | tuple) and len(pair) == 2 else \
            p.default[index]
    return values.get(key, p.default)


def _put(values: dict[str, Any], key: str, value: Any, params: tuple[Param, ...]) -> None:
    """Store a panel row's value into the settings (one element of a pair)."""
    if key.endswith("]"):
        stem, index = key[:-3], int(key[-2])
        p = next(q for q in params if q.key == stem)
        pair = list(values.get(stem, p.default))
        pair[index] = float(value)
        values[stem] = pair
    else:
        values[key] = value


def _ints(text: str) -> list[int]:
    out = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if part.isdigit():
            out.append(int(part))
    return sorted(set(out))
