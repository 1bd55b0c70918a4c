"""SELFModel's four ablation variants (docs/method.md §3-5) on a tiny random RoBERTa built offline.

What is checked: which parameters exist, which attention kernel the encoder is loaded with, what the
encoder is asked to return, that the SPP layers are the ones configured (against attentions taken from a
direct encoder call and averaged by a loop here), that the losses are assembled as Eq. 14 / Eq. 15 say,
and that every parameter gets a gradient (DDP requirement).
"""

from __future__ import annotations

import math

import pytest
import torch

from selfre.config import ModelConfig
from selfre.data.record import RelationRecord
from selfre.encoding import RelationEncoder, collate
from selfre.model.build import build_for_training, build_from_folders

MARKER = "typed_entity_marker_punct"
NUM_LABELS = 3
LAYERS, HIDDEN, HEADS = 2, 32, 2


def _record(rid: str, text: str, subj: tuple[int, int], obj: tuple[int, int]) -> RelationRecord:
    return RelationRecord(rid, tuple(text.split()), *subj, *obj, "x", "PERSON", "ORGANIZATION")


RECORDS = [
    _record("r0", "Bill Gates founded Microsoft .", (0, 1), (3, 3)),
    _record("r1", "In 1975 , Zyxwv Qrstu started a company called Acme Widgets .", (3, 4), (9, 10)),
]
LABELS = torch.tensor([0, 2])


def build(tiny_dir, marker: str = MARKER, **overrides):
    cfg = ModelConfig(model_name_or_path=str(tiny_dir), dropout=0.0, **overrides)
    torch.manual_seed(0)
    model, tokenizer = build_for_training(cfg, marker, NUM_LABELS, RECORDS)
    return model, tokenizer


def make_batch(tokenizer, marker: str = MARKER) -> dict[str, torch.Tensor]:
    examples, stats = RelationEncoder(tokenizer, marker, max_seq_length=64).encode(RECORDS)
    assert len(examples) == 2 and not stats.dropped
    batch = collate(examples, tokenizer.pad_token_id)
    batch["labels"] = LABELS
    assert batch["attention_mask"][0].sum() < batch["attention_mask"][1].sum()  # example 0 is padded
    return batch


def record_encoder_kwargs(model, monkeypatch) -> list[dict]:
    calls: list[dict] = []
    real = model.encoder.forward

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(model.encoder, "forward", spy)
    return calls


def param_names(model) -> set[str]:
    return {name for name, _ in model.named_parameters()}


def attn_impl(model) -> str:
    return model.encoder.config._attn_implementation


def ref_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    total = 0.0
    for row, y in zip(logits.tolist(), labels.tolist(), strict=True):
        z = sum(math.exp(v) for v in row)
        total += -(row[y] - math.log(z))
    return total / len(labels)


def hr_param_count(d: int, num_layers: int) -> int:
    s = num_layers + 1  # see tests/test_retainer.py::hr_param_formula for the derivation
    return 4 * (d * d + d) + 2 * d + s * (3 * d * d + 2 * d) + (s + 1) ** 2 * d + (s + 1)


# ---------------------------------------------------------------------------------------------------
# the four variants


def test_baseline_fast_kernel_no_extras(tiny_encoder_dir, monkeypatch):
    model, tok = build(tiny_encoder_dir, use_spp=False, use_hr=False)
    assert model.hr is None and model.spp is None and model.weighting is None
    names = param_names(model)
    assert not any(n.startswith(("hr.", "weighting.", "spp.")) for n in names)
    assert names == {f"encoder.{n}" for n, _ in model.encoder.named_parameters()} | {
        f"head.{n}" for n, _ in model.head.named_parameters()
    }
    assert attn_impl(model) == "sdpa"
    calls = record_encoder_kwargs(model, monkeypatch)
    model.train()
    out = model(**make_batch(tok))
    assert calls[-1]["output_attentions"] is False
    assert calls[-1]["output_hidden_states"] is False
    assert out.gate is None and out.alpha is None and out.loss_spp is None
    assert out.logits.shape == (2, NUM_LABELS)
    assert out.loss.item() == pytest.approx(out.loss_re.item())
    assert out.loss_re.item() == pytest.approx(ref_cross_entropy(out.logits, LABELS), rel=1e-5)
    assert model.loss_sigmas() == {}


def test_hr_variant_fast_kernel_with_hidden_states(tiny_encoder_dir, monkeypatch):
    model, tok = build(tiny_encoder_dir, use_spp=False, use_hr=True)
    assert attn_impl(model) == "sdpa"
    assert model.spp is None and model.weighting is None
    hr_params = sum(p.numel() for n, p in model.named_parameters() if n.startswith("hr."))
    assert hr_params == hr_param_count(HIDDEN, LAYERS)
    calls = record_encoder_kwargs(model, monkeypatch)
    model.train()
    batch = make_batch(tok)
    out = model(**batch)
    assert calls[-1]["output_attentions"] is False
    assert calls[-1]["output_hidden_states"] is True
    assert out.gate.shape == (2, batch["input_ids"].shape[1], LAYERS + 2)
    assert out.loss_spp is None and out.alpha is None
    assert out.loss.item() == pytest.approx(out.loss_re.item())


