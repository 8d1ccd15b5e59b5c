"""Copy and paste of nodes through the system clipboard, so they travel between windows and
between LayerForge processes.

The payload is JSON under a custom MIME type (and as plain text, which makes a copied fragment
readable in a text editor and pasteable back)::

    {"format": "layerforge-nodes", "version": 1,
     "nodes": [Node.to_dict(), ...], "edges": [Edge.to_dict() among those nodes, ...]}
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QGuiApplication

from engine.graph import Graph, GraphEditError, get_spec

from .constants import MIME_NODES

FORMAT = "layerforge-nodes"
VERSION = 1


def fragment(graph: Graph, names: list[str] | set[str]) -> dict[str, Any]:
    """The nodes ``names`` (in graph order) and the wires among them."""
    chosen = set(names)
    nodes = [n.to_dict() for n in graph if n.name in chosen]
    edges = [e.to_dict() for e in graph.edges if e.src in chosen and e.dst in chosen]
    return {"format": FORMAT, "version": VERSION, "nodes": nodes, "edges": edges}


def to_mime(payload: dict[str, Any]) -> QMimeData:
    text = json.dumps(payload, indent=1)
    mime = QMimeData()
    mime.setData(MIME_NODES, text.encode("utf-8"))
    mime.setText(text)
    return mime


def from_mime(mime: QMimeData | None) -> dict[str, Any] | None:
    """The payload in ``mime`` (None when it holds no nodes); GraphEditError when it claims to
    hold nodes but is damaged."""
    if mime is None:
        return None
    if mime.hasFormat(MIME_NODES):
        raw = bytes(mime.data(MIME_NODES).data()).decode("utf-8", "replace")
    elif mime.hasText() and f'"{FORMAT}"' in mime.text():
        raw = mime.text()
    else:
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise GraphEditError(f"the clipboard's nodes are not valid JSON (line {exc.lineno}, "
                             f"column {exc.colno}: {exc.msg})") from None
    check_payload(data)
    return data


def check_payload(data: Any) -> None:
    """Raise GraphEditError naming the first damaged place of a payload."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise GraphEditError("the clipboard does not hold LayerForge nodes")
    if not isinstance(data.get("version"), int) or data["version"] > VERSION:
        raise GraphEditError(f"the clipboard's nodes come from a newer LayerForge (format "
                             f"{data.get('version')!r}; this one reads {VERSION})")
    nodes, edges = data.get("nodes"), data.get("edges", [])
    if not isinstance(nodes, list) or not isinstance(edges, list):
        raise GraphEditError("clipboard: 'nodes' and 'edges' must be lists")
    names = set()
    for i, d in enumerate(nodes):
        at = f"clipboard nodes[{i}]"
        if not isinstance(d, dict) or not isinstance(d.get("name"), str):
            raise GraphEditError(f"{at}: expected an object with a 'name' and a 'type'")
        if not isinstance(d.get("type"), str):
            raise GraphEditError(f"{at}: expected a 'type'")
        try:
            get_spec(d["type"])
        except GraphEditError as exc:
            raise GraphEditError(f"{at}: {exc}") from None
        if not isinstance(d.get("params", {}), dict):
            raise GraphEditError(f"{at}.params: expected an object")
        d.setdefault("params", {})
        pos = d.setdefault("pos", [0.0, 0.0])
        if (not isinstance(pos, list) or len(pos) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos)):
            raise GraphEditError(f"{at}.pos: expected [x, y] numbers, got {pos!r}")
        if d["name"] in names:
            raise GraphEditError(f"{at}: the name {d['name']!r} appears twice")
        names.add(d["name"])
    for i, e in enumerate(edges):
        at = f"clipboard edges[{i}]"
        if not isinstance(e, dict) or e.get("src") not in names or e.get("dst") not in names:
            raise GraphEditError(f"{at}: expected 'src' and 'dst' naming copied nodes")
        for key in ("src_port", "dst_port"):
            v = e.get(key, 0)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise GraphEditError(f"{at}.{key}: expected an integer >= 0, got {v!r}")


def top_left(payload: dict[str, Any]) -> tuple[float, float]:
    """The smallest x and y of the payload's node positions (where its bounding box starts)."""
    xs = [float(d["pos"][0]) for d in payload["nodes"]] or [0.0]
    ys = [float(d["pos"][1]) for d in payload["nodes"]] or [0.0]
    return min(xs), min(ys)


def copy_nodes(graph: Graph, names: list[str] | set[str]) -> bool:
    """Put the nodes on the system clipboard; False when there is nothing to copy."""
    if not names:
        return False
    QGuiApplication.clipboard().setMimeData(to_mime(fragment(graph, names)))
    return True


def clipboard_payload() -> dict[str, Any] | None:
    return from_mime(QGuiApplication.clipboard().mimeData())
