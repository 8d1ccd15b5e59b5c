"""The datasets a project can name, what each gives, and how to build it from the settings.

A project stores ``dataset.name`` and ``dataset.options``; this table turns them into the engine
dataset (``engine.data.datasets``) and tells, without loading anything, the shape of one sample and
the kind of labels, so validation can check the Input node and the loss before training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.graph import DataSpec, TensorType


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset name: its sample and labels as a function of the options (None: unknown until
    the data is loaded), and whether it needs files or a download."""

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


def _unknown(o: dict[str, Any]) -> tuple[None, None, None]:
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
    DatasetInfo("CSV", _unknown, help="A CSV file: numeric columns and a label column."),
    DatasetInfo("NPZ", _unknown, help="A .npz file with arrays x and y."),
    DatasetInfo("ImageFolder", _unknown, help="One sub-folder of images per class."),
)}


def data_spec(dataset: dict[str, Any]) -> DataSpec | None:
    """What the dataset settings give, as far as it is known without loading the data."""
    info = DATASETS.get(dataset.get("name", ""))
    if info is None:
        return None
    options = dataset.get("options") or {}
    try:
        tt, kind, classes = info.describe(options)
    except (TypeError, ValueError):
        return None
    # regression targets here are one value per sample (the adding task)
    return DataSpec(info.name, tt, kind, classes, (1,) if kind == "regression" else None)


# -------------------------------------------------------------------- building
_IMAGE_SETS = ("Digits", "MNIST", "FashionMNIST", "KMNIST", "CIFAR10", "ImageFolder")
_PATH_OPTIONS = ("root", "path", "file")
_CLASS_NAMES = {"CSV": "CSVDataset", "NPZ": "NPZDataset"}


def build_datasets(dataset: dict[str, Any], base_dir: Any = None) -> tuple[Any, Any]:
    """``(train, validation)`` engine datasets for the project's dataset settings (validation is
    None when ``validation_split`` is 0). Augmentations apply to the training part only; the
    normalisation is not applied here (the training loop applies the same rule as the exporters).
    """
    import numpy as np  # noqa: PLC0415

    from engine.data import Subset, datasets  # noqa: PLC0415
    from engine.data import transforms as T  # noqa: PLC0415

    from .project import ProjectError  # noqa: PLC0415

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
        if key in options and base_dir is not None:
            from pathlib import Path  # noqa: PLC0415

            p = Path(options[key])
            options[key] = str(p if p.is_absolute() else Path(base_dir) / p)

    def make(augment: bool) -> Any:
        steps = []
        if augment and name in _IMAGE_SETS:
            try:
                steps = [_transform(T, t) for t in dataset.get("transforms", [])]
            except (TypeError, ValueError) as exc:
                raise ProjectError(None, "dataset.transforms", str(exc)) from None
        try:
            if name in _IMAGE_SETS:  # ImageFolder has no train/test split of its own
                split_arg = {} if name == "ImageFolder" else {"train": True}
                return cls(**split_arg, transform=T.Compose([*steps, T.ToTensor()]), **options)
            return cls(**options)
        except (TypeError, ValueError) as exc:  # options the dataset class refuses
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
    val_base = make(False) if name in _IMAGE_SETS and dataset.get("transforms") else train
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