@pytest.mark.parametrize("use_hr", [False, True], ids=["+SPP", "SELF"])
def test_spp_variants_eager_attentions_only_when_training(tiny_encoder_dir, monkeypatch, use_hr):
    model, tok = build(tiny_encoder_dir, use_spp=True, use_hr=use_hr)
    assert attn_impl(model) == "eager"
    assert (model.hr is not None) is use_hr
    calls = record_encoder_kwargs(model, monkeypatch)
    batch = make_batch(tok)

    model.train()
    out = model(**batch)
    assert calls[-1]["output_attentions"] is True
    assert calls[-1]["output_hidden_states"] is use_hr
    assert out.loss_spp is not None and out.loss_spp.item() > 0
    assert out.alpha.shape == batch["input_ids"].shape

    model.eval()
    with torch.no_grad():
        out = model(**batch)
    assert calls[-1]["output_attentions"] is False  # SPP adds nothing to a prediction
    assert out.loss_spp is None and out.alpha is None
    assert out.loss.item() == pytest.approx(out.loss_re.item())

    with torch.no_grad():
        out = model(**batch, with_spp=True)  # explicit request at eval time
    assert calls[-1]["output_attentions"] is True
    assert out.loss_spp is not None


def test_spp_without_iel_raises(tiny_encoder_dir):
    model, tok = build(tiny_encoder_dir, use_spp=True, use_hr=False)
    batch = make_batch(tok)
    del batch["iel"]
    model.train()
    with pytest.raises(ValueError, match="IEL"):
        model(**batch)


# ---------------------------------------------------------------------------------------------------
# losses


def ref_spp_default(alpha: torch.Tensor, iel: torch.Tensor, mask: torch.Tensor) -> float:
    """KL(α || softmax(q)) over valid tokens, averaged over the batch, by loop."""
    total = 0.0
    for a_row, q_row, m_row in zip(alpha.tolist(), iel.tolist(), mask.tolist(), strict=True):
        valid = [j for j, m in enumerate(m_row) if m]
        q = [q_row[j] / sum(q_row) for j in valid]
        z = sum(math.exp(v) for v in q)
        target = [math.exp(v) / z for v in q]
        total += sum(a_row[j] * math.log(a_row[j] / t) for j, t in zip(valid, target, strict=True))
    return total / len(alpha)


def test_self_manual_loss_is_re_plus_lambda_spp(tiny_encoder_dir):
    model, tok = build(tiny_encoder_dir, use_spp=True, use_hr=True, spp_lambda=0.7)
    batch = make_batch(tok)
    model.train()
    out = model(**batch)
    assert out.loss.item() == pytest.approx(out.loss_re.item() + 0.7 * out.loss_spp.item(), rel=1e-6)
    assert out.loss_re.item() == pytest.approx(ref_cross_entropy(out.logits, LABELS), rel=1e-5)
    alpha = out.alpha.detach()
    mask = batch["attention_mask"]
    assert bool((alpha[mask == 0] == 0).all())
    torch.testing.assert_close(alpha.sum(-1), torch.ones(2))
    assert out.loss_spp.item() == pytest.approx(ref_spp_default(alpha, batch["iel"], mask), rel=1e-4)


def test_self_uncertainty_loss_is_eq15(tiny_encoder_dir):
    model, tok = build(tiny_encoder_dir, use_spp=True, use_hr=True, weighting="uncertainty", spp_lambda=0.7)
    with torch.no_grad():
        model.weighting.log_var_re.fill_(0.4)
        model.weighting.log_var_spp.fill_(-0.9)
    model.train()
    out = model(**make_batch(tok))
    l_re, l_spp = out.loss_re.item(), out.loss_spp.item()
    expected = 0.5 * math.exp(-0.4) * l_re + 0.5 * math.exp(0.9) * l_spp + 0.5 * 0.4 + 0.5 * -0.9
    assert out.loss.item() == pytest.approx(expected, rel=1e-6)
    assert out.loss.item() != pytest.approx(l_re + 0.7 * l_spp, rel=1e-3)  # λ unused
    assert model.loss_sigmas()["sigma_spp"] == pytest.approx(math.exp(-0.45))


# ---------------------------------------------------------------------------------------------------
# spp_layers picks the right attention tensors


def expected_alpha_prime(attentions, layers: list[int], mask: torch.Tensor) -> torch.Tensor:
    """mean over the chosen layers, all heads and the valid query rows, by loop (0 on padding)."""
    out = torch.zeros(mask.shape, dtype=torch.float64)
    for b in range(mask.shape[0]):
        rows = [i for i in range(mask.shape[1]) if mask[b, i]]
        for j in rows:
            vals = [float(attentions[lay][b, h, i, j]) for lay in layers for h in range(HEADS) for i in rows]
            out[b, j] = sum(vals) / len(vals)
    return out


