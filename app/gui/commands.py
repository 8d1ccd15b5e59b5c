"""One ``QUndoCommand`` per kind of edit, each a thin wrapper over one ``GraphDocument`` primitive.

A command's ``redo`` and ``undo`` call the document's ``apply_*`` methods, which change the model
and emit the signals the views listen to; shapes, problems and statistics are refreshed once per
stack step (``QUndoStack.indexChanged``), so a macro of 300 deletions refreshes once. Commands
are created only after the document has checked that the edit is allowed, because a command that
fails inside ``QUndoStack.push`` cannot be taken back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QUndoCommand

from engine.graph import Edge

if TYPE_CHECKING:
    from .document import GraphDocument

Pos = tuple[float, float]


class AddNodeCommand(QUndoCommand):
    def __init__(self, doc: GraphDocument, type_: str, name: str, params: dict[str, Any],
                 pos: Pos) -> None:
        super().__init__(f"Add {name}")
        self.doc, self.type, self.name, self.params, self.pos = doc, type_, name, params, pos

    def redo(self) -> None:
        self.doc.apply_add(self.type, self.name, self.params, self.pos)

    def undo(self) -> None:
        self.doc.apply_remove(self.name)


class RestoreNodeCommand(QUndoCommand):
    """Add a node exactly as a snapshot describes it (paste keeps even invalid stored values)."""

    def __init__(self, doc: GraphDocument, snapshot: dict[str, Any]) -> None:
        super().__init__(f"Add {snapshot['node']['name']}")
        self.doc, self.snapshot = doc, snapshot

    def redo(self) -> None:
        self.doc.apply_restore(self.snapshot)

    def undo(self) -> None:
        self.doc.apply_remove(self.snapshot["node"]["name"])


class RemoveNodeCommand(QUndoCommand):
    def __init__(self, doc: GraphDocument, name: str) -> None:
        super().__init__(f"Delete {name}")
        self.doc, self.name = doc, name
        self.snapshot: dict[str, Any] | None = None

    def redo(self) -> None:
        self.snapshot = self.doc.apply_remove(self.name)

    def undo(self) -> None:
        assert self.snapshot is not None
        self.doc.apply_restore(self.snapshot)


class ConnectCommand(QUndoCommand):
    def __init__(self, doc: GraphDocument, edge: Edge) -> None:
        super().__init__(f"Connect {edge.src} to {edge.dst}")
        self.doc, self.edge = doc, edge

    def redo(self) -> None:
        self.doc.apply_connect(self.edge)

    def undo(self) -> None:
        self.doc.apply_disconnect(self.edge)


class DisconnectCommand(QUndoCommand):
    def __init__(self, doc: GraphDocument, edge: Edge) -> None:
        super().__init__(f"Disconnect {edge.src} from {edge.dst}")
        self.doc, self.edge = doc, edge

    def redo(self) -> None:
        self.doc.apply_disconnect(self.edge)

    def undo(self) -> None:
        self.doc.apply_connect(self.edge)


class SetParamCommand(QUndoCommand):
    def __init__(self, doc: GraphDocument, name: str, param: str, value: Any) -> None:
        super().__init__(f"Set {name}.{param}")
        self.doc, self.name, self.param, self.value = doc, name, param, value
        self.old: tuple[bool, Any] = (False, None)

    def redo(self) -> None:
        self.old = self.doc.apply_set_param(self.name, self.param, self.value)

    def undo(self) -> None:
        present, value = self.old
        self.doc.apply_restore_param(self.name, self.param, value, present)


class RenameCommand(QUndoCommand):
    def __init__(self, doc: GraphDocument, old: str, new: str) -> None:
        super().__init__(f"Rename {old} to {new}")
        self.doc, self.old, self.new = doc, old, new

    def redo(self) -> None:
        self.doc.apply_rename(self.old, self.new)

    def undo(self) -> None:
        self.doc.apply_rename(self.new, self.old)


class MoveNodesCommand(QUndoCommand):
    """A drag of several nodes, or an auto-layout: one step however many nodes moved."""

    def __init__(self, doc: GraphDocument, moves: dict[str, tuple[Pos, Pos]],
                 text: str = "") -> None:
        n = len(moves)
        super().__init__(text or (f"Move {next(iter(moves))}" if n == 1 else f"Move {n} nodes"))
        self.doc, self.moves = doc, moves

    def redo(self) -> None:
        self.doc.apply_moves({name: new for name, (_, new) in self.moves.items()})

    def undo(self) -> None:
        self.doc.apply_moves({name: old for name, (old, _) in self.moves.items()})


class SetSettingCommand(QUndoCommand):
    """Change one value of the project's ``dataset`` or ``training`` section (the dashboard's
    panels use it, so those edits are undoable and mark the project modified too)."""

    def __init__(self, doc: GraphDocument, path: tuple[str, ...], value: Any,
                 text: str = "") -> None:
        super().__init__(text or f"Set {'.'.join(path)}")
        self.doc, self.path, self.value = doc, path, value
        self.old: tuple[bool, Any] = (False, None)

    def redo(self) -> None:
        self.old = self.doc.apply_setting(self.path, self.value, True)

    def undo(self) -> None:
        present, value = self.old
        self.doc.apply_setting(self.path, value, present)
