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
OPTIONS: dict[str, list[tuple[str, str, str, Any, Any]]] = {
    "Digits": [("size", "Image size", "choice", 8, (8, 28))],
    "Spirals": [("n_samples", "Samples", "int", 1000, (10, 1_000_000)),
                ("n_classes", "Arms (classes)", "int", 2, (1, 20)),
                ("noise", "Noise", "float", 0.05, (0.0, 5.0)),
                ("turns", "Turns", "float", 1.0, (0.1, 10.0)),
                ("seed", "Seed", "int", 0, (0, 2 ** 31 - 1))],
    "Moons": [("n_samples", "Samples", "int", 1000, (10, 1_000_000)),
              ("noise", "Noise", "float", 0.1, (0.0, 5.0)), ("seed", "Seed", "int", 0,
                                                             (0, 2 ** 31 - 1))],
    "Circles": [("n_samples", "Samples", "int", 1000, (10, 1_000_000)),
                ("noise", "Noise", "float", 0.05, (0.0, 5.0)),
                ("factor", "Inner radius", "float", 0.5, (0.01, 0.99)),
                ("seed", "Seed", "int", 0, (0, 2 ** 31 - 1))],
    "XOR": [("n_samples", "Samples", "int", 1000, (10, 1_000_000)),
            ("noise", "Noise", "float", 0.0, (0.0, 5.0)), ("seed", "Seed", "int", 0,
                                                           (0, 2 ** 31 - 1))],
    "Blobs": [("n_samples", "Samples", "int", 1000, (10, 1_000_000)),
              ("centers", "Blobs (classes)", "int", 3, (1, 50)),
              ("n_features", "Features", "int", 2, (1, 1000)),
              ("cluster_std", "Spread", "float", 1.0, (0.01, 50.0)),
              ("seed", "Seed", "int", 0, (0, 2 ** 31 - 1))],
    "SequenceTask": [("task", "Task", "choice", "parity", ("parity", "adding")),
                     ("n_samples", "Samples", "int", 1000, (10, 1_000_000)),
                     ("seq_len", "Length", "int", 20, (2, 10000)),
                     ("seed", "Seed", "int", 0, (0, 2 ** 31 - 1))],
    "SyntheticText": [("n_samples", "Samples", "int", 2000, (10, 1_000_000)),
                      ("seq_len", "Length", "int", 16, (4, 10000)),
                      ("vocab_size", "Vocabulary", "int", 64, (15, 1_000_000)),
                      ("seed", "Seed", "int", 0, (0, 2 ** 31 - 1))],
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
