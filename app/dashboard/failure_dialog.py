"""The dialog that shows a failed run (a ``Failure`` from ``app.core.failures``): the title,
what happened, where the last good weights are, what to try, and the traceback under "Show
Details"."""

from __future__ import annotations

from typing import Any

from app.core.failures import Failure


# ---------------------------------------------------------------------- the dialog
def failure_dialog(failure: Failure, parent: Any = None) -> Any:
    """A warning box: the title, what happened, where the weights are, what to try; the
    traceback under "Show Details". Returned unshown: call ``open()`` (non-blocking)."""
    from PySide6 import QtWidgets  # noqa: PLC0415

    box = QtWidgets.QMessageBox(parent)
    box.setIcon(QtWidgets.QMessageBox.Warning)
    box.setWindowTitle("Training stopped" if failure.kind not in ("settings", "graph")
                       else "Cannot train")
    box.setText(f"<b>{_html(failure.title)}</b>")
    info = [f"<p>{_html(failure.what)}</p>"]
    if failure.weights:
        info.append(f"<p>The last good weights were kept in <code>{_html(failure.weights)}"
                    f"</code>.</p>")
    if failure.tips:
        info.append("<p>What to try:</p><ul>" +
                    "".join(f"<li>{_html(t)}</li>" for t in failure.tips) + "</ul>")
    box.setInformativeText("".join(info))
    if failure.details and failure.details != failure.what:
        box.setDetailedText(failure.details)
    box.setStandardButtons(QtWidgets.QMessageBox.Ok)
    box.setObjectName(f"failure_{failure.kind}")
    return box


def _html(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\n", "<br>"))
