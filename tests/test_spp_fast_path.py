"""SPP's fast path (`spp_kernel=fused`) against the eager attention probabilities.

The fused path keeps the encoder on sdpa and computes SPP's column means from each SPP layer's queries
and keys (`selfre.model.spp.AttentionSummaryProbe`). It must give the eager path's α, L_spp and the
gradients of L_spp w.r.t. every encoder parameter to 1e-5, with padding and for subsets of layers.
Both models are built from the same folder with the same seed, so they share every weight.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from selfre.config import ModelConfig
from selfre.data.record import RelationRecord
from selfre.encoding import RelationEncoder, collate
from selfre.errors import ConfigError
from selfre.model.build import build_for_training
from selfre.model.presets import build_tiny_encoder
from selfre.model.spp import (
    AttentionSummaryProbe,
    _ColumnSoftmaxSum,
    column_mean_attention,
    column_mean_from_queries_keys,
)

MARKER = "typed_entity_marker_punct"
LAYERS = 3
TEXTS = [
    "@ * person * Bill Gates @ founded # ^ organization ^ Microsoft # in 1975 .",
    "# ^ organization ^ Microsoft # was founded by @ * person * Bill Gates @ .",
    "@ Alice Smith @ works for # Acme Corp # in the city of Paris and London .",
] * 2
RECORDS = [
    RelationRecord("r0", ("Bill", "Gates", "founded", "Microsoft", "."), 0, 1, 3, 3, "x", "PERSON", "ORGANIZATION"),
    RelationRecord(
        "r1",
        ("In", "1975", ",", "Zyxwv", "Qrstu", "started", "a", "company", "called", "Acme", "Widgets", "."),
        3,
        4,
        9,
        10,
        "x",
        "PERSON",
        "ORGANIZATION",
    ),
    RelationRecord(
        "r2",
        ("Alice", "Smith", "works", "for", "Acme", "Corp", "in", "Paris", "."),
        0,
        1,
        4,
        5,
        "x",
        "PERSON",
        "ORGANIZATION",
    ),
]


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    """Random RoBERTa, 3 layers (so layer subsets mean something), 4 heads, no dropout anywhere."""
    return build_tiny_encoder(
        TEXTS,
        tmp_path_factory.mktemp("fast-path-encoder"),
        hidden_size=32,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        intermediate_size=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )


def build(encoder_dir, kernel: str, **overrides):
    cfg = ModelConfig(model_name_or_path=str(encoder_dir), dropout=0.0, spp_kernel=kernel, **overrides)
    torch.manual_seed(0)
    return build_for_training(cfg, MARKER, 3, RECORDS)


def make_batch(tokenizer) -> dict[str, torch.Tensor]:
    examples, _ = RelationEncoder(tokenizer, MARKER, max_seq_length=64).encode(RECORDS)
    batch = collate(examples, tokenizer.pad_token_id)
    batch.pop("index")
    batch["labels"] = torch.tensor([0, 2, 1])
    lengths = batch["attention_mask"].sum(-1)
    assert lengths.min() < lengths.max()  # padding is part of the test
    return batch


def pair(encoder_dir, **overrides):
    eager, tok = build(encoder_dir, "eager", **overrides)
    fused, _ = build(encoder_dir, "fused", **overrides)
    for (name, a), (_, b) in zip(eager.state_dict().items(), fused.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    return eager, fused, make_batch(tok)


def spp_grads(model, batch) -> tuple[object, dict[str, torch.Tensor]]:
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(**batch)
    out.loss_spp.backward()
    grads = {n: p.grad.clone() for n, p in model.encoder.named_parameters() if p.grad is not None}
    return out, grads


def test_kernels_eager_vs_sdpa(encoder_dir):
    eager, fused, _ = pair(encoder_dir, use_spp=True, use_hr=True)
    assert eager.encoder.config._attn_implementation == "eager"
    assert fused.encoder.config._attn_implementation == "sdpa"  # the fast path keeps the fused kernel
    assert eager.spp_probe is None and fused.spp_probe is not None


@pytest.mark.parametrize("spp_layers", ["all", "last", "1,3", "2"])
@pytest.mark.parametrize("use_hr", [False, True], ids=["+SPP", "SELF"])
def test_fused_equals_eager_values_and_encoder_gradients(encoder_dir, spp_layers, use_hr):
    # renormalize + smooth: L_spp ≈ 2 nats, so its gradients are large and the comparison is not vacuous.
    kw = dict(use_spp=True, use_hr=use_hr, spp_layers=spp_layers, spp_alpha="renormalize", spp_target="smooth")
    eager, fused, batch = pair(encoder_dir, **kw)
    out_e, grads_e = spp_grads(eager, batch)
    out_f, grads_f = spp_grads(fused, batch)
    # α with spp_alpha=renormalize is α' itself: the attention summary compared directly.
    torch.testing.assert_close(out_f.alpha, out_e.alpha, rtol=0, atol=1e-5)
    assert torch.all(out_f.alpha[batch["attention_mask"] == 0] == 0)
    torch.testing.assert_close(out_f.loss_spp, out_e.loss_spp, rtol=0, atol=1e-5)
    torch.testing.assert_close(out_f.logits, out_e.logits, rtol=0, atol=1e-5)
    assert grads_f.keys() == grads_e.keys()
    for name in grads_e:
        torch.testing.assert_close(grads_f[name], grads_e[name], rtol=0, atol=1e-5, msg=name)
    # SPP's gradient reaches the encoder (it is a training loss) ...
    read = {"all": [1, 2, 3], "last": [3], "1,3": [1, 3], "2": [2]}[spp_layers]
    for layer in read:
        assert grads_f[f"encoder.layer.{layer - 1}.attention.self.query.weight"].abs().max() > 1e-4
    # ... and only through the layers it reads: nothing above the last SPP layer gets any.
    for layer in range(max(read), LAYERS):
        above = [g for n, g in grads_f.items() if n.startswith(f"encoder.layer.{layer}.")]
        assert all(g.abs().max() == 0 for g in above)  # (untouched parameters have no .grad at all)


@pytest.mark.parametrize("spp_layers", ["all", "2"])
def test_fused_equals_eager_default_switches_full_loss(encoder_dir, spp_layers):
    """Paper defaults (softmax α and target, manual λ): the total loss and every parameter's gradient."""
    eager, fused, batch = pair(encoder_dir, use_spp=True, use_hr=True, spp_layers=spp_layers)
    for model in (eager, fused):
        model.train()
        model.zero_grad(set_to_none=True)
    out_e, out_f = eager(**batch), fused(**batch)
    out_e.loss.backward()
    out_f.loss.backward()
    torch.testing.assert_close(out_f.alpha, out_e.alpha, rtol=0, atol=1e-6)
    torch.testing.assert_close(out_f.loss, out_e.loss, rtol=0, atol=1e-5)
    for (name, pe), (_, pf) in zip(eager.named_parameters(), fused.named_parameters(), strict=True):
        torch.testing.assert_close(pf.grad, pe.grad, rtol=0, atol=1e-5, msg=name)


