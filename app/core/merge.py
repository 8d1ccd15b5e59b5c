"""Three-way merge of project files: what the window has (``mine``), what another program saved
(``theirs``) and what both started from (``base``, the file as the window last read or wrote it).

Why: when a project changes on disk while it is open with unsaved edits (a second window, a
``git pull``, a text editor), neither side may be dropped silently. Edits that touch different
parts (different nodes, different settings) combine; an edit both sides made differently is a
conflict, named so the user can choose. The unit of a change is a node (with its parameters and
position), a wire, the project name, and one setting (an optimizer or a dataset's options count
as one setting: their keys belong together).
"""

from __future__ import annotations

import copy
import json
from typing import Any

_MISSING = object()


def _edge_key(edge: dict[str, Any]) -> str:
    return json.dumps([edge.get("src"), edge.get("dst"), edge.get("src_port", 0),
                       edge.get("dst_port", 0)])


def flatten(project: dict[str, Any]) -> dict[tuple[str, ...], Any]:
    """The project as ``{place: value}`` in units of change (see the module docstring)."""
    out: dict[tuple[str, ...], Any] = {}
    for key, value in project.items():
        if key == "graph" and isinstance(value, dict):
            for node in value.get("nodes", []):
                out[("graph", "node", str(node.get("name")))] = node
            for edge in value.get("edges", []):
                out[("graph", "edge", _edge_key(edge))] = edge
            for k, v in value.items():
                if k not in ("nodes", "edges"):
                    out[("graph", k)] = v
        elif key in ("dataset", "training") and isinstance(value, dict):
            for k, v in value.items():
                out[(key, k)] = v
        else:
            out[(key,)] = value
    return out


def unflatten(flat: dict[tuple[str, ...], Any], order: list[dict[str, Any]]) -> dict[str, Any]:
    """Back to a project dict; nodes and edges keep the order of ``order`` (mine, then theirs),
    new ones after."""
    out: dict[str, Any] = {}
    graph: dict[str, Any] = {"nodes": [], "edges": []}
    ranked: dict[tuple[str, ...], int] = {}
    for d in order:
        for place in flatten(d):
            ranked.setdefault(place, len(ranked))
    for place in sorted(flat, key=lambda p: ranked.get(p, len(ranked))):
        value = copy.deepcopy(flat[place])
        if place[0] == "graph" and len(place) == 3:
            graph["nodes" if place[1] == "node" else "edges"].append(value)
        elif place[0] == "graph":
            graph[place[1]] = value
        elif len(place) == 2:
            out.setdefault(place[0], {})[place[1]] = value
        else:
            out[place[0]] = value
    out["graph"] = graph
    return out


def merge_projects(base: dict[str, Any], mine: dict[str, Any],
                   theirs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``(merged, conflicts)``: every change of either side since ``base`` applied, except
    where both changed one thing differently (each such place named in ``conflicts``; the
    merged dict then keeps mine there)."""
    b, m, t = flatten(base), flatten(mine), flatten(theirs)
    merged: dict[tuple[str, ...], Any] = {}
    conflicts: list[str] = []
    for place in dict.fromkeys([*m, *t, *b]):
        bv, mv, tv = b.get(place, _MISSING), m.get(place, _MISSING), t.get(place, _MISSING)
        if mv == tv:
            value = mv
        elif mv == bv:
            value = tv
        elif tv == bv:
            value = mv
        else:
            conflicts.append(describe_place(place, mv, tv))
            value = mv
        if value is not _MISSING:
            merged[place] = value
    return unflatten(merged, [mine, theirs]), conflicts


def describe_place(place: tuple[str, ...], mine: Any, theirs: Any) -> str:
    """A conflict in words: ``node conv1: changed here and in the file``."""
    if place[0] == "graph" and len(place) == 3:
        what = f"node {place[2]}" if place[1] == "node" else "a wire " + " -> ".join(
            str(x) for x in json.loads(place[2])[:2])
    else:
        what = ".".join(place)
    if mine is _MISSING:
        how = "deleted here, changed in the file"
    elif theirs is _MISSING:
        how = "changed here, deleted in the file"
    else:
        how = "changed here and in the file, differently"
    return f"{what}: {how}"
