"""Help and looks: About names the version, the manual opens offline, the theme is chosen in
View > Theme and remembered, and F1 lists each shortcut once."""

from __future__ import annotations

import re

from PySide6.QtWidgets import QApplication


def test_about_names_the_version_and_where_files_go(make_window):
    from app.core.paths import user_data_dir
    from engine import __version__

    win = make_window()
    box = win.show_about()
    try:
        assert __version__ and f"LayerForge {__version__}" in box.text()
        assert str(user_data_dir()) in box.informativeText()
        assert re.search(r"Python \d+\.\d+", box.informativeText())
    finally:
        box.close()


def test_the_manual_is_the_readme_rendered_offline(make_window):
    win = make_window()
    menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Help")
    assert win.act_manual in menu.actions()
    dialog = win.show_manual()
    try:
        text = win.manual.toPlainText()
        assert "Two commands" in text and "layerforge" in text
        assert "##" not in text  # rendered, not markdown source
        assert dialog.isVisible()
    finally:
        dialog.close()


def test_the_theme_is_chosen_in_the_view_menu_and_remembered(make_window, monkeypatch):
    from app.gui import theme
    from app.gui.settings import AppSettings

    monkeypatch.delenv("LAYERFORGE_THEME")  # the tests' fixed theme: here the user chooses
    win = make_window()
    view = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
    assert win.theme_menu.menuAction() in view.actions()
    dark = next(a for a in win.theme_group.actions() if a.data() == "dark")
    try:
        dark.trigger()
        assert theme.colors().dark
        assert QApplication.instance().palette().window().color().lightness() < 80
        assert AppSettings().theme() == "dark"  # a new session reads the same choice
        other = make_window()
        assert next(a for a in other.theme_group.actions() if a.isChecked()).data() == "dark"
    finally:
        light = next(a for a in win.theme_group.actions() if a.data() == "light")
        light.trigger()
        theme.set_choice("system")
    assert not theme.colors().dark and AppSettings().theme() == "light"


def test_f1_lists_each_shortcut_once_and_no_keys_a_keyboard_lacks(make_window, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    shown = []
    monkeypatch.setattr(QMessageBox, "open", lambda box: shown.append(box.text()))
    win = make_window()
    win.show_shortcuts()
    (text,) = shown
    rows = re.findall(r"<tr><td>([^<]*)</td>", text)
    assert len(rows) == len(set(rows)) and {"Undo", "Stop Training"} <= set(rows), rows
    assert not re.search(r"\bF1[3-9]\b|\bF2\d\b", text)
