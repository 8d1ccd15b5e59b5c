"""Export a project's trained weights (shared by ``layerforge export`` and the GUI's dialog)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.export import (
    Normalization,
    WeightsError,
    export_onnx,
    export_pytorch,
    load_weights,
    save_weights,
    to_numpy_state,
)
from engine.graph import compile_graph

from .project import Project

SUFFIX = {"safetensors": ".safetensors", "npz": ".npz", "onnx": ".onnx"}


def trained_state(project: Project, weights: str | Path | None = None) -> dict[str, Any]:
    """The state dict of the project's compiled graph loaded from ``weights`` (default: the
    latest run), checked name by name and shape by shape."""
    path = Path(weights) if weights is not None else project.latest_weights()
    if path is None:
        raise WeightsError("the project has no trained weights yet; train it first "
                           "('layerforge train') or give --weights FILE")
    model = compile_graph(project.graph)
    load_weights(model, path)
    return to_numpy_state(model.state_dict())


def export_project(project: Project, fmt: str, output: str | Path,
                   weights: str | Path | None = None, normalization: bool = True) -> list[Path]:
    """Write the export of ``fmt`` to ``output``; returns the files written.

    ``safetensors``/``npz``: the weights under PyTorch state_dict names. ``onnx``: the model with
    its weights (and the training normalisation unless ``normalization`` is False).
    ``pytorch``: ``model.py`` plus ``weights.safetensors`` in the folder ``output`` (or next to
    ``output`` when it names a .py file).
    """
    if fmt not in ("safetensors", "npz", "onnx", "pytorch"):
        raise ValueError(f"unknown export format {fmt!r}")
    state = trained_state(project, weights)
    norm = Normalization.from_settings(project.dataset.get("normalize"))
    output = Path(output)
    if fmt == "pytorch":
        if output.suffix == ".py":
            folder, code = output.parent, output
        else:
            folder, code = output, output / "model.py"
        folder.mkdir(parents=True, exist_ok=True)
        weights_path = folder / (f"{code.stem}.safetensors" if output.suffix == ".py"
                                 else "weights.safetensors")
        save_weights(state, weights_path)
        export_pytorch(project.graph, code, norm, weights_file=weights_path.name,
                       title=project.name)
        return [code, weights_path]
    if output.is_dir():
        output = output / f"model{SUFFIX[fmt]}"
    if not output.parent.is_dir():
        raise FileNotFoundError(f"the folder {output.parent} does not exist")
    if fmt == "onnx":
        return [export_onnx(project.graph, state, output, norm if normalization else None)]
    return [save_weights(state, output, fmt)]
