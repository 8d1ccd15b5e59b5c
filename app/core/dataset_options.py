"""The datasets the data panel offers: their labels, their options (with kinds, defaults and
ranges, from which the panel builds its form), and the augmentations it can add. One table, so
the form, the defaults and the tests agree."""

from __future__ import annotations

from typing import Any

DOWNLOADABLE = ("MNIST", "FashionMNIST", "KMNIST", "CIFAR10")
LABELS = {"Digits": "Digits (built in)", "MNIST": "MNIST", "FashionMNIST": "Fashion-MNIST",
          "KMNIST": "KMNIST", "CIFAR10": "CIFAR-10", "Spirals": "Spirals (synthetic)",
          "Moons": "Moons (synthetic)", "Circles": "Circles (synthetic)",
          "XOR": "XOR (synthetic)", "Blobs": "Blobs (synthetic)",
          "SequenceTask": "Sequences (synthetic)",
          "SyntheticText": "Text (synthetic)", "CSV": "CSV file", "NPZ": "NPZ file",
          "ImageFolder": "Image folder"}
# option key -> (label, kind, default, extra): kind int/float/choice/folder/file/column
_SAMPLES = ("n_samples", "Samples", "int", 1000, (10, 1_000_000))
_SEED = ("seed", "Seed", "int", 0, (0, 2 ** 31 - 1))


def _noise(default: float) -> tuple[str, str, str, float, tuple[float, float]]:
    return ("noise", "Noise", "float", default, (0.0, 5.0))


OPTIONS: dict[str, list[tuple[str, str, str, Any, Any]]] = {
    "Digits": [("size", "Image size", "choice", 8, (8, 28))],
    "Spirals": [_SAMPLES, ("n_classes", "Arms (classes)", "int", 2, (1, 20)), _noise(0.05),
                ("turns", "Turns", "float", 1.0, (0.1, 10.0)), _SEED],
    "Moons": [_SAMPLES, _noise(0.1), _SEED],
    "Circles": [_SAMPLES, _noise(0.05), ("factor", "Inner radius", "float", 0.5, (0.01, 0.99)),
                _SEED],
    "XOR": [_SAMPLES, _noise(0.0), _SEED],
    "Blobs": [_SAMPLES, ("centers", "Blobs (classes)", "int", 3, (1, 50)),
              ("n_features", "Features", "int", 2, (1, 1000)),
              ("cluster_std", "Spread", "float", 1.0, (0.01, 50.0)), _SEED],
    "SequenceTask": [("task", "Task", "choice", "parity", ("parity", "adding")), _SAMPLES,
                     ("seq_len", "Length", "int", 20, (2, 10000)), _SEED],
    "SyntheticText": [("n_samples", "Samples", "int", 2000, (10, 1_000_000)),
                      ("seq_len", "Length", "int", 16, (4, 10000)),
                      ("vocab_size", "Vocabulary", "int", 64, (15, 1_000_000)), _SEED],
    "CSV": [("path", "File", "file", "", "CSV files (*.csv *.txt)"),
            ("label_column", "Label column", "column", -1, None)],
    "NPZ": [("path", "File", "file", "", "NumPy archives (*.npz)")],
    "ImageFolder": [("root", "Folder", "folder", "", None),
                    ("size", "Resize to", "int", 32, (4, 1024)),
                    ("mode", "Colour", "choice", "RGB", ("RGB", "L"))],
    **{n: [("root", "Folder", "folder", "data", None)] for n in DOWNLOADABLE},
}
AUGMENTATIONS = (  # name, label, parameters written to the project
    ("RandomCrop", "Random crop (pad 2 px)", {"padding": 2}),
    ("RandomHorizontalFlip", "Random horizontal flip", {}),
    ("RandomRotation", "Random rotation (±10°)", {"degrees": 10}),
    ("RandomAffine", "Random shift (±10 %)", {"degrees": 0, "translate": [0.1, 0.1]}),
)


def default_options(name: str) -> dict[str, Any]:
    return {k: d for k, _label, kind, d, _x in OPTIONS.get(name, []) if kind != "column"
            or d is not None}
