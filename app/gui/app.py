"""The application: the QApplication, its theme, the open windows, crash recovery at start."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from .autosave import Recovery, find_recoveries
from .constants import APP_NAME, ORG_NAME
from .icons import app_icon
from .main_window import MainWindow
from .settings import AppSettings
from .theme import apply_theme, retheme, set_choice


class WindowManager(QObject):
    """Keeps the windows alive and opens new ones (File > New Window, recovered projects)."""

    def __init__(self, settings: AppSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or AppSettings()
        self.windows: list[MainWindow] = []

    def new_window(self, project: object | None = None) -> MainWindow:
        win = MainWindow(project, settings=self.settings, manager=self)  # type: ignore[arg-type]
        self.windows.append(win)
        if self.windows[:-1]:  # cascade, so the new window does not hide the old one exactly
            prev = self.windows[-2]
            win.move(prev.pos().x() + 30, prev.pos().y() + 30)
        win.show()
        return win

    def forget(self, win: MainWindow) -> None:
        if win in self.windows:
            self.windows.remove(win)

    def close_all(self) -> None:
        for win in list(self.windows):
            if not win.close():
                return

    def offer_recovery(self, ask: object | None = None) -> list[MainWindow]:
        """Offer each project left unsaved by a crash; recovered ones open with their changes
        unsaved (Save writes to the original file)."""
        ask = ask or _ask_recover
        opened = []
        for rec in find_recoveries(self.settings.recovery_dir()):
            answer = ask(rec)  # type: ignore[operator]
            if answer == "later":
                continue
            if answer == "recover":
                project = rec.load()
                first = self.windows[0] if self.windows else None
                if (first is not None and not first.doc.modified
                        and first.doc.project.path is None and not len(first.doc.graph)):
                    win = first
                    win.files.replace_project(project)
                else:
                    win = self.new_window(project)
                win.doc.mark_unsaved()
                win.update_title()
                opened.append(win)
            rec.discard()
        return opened


def _ask_recover(rec: Recovery) -> str:
    where = rec.original or "a project that was never saved"
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(rec.saved_at))
    box = QMessageBox(QMessageBox.Icon.Question, "Recover unsaved work",
                      f"LayerForge did not close properly. Unsaved changes to <b>{rec.name}</b> "
                      f"({where}) were autosaved at {when}.<br><br>Recover them?")
    recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Ask Later", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(recover)
    box.exec()
    clicked = box.clickedButton()
    return "recover" if clicked is recover else "discard" if clicked is discard else "later"


def create_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        QApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setWindowIcon(app_icon())
    apply_theme(app)
    if not getattr(app, "_layerforge_theme_hooked", False):  # follow the desktop's switches
        app.styleHints().colorSchemeChanged.connect(lambda _scheme: retheme(app))
        app._layerforge_theme_hooked = True  # type: ignore[attr-defined]
    return app


STARTER_TEMPLATE = "mlp_digits"


def start(project_path: str | Path | None = None, argv: list[str] | None = None,
          offer_recovery: bool = True) -> tuple[QApplication, WindowManager]:
    """The application with its first window open (on ``project_path``, else the seed MLP on
    the built-in Digits, which trains offline at once); ``main`` then runs its event loop."""
    app = create_app(argv)
    manager = WindowManager()
    set_choice(manager.settings.theme())
    apply_theme(app)
    win = manager.new_window()
    if project_path is not None:
        win.files.open_path(project_path)
    else:
        win.files.new_from_template(STARTER_TEMPLATE)
    install_bug_handler()
    if offer_recovery:
        QTimer.singleShot(0, manager.offer_recovery)
    app._layerforge_manager = manager  # type: ignore[attr-defined] - keep it alive
    return app, manager


def install_bug_handler() -> None:
    """A bug in a slot must not vanish into a terminal nobody looks at: it is logged with its
    traceback and a dialog says so, naming the log file; the window goes on running."""
    previous = sys.excepthook

    def handle(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, exc, tb)
            return
        show_bug(exc.with_traceback(tb))

    sys.excepthook = handle


def show_bug(exc: BaseException, parent: QWidget | None = None) -> QMessageBox:
    """Log ``exc`` and show a dialog naming the log (non-blocking)."""
    from app.core.logfile import bug_report_hint, log_bug  # noqa: PLC0415

    path = log_bug(exc, "window")
    box = QMessageBox(QMessageBox.Icon.Critical, f"{APP_NAME}: something went wrong",
                      f"{type(exc).__name__}: {exc}", QMessageBox.StandardButton.Close,
                      parent)
    box.setInformativeText(bug_report_hint(path) + " Your project is still open; save it "
                           "under a new name if in doubt.")
    box.setObjectName("bugDialog")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    _SHOWN_BUGS.append(box)  # kept alive until closed: nothing else holds a parentless box
    box.finished.connect(lambda _result: _SHOWN_BUGS.remove(box))
    box.open()
    return box


_SHOWN_BUGS: list[QMessageBox] = []


def main(project_path: str | Path | None = None, argv: list[str] | None = None) -> int:
    """Open the editor (on ``project_path`` if given) and run until the last window closes."""
    app, _manager = start(project_path, argv)
    return app.exec()
