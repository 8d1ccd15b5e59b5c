"""Export of trained graphs: weights as safetensors / npz (PyTorch ``state_dict`` names), the model
as ONNX (opset 17) or as readable PyTorch code, and import of PyTorch-produced weights.

Every format reads the layer registry, so a layer declared once exports everywhere.
"""

from __future__ import annotations

from .errors import ExportError, WeightsError
from .normalization import Normalization
from .onnx_export import build_onnx, export_onnx
from .pytorch_code import export_pytorch, pytorch_source
from .weights import check_state, load_weights, read_weights, save_weights, to_numpy_state

FORMATS = ("safetensors", "npz", "onnx", "pytorch")

__all__ = [
    "FORMATS", "ExportError", "Normalization", "WeightsError", "build_onnx", "check_state",
    "export_onnx", "export_pytorch", "load_weights", "pytorch_source", "read_weights",
    "save_weights", "to_numpy_state",
]