def test_inference_captures_nothing(encoder_dir):
    _, fused, batch = pair(encoder_dir, use_spp=True, use_hr=False)
    fused.eval()
    with torch.no_grad():
        out = fused(**batch)
        assert out.loss_spp is None and fused.spp_probe._captured is None
        out = fused(**batch, with_spp=True)  # SPP on demand at eval time works too
    assert out.alpha.shape == batch["input_ids"].shape
    assert fused.spp_probe._captured is None  # nothing kept between calls


def test_deepcopy_probe_follows_the_copy(encoder_dir):
    _, fused, batch = pair(encoder_dir, use_spp=True, use_hr=False)
    clone = copy.deepcopy(fused)
    assert clone.spp_probe is not fused.spp_probe
    fused.train()
    clone.train()
    torch.testing.assert_close(clone(**batch).loss_spp, fused(**batch).loss_spp)


# ---------------------------------------------------------------------------------------------------
# the column-sum kernel on its own


def random_qk(batch=2, heads=3, n=7, d=4, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, heads, n, d, generator=g, dtype=dtype, requires_grad=True)
    k = torch.randn(batch, heads, n, d, generator=g, dtype=dtype, requires_grad=True)
    mask = torch.tensor([[1] * n, [1] * (n - 3) + [0] * 3])
    return q, k, mask


def eager_probs(q, k, mask, scale):
    s = q @ k.transpose(-1, -2) * scale
    s = s.masked_fill(mask[:, None, None, :] == 0, torch.finfo(s.dtype).min)  # transformers' eager mask
    return torch.softmax(s, dim=-1)


def test_column_mean_from_queries_keys_matches_eager_probabilities():
    q, k, mask = random_qk(dtype=torch.float32)
    scale = 0.5
    layers = [(q, k, scale), (q * 0.7, k.flip(-2), scale)]
    fused = column_mean_from_queries_keys(layers, mask)
    eager = column_mean_attention([eager_probs(a, b, mask, scale) for a, b, _ in layers], mask)
    torch.testing.assert_close(fused, eager, rtol=0, atol=1e-6)
    g = torch.randn_like(fused)
    gq_f, gk_f = torch.autograd.grad((fused * g).sum(), (q, k), retain_graph=True)
    gq_e, gk_e = torch.autograd.grad((eager * g).sum(), (q, k))
    torch.testing.assert_close(gq_f, gq_e, rtol=0, atol=1e-5)
    torch.testing.assert_close(gk_f, gk_e, rtol=0, atol=1e-5)


def test_column_softmax_sum_gradcheck():
    q, k, mask = random_qk()
    rows = mask.double()
    bias = torch.zeros_like(rows).masked_fill(mask == 0, float("-inf"))
    assert torch.autograd.gradcheck(lambda a, b: _ColumnSoftmaxSum.apply(a, b, bias, rows, 0.5), (q, k))


def test_unsupported_encoder_is_refused():
    class Decoderish(nn.Module):
        config = type("Cfg", (), {"num_hidden_layers": 2})()

        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(4, 4)

    with pytest.raises(ConfigError, match="spp_kernel=eager"):
        AttentionSummaryProbe(Decoderish(), [0, 1])
