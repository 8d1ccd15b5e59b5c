"""Tables: ``CSVDataset`` (numeric feature columns and a label column) and ``NPZDataset``
(arrays ``x`` and ``y`` in a NumPy ``.npz`` file). Both load into memory and take the
DataLoader's fast path."""

from __future__ import annotations

import csv
import math
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import ArrayDataset
from ..errors import DatasetFormatError, DatasetNotFoundError

__all__ = ["CSVDataset", "NPZDataset"]

Transform = Callable[[Any], Any] | None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _has_header(first: list[str], second: list[str] | None) -> bool:
    """A first row is a header when one of its fields is not a number while the field below it
    is (a data row of numbers with a text label is not mistaken for one), or when it is all
    text and the file has one row only."""
    if second is None:
        return not any(_is_number(v) for v in first)
    return any(not _is_number(a) and _is_number(b) for a, b in zip(first, second))


class CSVDataset(ArrayDataset):
    """A CSV table: numeric feature columns and one label column.

    Args:
        path: the .csv file.
        label_column: the label column, by name (needs a header) or index (negative counts from
            the end); None for a table without labels (samples only).
        feature_columns: the feature columns by name or index (default: every other column).
        header: True, False, or "auto" (detected: see ``_has_header``).
        delimiter: the field separator.
        task: "classification" (labels -> class indices: integers are kept, text labels are
            mapped to 0..k-1 in sorted order), "regression" (float32 targets), or "auto"
            (classification when every label is an integer or not a number).
        classes: fixes the label -> index mapping for text labels (e.g. to keep the same
            indices across train and test files).
        transform, target_transform: applied to each sample's features / label.

    Samples are float32 feature tensors; errors name the row (1-based, as an editor shows it)
    and the column of a bad value.
    """

    def __init__(self, path: str | Path, label_column: str | int | None = -1,
                 feature_columns: Sequence[str | int] | None = None,
                 header: bool | str = "auto", delimiter: str = ",", task: str = "auto",
                 classes: Sequence[str] | None = None, transform: Transform = None,
                 target_transform: Transform = None) -> None:
        if task not in ("auto", "classification", "regression"):
            raise ValueError(f"task must be 'auto', 'classification' or 'regression', got "
                             f"{task!r}")
        self.path = Path(path)
        if not self.path.is_file():
            raise DatasetNotFoundError(f"CSV file {self.path} not found")
        with open(self.path, newline="", encoding="utf-8-sig") as f:
            rows = [(i + 1, r) for i, r in enumerate(csv.reader(f, delimiter=delimiter))
                    if r and any(v.strip() for v in r)]
        if not rows:
            raise DatasetFormatError(f"{self.path}: the file holds no rows")
        if header == "auto":
            header = _has_header(rows[0][1], rows[1][1] if len(rows) > 1 else None)
        names = [v.strip() for v in rows[0][1]] if header else [
            f"column {i + 1}" for i in range(len(rows[0][1]))]
        body = rows[1:] if header else rows
        if not body:
            raise DatasetFormatError(f"{self.path}: only a header, no data rows")
        ncols = len(names)
        label_idx = None if label_column is None else self._column(label_column, names, header)
        if feature_columns is None:
            feat_idx = [i for i in range(ncols) if i != label_idx]
        else:
            feat_idx = [self._column(c, names, header) for c in feature_columns]
        if not feat_idx:
            raise DatasetFormatError(f"{self.path}: no feature columns left besides the label")
        features = np.empty((len(body), len(feat_idx)), dtype=np.float32)
        raw_labels: list[str] = []
        for r, (line, row) in enumerate(body):
            if len(row) != ncols:
                raise DatasetFormatError(
                    f"{self.path}: row {line} has {len(row)} fields but "
                    f"{'the header' if header else 'the first row'} has {ncols}")
            for j, c in enumerate(feat_idx):
                text = row[c].strip()
                try:
                    value = float(text)
                except ValueError:
                    what = "is empty" if not text else f"{text!r} is not a number"
                    raise DatasetFormatError(
                        f"{self.path}: row {line}, column {names[c]!r} (column {c + 1}): "
                        f"{what}. Feature columns must be numeric; fix the value, or leave the "
                        f"column out with feature_columns=") from None
                if not math.isfinite(value):
                    raise DatasetFormatError(f"{self.path}: row {line}, column {names[c]!r} "
                                             f"(column {c + 1}): {text!r} is not finite")
                features[r, j] = value
            if label_idx is not None:
                raw_labels.append(row[label_idx].strip())
        self.feature_names = [names[c] for c in feat_idx]
        self.label_name = None if label_idx is None else names[label_idx]
        self.classes: list[str] | None = None
        targets = None
        if label_idx is not None:
            targets = self._labels(raw_labels, body, names[label_idx], label_idx, task, classes)
        super().__init__(features, targets, transform, target_transform)

    def _column(self, col: str | int, names: list[str], header: bool) -> int:
        if isinstance(col, str):
            if not header:
                raise ValueError(f"{self.path}: column {col!r} is named, but the file has no "
                                 f"header; give its index instead")
            if col not in names:
                raise ValueError(f"{self.path}: no column {col!r}; the columns are {names}")
            return names.index(col)
        if not -len(names) <= col < len(names):
            raise ValueError(f"{self.path}: column index {col} out of range for "
                             f"{len(names)} columns")
        return col % len(names)

    def _labels(self, raw: list[str], body: list[tuple[int, list[str]]], name: str, col: int,
                task: str, classes: Sequence[str] | None) -> np.ndarray:
        numeric = all(_is_number(v) for v in raw)
        integral = numeric and all(float(v).is_integer() for v in raw)
        if task == "auto":
            task = "regression" if numeric and not integral else "classification"
        if task == "regression":
            for (line, _), v in zip(body, raw):
                if not _is_number(v):
                    raise DatasetFormatError(f"{self.path}: row {line}, column {name!r} (column "
                                             f"{col + 1}): {v!r} is not a number (regression "
                                             f"targets must be numeric)")
            return np.asarray([float(v) for v in raw], dtype=np.float32)
        if integral and classes is None:
            labels = np.asarray([int(float(v)) for v in raw], dtype=np.int64)
            if labels.min() < 0:
                raise DatasetFormatError(f"{self.path}: column {name!r}: class labels must be "
                                         f">= 0, found {int(labels.min())}")
            return labels
        self.classes = list(classes) if classes is not None else sorted(set(raw))
        index = {c: i for i, c in enumerate(self.classes)}
        out = np.empty(len(raw), dtype=np.int64)
        for i, ((line, _), v) in enumerate(zip(body, raw)):
            if v not in index:
                raise DatasetFormatError(f"{self.path}: row {line}, column {name!r} (column "
                                         f"{col + 1}): label {v!r} is not one of the classes "
                                         f"{self.classes}")
            out[i] = index[v]
        return out

    @property
    def class_to_idx(self) -> dict[str, int] | None:
        return None if self.classes is None else {c: i for i, c in enumerate(self.classes)}


