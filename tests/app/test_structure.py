"""The shape of ``app/``: every module imports on its own, no two modules import each other
(directly or round a circle), ``app.core`` and ``app.cli`` never import Qt, and the window, the
command line and ``mpiexec`` assemble runs in one place only."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(APP.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The app modules ``name`` imports when it runs (anywhere in it; not the imports under
    ``if TYPE_CHECKING:``, which only annotations use)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in modules else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in found if m in modules and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_two_app_modules_import_each_other() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph["app.cli.commands"] >= {"app.cli.parser"}  # the reader reads imports
    assert "app.core.runner" in graph["app.qt.training"]
    assert _cycles(graph) == []


def _qt_imports(nodes: list[ast.AST]) -> list[str]:
    names = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
    return [n for n in names if n.startswith(("PySide6", "pyqtgraph", "app.gui",
                                              "app.dashboard", "app.qt"))]


def test_core_and_cli_never_import_qt() -> None:
    """``app.core`` nowhere; ``app.cli`` only inside what opens the window on purpose (the
    GUI command and the self-test), never when a module loads."""
    for path in (APP / "core").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert _qt_imports(list(ast.walk(tree))) == [], path
    for path in (APP / "cli").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert _qt_imports(tree.body) == [], path


def test_every_app_module_imports_on_its_own() -> None:
    """Each module in a fresh set of app modules (what ``python -c 'import app.x'`` does),
    in one child process so the suite stays quick."""
    names = [n for n in _modules() if not n.endswith("__main__")]
    script = f"""
import importlib, json, sys, traceback
failed = {{}}
for name in {names!r}:
    for loaded in [m for m in sys.modules if m == "app" or m.startswith("app.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed[name] = traceback.format_exc(limit=3)
print(json.dumps(failed))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, env={"QT_QPA_PLATFORM": "offscreen",
                                                      "PATH": "", "HOME": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {}


def test_the_core_without_qt_installed_works_headless(tmp_path: Path) -> None:
    """``layerforge train`` on a machine without PySide6: the core and the CLI load and train
    with Qt made unimportable."""
    script = """
import sys
from pathlib import Path
class NoQt:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6"):
            raise ImportError(f"{name} is not installed")
sys.meta_path.insert(0, NoQt())
from app.cli import main
from app.core.project import Project
folder = Path(sys.argv[1])
Project.from_template("spiral").save(folder / "p.json")
code = main(["train", str(folder / "p.json"), "--epochs", "1", "--quiet"])
print("modules:", sorted(m for m in sys.modules if m.startswith(("PySide6", "pyqtgraph"))))
sys.exit(code)
"""
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "modules: []" in proc.stdout and "training finished" in proc.stdout
