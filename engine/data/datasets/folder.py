"""``ImageFolder``: one sub-folder per class of PNG/JPEG/... images, read with Pillow and
converted to a chosen mode and size (so batches stack)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import ArrayDataset, Dataset
from ..errors import DatasetFormatError, DatasetNotFoundError

__all__ = ["IMG_EXTENSIONS", "ImageFolder", "load_image"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp",
                  ".gif")


def load_image(path: str | Path, mode: str | None = "RGB",
               size: tuple[int, int] | None = None) -> np.ndarray:
    """An image file as a uint8 array (H x W for mode "L", H x W x C otherwise), converted to
    ``mode`` and resized to ``size`` = (h, w) with bilinear filtering."""
    from PIL import Image  # noqa: PLC0415 - only needed here

    with _open_image(path) as img:
        try:
            img = img.convert(mode) if mode is not None and img.mode != mode else img.copy()
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(img)
        except (OSError, ValueError) as exc:
            raise DatasetFormatError(f"{path}: cannot read the image ({exc})") from exc


def _open_image(path: str | Path) -> Any:
    """``PIL.Image.open`` (which reads the header only), refusing what Pillow cannot identify
    and images whose declared size is past Pillow's decompression-bomb limit (its warning made
    an error here): decoding one would take gigabytes for a file of a few kilobytes."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415 - only needed here

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DatasetFormatError(f"{path}: {exc}; shrink the image or remove it from the "
                                 f"folder") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DatasetFormatError(f"{path}: cannot read the image ({exc})") from exc


def _walk_once(top: Path) -> Iterator[tuple[str, list[str]]]:
    """``(folder, file names)`` below ``top`` in sorted order, following symbolic links but
    entering each real folder once: links that lead back up (``a -> .``) would otherwise make
    ``os.walk(followlinks=True)`` run for ever."""
    seen: set[tuple[int, int]] = set()
    stack = [str(top)]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:  # unreadable or a dangling link: nothing of it can be loaded
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        files, subfolders = [], []
        for e in entries:
            try:
                if e.is_dir():
                    subfolders.append(e.name)
                elif e.is_file():  # (not a pipe or a device: opening one could wait for ever)
                    files.append(e.name)
            except OSError:
                continue  # a link loop or a file removed meanwhile
        yield folder, files
        stack.extend(os.path.join(folder, d) for d in reversed(subfolders))


def _shape_words(shape: tuple[tuple[int, int], int | None]) -> str:
    (w, h), channels = shape
    return f"{h} x {w} (h x w)" + (f" with {channels} channel(s)" if channels else "")


class ImageFolder(Dataset):
    """Images in ``root/<class>/<file>``, classes in sorted folder-name order.

    Args:
        root: the folder of class folders.
        transform: applied to each image (a uint8 array).
        target_transform: applied to each class index.
        size: (h, w) or an int: every image is resized to it (None: keep sizes; then only
            batch size 1 or a size-equalising transform will stack).
        mode: Pillow mode to convert to: "RGB" (default), "L" (greyscale), "RGBA", or None
            to keep each file's own.
        extensions: file endings that count as images.
        is_valid_file: alternatively, a function that says whether a path is an image.
        preload: read every image once, now, into one array (needs ``size``): later epochs
            then cost no decoding and take the DataLoader's fast path.
    """

    def __init__(self, root: str | Path, transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None,
                 size: int | tuple[int, int] | None = None, mode: str | None = "RGB",
                 extensions: tuple[str, ...] | None = IMG_EXTENSIONS,
                 is_valid_file: Callable[[str], bool] | None = None,
                 preload: bool = False) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise DatasetNotFoundError(f"ImageFolder: {self.root} is not a folder")
        self.classes = sorted(e.name for e in os.scandir(self.root) if e.is_dir())
        if not self.classes:
            raise DatasetNotFoundError(f"ImageFolder: no class folders in {self.root}; put each "
                                       f"class's images in a sub-folder named after the class")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        if is_valid_file is None:
            exts = tuple(e.lower() for e in (extensions or ()))
            is_valid_file = lambda p: p.lower().endswith(exts)  # noqa: E731
        self.samples: list[tuple[str, int]] = []
        empty = []
        for cls in self.classes:
            found = 0
            for dirpath, files in sorted(_walk_once(self.root / cls)):  # torchvision's order
                for name in files:
                    path = os.path.join(dirpath, name)
                    if is_valid_file(path):
                        self.samples.append((path, self.class_to_idx[cls]))
                        found += 1
            if not found:
                empty.append(cls)
        if empty:
            raise DatasetNotFoundError(
                f"Found no valid file for the classes {', '.join(sorted(empty))} in {self.root}. "
                f"Supported extensions are: {', '.join(extensions or ())}")
        self.imgs = self.samples
        self.targets = [t for _, t in self.samples]
        self.size = (size, size) if isinstance(size, int) else size
        self.mode = mode
        if self.size is None and transform is None:  # a transform may make the sizes equal
            self._check_same_size()
        self.transform = transform
        self.target_transform = target_transform
        self._preloaded: ArrayDataset | None = None
        if preload:
            if self.size is None:
                raise ValueError("ImageFolder(preload=True) needs size= so the images stack")
            images = np.stack([load_image(p, mode, self.size) for p, _ in self.samples])
            self._preloaded = ArrayDataset(images, np.asarray(self.targets, dtype=np.int64),
                                           transform, target_transform)

    def _check_same_size(self) -> None:
        """Without ``size`` (or a transform) the images only stack into batches when they share
        their size (and, with ``mode=None``, their channels): say which two files differ, now
        rather than at the first batch."""
        first: tuple[str, Any] | None = None
        for path, _ in self.samples:
            with _open_image(path) as img:
                shape = (img.size, None if self.mode is not None else len(img.getbands()))
            if first is None:
                first = (path, shape)
            elif shape != first[1]:
                fix = "pass size=(h, w) (e.g. size=32) to resize them all"
                if shape[0] == first[1][0]:
                    fix = "pass mode='RGB' or mode='L' to convert them all"
                raise DatasetFormatError(
                    f"ImageFolder: {path} is {_shape_words(shape)} but {first[0]} is "
                    f"{_shape_words(first[1])}; images that differ cannot form a batch: {fix}")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        if self._preloaded is not None:
            self._preloaded.transform = self.transform
            self._preloaded.target_transform = self.target_transform
            return self._preloaded[index]
        path, target = self.samples[index]
        img = load_image(path, self.mode, self.size)
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def get_batch(self, indices: Any) -> Any:
        if self._preloaded is None:
            return None
        self._preloaded.transform = self.transform
        self._preloaded.target_transform = self.target_transform
        return self._preloaded.get_batch(indices)

    def __repr__(self) -> str:
        return (f"Dataset ImageFolder\n    Number of datapoints: {len(self)}\n"
                f"    Root location: {self.root}\n    Classes: {self.classes}")
