"""Graph benchmark: summary and validate of a large graph, and shape re-inference after one edit.

Targets (issue 6): ``layerforge summary`` / ``validate`` on a 500-node graph < 100 ms; shape
inference after one edit < 10 ms (the editor runs it on every edit).

The graph is a residual CNN (conv, batch norm, ReLU, Add blocks): changing the Input's size
changes every shape downstream, the worst case for the incremental inference.

    python benchmarks/graph_bench.py [--nodes 500] [--repeat 20]
    python benchmarks/graph_bench.py --device cuda:0   # also: every template on that device

``--device`` compiles each template, runs it on the CPU and on the device (relative error
< 1e-4), and exports ONNX from the device model's weights (ONNX Runtime agrees too).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.project import Project  # noqa: E402
from engine.graph import Graph, format_summary, summarize, validate  # noqa: E402


def residual_cnn(n_nodes: int) -> Graph:
    """About ``n_nodes`` nodes: Input, stem, blocks of 7 nodes, then a pooled linear head."""
    g = Graph()
    g.add_node("Input", "image", {"shape": [16, 32, 32]})
    prev = g.add_node("Conv2d", "stem", {"out_channels": 16, "padding": 1}).name
    g.connect("image", prev)
    x = 0.0
    while len(g) + 7 + 5 <= n_nodes:
        names = []
        for type_, params in (("Conv2d", {"out_channels": 16, "padding": 1}),
                              ("BatchNorm2d", {}), ("ReLU", {}),
                              ("Conv2d", {"out_channels": 16, "padding": 1}),
                              ("BatchNorm2d", {}), ("Add", {}), ("ReLU", {})):
            x += 150.0
            names.append(g.add_node(type_, params=params, pos=(x, 0.0)).name)
        g.connect(prev, names[0])
        g.chain(*names[:5])
        g.connect(names[4], names[5], 0, 0)
        g.connect(prev, names[5], 0, 1)
        g.connect(names[5], names[6])
        prev = names[6]
    for type_, params in (("AdaptiveAvgPool2d", {}), ("Flatten", {}), ("Dropout", {}),
                          ("Linear", {"out_features": 10}), ("Output", {})):
        x += 150.0
        name = g.add_node(type_, params=params, pos=(x, 0.0)).name
        g.connect(prev, name)
        prev = name
    return g


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """(median wall, max wall, median CPU) in milliseconds. CPU time is reported too because a
    shared machine's load inflates wall times."""
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        walls.append((time.perf_counter() - t0) * 1e3)
        cpus.append((time.process_time() - c0) * 1e3)
    return statistics.median(walls), max(walls), statistics.median(cpus)


def device_check(device: str) -> bool:
    """Each template on ``device`` against the CPU, and ONNX exported from the device weights."""
    import numpy as np  # noqa: PLC0415

    import engine  # noqa: PLC0415
    from app.core.project import list_templates  # noqa: PLC0415
    from engine.export import build_onnx  # noqa: PLC0415
    from engine.graph import compile as compile_graph  # noqa: PLC0415

    ok = True
    print(f"{'template':<16} {'device vs cpu':>14} {'onnx vs device':>15} {'forward ms':>11}")
    for name in list_templates():
        graph = Project.from_template(name).graph
        cpu = compile_graph(graph, seed=0).eval()
        dev = compile_graph(graph, seed=0)
        dev.load_state_dict(cpu.state_dict())
        dev = dev.to(device).eval()
        shape = cpu.input_types[0].shape
        x = np.random.default_rng(0).standard_normal((16, *shape)).astype(np.float32)
        with engine.no_grad():
            want = cpu(engine.from_numpy(x)).numpy()
            xd = engine.from_numpy(x).to(device)
            dev(xd)
            t0 = time.perf_counter()
            got = dev(xd).cpu().numpy()
            ms = (time.perf_counter() - t0) * 1e3
        err = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-12))
        try:
            import onnxruntime as ort  # noqa: PLC0415

            proto = build_onnx(graph, dev.state_dict())
            sess = ort.InferenceSession(proto.SerializeToString(),
                                        providers=["CPUExecutionProvider"])
            y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
            onnx_err = float(np.abs(y - got).max() / max(np.abs(got).max(), 1e-12))
        except ImportError:
            onnx_err = float("nan")
        good = err < 1e-4 and not onnx_err > 1e-4
        ok &= good
        print(f"{name:<16} {err:>14.2e} {onnx_err:>15.2e} {ms:>11.2f}{'' if good else '  FAIL'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--device", help="also check every template on this device (cuda:0)")
    parser.add_argument("--no-process", action="store_true",
                        help="skip timing whole 'layerforge' processes")
    args = parser.parse_args(argv)

    graph = residual_cnn(args.nodes)
    assert not validate(graph), validate(graph)
    # a dataset whose shape is only known once loaded, so the check is the graph's alone
    project = Project(graph, name="bench", dataset={"name": "ImageFolder",
                                                    "options": {"root": "images"}})
    with tempfile.TemporaryDirectory(prefix="layerforge-graph-bench-") as folder:
        return _measure(args, graph, project.save(Path(folder) / "big.json"))


