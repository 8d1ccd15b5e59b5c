"""File handling of a main window: New (blank or template), Open, Save, Save As, recent files,
the unsaved-changes question, autosave, and the dialog for a file that cannot be read.

A file that cannot be opened is never written: the error dialog names the problem and its place
in the file, and the window keeps the project it had.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.project import TEMPLATES_DIR, Project, ProjectError, list_templates

from .autosave import Autosaver
from .constants import PROJECT_FILTER, PROJECT_SUFFIX

if TYPE_CHECKING:
    from .main_window import MainWindow


class FileActions(QObject):
    def __init__(self, window: MainWindow, autosave: bool = True) -> None:
        super().__init__(window)
        self.window = window
        self.doc = window.doc
        self.settings = window.settings
        self.autosaver = Autosaver(self.doc, self.settings.recovery_dir(), parent=self) \
            if autosave else None
        self.last_error: QMessageBox | None = None

    # ================================================================ new / open
    def new_blank(self) -> bool:
        if not self.maybe_save():
            return False
        self._replace(Project())
        return True

    def new_from_template(self, name: str) -> bool:
        if not self.maybe_save():
            return False
        try:
            project = Project.from_template(name)
        except ProjectError as exc:
            self.show_error("Cannot open template", str(exc))
            return False
        self._replace(project)
        return True

    def open_dialog(self) -> bool:
        path = self.ask_open_path()
        return self.open_path(path) if path else False

    def open_path(self, path: str | Path) -> bool:
        """Open a project file in this window (asking first about unsaved changes)."""
        if not self.maybe_save():
            return False
        try:
            project = Project.load(path)
        except ProjectError as exc:
            if not Path(path).exists():
                self.settings.remove_recent(path)
            self.show_error("Cannot open project", str(exc))
            return False
        self._replace(project)
        self.settings.add_recent(path)
        self.settings.set_last_dir(path)
        self.window.statusBar().showMessage(f"Opened {path}", 4000)
        return True

    def _replace(self, project: Project) -> None:
        if self.autosaver is not None:
            self.autosaver.discard()
        self.doc.set_project(project)
        self.window.update_title()

    # ================================================================ save
    def save(self) -> bool:
        path = self.doc.project.path
        return self.save_as() if path is None else self.write(path)

    def save_as(self) -> bool:
        path = self.ask_save_path()
        if not path:
            return False
        p = Path(path)
        if not p.suffix:
            p = p.with_suffix(PROJECT_SUFFIX)
        return self.write(p)

    def write(self, path: str | Path) -> bool:
        """Save atomically to ``path``; an error dialog (and the project still unsaved) if the
        file cannot be written."""
        try:
            written = self.doc.project.save(path)
        except (OSError, ProjectError) as exc:
            self.show_error("Cannot save project", f"{path}: {exc}")
            return False
        self.doc.mark_saved()
        if self.autosaver is not None:
            self.autosaver.discard()
        self.settings.add_recent(written)
        self.settings.set_last_dir(written)
        self.window.update_title()
        self.window.statusBar().showMessage(f"Saved {written}", 4000)
        return True

    def maybe_save(self) -> bool:
        """True when it is fine to drop the current project (saved, or the user said so)."""
        if not self.doc.modified:
            return True
        answer = self.ask_save_changes()
        if answer == "save":
            return self.save()
        return answer == "discard"

    # ================================================================ dialogs (tests replace)
    def ask_save_changes(self) -> str:
        """``save``, ``discard`` or ``cancel``."""
        name = self.window.windowTitle().split("[*]")[0]
        box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved changes",
                          f"Save the changes to {name} before closing it?",
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self.window)
        box.setInformativeText("Your changes are lost if you don't save them.")
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        return {QMessageBox.StandardButton.Save: "save",
                QMessageBox.StandardButton.Discard: "discard"}.get(
                    QMessageBox.StandardButton(answer), "cancel")

    def ask_open_path(self) -> str:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open project",
                                              self.settings.last_dir(), PROJECT_FILTER)
        return path

    def ask_save_path(self) -> str:
        project = self.doc.project
        start = str(project.path) if project.path else str(
            Path(self.settings.last_dir()) / f"{project.name or 'untitled'}{PROJECT_SUFFIX}")
        path, _ = QFileDialog.getSaveFileName(self.window, "Save project as", start,
                                              PROJECT_FILTER)
        return path

    def show_error(self, title: str, text: str) -> QMessageBox:
        """A window-modal error dialog that does not block the caller (it stays findable as
        ``last_error``, so scripts and tests can read and close it)."""
        box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok,
                          self.window)
        box.setObjectName("errorDialog")
        box.setTextInteractionFlags(box.textInteractionFlags())
        self.last_error = box
        box.open()
        return box

    # ================================================================ menus
    def fill_recent_menu(self) -> None:
        menu = self.window.recent_menu
        menu.clear()
        files = self.settings.recent_files()
        for i, path in enumerate(files, 1):
            action = menu.addAction(f"&{i % 10}  {Path(path).name}")
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if not files:
            menu.addAction("(no recent projects)").setEnabled(False)
        menu.addSeparator()
        menu.addAction("Clear list", self.settings.clear_recent).setEnabled(bool(files))

    def fill_template_menu(self) -> None:
        menu = self.window.template_menu
        menu.clear()
        for stem in list_templates():
            title = stem
            try:  # the template's own name reads better than its file name
                data = json.loads((TEMPLATES_DIR / f"{stem}.json").read_text(encoding="utf-8"))
                title = str(data.get("name") or stem)
            except (OSError, ValueError):
                pass
            action = menu.addAction(title)
            action.triggered.connect(lambda _=False, s=stem: self.new_from_template(s))
        if menu.isEmpty():
            menu.addAction("(no templates found)").setEnabled(False)

    # ================================================================ end
    def shutdown(self) -> None:
        """The window closes on purpose: no recovery file is needed."""
        if self.autosaver is not None:
            self.autosaver.stop()