@pytest.fixture(scope="module")
def direct_attentions(tiny_encoder_dir):
    model, tok = build(tiny_encoder_dir, use_spp=True, use_hr=False)
    batch = make_batch(tok)
    model.eval()
    with torch.no_grad():
        out = model.encoder(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_attentions=True
        )
    assert len(out.attentions) == LAYERS
    return out.attentions, batch["attention_mask"]


@pytest.mark.parametrize("spec,layers", [("all", [0, 1]), ("last", [1]), ("1", [0]), ("2", [1]), ("1,2", [0, 1])])
def test_spp_layers_select_attention(tiny_encoder_dir, direct_attentions, spec, layers):
    attentions, mask = direct_attentions
    model, tok = build(tiny_encoder_dir, use_spp=True, use_hr=False, spp_layers=spec, spp_alpha="renormalize")
    model.eval()
    with torch.no_grad():
        out = model(**make_batch(tok), with_spp=True)
    # renormalize: α = α' / Σα' and α' already sums to 1 over valid tokens, so α = α'.
    expected = expected_alpha_prime(attentions, layers, mask)
    torch.testing.assert_close(out.alpha.double(), expected, rtol=0, atol=1e-6)
    others = [[0], [1], [0, 1]]
    for wrong in (w for w in others if w != layers):
        assert (expected - expected_alpha_prime(attentions, wrong, mask)).abs().max() > 1e-4  # test can tell


def test_spp_default_softmax_alpha_from_all_layers(tiny_encoder_dir, direct_attentions):
    attentions, mask = direct_attentions
    model, tok = build(tiny_encoder_dir, use_spp=True, use_hr=True)
    model.eval()
    with torch.no_grad():
        out = model(**make_batch(tok), with_spp=True)
    ap = expected_alpha_prime(attentions, [0, 1], mask)
    expected = torch.zeros_like(ap)
    for b in range(mask.shape[0]):
        valid = mask[b].bool()
        expected[b, valid] = torch.exp(ap[b, valid]) / torch.exp(ap[b, valid]).sum()
    torch.testing.assert_close(out.alpha.double(), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("spec", ["3", "0", "1,3"])
def test_spp_layers_out_of_range_rejected(tiny_encoder_dir, spec):
    from selfre.errors import ConfigError

    with pytest.raises(ConfigError, match="spp_layers"):
        build(tiny_encoder_dir, use_spp=True, spp_layers=spec)


# ---------------------------------------------------------------------------------------------------
# kernel choice


def test_sdpa_encoder_with_spp_raises_clear_error(tiny_encoder_dir):
    model, tok = build(tiny_encoder_dir, use_spp=True, use_hr=True, attn_implementation="sdpa")
    assert attn_impl(model) == "sdpa"
    batch = make_batch(tok)
    model.train()
    with pytest.raises(RuntimeError, match="eager"):
        model(**batch)
    model.eval()
    with torch.no_grad():
        assert model(**batch).logits.shape == (2, NUM_LABELS)  # prediction needs no attentions


@pytest.mark.parametrize("need,impl", [(False, "sdpa"), (True, "eager")])
def test_build_from_folders_kernel(tiny_encoder_dir, need, impl):
    cfg = ModelConfig(model_name_or_path=str(tiny_encoder_dir))
    model, _ = build_from_folders(cfg, str(tiny_encoder_dir), str(tiny_encoder_dir), NUM_LABELS, need_attentions=need)
    assert attn_impl(model) == impl


def test_entity_marker_tokens_resize_embeddings(tiny_encoder_dir):
    model, tok = build(tiny_encoder_dir, marker="entity_marker", use_spp=False, use_hr=False)
    assert model.encoder.get_input_embeddings().num_embeddings == len(tok)
    batch = make_batch(tok, marker="entity_marker")
    assert model(**batch).logits.shape == (2, NUM_LABELS)


# ---------------------------------------------------------------------------------------------------
# every parameter trains (DDP's find_unused_parameters=False needs it)


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # SELF defaults: attention connector, cls_e1_e2, manual weighting
        {"weighting": "uncertainty"},
        {"hr_connector": "identity", "head": "e1_e2_mlp"},
        {"use_spp": False, "use_hr": False},
    ],
    ids=["self", "self-uncertainty", "self-identity-mlp", "baseline"],
)
def test_every_parameter_gets_a_gradient(tiny_encoder_dir, overrides):
    model, tok = build(tiny_encoder_dir, **overrides)
    model.train()
    model(**make_batch(tok)).loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []
    zero = [n for n, p in model.named_parameters() if not bool(p.grad.abs().sum() > 0)]
    assert zero == []
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters())


def test_minilm_bert_family_self_every_parameter_gets_a_gradient():
    # The pretrained BERT-family preset: its checkpoint carries a pooler SELF never uses; it must be dropped
    # at load, or its weights would get no gradient and break DDP.
    model, tok = build_for_training(ModelConfig(model_name_or_path="minilm", dropout=0.0), MARKER, NUM_LABELS, RECORDS)
    assert attn_impl(model) == "eager"
    assert not any("pooler" in n for n in param_names(model))
    model.train()
    out = model(**make_batch(tok))
    assert out.loss_spp is not None and out.gate is not None
    out.loss.backward()
    assert [n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)] == []