def _measure(args: argparse.Namespace, graph: Graph, path: Path) -> int:
    data = graph.to_dict()
    rows = []

    def cold_validate() -> None:
        validate(Graph.from_dict(data))

    def cold_summary() -> None:
        format_summary(summarize(Graph.from_dict(data)))

    def load_validate() -> None:
        Project.load(path).validate()

    def load_summary() -> None:
        p = Project.load(path)
        format_summary(summarize(p.graph))
        p.validate()

    for label, fn in (("validate (from dict, cold)", cold_validate),
                      ("summary (from dict, cold)", cold_summary),
                      ("validate (load file + check)", load_validate),
                      ("summary (load file + table + check)", load_summary)):
        rows.append((label, *timed(fn, args.repeat), 100.0))

    g = Graph.from_dict(data)
    g.infer()
    sizes = iter([[16, 30, 30], [16, 32, 32]] * args.repeat)
    recomputed = []

    def edit_input() -> None:
        g.set_param("image", "shape", next(sizes))
        g.infer()
        recomputed.append(g._shapes.recomputed)

    rows.append(("re-infer after Input edit (all shapes move)", *timed(edit_input, args.repeat),
                 10.0))
    ps = iter([0.1, 0.2] * args.repeat)

    def edit_dropout() -> None:
        g.set_param("drop1", "p", next(ps))
        g.infer()

    rows.append(("re-infer after Dropout edit (no shape moves)",
                 *timed(edit_dropout, args.repeat), 10.0))
    kernels = iter([1, 3] * args.repeat)
    middle = [n for n in g.nodes if n.startswith("conv")][len(g) // 14]

    def edit_middle() -> None:
        g.set_param(middle, "kernel_size", next(kernels))
        g.infer()

    rows.append((f"re-infer after {middle}.kernel_size edit", *timed(edit_middle, args.repeat),
                 10.0))

    print(f"graph: {len(graph)} nodes, {len(graph.edges)} edges "
          f"(Input edit recomputes {max(recomputed)} nodes)")
    print(f"{'measure':<46} {'median ms':>10} {'max ms':>9} {'CPU ms':>8} {'target ms':>10}")
    for label, med, worst, cpu, target in rows:
        flag = "" if med < target else "  MISSED"
        print(f"{label:<46} {med:>10.2f} {worst:>9.2f} {cpu:>8.2f} {target:>10.0f}{flag}")

    for command in () if args.no_process else ("validate", "summary"):  # start-up included
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "app", command, str(path)], cwd=ROOT,
                              capture_output=True, text=True)
        wall = (time.perf_counter() - t0) * 1e3
        print(f"process 'layerforge {command}' (exit {proc.returncode}): {wall:.0f} ms wall, "
              "including Python start-up and imports")
    if args.device:
        return 0 if device_check(args.device) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
