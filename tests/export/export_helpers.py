"""Helpers of the export tests: run a graph in the engine, in ONNX Runtime and in PyTorch."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from torch_reference import torch_or_skip

import engine
from engine.export import Normalization, build_onnx, pytorch_source, save_weights, to_numpy_state
from engine.graph import Graph, compile

_counter = itertools.count()


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(float(np.abs(b).max()), 1e-12))


def engine_model(graph: Graph, seed: int = 0, warm_batches: int = 2) -> Any:
    """A compiled model in eval mode; a few training-mode passes first give BatchNorm running
    statistics that are not the trivial 0 and 1."""
    model = compile(graph, seed=seed)
    shape, dtype = model.input_types[0].shape, model.input_types[0].dtype
    with engine.no_grad():
        for _ in range(warm_batches):
            model(_batch(graph, 8, dtype, shape, np.random.default_rng(1)))
    return model.eval()


def _batch(graph: Graph, n: int, dtype: str, shape: tuple, rng: Any) -> Any:
    if dtype == "int64":
        vocab = min(int(node.values()[0]["num_embeddings"]) for node in
                    graph.nodes_of_type("Embedding"))
        return engine.from_numpy(rng.integers(0, vocab, (n, *shape)).astype(np.int64))
    return engine.from_numpy(rng.standard_normal((n, *shape)).astype(np.float32))


def run_engine(model: Any, x: np.ndarray) -> np.ndarray:
    with engine.no_grad():
        return model(engine.from_numpy(x)).numpy()


def run_onnx(graph: Graph, state: dict, x: np.ndarray, norm: Normalization | None = None) -> Any:
    ort = pytest.importorskip("onnxruntime")
    proto = build_onnx(graph, state, norm)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(proto.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    [inp] = sess.get_inputs()
    return sess.run(None, {inp.name: x})[0], proto


def load_generated(graph: Graph, state: dict, folder: Path,
                   norm: Normalization | None = None) -> Any:
    """Write model.py and weights.safetensors to ``folder`` and import the module."""
    torch_or_skip()
    (folder / "model.py").write_text(pytorch_source(graph, norm))
    save_weights(state, folder / "weights.safetensors")
    spec = importlib.util.spec_from_file_location(f"generated_{next(_counter)}",
                                                  folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def run_torch(module: Any, x: np.ndarray, preprocess: bool = False) -> np.ndarray:
    torch = torch_or_skip()

    model = module.load_model()
    t = torch.from_numpy(x)
    with torch.no_grad():
        return model(module.preprocess(t) if preprocess else t).numpy()


def state_of(model: Any) -> dict[str, np.ndarray]:
    return to_numpy_state(model.state_dict())


def sample(model: Any, graph: Graph, n: int = 5, seed: int = 3) -> np.ndarray:
    tt = model.input_types[0]
    return _batch(graph, n, tt.dtype, tt.shape, np.random.default_rng(seed)).numpy()
