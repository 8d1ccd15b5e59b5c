"""The datasets a project can name, what each gives, and how to build it from the settings.

A project stores ``dataset.name`` and ``dataset.options``; this table turns them into the engine
dataset (``engine.data.datasets``) and tells what one sample and its label look like, so that
validation can check the network against its data before anything trains:

- built-in and synthetic sets describe themselves from their options, without loading;
- files (CSV, NPZ, an image folder) are *probed*: built once and looked at (sample shape and
  dtype, label kind, class count and range), and the answer is cached by the file's size and
  modification time, so the editor can re-validate on every edit for the price of a ``stat``.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.graph import DataSpec, TensorType

from .dataset_options import DOWNLOADABLE
from .errors import ProjectError
from .paths import user_data_dir


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset name: its sample and labels as a function of the options (None: known only
    once the data is probed), and whether it needs files or a download."""

    name: str
    describe: Callable[[dict[str, Any]], tuple[TensorType | None, str | None, int | None]]
    offline: bool = True
    help: str = ""


def _image(channels: int, size: int, classes: int) -> Any:
    return lambda o: (TensorType((channels, size, size)), "class", classes)


def _digits(o: dict[str, Any]) -> tuple[TensorType, str, int]:
    size = o.get("size", 8)
    return TensorType((1, size, size)), "class", 10


def _points(default_classes: int, key: str = "n_classes") -> Any:
    return lambda o: (TensorType((o.get("n_features", 2),)), "class",
                      o.get(key, default_classes))


def _sequence(o: dict[str, Any]) -> tuple[TensorType | None, str | None, int | None]:
    task = o.get("task", "parity")
    length = o.get("seq_len", 20)
    if task == "parity":
        return TensorType((length, 1)), "class", 2
    if task == "adding":
        return TensorType((length, 2)), "regression", None
    return None, None, None


def _from_files(o: dict[str, Any]) -> tuple[None, None, None]:
    return None, None, None


DATASETS: dict[str, DatasetInfo] = {d.name: d for d in (
    DatasetInfo("Digits", _digits, help="UCI handwritten digits, 1797 images, 10 classes; "
                                        "built in (size 8 or 28)."),
    DatasetInfo("MNIST", _image(1, 28, 10), offline=False),
    DatasetInfo("FashionMNIST", _image(1, 28, 10), offline=False),
    DatasetInfo("KMNIST", _image(1, 28, 10), offline=False),
    DatasetInfo("CIFAR10", _image(3, 32, 10), offline=False),
    DatasetInfo("Spirals", _points(2), help="Interleaved spirals in 2-D (synthetic)."),
    DatasetInfo("Moons", _points(2), help="Two half-moons in 2-D (synthetic)."),
    DatasetInfo("Circles", _points(2), help="Two concentric circles in 2-D (synthetic)."),
    DatasetInfo("XOR", _points(2), help="XOR of the signs of two coordinates (synthetic)."),
    DatasetInfo("Blobs", _points(3, "centers"), help="Gaussian blobs (synthetic)."),
    DatasetInfo("SequenceTask", _sequence, help="Synthetic sequences: parity (classification) "
                                                "or adding (regression)."),
    DatasetInfo("SyntheticText", lambda o: (TensorType((o.get("seq_len", 16),), "int64"),
                                            "class", 2),
                help="Synthetic token sequences; label: more positive than negative words."),
    DatasetInfo("CSV", _from_files, help="A CSV file: numeric columns and a label column."),
    DatasetInfo("NPZ", _from_files, help="A .npz file with arrays x and y."),
    DatasetInfo("ImageFolder", _from_files, help="One sub-folder of images per class."),
)}
IMAGE_SETS = ("Digits", *DOWNLOADABLE, "ImageFolder")
FILE_SETS = ("CSV", "NPZ", "ImageFolder")
_PATH_OPTIONS = ("root", "path", "file")
_CLASS_NAMES = {"CSV": "CSVDataset", "NPZ": "NPZDataset"}


def described_spec(dataset: dict[str, Any]) -> DataSpec | None:
    """What the settings say the dataset gives, without reading anything (None for files)."""
    info = DATASETS.get(dataset.get("name", ""))
    if info is None:
        return None
    options = dataset.get("options") or {}
    try:
        tt, kind, classes = info.describe(options)
    except (TypeError, ValueError):
        return None
    if tt is None and kind is None:
        return None
    # regression targets here are one value per sample (the adding task)
    return DataSpec(info.name, tt, kind, classes, (1,) if kind == "regression" else None)


