"""Project files a careless or hostile user gives LayerForge, each with the words its one-line
error must contain. Shared by the command-line tests and the window's open-file tests, so both
doors are tried with the same files."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from file_properties import paths_into
from hypothesis import strategies as st

from app.core.project import TEMPLATES_DIR

Change = Callable[[dict[str, Any]], Any]


def spiral() -> dict[str, Any]:
    data = json.loads((TEMPLATES_DIR / "spiral.json").read_text(encoding="utf-8"))
    data["dataset"]["options"]["n_samples"] = 100
    return data


def _edge(d: dict[str, Any], **change: Any) -> None:
    d["graph"]["edges"][0].update(change)


def _node(d: dict[str, Any], i: int, **change: Any) -> None:
    d["graph"]["nodes"][i].update(change)


def _cycle_through_add(d: dict[str, Any]) -> None:
    nodes = d["graph"]["nodes"]
    first = nodes[1]["name"]
    nodes.append({"name": "add1", "type": "Add", "params": {}, "pos": [0, 0]})
    d["graph"]["edges"] += [{"src": first, "dst": "add1", "src_port": 0, "dst_port": 0},
                            {"src": "add1", "dst": first, "src_port": 0, "dst_port": 1}]


def _self_edge(d: dict[str, Any]) -> None:
    e = d["graph"]["edges"][0]
    e["dst"], e["dst_port"] = e["src"], 1


# name -> (how to spoil the spiral project, or the file's raw text; the words the error holds)
PROJECTS: dict[str, tuple[Change | str | bytes, str]] = {
    "edge_end_list": (lambda d: _edge(d, src=["a"]), "graph.edges[0].src: expected a node's name"),
    "edge_end_object": (lambda d: _edge(d, dst={"x": 1}),
                        "graph.edges[0].dst: expected a node's name"),
    "self_edge_port": (_self_edge, "input 1"),
    "cycle_through_add": (_cycle_through_add, "cycle"),
    "deep_nesting": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "huge_integer": (json.dumps(spiral()).replace('"epochs": ', '"epochs": ' + "9" * 5000),
                     "thousands of digits"),
    "lone_surrogate_name": (json.dumps(spiral()).replace('"fc1"', '"\\ud800fc1"'),
                            "lone surrogate"),
    "lone_surrogate_title": (json.dumps({**spiral(), "name": "\udc00"}), "name: "),
    "pos_nan": (lambda d: _node(d, 1, pos=[float("nan"), float("inf")]),
                "graph.nodes[1].pos: expected [x, y] numbers"),
    "batch_1e12": (lambda d: d["training"].update(batch_size=1e12), "training.batch_size"),
    "step_size_0": (lambda d: d["training"].update(schedule={"name": "StepLR", "step_size": 0}),
                    "training.schedule.step_size"),
    "gamma_text": (lambda d: d["training"].update(
        schedule={"name": "StepLR", "step_size": 2, "gamma": "x"}), "training.schedule.gamma"),
    "lr_infinite": (lambda d: d["training"]["optimizer"].update(lr=float("inf")),
                    "training.optimizer.lr"),
    "std_infinite": (lambda d: d["dataset"].update(normalize={"mean": [0, 0],
                                                              "std": [float("inf"), 1]}),
                     "dataset.normalize"),
    "samples_1e13": (lambda d: d["dataset"]["options"].update(n_samples=10 ** 13),
                     "dataset.options.n_samples"),
    "memory_beyond_the_machine": (
        lambda d: [_node(d, i, params={**n["params"], "out_features": 1 << 20})
                   for i, n in enumerate(d["graph"]["nodes"]) if n["type"] == "Linear"
                   and n["name"] != "fc3"],
        "training would need about"),
    "not_json": ("{nope", "invalid JSON"),
    "binary": (b"\x00\xff\xfe" * 100, "not a UTF-8 text file"),
    "top_level_list": ("[1, 2]", "expected a JSON object at the top level"),
    "empty": ("", "the file is empty"),
}


def write_project(folder: Path, name: str) -> Path:
    """Write the hostile project ``name`` into ``folder``; returns its path."""
    change, _words = PROJECTS[name]
    path = folder / f"{name}.json"
    if isinstance(change, bytes):
        path.write_bytes(change)
    elif isinstance(change, str):
        path.write_bytes(change.encode("utf-8", "surrogatepass"))
    else:
        data = copy.deepcopy(spiral())
        change(data)
        path.write_text(json.dumps(data), encoding="utf-8")
    return path


# ------------------------------------------------------------- random spoiling (hypothesis)
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec=None, blacklist_categories=()), max_size=12),
    st.sampled_from(["\ud800", "Linear", "fc1", "", "../../x", "cuda:7", "-1"]),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6)


PLACES = [p for p in paths_into(spiral()) if p]


@st.composite
def spoiled_projects(draw: Any) -> dict[str, Any]:
    data = copy.deepcopy(spiral())
    for _ in range(draw(st.integers(1, 3))):
        place = draw(st.sampled_from(PLACES))
        parent = data
        try:
            for key in place[:-1]:
                parent = parent[key]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(place[-1], None)
            else:
                parent[place[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed this place
    return data


def write_json(path: Path, data: dict[str, Any]) -> bytes:
    """Write ``data`` as JSON, non-finite numbers and lone surrogates included."""
    raw = json.dumps(data, allow_nan=True).encode("utf-8", "surrogatepass")
    path.write_bytes(raw)
    return raw