class NPZDataset(ArrayDataset):
    """Arrays from a NumPy ``.npz`` file: samples ``x_key`` and targets ``y_key`` (None for
    samples only). uint8 image arrays (N x H x W [x C]) stay images for the transforms;
    float64 samples become float32 (the engine's default float, so they meet float32 weights)
    and integer targets int64."""

    def __init__(self, path: str | Path, x_key: str = "x", y_key: str | None = "y",
                 transform: Transform = None, target_transform: Transform = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DatasetNotFoundError(f"NPZ file {self.path} not found")
        try:
            with np.load(self.path, allow_pickle=False) as z:
                keys = list(z.keys())
                missing = [k for k in (x_key, y_key) if k is not None and k not in keys]
                if missing:
                    raise DatasetFormatError(f"{self.path}: no array named {missing[0]!r}; it "
                                             f"holds {keys}. Pass x_key= / y_key=")
                x = z[x_key]
                y = z[y_key] if y_key is not None else None
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise DatasetFormatError(f"{self.path}: not a readable .npz file ({exc})") from exc
        if x.ndim == 0:
            raise DatasetFormatError(f"{self.path}: {x_key!r} is a scalar, expected one row per "
                                     f"sample")
        if y is not None and (y.ndim == 0 or len(y) != len(x)):
            raise DatasetFormatError(f"{self.path}: {x_key!r} has {len(x)} samples but "
                                     f"{y_key!r} has {y.shape[0] if y.ndim else 0}")
        if y is not None and y.dtype.kind in "iu":
            y = y.astype(np.int64)
        if x.dtype == np.float64:
            x = x.astype(np.float32)  # the engine's default float, as the DataLoader expects
        super().__init__(x, y, transform, target_transform)
