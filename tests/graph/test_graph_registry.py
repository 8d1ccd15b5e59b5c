"""The layer registry and typed parameters."""

from __future__ import annotations

import pytest
from torch_reference import torch_or_skip

import engine.nn as nn
from engine.graph import ParamError, ParamSpec, UnknownLayerError, all_specs, categories, get_spec
from engine.graph.registry import CATEGORY_ORDER


def test_every_declaration_is_complete() -> None:
    specs = all_specs()
    assert len(specs) >= 30
    for spec in specs:
        assert spec.category in CATEGORY_ORDER, spec.type
        assert spec.help.endswith("."), spec.type
        for p in spec.params:
            assert p.help, f"{spec.type}.{p.name} has no help"
            if not p.inferred and p.default is not None:
                p.coerce(p.default)  # every default passes its own rule
        for name in spec.face:
            assert spec.param(name) is not None, f"{spec.type} face {name}"
        if spec.type not in ("Input", "Output"):
            assert spec.onnx is not None, f"{spec.type} has no ONNX form"
            assert spec.module is not None or spec.call is not None
        if spec.module is not None:
            assert hasattr(nn, spec.module), f"engine.nn lacks {spec.module}"
            assert spec.module_args is not None


def test_module_names_match_pytorch() -> None:
    torch_nn = torch_or_skip().nn
    for spec in all_specs():
        if spec.module is not None:
            assert hasattr(torch_nn, spec.module), spec.module


def test_categories_follow_the_palette_order() -> None:
    cats = categories()
    assert list(cats) == [c for c in CATEGORY_ORDER if c in cats]
    assert [s.type for s in cats["Input/Output"]] == ["Input", "Output"]
    assert "Conv2d" in [s.type for s in cats["Convolution"]]
    assert sum(len(v) for v in cats.values()) == len(all_specs())


def test_unknown_layer_suggests_close_names() -> None:
    with pytest.raises(UnknownLayerError, match=r"unknown layer type 'Conv2D'.*Conv2d"):
        get_spec("Conv2D")


def test_defaults_do_not_store_inferred_parameters() -> None:
    assert get_spec("Linear").defaults() == {"out_features": 10, "bias": True}
    assert "in_channels" not in get_spec("Conv2d").defaults()


@pytest.mark.parametrize(("spec", "value", "expected"), [
    (ParamSpec("n", "int", 1, "h", min=1), 3, 3),
    (ParamSpec("n", "int", 1, "h", min=1), 4.0, 4),
    (ParamSpec("p", "float", 0.5, "h", min=0.0, max=1.0), 1, 1.0),
    (ParamSpec("b", "bool", True, "h"), False, False),
    (ParamSpec("m", "choice", "a", "h", choices=("a", "b")), "b", "b"),
    (ParamSpec("k", "ints", 3, "h", min=1, length=2), 5, 5),
    (ParamSpec("k", "ints", 3, "h", min=1, length=2), [2, 3], (2, 3)),
    (ParamSpec("pad", "ints", 0, "h", min=0, length=2, choices=("same",)), "same", "same"),
    (ParamSpec("s", "ints", (1,), "h", min=1, allow_minus_one=True), [-1, 4], (-1, 4)),
    (ParamSpec("s", "int", None, "h", optional=True), None, None),
])
def test_param_coercion_accepts(spec: ParamSpec, value: object, expected: object) -> None:
    assert spec.coerce(value) == expected


@pytest.mark.parametrize(("spec", "value", "message"), [
    (ParamSpec("n", "int", 1, "h", min=1), 0, r"fc1: n must be an integer >= 1, got 0"),
    (ParamSpec("n", "int", 1, "h", min=1), True, r"got True"),
    (ParamSpec("n", "int", 1, "h", min=1), 2.5, r"got 2.5"),
    (ParamSpec("p", "float", 0.5, "h", min=0.0, max=1.0), 1.5, r"a number in \[0, 1\], got 1.5"),
    (ParamSpec("e", "float", 1e-5, "h", min=0.0, min_exclusive=True), 0, r"a number > 0"),
    (ParamSpec("p", "float", 0.5, "h"), float("nan"), r"got nan"),
    (ParamSpec("m", "choice", "a", "h", choices=("a", "b")), "c", r"one of a, b, got 'c'"),
    (ParamSpec("k", "ints", 3, "h", min=1, length=2), [1, 2, 3],
     r"an integer >= 1 or a list of 2 integers >= 1"),
    (ParamSpec("s", "ints", (1,), "h", min=1, allow_minus_one=True), [-1, -1],
     r"one of them may be -1"),
    (ParamSpec("s", "int", 1, "h"), None, r"got null"),
])
def test_param_coercion_refuses_with_the_rule(spec: ParamSpec, value: object,
                                              message: str) -> None:
    with pytest.raises(ParamError, match=message):
        spec.coerce(value, "fc1")


def test_coerce_params_reports_unknown_and_inferred_keys() -> None:
    values, problems = get_spec("Linear").coerce_params(
        {"out_features": "ten", "in_features": 3, "color": "red"}, "fc1")
    assert values["out_features"] == 10  # falls back to the default
    names = [name for name, _ in problems]
    assert names == ["out_features", "in_features", "color"]
    assert "inferred from the incoming tensor" in problems[1][1]
    assert "unknown parameter 'color' for Linear (known: out_features, bias)" in problems[2][1]
