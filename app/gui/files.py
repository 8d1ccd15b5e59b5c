"""File handling of a main window: New (blank or template), Open, Save, Save As, recent files,
the unsaved-changes question, autosave, the dialog for a file that cannot be read, and what
happens when the open file is changed by another program.

A file that cannot be opened is never written: the error dialog names the problem and its place
in the file, and the window keeps the project it had. Nothing is dropped silently either way:

- the window watches its file; when another program changes it (a second window, a ``git pull``)
  and the window has no unsaved edits, the file is reloaded (and the status bar says so); with
  unsaved edits the window asks: reload theirs, merge both (``app.core.merge``: edits to
  different nodes and settings combine), or keep mine (the next Save replaces theirs);
- Save refuses to replace a file changed since it was read (``ProjectChangedError``) and asks
  the same question instead;
- an unsaved project keeps its runs in a folder of its own in the user's data folder: saving it
  moves them beside the file; closing it without saving says they would be lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer
from PySide6.QtWidgets import QAbstractButton, QFileDialog, QMessageBox

from app.core.errors import ProjectChangedError, ProjectError
from app.core.merge import merge_projects
from app.core.paths import can_write_beside
from app.core.project import DiskStamp, Project, list_templates, template_title
from app.core.runs import adopt_runs, discard_runs, list_runs, runs_root

from .autosave import Autosaver
from .constants import PROJECT_FILTER, PROJECT_SUFFIX

if TYPE_CHECKING:
    from .main_window import MainWindow

# the three answers to a file changed on disk (Merge is left out once a merge found conflicts)
_RELOAD_TEXT = "Reload: take the file as it is now (your unsaved edits are dropped)."
_MERGE_TEXT = ("Merge: keep both: the file's changes and yours (where both changed the same "
               "node or setting, you are told and nothing is merged).")
_KEEP_TEXT = "Keep mine: the next Save replaces the file's changes with yours."


class FileActions(QObject):
    def __init__(self, window: MainWindow, autosave: bool = True) -> None:
        super().__init__(window)
        self.window = window
        self.doc = window.doc
        self.settings = window.settings
        self.autosaver = Autosaver(self.doc, self.settings.recovery_dir(), parent=self) \
            if autosave else None
        self.last_error: QMessageBox | None = None
        self.conflict_box: QMessageBox | None = None
        self.conflict: dict | None = None  # the file's project while the question is open
        self.watcher = QFileSystemWatcher(self)
        self.watcher.fileChanged.connect(self._on_file_event)
        self.watcher.directoryChanged.connect(self._on_file_event)
        self._check_timer = QTimer(self, singleShot=True, interval=200)  # writes come in bursts
        self._check_timer.timeout.connect(self.check_disk)
        self._give_runs_folder(self.doc.project)
        self._watch()

    # ================================================================ new / open
    def new_blank(self) -> bool:
        if not self.maybe_save():
            return False
        self.replace_project(Project())
        return True

    def new_from_template(self, name: str) -> bool:
        return self.maybe_save() and self._replace_with(lambda: Project.from_template(name),
                                                        "Cannot open template")

    def _replace_with(self, load: Callable[[], Project], title: str) -> bool:
        """Show the project ``load`` gives, or a dialog titled ``title`` saying why it cannot
        be read (the window keeps what it had)."""
        try:
            project = load()
        except ProjectError as exc:
            self.show_error(title, str(exc))
            return False
        self.replace_project(project)
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
        self.replace_project(project)
        self.settings.add_recent(path)
        self.settings.set_last_dir(path)
        self.window.statusBar().showMessage(f"Opened {path}", 4000)
        return True

    def replace_project(self, project: Project) -> None:
        """Show ``project`` in this window instead (New, Open, a reload, a recovery)."""
        if self.autosaver is not None:
            self.autosaver.discard()
        self._close_conflict()
        self._give_runs_folder(project)
        self.doc.set_project(project)
        self._watch()
        self.window.update_title()

    @staticmethod
    def _give_runs_folder(project: Project) -> None:
        """An unsaved project trains into a folder of its own (two unsaved windows never share
        one); saving it moves those runs beside the file."""
        if project.path is None and project.runs_dir is None:
            project.runs_dir = runs_root(project) / uuid.uuid4().hex[:12]

    # ================================================================ save
    def save(self) -> bool:
        path = self.doc.project.path
        if path is not None and not can_write_beside(path):  # a template, a read-only file
            self.window.statusBar().showMessage(f"{path} cannot be written: choose where to "
                                                "save a copy", 8000)
            return self.save_as()
        return self.save_as() if path is None else self.write(path)

    def save_as(self) -> bool:
        path = self.ask_save_path()
        if not path:
            return False
        p = Path(path)
        if not p.suffix:
            p = p.with_suffix(PROJECT_SUFFIX)
        return self.write(p)

    def write(self, path: str | Path, replace_changes: bool = False) -> bool:
        """Save atomically to ``path``; an error dialog (and the project still unsaved) if the
        file cannot be written, the merge question if another program changed it meanwhile."""
        project = self.doc.project
        unsaved_runs = project.runs_dir if project.path is None else None
        try:
            written = project.save(path, replace_changes=replace_changes)
        except ProjectChangedError as exc:
            self.ask_about_disk_change(exc.theirs)
            return False
        except (OSError, ProjectError) as exc:
            self.show_error("Cannot save project", f"{path}: {exc}")
            return False
        if unsaved_runs is not None:
            project.runs_dir = None
            adopt_runs(Path(unsaved_runs), project)
        self.doc.mark_saved()
        if self.autosaver is not None:
            self.autosaver.discard()
        self._close_conflict()
        self._watch()
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
        if answer == "discard":
            project = self.doc.project
            if project.path is None and project.runs_dir is not None:
                discard_runs(Path(project.runs_dir))
            return True
        return False

    def unsaved_runs(self) -> int:
        """How many runs only an unsaved project holds (closing it loses them)."""
        project = self.doc.project
        return len(list_runs(project)) if project.path is None else 0

    # ================================================================ changes on disk
    def _watch(self) -> None:
        """Watch the project file (and its folder: an atomic save by another program replaces
        the file, which ends a watch on the file itself)."""
        paths = self.watcher.files() + self.watcher.directories()
        if paths:
            self.watcher.removePaths(paths)
        path = self.doc.project.path
        if path is not None and path.exists():
            self.watcher.addPaths([str(path), str(path.parent)])

    def _on_file_event(self, _path: str) -> None:
        self._check_timer.start()

    def check_disk(self) -> None:
        """React to the file having changed on disk (see the module docstring)."""
        self._watch()
        project = self.doc.project
        if self.conflict_box is not None or not project.changed_on_disk():
            return
        try:
            theirs = Project.load(project.path).to_dict()
        except ProjectError as exc:
            self.window.statusBar().showMessage(
                f"{project.path.name} was changed by another program and cannot be read now "
                f"({exc}); your copy is kept as it is", 10000)
            return
        if not self.doc.modified:
            self.reload_from_disk()
            self.window.statusBar().showMessage(
                f"Reloaded {project.path.name}: another program changed it", 8000)
            return
        self.ask_about_disk_change(theirs)

    def ask_about_disk_change(self, theirs: dict | None,
                              conflicts: list[str] | None = None) -> QMessageBox:
        """Reload theirs, merge both, or keep mine: asked without blocking (``conflict_box``),
        answered through ``resolve_disk_change``. After a merge that found ``conflicts`` they
        are listed and Merge is not offered again."""
        self._close_conflict()
        self.conflict = theirs
        name = self.doc.project.path.name if self.doc.project.path else "the project"
        box = QMessageBox(QMessageBox.Icon.Warning, "Changed on disk",
                          f"{name} was changed by another program while you edited it here.",
                          QMessageBox.StandardButton.NoButton, self.window)
        if conflicts:
            text = ("Both this window and the other program changed the same things, so they "
                    "cannot be merged:\n- " + "\n- ".join(conflicts) + "\n\n" +
                    "\n".join((_RELOAD_TEXT, _KEEP_TEXT)))
        else:
            text = "\n".join((_RELOAD_TEXT, _MERGE_TEXT, _KEEP_TEXT))
        box.setInformativeText(text)
        box.setObjectName("diskChangeDialog")
        merge = box.addButton("Merge", QMessageBox.ButtonRole.AcceptRole)
        buttons = {merge: "merge",
                   box.addButton("Reload", QMessageBox.ButtonRole.DestructiveRole): "reload",
                   box.addButton("Keep Mine", QMessageBox.ButtonRole.RejectRole): "keep"}
        if theirs is None or conflicts:
            merge.setEnabled(False)

        def answered(button: QAbstractButton) -> None:
            self.resolve_disk_change(buttons.get(button, "keep"))

        box.buttonClicked.connect(answered)
        self.conflict_box = box
        box.open()
        return box

    def resolve_disk_change(self, answer: str) -> bool:
        """``reload``, ``merge`` or ``keep``; False when the merge found conflicts (they are
        shown, and nothing changed)."""
        theirs, self.conflict = self.conflict, None
        self._close_conflict()
        project = self.doc.project
        if answer == "reload":
            return self.reload_from_disk()
        if answer == "merge" and theirs is not None:
            base = project.base or theirs
            merged, conflicts = merge_projects(base, project.to_dict(), theirs)
            try:
                result = Project.from_dict(merged, project.path) if not conflicts else None
            except ProjectError as exc:
                conflicts = [f"the merged project does not hold together ({exc})"]
                result = None
            if result is None:
                self.ask_about_disk_change(theirs, conflicts)
                return False
            result.runs_dir = project.runs_dir
            result.base = theirs  # what the file holds now is what this edit starts from
            result.disk = DiskStamp.read(project.path)
            self.doc.set_project(result)
            self.doc.mark_unsaved()
            self.window.update_title()
            self.window.statusBar().showMessage("Merged the file's changes with yours "
                                                "(not saved yet)", 8000)
            return True
        # keep mine: the file's version becomes the one this edit replaces on Save
        project.disk = DiskStamp.read(project.path) if project.path is not None else None
        if theirs is not None:
            project.base = theirs
        return True

    def reload_from_disk(self) -> bool:
        path = self.doc.project.path
        return path is not None and self._replace_with(lambda: Project.load(path),
                                                       "Cannot reload project")

    def _close_conflict(self) -> None:
        box, self.conflict_box = self.conflict_box, None
        if box is not None:
            box.close()

    # ================================================================ dialogs (tests replace)
    def ask_save_changes(self) -> str:
        """``save``, ``discard`` or ``cancel``."""
        name = self.window.windowTitle().split("[*]")[0]
        box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved changes",
                          f"Save the changes to {name} before closing it?",
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self.window)
        box.setInformativeText(self.unsaved_text())
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        return {QMessageBox.StandardButton.Save: "save",
                QMessageBox.StandardButton.Discard: "discard"}.get(
                    QMessageBox.StandardButton(answer), "cancel")

    def unsaved_text(self) -> str:
        """What is lost without a save (the question's second line)."""
        runs = self.unsaved_runs()
        if runs:
            return (f"This project was never saved: its {runs} training run"
                    f"{'s' if runs != 1 else ''} (weights and charts) will be lost too if "
                    "you don't save it.")
        return "Your changes are lost if you don't save them."

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
            action = menu.addAction(template_title(stem))
            action.triggered.connect(lambda _=False, s=stem: self.new_from_template(s))
        if menu.isEmpty():
            menu.addAction("(no templates found)").setEnabled(False)

    # ================================================================ end
    def shutdown(self) -> None:
        """The window closes on purpose: no recovery file is needed."""
        if self.autosaver is not None:
            self.autosaver.stop()
        self._close_conflict()
