"""Run folders: where a run's weights, checkpoints, log and record live, how a run claims one,
and how a project finds its runs again.

Layout of one run folder (the same from the window, ``layerforge train`` and ``mpiexec``)::

    run.json               the record: id, status, times, settings, final metrics, files
    project.json           the project as the run trained it (graph and settings)
    metrics.jsonl          the Trainer's events, one JSON object a line (charts read it back)
    events.out.tfevents.*  the same metrics (and layer histograms) for TensorBoard
    weights.safetensors    the weights after the last finished epoch (or last good step)
    best.safetensors       the weights of the best epoch by the monitored metric
    checkpoints/           last.safetensors and best.safetensors: what --resume continues
    .lock                  held by the process that trains into the folder while it runs

Where a project's runs go: ``runs/<project file stem>/<id>`` beside the project file; for a
project that must not be written beside (a template, a read-only file or folder) or one never
saved, a folder of the user's data folder. Runs are found by looking at that folder, not by a
list inside the project file, so only the user's Save writes the project, and two processes
training one project never touch the same file: a run claims its folder under an OS lock
(``filelock``), ids are unique even for runs started in the same second, and every run writes
only inside its own folder.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import RunSetupError
from .filelock import FileLock, is_locked
from .paths import can_write_beside, path_key, user_data_dir
from .project import Project, atomic_write_text, dumps

RUN_FILE = "run.json"
NAME_FILE = "name.txt"  # a name the user gave the run (apart from the record its run writes)
LOG_FILE = "metrics.jsonl"
WEIGHTS_FILE = "weights.safetensors"
BEST_FILE = "best.safetensors"
CHECKPOINT_DIR = "checkpoints"
SNAPSHOT_FILE = "project.json"
LOCK_FILE = ".lock"
LINK_SUFFIX = ".link.json"
RUN_FORMAT = 1


# -------------------------------------------------------------------- where
def runs_root(project: Project) -> Path:
    """The folder that holds ``project``'s runs (see the module docstring)."""
    if project.runs_dir is not None:
        return Path(project.runs_dir)
    if project.path is None:
        return user_data_dir() / "runs" / "unsaved"
    path = Path(project.path)
    stem = path.stem or "project"
    if can_write_beside(path):
        return path.parent / "runs" / stem
    return user_data_dir() / "runs" / f"{stem}-{path_key(path)[:8]}"


def new_stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


# -------------------------------------------------------------------- claiming
class RunFolder:
    """A run folder claimed by this process: locked until ``release``, so no other run can take
    it and a reader can tell the run is alive. Only the claimer writes inside it."""

    def __init__(self, path: Path, lock: FileLock, record: dict[str, Any]) -> None:
        self.path = path
        self.lock = lock
        self.record = record

    @property
    def id(self) -> str:
        return str(self.record["id"])

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def weights(self) -> Path:
        return self.path / WEIGHTS_FILE

    @property
    def best(self) -> Path:
        return self.path / BEST_FILE

    @property
    def log(self) -> Path:
        return self.path / LOG_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINT_DIR

    def update(self, **changes: Any) -> dict[str, Any]:
        """Change the record and write ``run.json`` atomically."""
        self.record.update(copy.deepcopy(changes))
        write_record(self.path, self.record)
        return self.record

    def release(self) -> None:
        self.lock.release()

    @classmethod
    def claim_new(cls, root: str | os.PathLike[str], source: str,
                  stamp: str | None = None) -> RunFolder:
        """A new folder ``root/<date-time>`` (``-2``, ``-3`` ... when that is taken)."""
        root = Path(root)
        base = root / (stamp or new_stamp())
        return cls._claim(base, source, resume_of=None)

    @classmethod
    def claim(cls, path: str | os.PathLike[str], source: str,
              resume_of: str | os.PathLike[str] | None = None) -> RunFolder:
        """The folder ``path`` for a run (``--out``): taken when it is new or empty, or when
        ``resume_of`` (a checkpoint) lies inside it and its run is over; otherwise the next free
        ``path-2``, ``path-3`` ... (a folder that holds another run is never reused)."""
        return cls._claim(Path(path), source, resume_of)

    @classmethod
    def _claim(cls, base: Path, source: str, resume_of: Any) -> RunFolder:
        checkpoint = Path(resume_of).resolve() if resume_of is not None else None
        for i in range(1, 10_000):
            path = base if i == 1 else base.with_name(f"{base.name}-{i}")
            try:
                path.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                continue  # a file of that name
            except OSError as exc:
                raise RunSetupError(f"cannot create the run folder {path}: "
                                    f"{exc.strerror or exc}") from None
            lock = FileLock(path / LOCK_FILE, note=f"{os.getpid()} {socket.gethostname()}")
            try:
                got = lock.try_acquire()
            except OSError as exc:
                raise RunSetupError(f"cannot write in the run folder {path}: "
                                    f"{exc.strerror or exc}") from None
            if not got:
                if checkpoint is not None and _inside(checkpoint, path):
                    raise RunSetupError(f"--resume: the run in {path} is still training (its "
                                        "folder is locked by a live process); stop it first")
                continue
            entries = [e for e in os.listdir(path) if e != LOCK_FILE]
            old = read_record(path)
            if not entries or (checkpoint is not None and _inside(checkpoint, path)):
                record = _new_record(path, source, old)
                folder = cls(path, lock, record)
                write_record(path, record)
                return folder
            lock.release()
        raise RunSetupError(f"cannot find a free run folder next to {base} (tried 9,999 names); "
                            "choose another --out")


