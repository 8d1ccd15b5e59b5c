"""The project document: a JSON file holding the graph, the dataset choice and the training
settings. No Qt here: the window, the command line and the tests share it.

File layout (``format_version`` 1)::

    {"format_version": 1, "app": "layerforge", "name": "...",
     "graph": {"nodes": [{"name", "type", "params", "pos"}], "edges": [{"src", "dst", ...}]},
     "dataset": {"name": "Digits", "options": {...}, "validation_split": 0.1,
                 "split_seed": 0, "transforms": [...], "normalize": {"mean": [], "std": []}},
     "training": {"optimizer": {"name": "SGD", "lr": ...}, "schedule": {"name": "none"},
                  "batch_size", "epochs", "devices", "seed", "early_stopping", ...}}

Training runs are not written into this file: each run keeps its record in its own folder
(``app.core.runs``), so only the user's Save ever writes a project, and two programs training
the same project cannot overwrite each other's work (files of older versions may hold a
``runs`` list: it is kept as it was read and still listed).

Loading never writes: a damaged, hand-edited or newer file raises ``ProjectError`` naming the file
and the place in it (``line 12, column 5`` or ``training.batch_size``), and the file stays as it
was. Keys this version does not know are kept and written back. Saves are atomic, and a save
refuses to replace a file that another program changed since it was read
(``ProjectChangedError``): the window then offers to reload or merge.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine._resources import resources_dir
from engine.export.weights import atomic_write_bytes
from engine.graph import DataSpec, Graph, GraphError, Problem, validate

from .datasets import data_spec
from .errors import ProjectChangedError, ProjectError
from .filelock import FileLock
from .paths import path_key, user_data_dir
from .settings import DEFAULT_DATASET, DEFAULT_TRAINING, check_settings

FORMAT_VERSION = 1
TEMPLATES_DIR = resources_dir() / "templates"  # checkout, wheel or frozen build
MAX_PROJECT_BYTES = 64 << 20  # far beyond any real graph; a bigger "project" is not one
_KNOWN_KEYS = ("format_version", "app", "name", "graph", "dataset", "training", "runs")


@dataclass(frozen=True)
class DiskStamp:
    """What a project file held when it was last read or written: enough to tell whether
    another program has changed it since (its content, not its modification time, decides)."""

    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of_bytes(cls, path: Path, raw: bytes) -> DiskStamp:
        st = path.stat()
        return cls(len(raw), st.st_mtime_ns, hashlib.sha256(raw).hexdigest())

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> DiskStamp | None:
        """The file's stamp now (None when it is not there)."""
        p = Path(path)
        try:
            st = p.stat()
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_PROJECT_BYTES:
            return cls(st.st_size, st.st_mtime_ns, "")
        try:
            raw = p.read_bytes()
        except OSError:
            return None
        return cls(len(raw), st.st_mtime_ns, hashlib.sha256(raw).hexdigest())


