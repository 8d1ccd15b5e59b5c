"""The layers, losses and functions added for PyTorch programs (cells, attention and
Transformers, more activations, norms, padding, pixel shuffle, parameter containers, more
losses): each against PyTorch with the same weights, through the one reference helper."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from torch_reference import assert_like_torch, check, check_module, module_pair, torch_or_skip

import engine
import engine.nn as nn

RNG = np.random.default_rng(3)
POS = RNG.uniform(0.2, 2.0, (3, 4))
PROB = RNG.dirichlet(np.ones(4), size=3)
LOGP = np.log(RNG.dirichlet(np.ones(4), size=3))
SIGNS = np.array([1.0, -1.0, 1.0])

FUNCTIONAL = [
    ("softplus", lambda F, x: F.softplus(x, beta=2.0, threshold=3.0), [(3, 4)]),
    ("hardtanh", lambda F, x: F.hardtanh(x, -0.5, 0.7), [(3, 4)]),
    ("relu6", lambda F, x: F.relu6(x * 5), [(3, 4)]),
    ("mish", lambda F, x: F.mish(x), [(3, 4)]),
    ("glu", lambda F, x: F.glu(x, dim=1), [(3, 4)]),
    ("logsigmoid", lambda F, x: F.logsigmoid(x * 10), [(3, 4)]),
    ("gelu_tanh", lambda F, x: F.gelu(x, approximate="tanh"), [(3, 4)]),
    ("hardswish", lambda F, x: F.hardswish(x * 3), [(3, 4)]),
    ("hardsigmoid", lambda F, x: F.hardsigmoid(x * 3), [(3, 4)]),
    ("selu", lambda F, x: F.selu(x), [(3, 4)]),
    ("celu", lambda F, x: F.celu(x, 0.5), [(3, 4)]),
    ("softsign", lambda F, x: F.softsign(x), [(3, 4)]),
    ("tanhshrink", lambda F, x: F.tanhshrink(x), [(3, 4)]),
    ("softmin", lambda F, x: F.softmin(x, dim=1), [(3, 4)]),
    ("threshold", lambda F, x: F.threshold(x, 0.1, -2.0), [(3, 4)]),
    ("prelu", lambda F, x, w: F.prelu(x, w), [(2, 3, 4), np.array([0.1, 0.2, 0.3])]),
    ("normalize", lambda F, x: F.normalize(x, dim=1), [(3, 4)]),
    ("normalize_p1", lambda F, x: F.normalize(x, p=1.0, dim=0), [(3, 4)]),
    ("cosine_similarity", lambda F, a, b: F.cosine_similarity(a, b), [(3, 4), (3, 4)]),
    ("cosine_similarity_dim", lambda F, a, b: F.cosine_similarity(a, b, dim=-1),
     [(2, 3, 4), (2, 3, 4)]),
    ("pairwise_distance", lambda F, a, b: F.pairwise_distance(a, b), [(3, 4), (3, 4)]),
    ("pairwise_distance_p1", lambda F, a, b: F.pairwise_distance(a, b, p=1.0, keepdim=True),
     [(3, 4), (3, 4)]),
    ("sdpa", lambda F, q, k, v: F.scaled_dot_product_attention(q, k, v),
     [(2, 3, 4), (2, 5, 4), (2, 5, 6)]),
    ("sdpa_causal", lambda F, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
     [(2, 4, 3), (2, 4, 3), (2, 4, 3)]),
    ("sdpa_bool_mask", lambda F, q, k, v, m: F.scaled_dot_product_attention(q, k, v, m),
     [(1, 3, 4), (1, 3, 4), (1, 3, 2), np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1]], bool)]),
    ("sdpa_float_mask", lambda F, q, k, v, m: F.scaled_dot_product_attention(q, k, v, m,
                                                                              scale=0.3),
     [(1, 3, 4), (1, 3, 4), (1, 3, 2), (3, 3)]),
    ("pixel_shuffle", lambda F, x: F.pixel_shuffle(x, 2), [(2, 8, 2, 3)]),
    ("pixel_unshuffle", lambda F, x: F.pixel_unshuffle(x, 2), [(1, 2, 4, 6)]),
    ("unfold", lambda F, x: F.unfold(x, 2), [(2, 3, 4, 5)]),
    ("unfold_opts", lambda F, x: F.unfold(x, (2, 3), dilation=(1, 2), padding=1, stride=2),
     [(1, 2, 5, 6)]),
    ("fold", lambda F, x: F.fold(x, (4, 5), 2), [(2, 12, 12)]),
    ("instance_norm", lambda F, x: F.instance_norm(x), [(2, 3, 5)]),
    ("smooth_l1", lambda F, a, b: F.smooth_l1_loss(a, b, beta=0.5), [(3, 4), (3, 4)]),
    ("smooth_l1_sum", lambda F, a, b: F.smooth_l1_loss(a, b, reduction="sum"), [(3, 4), (3, 4)]),
    ("huber", lambda F, a, b: F.huber_loss(a, b, delta=0.7), [(3, 4), (3, 4)]),
    ("huber_none", lambda F, a, b: F.huber_loss(a, b, reduction="none"), [(3, 4), (3, 4)]),
    ("kl_div", lambda F, a, b: F.kl_div(a, b, reduction="batchmean"), [LOGP, PROB]),
    ("kl_div_log_target", lambda F, a, b: F.kl_div(a, b, reduction="sum", log_target=True),
     [LOGP, LOGP[::-1].copy()]),
    # where a target is 0 PyTorch's target gradient is NaN (d/db of b log b); the engine gives
    # 0, so only the input's gradient is compared
    ("kl_div_zero_target", lambda F, a, b: F.kl_div(a, (b * (b > 0.2)).detach()), [LOGP, PROB]),
    ("cosine_embedding", lambda F, a, b, y: F.cosine_embedding_loss(a, b, y, margin=0.1),
     [(3, 4), (3, 4), SIGNS]),
    ("triplet", lambda F, a, p, n: F.triplet_margin_loss(a, p, n, margin=2.0),
     [(3, 4), (3, 4), (3, 4)]),
    ("triplet_swap", lambda F, a, p, n: F.triplet_margin_loss(a, p, n, p=1.0, swap=True),
     [(3, 4), (3, 4), (3, 4)]),
    ("margin_ranking", lambda F, a, b, y: F.margin_ranking_loss(a, b, y, margin=0.3),
     [(3,), (3,), SIGNS]),
    ("poisson_nll", lambda F, a, b: F.poisson_nll_loss(a, b), [(3, 4), POS]),
    ("poisson_nll_full", lambda F, a, b: F.poisson_nll_loss(a, b, log_input=False, full=True),
     [POS, POS * 3]),
    ("soft_margin", lambda F, a, y: F.soft_margin_loss(a, y.detach()), [(3,), SIGNS]),
]


# A detached target: finite differences would move it, autograd rightly does not.
DETACHED = {"kl_div_zero_target", "soft_margin"}


@pytest.mark.parametrize("case", FUNCTIONAL, ids=[c[0] for c in FUNCTIONAL])
def test_functional_matches_torch(case) -> None:
    name, fn, inputs = case
    check(lambda m, *xs: fn(m.nn.functional, *xs), inputs, rtol=1e-7, atol=1e-9,
          gradcheck=False if name in DETACHED else None)


MODULES: list[tuple[str, tuple[Any, ...], dict[str, Any], list[Any]]] = [
    ("PReLU", (), {}, [(2, 3)]),
    ("PReLU", (3,), {"init": 0.1}, [(2, 3, 4)]),
    ("Softplus", (), {"beta": 2.0}, [(3, 4)]),
    ("Hardtanh", (-2.0, 2.0), {}, [(3, 4)]),
    ("ReLU6", (), {}, [(3, 4)]),
    ("Mish", (), {}, [(3, 4)]),
    ("Hardswish", (), {}, [(3, 4)]),
    ("SELU", (), {}, [(3, 4)]),
    ("GLU", (), {}, [(3, 4)]),
    ("LogSigmoid", (), {}, [(3, 4)]),
    ("Softmin", (), {"dim": 1}, [(3, 4)]),
    ("InstanceNorm1d", (3,), {}, [(2, 3, 5)]),
    ("InstanceNorm1d", (3,), {"affine": True}, [(3, 5)]),
    ("InstanceNorm2d", (3,), {"affine": True}, [(2, 3, 4, 4)]),
    ("ZeroPad2d", (1,), {}, [(1, 2, 3, 3)]),
    ("ZeroPad2d", ((1, 0, 2, 1),), {}, [(1, 2, 3, 3)]),
    ("ConstantPad1d", (2, 3.5), {}, [(2, 3, 4)]),
    ("ConstantPad2d", ((1, 2, 0, 1), -1.0), {}, [(1, 2, 3, 3)]),
    ("ReflectionPad1d", (2,), {}, [(2, 3, 4)]),
    ("ReflectionPad2d", ((1, 0, 2, 1),), {}, [(1, 2, 3, 3)]),
    ("ReplicationPad1d", ((1, 3),), {}, [(2, 3, 4)]),
    ("ReplicationPad2d", (1,), {}, [(1, 2, 3, 3)]),
    ("PixelShuffle", (2,), {}, [(1, 8, 2, 2)]),
    ("PixelUnshuffle", (2,), {}, [(1, 2, 4, 4)]),
    ("RNNCell", (3, 4), {}, [(2, 3)]),
    ("RNNCell", (3, 4), {"nonlinearity": "relu", "bias": False}, [(2, 3), (2, 4)]),
    ("LSTMCell", (3, 4), {}, [(2, 3)]),
    ("GRUCell", (3, 4), {}, [(2, 3), (2, 4)]),
    ("GRUCell", (3, 4), {}, [(3,)]),
    ("MultiheadAttention", (8, 2), {}, [(4, 2, 8), (5, 2, 8), (5, 2, 8)]),
    ("MultiheadAttention", (8, 2), {"batch_first": True, "kdim": 3, "vdim": 5},
     [(2, 4, 8), (2, 5, 3), (2, 5, 5)]),
    ("MultiheadAttention", (6, 3), {"add_bias_kv": True, "add_zero_attn": True, "bias": False},
     [(4, 2, 6), (3, 2, 6), (3, 2, 6)]),
    ("MultiheadAttention", (4, 1), {}, [(3, 4), (3, 4), (3, 4)]),
    ("TransformerEncoderLayer", (8, 2, 16), {"dropout": 0.0}, [(4, 2, 8)]),
    ("TransformerEncoderLayer", (8, 2, 16), {"dropout": 0.0, "batch_first": True,
                                             "norm_first": True, "activation": "gelu"},
     [(2, 4, 8)]),
    ("TransformerDecoderLayer", (8, 2, 16), {"dropout": 0.0}, [(3, 2, 8), (4, 2, 8)]),
    ("TransformerDecoderLayer", (8, 2, 16), {"dropout": 0.0, "norm_first": True},
     [(3, 2, 8), (4, 2, 8)]),
    ("Transformer", (), {"d_model": 8, "nhead": 2, "num_encoder_layers": 2,
                         "num_decoder_layers": 1, "dim_feedforward": 16, "dropout": 0.0},
     [(4, 2, 8), (3, 2, 8)]),
]


@pytest.mark.parametrize("case", MODULES, ids=[f"{c[0]}{i}" for i, c in enumerate(MODULES)])
def test_modules_match_torch(case) -> None:
    name, args, kwargs, inputs = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's nested-tensor advice
        emod, tmod = module_pair(name, *args, **kwargs)
    assert list(emod.state_dict()) == list(tmod.state_dict())
    check_module(emod, tmod, inputs, rtol=1e-9, atol=1e-10)
    if name not in ("InstanceNorm1d", "InstanceNorm2d"):  # PyTorch 2.13's repr adds a field
        assert repr(emod) == repr(tmod)


def _encoder(m: Any, n: int = 2) -> Any:
    layer = m.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m.nn.TransformerEncoder(layer, n, norm=m.nn.LayerNorm(8))


@pytest.mark.parametrize("masks", ["causal", "padding", "both"])
def test_encoder_masks_match_torch(masks: str) -> None:
    emod, tmod = module_pair(_encoder)
    causal = np.triu(np.full((4, 4), -np.inf), 1)
    pad = np.array([[False, False, False, True], [False, False, True, True]])
    emod.eval(), tmod.eval()

    def run(mod, x, m):
        mask = m.tensor(causal) if masks in ("causal", "both") else None
        kpm = m.tensor(pad) if masks in ("padding", "both") else None
        return mod(x, mask=mask, src_key_padding_mask=kpm)

    check_module(emod, tmod, [(2, 4, 8)], call=lambda mod, x: run(
        mod, x, engine if mod is emod else torch_or_skip()), rtol=1e-9, atol=1e-10)


def test_attention_weights_and_bool_masks_match_torch() -> None:
    emod, tmod = module_pair("MultiheadAttention", 6, 3)
    attn = np.array([[False, True, True], [False, False, True], [False, False, False]])

    def run(mod, q):
        m = engine if mod is emod else torch_or_skip()
        return mod(q, q, q, attn_mask=m.tensor(attn), average_attn_weights=False)

    check_module(emod, tmod, [(3, 2, 6)], call=run, rtol=1e-9, atol=1e-10)
    check_module(emod, tmod, [(3, 2, 6)], call=lambda mod, q: mod(q, q, q, need_weights=False),
                 rtol=1e-9, atol=1e-10)


def test_square_subsequent_mask_and_causal_flag() -> None:
    torch = torch_or_skip()
    assert_like_torch(engine.nn.Transformer.generate_square_subsequent_mask(4),
                      torch.nn.Transformer.generate_square_subsequent_mask(4))
    emod, tmod = module_pair("MultiheadAttention", 4, 2)
    mask = np.triu(np.full((3, 3), -np.inf), 1)
    outs = []
    for m, mod in ((engine, emod), (torch, tmod)):
        x = m.tensor(np.random.default_rng(0).standard_normal((3, 1, 4)))
        outs.append(mod(x, x, x, attn_mask=m.tensor(mask), need_weights=False)[0])
    ours = emod(engine.tensor(np.random.default_rng(0).standard_normal((3, 1, 4))),
                *(engine.tensor(np.random.default_rng(0).standard_normal((3, 1, 4))),) * 2,
                is_causal=True, need_weights=False)[0]
    assert_like_torch(outs[0], outs[1], rtol=1e-9)
    assert_like_torch(ours, outs[1], rtol=1e-9)


def test_parameter_list_and_dict_like_torch() -> None:
    torch = torch_or_skip()
    mods = []
    for m in (engine, torch):
        mod = m.nn.Module()
        mod.plist = m.nn.ParameterList([m.nn.Parameter(m.ones(2, 3)), m.zeros(4)])
        mod.plist.append(m.nn.Parameter(m.ones(1)))
        mod.pdict = m.nn.ParameterDict({"a": m.nn.Parameter(m.ones(2)), "b": m.zeros(3)})
        mod.pdict["c"] = m.nn.Parameter(m.ones(1))
        mods.append(mod)
    e, t = mods
    assert list(e.state_dict()) == list(t.state_dict())
    assert [tuple(p.shape) for p in e.parameters()] == [tuple(p.shape) for p in t.parameters()]
    assert len(e.plist) == 3 and isinstance(e.plist[1], nn.Parameter) and "c" in e.pdict
    assert list(e.pdict.keys()) == ["a", "b", "c"] and e.pdict.get("z") is None


def test_dropout_variants_like_torch() -> None:
    torch = torch_or_skip()
    for m in (engine, torch):
        with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
            out = m.nn.Dropout2d(0.5)(m.ones(40, 30))
        assert 0 < int((out == 0).sum()) < 1200 and set(out.unique().tolist()) <= {0.0, 2.0}
        y = m.nn.Dropout1d(0.5)(m.ones(4, 6, 5))
        per_channel = y.sum(-1)
        assert bool(((per_channel == 0) | (per_channel == 10)).all())
    e = engine.nn.Dropout1d(0.5)
    e.eval()
    assert engine.equal(e(engine.ones(2, 3)), engine.ones(2, 3))


def test_init_eye_and_dirac_like_torch() -> None:
    torch = torch_or_skip()
    for shape in ((3, 5), (4, 2)):
        assert_like_torch(engine.nn.init.eye_(engine.empty(*shape)),
                          torch.nn.init.eye_(torch.empty(*shape)))
    assert_like_torch(engine.nn.init.dirac_(engine.empty(4, 2, 3, 3), groups=2),
                      torch.nn.init.dirac_(torch.empty(4, 2, 3, 3), groups=2))
