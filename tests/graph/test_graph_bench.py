"""The graph benchmark still runs and still measures the worst case it claims to."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from engine.graph import validate

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "graph_bench.py"


def _bench() -> object:
    spec = importlib.util.spec_from_file_location("graph_bench", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_the_benchmark_graph_is_large_valid_and_all_downstream(
        capsys: pytest.CaptureFixture) -> None:
    bench = _bench()
    g = bench.residual_cnn(500)
    assert 490 <= len(g) <= 500 and validate(g) == []
    g.infer()
    g.set_param("image", "shape", [16, 30, 30])  # every shape below moves
    g.infer()
    assert g._shapes.recomputed >= len(g) - 4
    assert bench.main(["--nodes", "60", "--repeat", "2", "--no-process"]) == 0
    out = capsys.readouterr().out
    for label in ("validate (from dict, cold)", "summary (load file + table + check)",
                  "re-infer after Input edit", "re-infer after Dropout edit"):
        assert label in out