def _merged(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` over a copy of ``defaults``: missing keys get their default. Only sections with
    a fixed set of keys (early stopping) merge inside; ``options`` and ``optimizer`` belong to the
    chosen dataset or optimizer, so a given one replaces the default whole. Unknown keys stay."""
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        if key == "early_stopping" and isinstance(value, dict):
            out[key] = {**out[key], **copy.deepcopy(value)}
        else:
            out[key] = copy.deepcopy(value)
    return out


class Project:
    """A LayerForge project: a graph plus what training it needs.

    ``runs_dir`` (not saved) puts the project's runs somewhere of the caller's choosing (the
    window gives an unsaved project one); ``base`` and ``disk`` remember the file as it was last
    read or written, for telling another program's change from one's own.
    """

    def __init__(self, graph: Graph | None = None, name: str = "Untitled",
                 dataset: dict[str, Any] | None = None, training: dict[str, Any] | None = None,
                 legacy_runs: list[dict[str, Any]] | None = None,
                 path: str | os.PathLike | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.graph = graph if graph is not None else Graph()
        self.name = name
        self.dataset = _merged(DEFAULT_DATASET, dataset or {})
        self.training = _merged(DEFAULT_TRAINING, training or {})
        self.legacy_runs = list(legacy_runs or [])  # a ``runs`` list of older files, as read
        self.path = None if path is None else Path(path)
        self.extra = dict(extra or {})  # top-level keys of newer versions, written back as read
        self.runs_dir: Path | None = None
        self.base: dict[str, Any] | None = None
        self.disk: DiskStamp | None = None

    # ---------------------------------------------------------------- dict form
    def to_dict(self) -> dict[str, Any]:
        out = {"format_version": FORMAT_VERSION, "app": "layerforge", "name": self.name,
               "graph": self.graph.to_dict(), "dataset": copy.deepcopy(self.dataset),
               "training": copy.deepcopy(self.training)}
        if self.legacy_runs:
            out["runs"] = copy.deepcopy(self.legacy_runs)
        out.update(copy.deepcopy(self.extra))
        return out

    @classmethod
    def from_dict(cls, data: Any, path: str | os.PathLike | None = None) -> Project:
        if not isinstance(data, dict):
            raise ProjectError(path, "", "expected a JSON object at the top level; is this a "
                                         "LayerForge project?")
        bad = _unencodable(data)
        if bad is not None:
            location, text = bad
            raise ProjectError(path, location, f"{text!r} holds a lone surrogate (an invalid "
                                               "\\u escape) that no UTF-8 file can store; "
                                               "retype that text")
        version = data.get("format_version")
        if version is None:
            raise ProjectError(path, "format_version", "missing; is this a LayerForge project?")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ProjectError(path, "format_version", f"expected a positive integer, got "
                                                        f"{version!r}")
        if version > FORMAT_VERSION:
            raise ProjectError(path, "format_version",
                               f"{version} is newer than this LayerForge reads "
                               f"({FORMAT_VERSION}); open it with a newer LayerForge (the file "
                               "was not changed)")
        name = data.get("name", "Untitled")
        if not isinstance(name, str):
            raise ProjectError(path, "name", f"expected a string, got {name!r}")
        try:
            graph = Graph.from_dict(data.get("graph", {"nodes": [], "edges": []}))
        except GraphError as exc:
            msg = str(exc)
            loc, _, rest = msg.partition(": ")
            raise ProjectError(path, loc, rest) from None
        sections = {}
        for key in ("dataset", "training"):
            value = data.get(key, {})
            if not isinstance(value, dict):
                raise ProjectError(path, key, f"expected an object, got {value!r}")
            sections[key] = value
        runs = data.get("runs", [])
        if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
            raise ProjectError(path, "runs", "expected a list of objects")
        project = cls(graph, name, sections["dataset"], sections["training"], runs, path,
                      {k: v for k, v in data.items() if k not in _KNOWN_KEYS})
        for location, message in check_settings(project.dataset, project.training):
            raise ProjectError(path, location, message)
        return project

    def copy(self) -> Project:
        """An independent copy (a run trains a snapshot; the editor goes on changing this)."""
        other = Project.from_dict(self.to_dict(), self.path)
        other.runs_dir = self.runs_dir
        return other

    # ---------------------------------------------------------------- files
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Project:
        """Read a project file; ProjectError with the location of any problem (never writes)."""
        p = Path(path)  # messages name the file as it was given
        raw = read_project_bytes(p)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ProjectError(p, f"byte {exc.start}", "not a UTF-8 text file; is this a "
                                                        "LayerForge project?") from None
        if not text.strip():
            raise ProjectError(p, "", "the file is empty")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProjectError(p, f"line {exc.lineno}, column {exc.colno}",
                               f"invalid JSON ({exc.msg})") from None
        except RecursionError:
            raise ProjectError(p, "", "the JSON is nested too deeply to be a project") from None
        except ValueError:  # Python's cap on digits (int_max_str_digits)
            raise ProjectError(p, "", "a number in the file is thousands of digits long; no "
                                      "setting needs more than a few digits (was the file "
                                      "damaged?)") from None
        project = cls.from_dict(data, p)
        project.path = p.absolute()  # kept whole: a relative path would move with the cwd
        project.base = project.to_dict()
        project.disk = DiskStamp.of_bytes(p, raw)
        return project

    def save(self, path: str | os.PathLike[str] | None = None, *,
             replace_changes: bool = False) -> Path:
        """Write the project atomically (a temporary file renamed over the target), so a crash
        mid-save leaves the previous file whole; returns the path written.

        Saving over the file this project was read from refuses (``ProjectChangedError``) when
        another program changed that file since, unless ``replace_changes``; two savers of one
        file take turns under a lock, so neither can slip in between the check and the write.
        """
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ProjectError(None, "", "the project has no file yet; give a path to save to")
        data = self.to_dict()
        text = dumps(data) + "\n"
        with project_lock(target):
            if not replace_changes and self.disk is not None and self.path is not None and \
                    _same_file(target, self.path):
                now = DiskStamp.read(target)
                if now is not None and now.sha256 != self.disk.sha256:
                    raise ProjectChangedError(target, read_project_dict(target))
            atomic_write_text(target, text)
            raw = text.encode("utf-8")
            self.disk = DiskStamp.of_bytes(target, raw)
        self.path = target
        self.base = data
        return target

    def changed_on_disk(self) -> bool:
        """Whether the file now holds something else than what this project last read or
        wrote (another program saved it, a ``git pull``)."""
        if self.path is None or self.disk is None:
            return False
        now = DiskStamp.read(self.path)
        return now is not None and now.sha256 != self.disk.sha256

    @classmethod
    def from_template(cls, name: str) -> Project:
        """A new, unsaved project from the template called ``name`` (a name from
        ``list_templates``, never a path)."""
        names = list_templates()
        if name not in names:
            listed = ", ".join(names) or (
                f"none in {TEMPLATES_DIR}: the installation is incomplete; reinstall LayerForge "
                "or set LAYERFORGE_RESOURCES to its resources folder")
            raise ProjectError(None, "", f"no template named {name!r} (templates: {listed})")
        project = cls.load(TEMPLATES_DIR / f"{name}.json")
        project.path = None
        project.base = project.disk = None
        project.legacy_runs = []
        return project

    # ---------------------------------------------------------------- use
    @property
    def folder(self) -> Path | None:
        return None if self.path is None else self.path.parent

    def data_spec(self, probe: bool = False) -> DataSpec | None:
        """What the chosen dataset gives (input shape, labels); ``probe`` reads a dataset file
        when its answer is not cached yet (see ``app.core.datasets.data_spec``)."""
        return data_spec(self.dataset, self.folder, probe)

    def validate(self, probe: bool = False) -> list[Problem]:
        """Graph problems, checked against the dataset as far as it is known (``probe``: read
        dataset files to know; a file that cannot be read is a problem too)."""
        try:
            spec = self.data_spec(probe)
        except (OSError, ValueError, ProjectError) as exc:  # engine.data errors are these
            return [*validate(self.graph, None),
                    Problem(None, f"dataset {self.dataset.get('name')}: {exc}", "dataset")]
        return validate(self.graph, spec)

    def resolve(self, relative: str | os.PathLike[str]) -> Path:
        """A path stored in the project, relative to the project's folder."""
        p = Path(relative)
        if p.is_absolute() or self.path is None:
            return p
        return self.path.parent / p


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def read_project_bytes(path: Path) -> bytes:
    """The bytes of a project file: a regular file under ``MAX_PROJECT_BYTES`` (a FIFO would
    block for ever, a device never end), else a ProjectError saying what it is."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ProjectError(path, "", "no such file") from None
    except OSError as exc:
        raise ProjectError(path, "", f"cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ProjectError(path, "", "is a folder, not a project file")
    if not stat.S_ISREG(st.st_mode):
        raise ProjectError(path, "", "is not a regular file (a pipe, socket or device); give "
                                     "the path of a .json project file")
    if st.st_size > MAX_PROJECT_BYTES:
        raise ProjectError(path, "", f"is {st.st_size:,} bytes, far larger than a project file "
                                     f"(at most {MAX_PROJECT_BYTES:,}); is this a LayerForge "
                                     "project?")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ProjectError(path, "", f"cannot be read ({exc.strerror or exc})") from None


def read_project_dict(path: Path) -> dict[str, Any] | None:
    """The project in ``path`` as a dict, or None when it cannot be read as one."""
    try:
        return Project.load(path).to_dict()
    except ProjectError:
        return None


def project_lock(path: str | os.PathLike[str]) -> FileLock:
    """The lock two savers of one project file take turns under. It lives in the user's data
    folder (keyed by the file's absolute path), so no lock file litters the project folder."""
    folder = user_data_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(folder / f"{path_key(path)[:20]}.lock", note=f"{os.getpid()} {path}")


def dumps(obj: Any, indent: int = 0, width: int = 100) -> str:
    """JSON that people can read and diff: a container stays on one line when it fits, so a
    node is one line and a project file reads like a table."""
    flat = json.dumps(obj, ensure_ascii=False)
    if len(flat) + indent <= width or not isinstance(obj, dict | list) or not obj:
        return flat
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            key = json.dumps(k, ensure_ascii=False)
            items.append(f"{inner}{key}: {dumps(v, indent + 2, width - len(key) - 2)}")
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    items = [inner + dumps(v, indent + 2, width) for v in obj]
    return "[\n" + ",\n".join(items) + f"\n{pad}]"


def list_templates() -> list[str]:
    return sorted(p.stem for p in TEMPLATES_DIR.glob("*.json"))


def template_title(name: str) -> str:
    """A template's own project name (reads better in a menu than its file name)."""
    try:
        data = json.loads((TEMPLATES_DIR / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return name
    title = data.get("name") if isinstance(data, dict) else None
    return title if isinstance(title, str) and title else name


def _unencodable(data: Any) -> tuple[str, str] | None:
    """The location and text of the first string (or key) that cannot be written as UTF-8:
    JSON's "\\ud800" escapes parse into lone surrogates, which pass every check and then
    fail a summary, a save or an export half-way."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return where or "(top level)", value
        elif isinstance(value, dict):
            for key, item in value.items():
                at = f"{where}.{key}" if where else str(key)
                stack.append((at, key))
                stack.append((at, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
    return None


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 text atomically (see ``engine.export.weights.atomic_write_bytes``)."""
    atomic_write_bytes(path, text.encode("utf-8"))
