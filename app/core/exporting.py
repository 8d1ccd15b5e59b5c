"""Export a project's trained weights (shared by ``layerforge export`` and the window's dialog).

An export never destroys what it exports from: an output path that is the project file or the
weights being read is refused before anything is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.export import (
    FORMATS,
    Normalization,
    WeightsError,
    export_onnx,
    export_pytorch,
    load_weights,
    save_weights,
    to_numpy_state,
)
from engine.graph import compile_graph

from .errors import ExportRefusedError
from .paths import input_file
from .project import Project
from .runs import latest_weights

SUFFIX = {"safetensors": ".safetensors", "npz": ".npz", "onnx": ".onnx"}


def trained_state(project: Project, weights: str | Path | None = None) -> dict[str, Any]:
    """The state dict of the project's compiled graph loaded from ``weights`` (default: the
    latest run), checked name by name and shape by shape."""
    path = Path(weights) if weights is not None else latest_weights(project)
    if path is None:
        raise WeightsError("the project has no trained weights yet; train it first "
                           "('layerforge train') or give --weights FILE")
    model = compile_graph(project.graph)
    load_weights(model, input_file(path, "--weights"))
    return to_numpy_state(model.state_dict())


def export_targets(fmt: str, output: str | Path) -> tuple[Path, ...]:
    """The files an export of ``fmt`` to ``output`` writes (``pytorch``: ``model.py`` and its
    weights, in the folder ``output`` or next to ``output`` when it names a .py file).

    An output whose extension is another format's is refused rather than obeyed: "mlp.onnx"
    for PyTorch code would otherwise become a folder of that name, and weights written to
    "m.onnx" are not an ONNX model whatever the name says.
    """
    output = Path(output)
    suffix = output.suffix.lower()
    owner = next((f for f, ext in SUFFIX.items() if ext == suffix), None)
    if owner is not None and owner != fmt and not output.is_dir():
        wanted = ("a folder or a file name ending in .py" if fmt == "pytorch"
                  else f"a file name ending in {SUFFIX[fmt]}")
        raise ExportRefusedError(
            f"{output.name} is named like {owner} but the export format is {fmt}; "
            f"give {wanted}, or choose the {owner} format")
    if fmt == "pytorch":
        if suffix == ".py":
            return output, output.with_suffix(".safetensors")
        return output / "model.py", output / "weights.safetensors"
    if output.is_dir():
        return (output / f"model{SUFFIX[fmt]}",)
    return (output,)


def export_project(project: Project, fmt: str, output: str | Path,
                   weights: str | Path | None = None, normalization: bool = True) -> list[Path]:
    """Write the export of ``fmt`` to ``output``; returns the files written.

    ``safetensors``/``npz``: the weights under PyTorch state_dict names. ``onnx``: the model with
    its weights (and the training normalisation unless ``normalization`` is False).
    ``pytorch``: ``model.py`` plus its weights (see ``export_targets``).
    """
    if fmt not in FORMATS:
        raise ExportRefusedError(f"unknown export format {fmt!r}; choose one of "
                                 f"{', '.join(FORMATS)}")
    source = Path(weights) if weights is not None else latest_weights(project)
    targets = export_targets(fmt, output)
    _refuse_own_sources(targets, project, source)
    state = trained_state(project, source)
    norm = Normalization.from_settings(project.dataset.get("normalize"))
    if fmt == "pytorch":
        code, weights_path = targets
        code.parent.mkdir(parents=True, exist_ok=True)
        save_weights(state, weights_path)
        export_pytorch(project.graph, code, norm, weights_file=weights_path.name,
                       title=project.name)
        return [code, weights_path]
    (target,) = targets
    if not target.parent.is_dir():
        raise FileNotFoundError(f"the folder {target.parent} does not exist")
    if fmt == "onnx":
        return [export_onnx(project.graph, state, target, norm if normalization else None)]
    return [save_weights(state, target, fmt)]


def _refuse_own_sources(targets: tuple[Path, ...], project: Project,
                        weights: Path | None) -> None:
    sources = {"the project file": project.path, "the weights being exported": weights}
    for target in targets:
        for what, source in sources.items():
            if source is not None and _same(target, Path(source)):
                raise ExportRefusedError(
                    f"{target} is {what}; exporting there would overwrite it with the export. "
                    "Choose another output path (-o)")


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name one file (through links and relative parts)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False