def data_spec(dataset: dict[str, Any], base_dir: str | os.PathLike[str] | None = None,
              probe: bool = False) -> DataSpec | None:
    """What the dataset gives, as far as it is known: described from the settings, or for a
    file the probe's cached answer (``probe=True`` reads the file when nothing is cached; it
    raises the dataset's own error, naming the file and row, when it cannot be read)."""
    spec = described_spec(dataset)
    if spec is not None or dataset.get("name") not in FILE_SETS:
        return spec
    key = _probe_key(dataset, base_dir)
    if key is None:
        return None
    with _LOCK:
        cached = _PROBES.get(key)
    if cached is not None or not probe:
        return cached
    full, _ = build_datasets({**dataset, "validation_split": 0.0, "transforms": []}, base_dir)
    return remember_spec(dataset, base_dir, full)


def remember_spec(dataset: dict[str, Any], base_dir: str | os.PathLike[str] | None,
                  full: Any) -> DataSpec:
    """Probe a dataset that is already built (whole, unsplit; the data panel loads it for its
    preview anyway) and cache the answer for ``data_spec``."""
    spec = spec_of(source_name(dataset), full)
    key = _probe_key(dataset, base_dir)
    if key is not None:
        with _LOCK:
            _PROBES[key] = spec
    return spec


_PROBES: dict[tuple, DataSpec] = {}
_LOCK = threading.Lock()


def _path_option(options: dict[str, Any]) -> str | None:
    """The first of the file options (``root``, ``path``, ``file``) that is a string."""
    return next((options[k] for k in _PATH_OPTIONS if isinstance(options.get(k), str)), None)


def _probe_key(dataset: dict[str, Any], base_dir: Any) -> tuple | None:
    """The cache key of a file dataset: its settings and its file's (or folder's) identity, so
    an edited file is probed again. None when the file is not there (nothing to cache)."""
    options = dataset.get("options") or {}
    where = _path_option(options)
    if not where:
        return None
    path = resolve_data_path(where, base_dir)
    try:
        st = path.stat()
    except OSError:
        return None
    try:
        settings = json.dumps([dataset.get("name"), options], sort_keys=True, default=str)
    except (TypeError, ValueError):
        return None
    return settings, str(path), st.st_size, st.st_mtime_ns


def source_name(dataset: dict[str, Any]) -> str:
    """How messages name the data: a file by its name (``iris.csv``), else the dataset."""
    options = dataset.get("options") or {}
    if dataset.get("name") in FILE_SETS:
        where = _path_option(options)
        if where:
            return Path(where).name or str(where)
    return str(dataset.get("name"))


def spec_of(name: str, dataset: Any) -> DataSpec:
    """What a built dataset gives: one sample's tensor and the labels' kind, count and range
    (read from ``targets`` when the dataset has them, else from every sample)."""
    import numpy as np  # noqa: PLC0415

    from engine.data import DatasetFormatError  # noqa: PLC0415

    n = len(dataset)
    if n == 0:
        raise DatasetFormatError(f"{name}: the dataset holds no samples")
    x, y = dataset[0]
    sample = as_numpy(x)
    dtype = "int64" if sample.dtype.kind in "iu" and not looks_like_image(sample) else \
        "float32"
    shape = sample.shape  # as the loader delivers it (an NPZ of uint8 images stays H x W)
    targets = getattr(dataset, "targets", None)
    if targets is None:
        targets = [as_numpy(dataset[i][1]) for i in range(n)]
    targets = np.asarray(targets)
    names = getattr(dataset, "classes", None)
    if targets.dtype.kind in "iub" and targets.ndim == 1:
        low, high = int(targets.min()), int(targets.max())
        if low < 0:
            raise DatasetFormatError(f"{name}: class labels must be 0 or more, but the labels "
                                     f"go down to {low}; renumber the classes from 0")
        k = len(names) if names else high + 1
        return DataSpec(name, TensorType(tuple(int(s) for s in shape), dtype), "class", k,
                        None, bool(names))
    if targets.dtype.kind == "f":
        return DataSpec(name, TensorType(tuple(int(s) for s in shape), dtype), "regression",
                        None, tuple(int(s) for s in targets.shape[1:]) or (1,))
    raise DatasetFormatError(f"{name}: labels of type {targets.dtype} and shape "
                             f"{tuple(targets.shape)} are neither class indices (whole numbers, "
                             "one per sample) nor regression targets (numbers)")


def as_numpy(x: Any) -> Any:
    import numpy as np  # noqa: PLC0415

    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def looks_like_image(sample: Any) -> bool:
    """A 2-D or 3-D array of at least 5 x 5 (H x W or C x H x W): an image, not token ids."""
    return sample.ndim >= 2 and min(sample.shape[-2:]) > 4


