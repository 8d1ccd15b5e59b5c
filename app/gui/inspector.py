"""The inspector: the selected node's name and parameters as typed widgets built from the
registry (ranges, choices, help), its shapes and statistics, and its problems.

A value the registry refuses is not applied: the field turns red and the message under it says
what is allowed. Each accepted change is one undoable command.

Run alone: ``python -m app.qt.preview inspector`` (shows a Conv2d of the LeNet template).
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine.graph import GraphEditError, ParamSpec

from .canvas.node_item import format_count, format_value
from .document import GraphDocument
from .fields import NumberEdit
from .icons import category_icon

_INVALID_STYLE = "border: 1.5px solid #d1242f; border-radius: 3px;"


def param_to_text(p: ParamSpec, value: Any) -> str:
    """How a stored value reads in a text field: ``[5, 5]`` -> ``5, 5``; None -> empty."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def text_to_param(p: ParamSpec, text: str) -> Any:
    """Parse what a user typed into the value ``ParamSpec.coerce`` judges (it may still be out of
    range; the parse only decides the type: ``3`` -> 3, ``3, 3`` / ``3x3`` -> (3, 3))."""
    t = text.strip()
    if t == "" and p.optional:
        return None
    if p.kind == "float":
        try:
            return float(t)
        except ValueError:
            return t
    if p.kind == "int":
        try:
            return int(t)
        except ValueError:
            try:
                return float(t)
            except ValueError:
                return t
    if p.kind == "ints":
        if t.strip("\"'") in p.choices:
            return t.strip("\"'")
        parts = [s for s in re.split(r"[\s,x×()\[\]]+", t) if s]
        try:
            values = [int(s) for s in parts]
        except ValueError:
            return t
        if len(values) == 1 and p.length is not None:
            return values[0]
        return values
    return t


