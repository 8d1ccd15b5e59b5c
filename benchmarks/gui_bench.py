"""Editor benchmarks: start-up to a usable window, a parameter edit on a 300-node graph, and the
frame time of panning that graph (offscreen rendering of the canvas).

    python benchmarks/gui_bench.py [--quick] [--nodes 300] [--only startup,edit,pan]

Figures are medians (and p95 where it matters) in milliseconds. Runs offscreen unless a display
is set. The training dashboard's measurements live in ``gui_bench_training.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _p95(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]


def big_graph(n_nodes: int):  # noqa: ANN201 - engine.graph.Graph
    """A residual MLP of about ``n_nodes`` nodes: blocks of Linear -> ReLU -> Dropout -> Add
    (skip from the block input), laid out left to right in two rows."""
    from engine.graph import Graph

    g = Graph()
    g.add_node("Input", "x", {"shape": [64]}, pos=(0.0, 0.0))
    prev, x, i = "x", 300.0, 0
    while len(g) < n_nodes - 1:
        fc = g.add_node("Linear", f"fc{i}", {"out_features": 64}, pos=(x, 0.0)).name
        act = g.add_node("ReLU", f"act{i}", pos=(x + 300, 0.0)).name
        drop = g.add_node("Dropout", f"drop{i}", {"p": 0.1}, pos=(x + 600, 0.0)).name
        add = g.add_node("Add", f"add{i}", pos=(x + 900, 150.0)).name
        g.chain(prev, fc, act, drop)
        g.connect(drop, add, 0, 0)
        g.connect(prev, add, 0, 1)
        prev, x, i = add, x + 1200, i + 1
    g.add_node("Linear", "head", {"out_features": 10}, pos=(x, 0.0))
    g.add_node("Output", "out", pos=(x + 300, 0.0))
    g.chain(prev, "head", "out")
    return g


def bench_startup(repeats: int) -> dict[str, float]:
    """Wall time from launching the application (``python -m app.qt.preview window``: the
    start path of ``layerforge``) to its first window having been shown and painted (the
    process quits right after)."""
    import tempfile

    times, inside = [], []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(ROOT),
                   LAYERFORGE_SETTINGS=os.path.join(tmp, "s.ini"),
                   LAYERFORGE_RECOVERY_DIR=os.path.join(tmp, "rec"))
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        for _ in range(repeats):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "app.qt.preview", "window"], env=env,
                                  cwd=tmp,
                                  capture_output=True, text=True, timeout=120)
            times.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-2000:])
            for line in proc.stderr.splitlines():
                if line.startswith("first window shown after"):
                    inside.append(float(line.split()[-2]))
    return {"startup_to_first_window_ms": _ms(statistics.median(times)),
            "of_which_after_imports_ms": _ms(statistics.median(inside)) if inside else -1.0}


def _window(n_nodes: int):  # noqa: ANN202
    from PySide6.QtWidgets import QApplication

    from app.core.project import Project
    from app.gui.app import create_app
    from app.gui.main_window import MainWindow

    app = create_app([])
    win = MainWindow(Project(big_graph(n_nodes), name="bench"), autosave=False)
    win.resize(1400, 900)
    win.show()
    for _ in range(3):
        QApplication.processEvents()
    return app, win


def bench_edit(win, repeats: int) -> dict[str, float]:  # noqa: ANN001
    """A parameter edit through the undo stack until the canvas items show the new shapes:
    ``local`` changes a Dropout (no shape moves); ``wide`` switches the Input's width between
    64 and 48, so every node downstream changes (its shapes, or at 48 the first residual Add's
    mismatch makes the rest unknown) and every label and card is redrawn. ``+paint`` adds
    repainting the visible canvas."""
    doc, scene = win.doc, win.scene
    win.view.fit_rect(scene.nodes_rect(list(doc.graph.nodes)[:12]))
    result = {"nodes": len(doc.graph)}
    drops = [n for n in doc.graph.nodes if doc.graph.node(n).type == "Dropout"]
    cases = {
        "local": lambda k: doc.set_param(drops[len(drops) // 2], "p", 0.1 + 0.01 * (k % 40)),
        "wide": lambda k: doc.set_param("x", "shape", [64 if k % 2 else 48]),
    }
    for name, edit in cases.items():
        plain, painted = [], []
        for k in range(repeats):
            t0 = time.perf_counter()
            edit(k)
            t1 = time.perf_counter()
            win.view.viewport().repaint()
            t2 = time.perf_counter()
            plain.append(t1 - t0)
            painted.append(t2 - t0)
        result[f"edit_{name}_ms"] = _ms(statistics.median(plain))
        result[f"edit_{name}_plus_paint_ms"] = _ms(statistics.median(painted))
    doc.set_param("x", "shape", [64])
    assert doc.graph.info("head").values["in_features"] == 64, "shapes did not follow the edit"
    return result


def bench_pan(win, frames: int) -> dict[str, float]:  # noqa: ANN001
    """Frame time while panning: scroll the view and render it offscreen, at a readable zoom
    (cards with text) and zoomed out to the whole graph (overview blocks)."""
    view = win.view
    out = {}
    def readable() -> None:
        view.resetTransform()
        view.zoom_by(0.8, anchor_under_mouse=False)
        view.centerOn(win.scene.nodes_rect(list(win.doc.graph.nodes)[:8]).center())

    for label, setup in (("readable", readable), ("overview", view.fit_all)):
        setup()
        view.viewport().repaint()
        times = []
        for k in range(frames):
            t0 = time.perf_counter()
            view.pan_by(12 if (k // 40) % 2 == 0 else -12, 3 if k % 2 else -3)
            view.viewport().repaint()
            times.append(time.perf_counter() - t0)
        out[f"pan_{label}_frame_ms_median"] = _ms(statistics.median(times))
        out[f"pan_{label}_frame_ms_p95"] = _ms(_p95(times))
        out[f"pan_{label}_zoom"] = round(view.zoom, 3)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    parser.add_argument("--nodes", type=int, default=300)
    parser.add_argument("--only", default="startup,edit,pan",
                        help="comma-separated sections: startup, edit, pan")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    nodes = 40 if args.quick else args.nodes
    results: dict[str, float] = {}
    if "startup" in only:
        results.update(bench_startup(1 if args.quick else 5))
    if only & {"edit", "pan"}:
        app, win = _window(nodes)
        if "edit" in only:
            results.update(bench_edit(win, 5 if args.quick else 40))
        if "pan" in only:
            results.update(bench_pan(win, 20 if args.quick else 200))
        win.doc.undo_stack.setClean()
        win.close()
        app.processEvents()
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