def _refuse_special(path: Path, where: str) -> None:
    """A pipe, socket or device in place of a data file would block or never end (a FIFO
    waits for a writer, /dev/zero reads forever): only files and folders are data."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # missing: the dataset says so, with what to do
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ProjectError(None, where, f"{path} is not a regular file or folder (a pipe, "
                                        "socket or device); choose a data file")


def resolve_data_path(value: str, base_dir: str | os.PathLike[str] | None) -> Path:
    """A data path of the settings: relative to the project's folder, or, for a project never
    saved, to the user's data folder (never the current directory, which the window's user
    did not choose)."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return p
    return (Path(base_dir) if base_dir is not None else user_data_dir() / "datasets") / p


# -------------------------------------------------------------------- building
def build_datasets(dataset: dict[str, Any], base_dir: Any = None) -> tuple[Any, Any]:
    """``(train, validation)`` engine datasets for the project's dataset settings (validation is
    None when ``validation_split`` is 0). Augmentations apply to the training part only; the
    normalisation is not applied here (the run applies the same rule as the exporters)."""
    import numpy as np  # noqa: PLC0415

    from engine.data import Subset, datasets  # noqa: PLC0415
    from engine.data import transforms as T  # noqa: PLC0415

    name = dataset["name"]
    if name not in DATASETS:
        raise ProjectError(None, "dataset.name", f"unknown dataset {name!r}; choose one of "
                                                 f"{', '.join(DATASETS)}")
    cls = getattr(datasets, _CLASS_NAMES.get(name, name), None)
    if cls is None:
        raise ProjectError(None, "dataset.name", f"dataset {name} is not available in this "
                                                 "build of engine.data")
    options = dict(dataset.get("options") or {})
    for key in _PATH_OPTIONS:
        if key not in options:
            continue
        if name in FILE_SETS and not str(options[key] or "").strip():
            what = "folder" if key == "root" else "file"
            raise ProjectError(None, f"dataset.options.{key}",
                               f"no {name} {what} chosen yet: choose it in the Data panel "
                               f"(Browse…), or set dataset.options.{key}")
        if isinstance(options.get(key), str):
            options[key] = str(resolve_data_path(options[key], base_dir))
            _refuse_special(Path(options[key]), f"dataset.options.{key}")

    def make(augment: bool) -> Any:
        steps = []
        if augment and name in IMAGE_SETS:
            try:
                steps = [_transform(T, t) for t in dataset.get("transforms", [])]
            except (TypeError, ValueError) as exc:
                raise ProjectError(None, "dataset.transforms", str(exc)) from None
        try:
            if name in IMAGE_SETS:  # ImageFolder has no train/test split of its own
                split_arg = {} if name == "ImageFolder" else {"train": True}
                return cls(**split_arg, transform=T.Compose([*steps, T.ToTensor()]), **options)
            return cls(**options)
        except TypeError as exc:  # options the dataset class does not take
            raise ProjectError(None, "dataset.options", f"{name}: {exc}") from None
        except ValueError as exc:
            from engine.data import DataError  # noqa: PLC0415

            if isinstance(exc, DataError):
                raise
            raise ProjectError(None, "dataset.options", f"{name}: {exc}") from None

    train = make(True)
    split = dataset.get("validation_split", 0.0)
    if not split:
        return train, None
    n = len(train)
    n_val = max(1, int(round(n * split)))
    if n_val >= n:
        raise ProjectError(None, "dataset.validation_split",
                           f"{split} leaves no training samples out of {n}")
    perm = np.random.default_rng(dataset.get("split_seed", 0)).permutation(n).tolist()
    val_base = make(False) if name in IMAGE_SETS and dataset.get("transforms") else train
    return Subset(train, perm[n_val:]), Subset(val_base, perm[:n_val])


def _transform(T: Any, spec: Any) -> Any:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ValueError(f"each transform must be an object like {{\"name\": \"RandomCrop\", "
                         f"\"size\": 28}}, got {spec!r}")
    cls = getattr(T, spec["name"], None)
    if cls is None or spec["name"] in ("Compose", "Lambda", "ToTensor", "Normalize"):
        raise ValueError(f"unknown transform {spec['name']!r} (ToTensor and the normalisation "
                         "are added by LayerForge)")
    return cls(**{k: v for k, v in spec.items() if k != "name"})


def class_names_of(dataset: Any) -> list[str] | None:
    """The dataset's class names (``classes``), looking through Subsets."""
    seen = 0
    while dataset is not None and seen < 8:
        names = getattr(dataset, "classes", None)
        if names:
            return [str(c) for c in names]
        dataset = getattr(dataset, "dataset", None)
        seen += 1
    return None