def _inside(path: Path, folder: Path) -> bool:
    return path.is_relative_to(folder.resolve())


def _new_record(path: Path, source: str, old: dict[str, Any] | None) -> dict[str, Any]:
    now = datetime.now().isoformat(timespec="seconds")
    record: dict[str, Any] = {
        "format": RUN_FORMAT, "id": path.name, "status": "running", "created": now,
        "started": now, "finished": None, "source": source, "pid": os.getpid(),
        "host": socket.gethostname(), "listed": True}
    if old is not None:  # a resumed run continues its record
        record = {**old, **{k: record[k] for k in ("status", "started", "finished", "pid",
                                                    "host", "source")}}
        record["resumed"] = [*old.get("resumed", []), now]
    return record


def write_record(folder: Path, record: dict[str, Any]) -> None:
    atomic_write_text(folder / RUN_FILE, dumps(record) + "\n")


def read_record(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A run folder's record (None when it has no readable ``run.json``)."""
    try:
        data = json.loads((Path(folder) / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "id" in data else None


def link_run(root: Path, folder: Path) -> Path:
    """Make a run kept outside ``root`` (``--out elsewhere``) part of the project's runs: a
    small pointer file in ``root``, named so no two runs share one."""
    root.mkdir(parents=True, exist_ok=True)
    key = path_key(folder)[:8]
    link = root / f"{folder.name}-{key}{LINK_SUFFIX}"
    atomic_write_text(link, json.dumps({"folder": str(folder.resolve())}) + "\n")
    return link


# -------------------------------------------------------------------- finding
def list_runs(project: Project) -> list[dict[str, Any]]:
    """The project's runs, oldest first: each a record with ``folder`` (absolute) and
    ``live`` (its process still holds the folder) added; a run whose process ended without
    saying so shows status ``interrupted``."""
    root = runs_root(project)
    found: dict[str, dict[str, Any]] = {}
    if root.is_dir():
        for entry in sorted(root.iterdir()):
            folder = entry if entry.is_dir() else _link_target(entry)
            if folder is None:
                continue
            record = read_record(folder)
            if record is None or record.get("listed") is False:
                continue
            found[str(folder.resolve())] = describe(folder, record)
    for legacy in project.legacy_runs:
        record = _legacy_record(project, legacy)
        found.setdefault(str(record["folder"]), record)
    return sorted(found.values(), key=lambda r: (str(r.get("created", "")), r["id"]))


def _link_target(entry: Path) -> Path | None:
    if not entry.name.endswith(LINK_SUFFIX):
        return None
    try:
        folder = Path(json.loads(entry.read_text(encoding="utf-8"))["folder"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return folder if folder.is_dir() else None


def describe(folder: Path, record: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(record)
    out["folder"] = str(folder.resolve())
    try:
        given = (folder / NAME_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        given = ""
    if given:
        out["name"] = given
    out["live"] = out.get("status") == "running" and is_locked(folder / LOCK_FILE)
    if out.get("status") == "running" and not out["live"]:
        out["status"] = "interrupted"
        out.setdefault("message", "the process training it ended without finishing")
    return out


def _legacy_record(project: Project, run: dict[str, Any]) -> dict[str, Any]:
    """A run listed inside a project file of an older version, in today's record shape."""
    weights = project.resolve(run["weights"]) if run.get("weights") else None
    metrics = project.resolve(run["metrics"]) if run.get("metrics") else None
    folder = (weights or metrics or project.resolve(str(run.get("id", "run")))).parent
    reason = {"early_stopping": "early_stopped"}.get(run.get("reason"), run.get("reason"))
    return {"format": 0, "id": str(run.get("id", folder.name)), "status": reason or "completed",
            "created": run.get("created", ""), "folder": str(folder.resolve()), "live": False,
            "weights": str(weights) if weights else None,
            "metrics": str(metrics) if metrics else None,
            "epochs_completed": run.get("epochs"), "final": _final_names(run.get("final")),
            "message": run.get("message", ""), "legacy": True}


def _final_names(final: Any) -> dict[str, float]:
    from .settings import canonical_monitor  # noqa: PLC0415

    if not isinstance(final, dict):
        return {}
    return {canonical_monitor(k): v for k, v in final.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def run_file(record: dict[str, Any], key: str) -> Path | None:
    """The absolute path of a record's file (``weights``, ``best``, ``checkpoint``,
    ``metrics``), or None when the run has none."""
    value = record.get(key)
    if not value:
        return None
    p = Path(value)
    return p if p.is_absolute() else Path(record["folder"]) / p


def weights_of(record: dict[str, Any]) -> Path | None:
    """A run's weights file, when it is there."""
    path = run_file(record, "weights")
    return path if path is not None and path.is_file() else None


def latest_weights(project: Project) -> Path | None:
    """The weights of the most recent run that has them."""
    for record in reversed(list_runs(project)):
        path = weights_of(record)
        if path is not None:
            return path
    return None


def run_project(project: Project, record: dict[str, Any]) -> Project:
    """The project as the run trained it (its ``project.json``), so its weights meet the graph
    they were trained on even after the graph was edited; ``project`` itself for a run without
    one."""
    snap = Path(record["folder"]) / SNAPSHOT_FILE
    if snap.is_file():
        trained = Project.load(snap)
        trained.path, trained.runs_dir = project.path, project.runs_dir
        trained.base = trained.disk = None
        return trained
    return project


def adopt_runs(source: Path, project: Project) -> list[Path]:
    """Move the runs of an unsaved project (in ``source``) to the runs folder of the file it
    was just saved as; a run that cannot be moved (another disk, still running) is linked
    instead. Returns the run folders now listed."""
    target = runs_root(project)
    if not source.is_dir() or source.resolve() == target.resolve():
        return []
    moved = []
    for entry in sorted(source.iterdir()):
        record = read_record(entry) if entry.is_dir() else None
        if record is None:
            continue
        dest = target / entry.name
        if not is_locked(entry / LOCK_FILE) and not dest.exists():
            try:
                target.mkdir(parents=True, exist_ok=True)
                shutil.move(str(entry), str(dest))
                moved.append(dest)
                continue
            except OSError:
                pass
        link_run(target, entry)
        moved.append(entry)
    with contextlib.suppress(OSError):
        source.rmdir()  # only when emptied
    return moved


def discard_runs(source: Path) -> None:
    """Delete the runs of an unsaved project the user chose not to keep."""
    if source.is_dir() and source.resolve().is_relative_to(user_data_dir().resolve()):
        shutil.rmtree(source, ignore_errors=True)


# -------------------------------------------------------------------- names
NAMED_SETTINGS = (("optimizer", ""), ("lr", "lr "), ("batch_size", "bs "),
                  ("schedule", ""), ("epochs", "ep "), ("seed", "seed "), ("devices", ""),
                  ("dataset", ""))


def rename_run(record: dict[str, Any], name: str) -> None:
    """Give a run a name of one's own (kept beside its record, which the process that trains
    the run rewrites: a name given meanwhile is never lost). An empty name goes back to the
    summary ``run_names`` makes."""
    name = " ".join(name.split())[:80]
    path = Path(record["folder"]) / NAME_FILE
    if name:
        atomic_write_text(path, name + "\n")
    else:
        path.unlink(missing_ok=True)


def run_names(records: list[dict[str, Any]]) -> dict[str, str]:
    """folder -> the name a run list shows: the user's, or a summary of what sets the run apart
    from the others ("Adam · lr 0.001 · bs 64"); runs alike in every setting are numbered."""
    settings = {r["folder"]: _settings_of(r) for r in records}
    varying = [key for key, _ in NAMED_SETTINGS
               if len({_fmt(settings[f].get(key)) for f in settings}) > 1]
    keys = varying or ["optimizer", "lr", "batch_size"]
    names: dict[str, str] = {}
    seen: dict[str, int] = {}
    for r in records:
        if r.get("name"):
            names[r["folder"]] = str(r["name"])
            continue
        s = settings[r["folder"]]
        prefix = dict(NAMED_SETTINGS)
        text = " · ".join(f"{prefix[k]}{_fmt(s.get(k))}" for k in keys
                          if s.get(k) is not None) or str(r.get("id"))
        seen[text] = seen.get(text, 0) + 1
        names[r["folder"]] = text if seen[text] == 1 else f"{text} ({seen[text]})"
    return names


def _settings_of(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record.get("settings") or {})
    out["dataset"] = record.get("dataset")
    if out.get("schedule") == "none":
        out["schedule"] = None
    devices = out.get("devices")
    if isinstance(devices, list):
        out["devices"] = None if devices == ["cpu"] else ",".join(devices)
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)