class InspectorWidget(QWidget):
    """Edits one node of ``doc``; ``set_node(None)`` shows a hint instead."""

    def __init__(self, doc: GraphDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.node: str | None = None
        self._type: str | None = None
        self.editors: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        self._helps: dict[QWidget, str] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        self._body = QWidget()
        scroll.setWidget(self._body)
        self._layout = QVBoxLayout(self._body)
        self._layout.setContentsMargins(8, 8, 8, 8)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.help = QLabel(wordWrap=True)
        self.help.setStyleSheet("color: palette(placeholder-text);")
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.form.setContentsMargins(0, 6, 0, 6)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.details = QLabel(wordWrap=True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems = QLabel(wordWrap=True)
        self.problems.setStyleSheet("color: #d1242f;")
        self.field_help = QLabel(wordWrap=True)
        self.field_help.setStyleSheet("color: palette(placeholder-text); font-size: 8pt;")
        for w in (self.title, self.help, self.form_host, self.details, self.problems):
            self._layout.addWidget(w)
        self._layout.addStretch(1)
        self._layout.addWidget(self.field_help)
        doc.sigNodeParamsChanged.connect(self._on_node_changed)
        doc.sigInfosChanged.connect(self._on_infos_changed)
        doc.sigProblemsChanged.connect(lambda _p: self._update_details())
        doc.sigNodeRenamed.connect(self._on_renamed)
        doc.sigNodeRemoved.connect(self._on_removed)
        doc.sigReset.connect(lambda: self.set_node(None))
        self.set_node(None)

    # ================================================================ which node
    def set_node(self, name: str | None, selected_count: int | None = None) -> None:
        if name is not None and name not in self.doc.graph:
            name = None
        same = name is not None and name == self.node and self._type == (
            self.doc.graph.node(name).type)
        self.node = name
        if same:
            self._sync_values()
            return
        self._clear_form()
        if name is None:
            self._type = None
            n = selected_count or 0
            self.title.setText("<b>%s</b>" % (f"{n} nodes selected" if n > 1 else "No selection"))
            self.help.setText("Select one node to edit its parameters. Drag layers from the "
                              "palette, or press Tab on the canvas to add one.")
            self.details.setText("")
            self.problems.setText("")
            return
        node = self.doc.graph.node(name)
        spec = node.spec
        self._type = node.type
        icon = category_icon(spec.category)
        self.title.setText(f"<b style='font-size:11pt'>{node.type}</b> "
                           f"<span style='color:gray'>{spec.category}</span>")
        self.title.setToolTip(spec.help)
        if not icon.isNull():
            self.setWindowIcon(icon)
        self.help.setText(spec.help)
        self._build_form()
        self._sync_values()

    def _clear_form(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        self.errors.clear()
        self._helps.clear()
        self.field_help.setText("")

    # ================================================================ widgets
    def _build_form(self) -> None:
        assert self.node is not None
        node = self.doc.graph.node(self.node)
        name_edit = QLineEdit()
        name_edit.editingFinished.connect(lambda: self._commit_name(name_edit.text()))
        self._add_row("name", "Name", name_edit,
                      "The node's name: its attribute in the exported model and the prefix of "
                      "its weights (conv1.weight). Letters, digits and underscores.")
        for p in node.spec.params:
            self._add_row(p.name, p.name, self._editor_for(p, node.params.get(p.name)),
                          f"{p.help}\nAllowed: {p.describe()}"
                          + ("\n(inferred from the incoming tensor)" if p.inferred else ""))

    def _add_row(self, key: str, label: str, editor: QWidget, help_text: str) -> None:
        lab = QLabel(label)
        lab.setToolTip(help_text)
        editor.setToolTip(help_text)
        editor.installEventFilter(self)
        self._helps[editor] = help_text
        self.form.addRow(lab, editor)
        err = QLabel(wordWrap=True)
        err.setStyleSheet("color: #d1242f; font-size: 8pt;")
        err.hide()
        self.form.addRow(err)
        self.editors[key] = editor
        self.errors[key] = err

    def _editor_for(self, p: ParamSpec, stored: Any) -> QWidget:
        if p.inferred:
            lab = QLabel()
            lab.setStyleSheet("color: palette(placeholder-text);")
            return lab
        if p.kind == "bool":
            box = QCheckBox()
            box.toggled.connect(lambda v, n=p.name: self._commit(n, bool(v)))
            return box
        if p.kind == "choice":
            combo = QComboBox()
            combo.addItems(list(p.choices))
            combo.activated.connect(lambda i, n=p.name, c=combo: self._commit(n, c.itemText(i)))
            return combo
        if p.kind in ("int", "float"):  # typed as text: a bad value is said, not fixed
            edit = NumberEdit(p.kind == "int", p.describe())
        else:
            edit = QLineEdit()
            edit.setPlaceholderText(p.describe())
        edit.editingFinished.connect(
            lambda n=p.name, e=edit, spec=p: self._commit(n, text_to_param(spec, e.text())))
        return edit

    def _sync_values(self) -> None:
        """Show the model's values without emitting edits."""
        if self.node is None:
            return
        node = self.doc.graph.node(self.node)
        info = self.doc.graph.infer().get(self.node)
        values = info.values if info is not None else node.values()[0]
        for key, editor in self.editors.items():
            editor.blockSignals(True)
            try:
                if key == "name":
                    if self.errors[key].isHidden():
                        editor.setText(node.name)  # type: ignore[attr-defined]
                    continue
                p = node.spec.param(key)
                assert p is not None
                stored = node.params.get(key, values.get(key))
                if isinstance(editor, QLabel):
                    editor.setText(format_value(values.get(key)) + "  (inferred)")
                elif isinstance(editor, QCheckBox):
                    editor.setChecked(bool(stored))
                elif isinstance(editor, QComboBox):
                    editor.setCurrentText(str(stored))
                elif isinstance(editor, QLineEdit) and self.errors[key].isHidden():
                    editor.setText(param_to_text(p, stored))
            finally:
                editor.blockSignals(False)
        self._update_details()

    def _update_details(self) -> None:
        if self.node is None or self.node not in self.doc.graph:
            return
        info = self.doc.graph.infer().get(self.node)
        rows = []
        if info is not None:
            ins = ", ".join(str(t) if t is not None else "—" for t in info.inputs)
            outs = ", ".join(str(t) if t is not None else "?" for t in info.outputs)
            if info.inputs:
                rows.append(f"<tr><td>Input</td><td><tt>{ins}</tt></td></tr>")
            if info.outputs:
                rows.append(f"<tr><td>Output&nbsp;</td><td><tt>{outs}</tt></td></tr>")
            rows.append(f"<tr><td>Params</td><td>{info.params:,}</td></tr>")
            rows.append(f"<tr><td>FLOPs</td><td>{format_count(info.flops)} per sample</td></tr>")
            rows.append(f"<tr><td>Memory</td><td>{info.activation_bytes / 1024:.1f} KiB of "
                        "activations per sample</td></tr>")
        self.details.setText("<table cellspacing=2>" + "".join(rows) + "</table>")
        problems = self.doc.problems_by_node.get(self.node, [])
        self.problems.setText("\n".join(
            ("⚠ " if p.severity == "warning" else "✖ ") + p.message for p in problems))

    # ================================================================ commits
    def _commit(self, param: str, value: Any) -> bool:
        """Apply one parameter; on refusal show why next to the field and keep the entry."""
        if self.node is None:
            return False
        try:
            self.doc.set_param(self.node, param, value)
        except GraphEditError as exc:
            self._show_error(param, str(exc).removeprefix(f"{self.node}: "))
            return False
        self._show_error(param, None)
        self._sync_values()
        return True

    def _commit_name(self, text: str) -> bool:
        if self.node is None or text == self.node:
            self._show_error("name", None)
            return False
        try:
            self.doc.rename(self.node, text.strip())
        except GraphEditError as exc:
            self._show_error("name", str(exc))
            return False
        self._show_error("name", None)
        return True

    def _show_error(self, key: str, message: str | None) -> None:
        err, editor = self.errors.get(key), self.editors.get(key)
        if err is None or editor is None:
            return
        err.setText(message or "")
        err.setVisible(bool(message))
        editor.setStyleSheet(_INVALID_STYLE if message else "")

    def commit_text(self, param: str, text: str) -> bool:
        """Type ``text`` into a text field and press Enter (the tests' and scripts' way in)."""
        editor = self.editors[param]
        assert isinstance(editor, QLineEdit)
        editor.setText(text)
        editor.editingFinished.emit()
        return self.errors[param].isHidden()

    def focus_name(self) -> None:
        editor = self.editors.get("name")
        if isinstance(editor, QLineEdit):
            editor.setFocus()
            editor.selectAll()

    # ================================================================ document signals
    def _on_node_changed(self, name: str) -> None:
        if name == self.node:
            node = self.doc.graph.node(name)
            # ports or parameter set changed shape? rebuild; otherwise update in place
            if node.type != self._type:
                self.set_node(name)
            else:
                self._sync_values()

    def _on_infos_changed(self, names: list[str]) -> None:
        if self.node in names:
            self._sync_values()

    def _on_renamed(self, old: str, new: str) -> None:
        if self.node == old:
            self.node = new
            self._show_error("name", None)
            self._sync_values()

    def _on_removed(self, name: str) -> None:
        if self.node == name:
            self.set_node(None)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.FocusIn and obj in self._helps:
            self.field_help.setText(self._helps[obj])  # type: ignore[index]
        return super().eventFilter(obj, event)
