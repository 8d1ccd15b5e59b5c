"""The main window: palette (left), canvas (centre, in a tab widget the dashboard adds to),
inspector (right), problems (bottom), status bar; menus and shortcuts for every editor action.

Docks and the central tabs are open for extension: ``add_dock`` and ``add_tab`` are how the
training dashboard (and later panels) join the window. File handling is in ``files.py``.
"""

from __future__ import annotations

import importlib.util

from PySide6.QtCore import QByteArray, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QStyle,
    QTabWidget,
    QTextBrowser,
    QUndoView,
    QVBoxLayout,
    QWidget,
)

from app.core.project import Project
from engine.graph import GraphEditError

from . import clipboard
from .canvas import GraphScene, GraphView
from .canvas.view import node_origin_for, project_files
from .constants import APP_NAME, DEFAULT_WINDOW, NODE_WIDTH, PASTE_OFFSET
from .document import GraphDocument
from .files import FileActions
from .icons import action_icon, app_icon
from .inspector import InspectorWidget
from .layout import wrapped_layout
from .palette import PaletteWidget
from .problems import ProblemsWidget
from .quick_add import QuickAddPopup
from .settings import AppSettings
from .status import StatusSummary

Area = Qt.DockWidgetArea


class MainWindow(QMainWindow):
    """One project in one window. ``manager`` (optional) opens further windows."""

    def __init__(self, project: Project | None = None, settings: AppSettings | None = None,
                 manager: object | None = None, autosave: bool = True,
                 dashboard: bool = True) -> None:
        super().__init__()
        self.settings = settings or AppSettings()
        self.manager = manager
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.doc = GraphDocument(project)
        self.scene = GraphScene(self.doc, self)
        self.view = GraphView(self.scene)
        self.tabs = QTabWidget(documentMode=True)
        self.tabs.addTab(self.view, "Network")
        self.setCentralWidget(self.tabs)

        self._more_editor_docks: list[QDockWidget] = []
        self.palette = PaletteWidget()
        self.inspector = InspectorWidget(self.doc)
        self.problems = ProblemsWidget(self.doc)
        self.palette_dock = self.add_dock(self.palette, "Layers", Area.LeftDockWidgetArea,
                                          "paletteDock")
        self.inspector_dock = self.add_dock(self.inspector, "Inspector",
                                            Area.RightDockWidgetArea, "inspectorDock")
        self.problems_dock = self.add_dock(self.problems, "Problems", Area.BottomDockWidgetArea,
                                           "problemsDock")
        self.history = QUndoView(self.doc.undo_stack)
        self.history.setEmptyLabel("<opened>")
        self.history_dock = self.add_dock(self.history, "History", Area.RightDockWidgetArea,
                                          "historyDock")
        self.tabifyDockWidget(self.inspector_dock, self.history_dock)
        self.inspector_dock.raise_()
        self.resizeDocks([self.palette_dock, self.inspector_dock], [220, 300],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.problems_dock], [120], Qt.Orientation.Vertical)

        self.status = StatusSummary(self.doc)
        self.statusBar().addPermanentWidget(self.status)
        self.quick_add = QuickAddPopup(self)
        self._quick_add_at: QPointF = QPointF()
        self._quick_add_from: tuple[str, int] | None = None
        self._paste_serial = (None, 0)

        self.files = FileActions(self, autosave=autosave)
        self._make_actions()
        self._make_menus()
        self._connect()
        self.update_title()
        self.training = self._attach_dashboard() if dashboard else None
        self._editor_layout: QByteArray | None = None  # the docks, while another tab shows
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.resize(*DEFAULT_WINDOW)
        if not self.settings.restore_window(self):
            QTimer.singleShot(0, lambda: self.resizeDocks([self.problems_dock], [120],
                                                          Qt.Orientation.Vertical))
        self.fit_to_screen()
        QTimer.singleShot(0, self.view.show_default)

    # ================================================================ extension points
    def add_dock(self, widget: QWidget, title: str,
                 area: Qt.DockWidgetArea = Area.RightDockWidgetArea,
                 object_name: str | None = None, editor: bool = False) -> QDockWidget:
        """Add a panel as a dock (its layout is remembered between runs by ``object_name``);
        ``editor``: it belongs to the Network tab and hides with the editor's docks."""
        dock = QDockWidget(title, self)
        if editor:
            self._more_editor_docks.append(dock)
        dock.setObjectName(object_name or f"{title.lower().replace(' ', '')}Dock")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        if hasattr(self, "view_menu"):
            self.view_menu.addAction(dock.toggleViewAction())
        return dock

    @property
    def editor_docks(self) -> tuple[QDockWidget, ...]:
        return (self.palette_dock, self.inspector_dock, self.history_dock, self.problems_dock,
                *self._more_editor_docks)

    def fit_to_screen(self) -> None:
        """Keep the window on its screen: no larger than the screen's free area (a saved size
        from a bigger monitor, or the default on a 1366 x 768 laptop) and not off its edges."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return
        area = screen.availableGeometry()
        frame_w = max(self.frameGeometry().width() - self.width(), 0)
        frame_h = max(self.frameGeometry().height() - self.height(), 0)
        w = min(self.width(), area.width() - frame_w)
        h = min(self.height(), area.height() - frame_h)
        if (w, h) != (self.width(), self.height()):
            self.resize(w, h)
        x = min(max(self.x(), area.left()), area.right() - w - frame_w + 1)
        y = min(max(self.y(), area.top()), area.bottom() - h - frame_h + 1)
        if (x, y) != (self.x(), self.y()):
            self.move(x, y)

    def _on_tab_changed(self, index: int) -> None:
        """Other tabs (training) get the whole window: the editor's docks hide there and come
        back as they were, so their sizes never drift from one tab to the other."""
        editing = self.tabs.widget(index) is self.view
        if editing and self._editor_layout is not None:
            self.restoreState(self._editor_layout)
            self._editor_layout = None
        elif not editing and self._editor_layout is None:
            self._editor_layout = self.saveState()
            for dock in self.editor_docks:
                dock.hide()

    def add_tab(self, widget: QWidget, title: str) -> int:
        """Add a page next to the canvas (the training dashboard); returns its index."""
        return self.tabs.addTab(widget, title)

    def _attach_dashboard(self) -> object | None:
        """The training dashboard (issue 8) joins as a tab when that package is installed; it
        builds itself lazily, so start-up does not pay for it."""
        if importlib.util.find_spec("app.dashboard.integration") is None:
            return None
        from app.dashboard.integration import attach_dashboard  # noqa: PLC0415

        return attach_dashboard(self)

    def set_editing_locked(self, locked: bool, reason: str = "training is running") -> None:
        """Look but do not touch: while locked every graph edit is refused (with ``reason``),
        edit actions are disabled, and nodes cannot be dragged; zoom, pan and selection work."""
        self.doc.set_locked(reason if locked else None)
        for action in self.edit_actions:
            action.setEnabled(not locked)
        for item in self.scene.node_items.values():
            item.setFlag(item.GraphicsItemFlag.ItemIsMovable, not locked)
        self.palette.setEnabled(not locked)
        self.inspector.setEnabled(not locked)

    # ================================================================ actions
    def _action(self, text: str, slot: object, shortcut: QKeySequence | str | None = None,
                tip: str = "", widget_scope: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        if widget_scope:  # single-key shortcuts only while the canvas has the focus
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.view.addAction(action)
        else:
            self.addAction(action)
        return action

    def _make_actions(self) -> None:
        ks = QKeySequence.StandardKey
        f = self.files
        self.act_new = self._action("&New", f.new_blank, ks.New, "A new, empty project")
        self.act_new_window = self._action("New &Window", self.new_window, "Ctrl+Shift+N")
        self.act_open = self._action("&Open…", f.open_dialog, ks.Open)
        self.act_save = self._action("&Save", f.save, ks.Save)
        self.act_save_as = self._action("Save &As…", f.save_as, ks.SaveAs)
        self.act_close = self._action("&Close Window", self.close, ks.Close)
        self.act_quit = self._action("&Quit", self._quit, ks.Quit)
        stack = self.doc.undo_stack
        self.act_undo = stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcuts(ks.Undo)
        self.act_redo = stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence(ks.Redo), QKeySequence("Ctrl+Y")])
        self.addActions([self.act_undo, self.act_redo])
        self.act_cut = self._action("Cu&t", self.cut, ks.Cut)
        self.act_copy = self._action("&Copy", self.copy, ks.Copy)
        self.act_paste = self._action("&Paste", self.paste, ks.Paste)
        self.act_duplicate = self._action("&Duplicate", self.duplicate, "Ctrl+D")
        self.act_delete = self._action("&Delete", self.delete_selection, "Del",
                                       widget_scope=True)
        self.act_delete.setShortcuts([QKeySequence("Del"), QKeySequence("Backspace")])
        self.act_select_all = self._action("Select &All", self.select_all, ks.SelectAll,
                                           widget_scope=True)
        self.act_rename = self._action("&Rename…", self.rename_selected, "F2")
        self.act_quick_add = self._action("&Add Layer…", self.view.request_quick_add, "Tab",
                                          "Search for a layer and add it at the mouse (Tab)",
                                          widget_scope=True)
        self.act_layout = self._action("Auto &Layout", self.auto_layout, "Ctrl+L",
                                       "Arrange the graph in layers from left to right")
        self.act_zoom_in = self._action("Zoom &In", lambda: self.view.zoom_by(1.25, False),
                                        ks.ZoomIn)
        self.act_zoom_in.setShortcuts([QKeySequence(ks.ZoomIn), QKeySequence("Ctrl+=")])
        self.act_zoom_out = self._action("Zoom &Out", lambda: self.view.zoom_by(0.8, False),
                                         ks.ZoomOut)
        self.act_zoom_reset = self._action("&Actual Size", self.view.reset_zoom, "Ctrl+0")
        self.act_fit = self._action("&Fit All", self.view.fit_all, "F", widget_scope=True)
        self.act_fit.setShortcuts([QKeySequence("F"), QKeySequence("Home")])
        self.act_fit_selection = self._action("Fit &Selection", self.view.fit_selection,
                                              "Shift+F", widget_scope=True)
        self.act_minimap = self._action("&Minimap", self.view.set_minimap_visible, "M",
                                        widget_scope=True)
        self.act_minimap.setCheckable(True)
        self.act_minimap.setChecked(True)
        self.act_shortcuts = self._action("&Keyboard Shortcuts", self.show_shortcuts, "F1")
        self.act_about = self._action("&About LayerForge", self.show_about)
        self.act_manual = self._action("User &Manual", self.show_manual,
                                       tip="How to use LayerForge: the README, offline")
        self.edit_actions = [self.act_undo, self.act_redo, self.act_cut, self.act_paste,
                             self.act_duplicate, self.act_delete, self.act_rename,
                             self.act_quick_add, self.act_layout]

    def _make_menus(self) -> None:
        bar = self.menuBar()
        m = bar.addMenu("&File")
        m.addActions([self.act_new])
        self.template_menu = m.addMenu("New from &Template")
        self.template_menu.aboutToShow.connect(self.files.fill_template_menu)
        m.addAction(self.act_new_window)
        m.addSeparator()
        m.addAction(self.act_open)
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self.files.fill_recent_menu)
        m.addSeparator()
        m.addActions([self.act_save, self.act_save_as])
        m.addSeparator()
        m.addActions([self.act_close, self.act_quit])
        m = bar.addMenu("&Edit")
        m.addActions([self.act_undo, self.act_redo])
        m.addSeparator()
        m.addActions([self.act_cut, self.act_copy, self.act_paste, self.act_duplicate,
                      self.act_delete])
        m.addSeparator()
        m.addActions([self.act_select_all, self.act_rename, self.act_quick_add])
        m = bar.addMenu("&View")
        m.addActions([self.act_zoom_in, self.act_zoom_out, self.act_zoom_reset, self.act_fit,
                      self.act_fit_selection, self.act_minimap])
        m.addSeparator()
        for dock in (self.palette_dock, self.inspector_dock, self.problems_dock,
                     self.history_dock):
            m.addAction(dock.toggleViewAction())
        self.view_menu = m
        m.addSeparator()
        self.theme_menu = m.addMenu("&Theme")
        self.theme_group = QActionGroup(self)
        for choice, label in (("system", "Like the &Desktop"), ("light", "&Light"),
                              ("dark", "&Dark")):
            action = self.theme_menu.addAction(label)
            action.setCheckable(True)
            action.setData(choice)
            action.setChecked(choice == self.settings.theme())
            self.theme_group.addAction(action)
        self.theme_group.triggered.connect(lambda a: self.set_theme(a.data()))
        m = bar.addMenu("&Graph")
        m.addActions([self.act_quick_add, self.act_layout])
        m = bar.addMenu("&Help")
        m.addActions([self.act_manual, self.act_shortcuts, self.act_about])
        icons = QStyle.StandardPixmap
        for action, icon in ((self.act_new, icons.SP_FileIcon),
                             (self.act_open, icons.SP_DialogOpenButton),
                             (self.act_save, icons.SP_DialogSaveButton)):
            action.setIcon(self.style().standardIcon(icon))
        for action, name in ((self.act_undo, "undo"), (self.act_redo, "redo"),
                             (self.act_layout, "layout"), (self.act_fit, "fit")):
            action.setIcon(action_icon(name))
        self.toolbar = self.addToolBar("Main")
        self.toolbar.setObjectName("mainToolbar")
        self.toolbar.setMovable(False)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toolbar.addActions([self.act_new, self.act_open, self.act_save])
        self.toolbar.addSeparator()
        self.toolbar.addActions([self.act_undo, self.act_redo])
        self.toolbar.addSeparator()
        self.toolbar.addActions([self.act_layout, self.act_fit])
        self.toolbar.addSeparator()
        for action in (self.act_undo, self.act_redo):  # their text changes with every edit
            self.toolbar.widgetForAction(action).setToolButtonStyle(
                Qt.ToolButtonStyle.ToolButtonIconOnly)

    def _connect(self) -> None:
        self.palette.sigLayerActivated.connect(self.add_layer_at_center)
        self.scene.selectionChanged.connect(self._on_selection)
        self.scene.sigMessage.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.scene.sigNodeDoubleClicked.connect(self.rename_node)
        self.scene.sigWireDropped.connect(self._on_wire_dropped)
        self.problems.sigNodeActivated.connect(self.reveal_node)
        self.problems.sigCountChanged.connect(
            lambda e, w: self.problems_dock.setWindowTitle(
                f"Problems ({e} error{'s' if e != 1 else ''}, {w} warning{'s' if w != 1 else ''})"
                if e or w else "Problems"))
        self.problems.show_problems(self.doc.problems)
        self.view.sigFilesDropped.connect(lambda paths: self.files.open_path(paths[0]))
        self.view.sigQuickAddRequested.connect(self._open_quick_add)
        self.quick_add.sigChosen.connect(self._quick_add_chosen)
        self.doc.sigModifiedChanged.connect(lambda _m: self.update_title())
        self.doc.sigReset.connect(self.update_title)
        self.doc.sigReset.connect(lambda: QTimer.singleShot(0, self.view.show_default))

    # ================================================================ title
    def update_title(self) -> None:
        project = self.doc.project
        name = project.path.name if project.path is not None else (project.name or "Untitled")
        self.setWindowTitle(f"{name}[*] — {APP_NAME}")
        self.setWindowModified(self.doc.modified)

    # ================================================================ edit operations
    def _on_selection(self) -> None:
        names = self.scene.selected_nodes()
        self.inspector.set_node(names[0] if len(names) == 1 else None, len(names))

    def add_layer_at_center(self, type_: str) -> str | None:
        center = self.view.mapToScene(self.view.viewport().rect().center())
        return self.view.drop_layer(type_, center)

    def delete_selection(self) -> None:
        self._guard(lambda: self.doc.delete(self.scene.selected_nodes(),
                                            self.scene.selected_edges()))

    def copy(self) -> bool:
        ok = clipboard.copy_nodes(self.doc.graph, self.scene.selected_nodes())
        if ok:
            n = len(self.scene.selected_nodes())
            self.statusBar().showMessage(f"Copied {n} node{'s' if n != 1 else ''}", 3000)
        return ok

    def cut(self) -> None:
        if self.copy():
            self._guard(lambda: self.doc.delete(self.scene.selected_nodes(),
                                                self.scene.selected_edges()))

    def paste(self) -> list[str]:
        """Paste the clipboard's nodes: at the mouse when it is over the canvas, otherwise
        offset from the originals (further each time the same nodes are pasted again)."""
        try:
            payload = clipboard.clipboard_payload()
        except GraphEditError as exc:
            self.statusBar().showMessage(f"Cannot paste: {exc}", 8000)
            return []
        if payload is None or not payload["nodes"]:
            self.statusBar().showMessage("Nothing to paste: copy some nodes first", 4000)
            return []
        x0, y0 = clipboard.top_left(payload)
        mouse = self.view.viewport().mapFromGlobal(self.view.cursor().pos())
        if self.view.viewport().rect().contains(mouse) and self.view.underMouse():
            at = self.view.mapToScene(mouse)
            offset = (at.x() - x0, at.y() - y0)
        else:
            key = repr(payload["nodes"])
            count = self._paste_serial[1] + 1 if self._paste_serial[0] == key else 1
            self._paste_serial = (key, count)
            offset = (PASTE_OFFSET * count, PASTE_OFFSET * count)
        return self._insert(payload, offset, "Paste")

    def duplicate(self) -> list[str]:
        names = self.scene.selected_nodes()
        if not names:
            return []
        return self._insert(clipboard.fragment(self.doc.graph, names),
                            (PASTE_OFFSET, PASTE_OFFSET), "Duplicate")

    def _insert(self, payload: dict, offset: tuple[float, float], text: str) -> list[str]:
        try:
            names = self.doc.insert_fragment(payload["nodes"], payload["edges"], offset, text)
        except GraphEditError as exc:
            self.statusBar().showMessage(f"Cannot {text.lower()}: {exc}", 8000)
            return []
        self.scene.select_nodes(names)
        return names

    def select_all(self) -> None:
        for item in self.scene.node_items.values():
            item.setSelected(True)

    def rename_selected(self) -> None:
        names = self.scene.selected_nodes()
        if len(names) == 1:
            self.rename_node(names[0])
        else:
            self.statusBar().showMessage("Select one node to rename it", 3000)

    def rename_node(self, name: str) -> None:
        self.scene.select_nodes([name])
        self.inspector_dock.show()
        self.inspector_dock.raise_()
        self.inspector.focus_name()

    def reveal_node(self, name: str) -> None:
        """Select a node and bring it to the middle of the canvas (problems panel clicks)."""
        if name in self.scene.node_items:
            self.scene.select_nodes([name])
            self.view.center_on_node(name)

    def auto_layout(self) -> None:
        """Lay the graph out in rows that fill the canvas as it is now (``wrapped_layout``)."""
        sizes = {n: (NODE_WIDTH, item.height) for n, item in self.scene.node_items.items()}
        port = self.view.viewport().rect()
        positions = wrapped_layout(self.doc.graph, sizes, (port.width(), port.height()))
        self._guard(lambda: self.doc.move_nodes(positions, "Auto-layout"))
        self.view.show_default()

    def _guard(self, edit: object) -> bool:
        try:
            edit()  # type: ignore[operator]
        except GraphEditError as exc:
            self.statusBar().showMessage(str(exc), 8000)
            return False
        return True

    # ---------------------------------------------------------------- quick add
    def _open_quick_add(self, global_pos: QPoint, scene_pos: QPointF) -> None:
        if self.doc.locked_reason:
            self.statusBar().showMessage(self.doc.locked_reason, 4000)
            return
        self._quick_add_at = scene_pos
        selected = self.scene.selected_nodes()
        self._quick_add_from = (selected[0], 0) if len(selected) == 1 else None
        self.quick_add.popup(global_pos)

    def _on_wire_dropped(self, src: str, port: int, scene_pos: QPointF) -> None:
        self._quick_add_at = scene_pos
        self._quick_add_from = (src, port)
        self.quick_add.popup(self.view.viewport().mapToGlobal(self.view.mapFromScene(scene_pos)))

    def _quick_add_chosen(self, type_: str) -> str | None:
        """Add the chosen layer where Tab was pressed; wire it after the selected node (or
        the wire that was let go) when that connection is valid."""
        source = self._quick_add_from
        self._quick_add_from = None
        try:
            with self.doc.macro(f"Add {type_}"):
                name = self.doc.add_node(type_, node_origin_for(self._quick_add_at))
                if source is not None and source[0] in self.doc.graph:
                    reason = self.doc.connection_refusal(source[0], name, source[1], 0)
                    if reason is None:
                        self.doc.connect(source[0], name, source[1], 0)
                    else:
                        self.statusBar().showMessage(f"Added {name}, not connected: {reason}",
                                                     8000)
        except GraphEditError as exc:
            self.statusBar().showMessage(f"Cannot add {type_}: {exc}", 8000)
            return None
        self.scene.select_nodes([name])
        self.view.setFocus()
        return name

    # ================================================================ windows, help
    def new_window(self) -> MainWindow:
        if self.manager is not None:
            return self.manager.new_window()  # type: ignore[attr-defined]
        win = MainWindow(settings=self.settings)
        win.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        win.show()
        return win

    def _quit(self) -> None:
        if self.manager is not None:
            self.manager.close_all()  # type: ignore[attr-defined]
        else:
            self.close()

    def show_shortcuts(self) -> None:
        rows = []
        for a in self.findChildren(QAction):
            keys = ", ".join(dict.fromkeys(
                k for k in (s.toString(QKeySequence.SequenceFormat.NativeText)
                            for s in a.shortcuts())
                if k and not _special_key(k)))  # Undo/F14: keys of old Sun keyboards
            if keys and a.text():
                rows.append(f"<tr><td>{a.text().replace('&', '')}</td><td><b>{keys}</b></td></tr>")
        rows += ["<tr><td>Pan</td><td><b>Middle drag, Space + drag</b></td></tr>",
                 "<tr><td>Zoom to mouse</td><td><b>Wheel</b></td></tr>",
                 "<tr><td>Connect</td><td><b>Drag from an output port to an input "
                 "port</b></td></tr>",
                 "<tr><td>Reconnect / disconnect</td><td><b>Drag a wire off its input "
                 "port</b></td></tr>",
                 "<tr><td>Nudge</td><td><b>Arrow keys (Shift: larger steps)</b></td></tr>"]
        box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts",
                          "<table cellspacing=4>" + "".join(sorted(set(rows))) + "</table>",
                          QMessageBox.StandardButton.Close, self)
        box.open()

    def show_about(self) -> QMessageBox:
        import platform  # noqa: PLC0415

        import PySide6  # noqa: PLC0415

        from app.core.paths import user_data_dir  # noqa: PLC0415
        from engine import __version__  # noqa: PLC0415

        box = QMessageBox(QMessageBox.Icon.NoIcon, f"About {APP_NAME}",
                          f"<b>{APP_NAME} {__version__}</b><br>Design, train and export neural "
                          "networks visually, on an embedded NumPy/CuPy engine that speaks "
                          "PyTorch.", QMessageBox.StandardButton.Close, self)
        box.setIconPixmap(app_icon().pixmap(64, 64))
        box.setInformativeText(
            f"Python {platform.python_version()}, Qt {PySide6.__version__} (PySide6), "
            f"{platform.system()} {platform.machine()}.<br>MIT licence.<br>Runs of unsaved "
            f"projects and templates, and the crash log: <code>{user_data_dir()}</code>")
        box.setObjectName("aboutDialog")
        box.open()
        return box

    def show_manual(self) -> QDialog:
        """The README, rendered, offline (Help > User Manual)."""
        dialog = QDialog(self)
        dialog.setWindowTitle(f"{APP_NAME} — User Manual")
        dialog.setObjectName("manualDialog")
        browser = QTextBrowser(dialog)
        browser.setOpenExternalLinks(True)
        browser.setMarkdown(manual_text())
        layout = QVBoxLayout(dialog)
        layout.addWidget(browser)
        dialog.resize(900, 640)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.manual = browser
        return dialog

    def set_theme(self, choice: str) -> None:
        """View > Theme: light, dark or the desktop's; remembered, and every window redrawn."""
        from .theme import retheme, set_choice  # noqa: PLC0415

        set_choice(choice)
        self.settings.set_theme(choice)
        app = QApplication.instance()
        if app is not None:
            retheme(app)

    def close_discarding(self) -> None:
        """Close without the "save changes?" question, dropping unsaved edits; a run is
        stopped first (the self-test, the screenshots and the tests close windows so)."""
        if self.training is not None:
            self.training.shutdown()
        self.doc.undo_stack.setClean()
        self.files.ask_save_changes = lambda: "discard"
        self.close()

    # ================================================================ window events
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.files.maybe_save():
            event.ignore()
            return
        if self._editor_layout is not None:  # remember the editor's docks, not the tab's
            self.restoreState(self._editor_layout)
            self._editor_layout = None
        self.settings.save_window(self)
        self.files.shutdown()
        if self.manager is not None:
            self.manager.forget(self)  # type: ignore[attr-defined]
        event.accept()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self.fit_to_screen()  # its frame is known now, and so is the screen it is shown on

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if project_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        files = project_files(event.mimeData())
        if files:
            event.acceptProposedAction()
            self.files.open_path(files[0])


def _special_key(text: str) -> bool:
    """A shortcut Qt adds for keys a usual keyboard lacks (the Undo key, F13 and above)."""
    key = text.split("+")[-1]
    return key in ("Undo", "Redo", "Cut", "Copy", "Paste") or (
        key.startswith("F") and key[1:].isdigit() and int(key[1:]) > 12)


def manual_text() -> str:
    """The user manual: the README of this installation (the checkout's, or the installed
    package's description, which is the README), else a pointer to it."""
    from pathlib import Path  # noqa: PLC0415

    readme = Path(__file__).resolve().parents[2] / "README.md"
    if readme.is_file():
        return readme.read_text(encoding="utf-8")
    try:
        from importlib.metadata import metadata  # noqa: PLC0415

        text = metadata("layerforge").get_payload()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - no metadata in this build: the pointer below
        text = ""
    return text or (f"# {APP_NAME}\n\nThe manual is the README.md of the LayerForge source "
                    "(it was left out of this build). `layerforge --help` lists the commands.")
