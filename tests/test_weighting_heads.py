"""Loss weighting (docs/method.md §5, Eq. 14-15) and the relation heads (Eq. 12), on hand-set numbers."""

from __future__ import annotations

import math

import pytest
import torch

from selfre.model.heads import HEADS, ClsE1E2Head, E1E2MLPHead, gather_positions
from selfre.model.weighting import ManualWeighting, UncertaintyWeighting, build_weighting

# ---------------------------------------------------------------------------------------------------
# Eq. 14: manual


def test_manual_weighting_hand_value():
    w = build_weighting("manual", 0.4)
    assert isinstance(w, ManualWeighting)
    # 1.5 + 0.4 · 0.25 = 1.6
    assert float(w(torch.tensor(1.5), torch.tensor(0.25))) == pytest.approx(1.6)
    assert list(w.parameters()) == []
    assert w.sigmas() == {}


def test_manual_weighting_lambda_zero_is_re_only():
    w = ManualWeighting(0.0)
    assert float(w(torch.tensor(0.7), torch.tensor(123.0))) == pytest.approx(0.7)


# ---------------------------------------------------------------------------------------------------
# Eq. 15: uncertainty


def uncertainty(s_re: float, s_spp: float) -> UncertaintyWeighting:
    w = build_weighting("uncertainty", spp_lambda=0.4)
    assert isinstance(w, UncertaintyWeighting)
    with torch.no_grad():
        w.log_var_re.fill_(s_re)
        w.log_var_spp.fill_(s_spp)
    return w


def test_uncertainty_starts_at_half_weights():
    w = build_weighting("uncertainty", spp_lambda=0.4)
    # s = 0: ½·2 + ½·0.5 + 0 + 0 = 1.25  (λ unused)
    assert w(torch.tensor(2.0), torch.tensor(0.5)).item() == pytest.approx(1.25)
    assert w.sigmas() == {"sigma_re": 1.0, "sigma_spp": 1.0}
    assert sum(p.numel() for p in w.parameters()) == 2


def test_uncertainty_hand_value():
    w = uncertainty(0.7, -0.3)
    # ½e^{-0.7}·2 + ½e^{0.3}·0.5 + ½·0.7 + ½·(-0.3)
    #   = 0.496585 + 0.337465 + 0.35 - 0.15 = 1.034050
    assert w(torch.tensor(2.0), torch.tensor(0.5)).item() == pytest.approx(1.034050, abs=1e-6)
    expected = 0.5 * math.exp(-0.7) * 2.0 + 0.5 * math.exp(0.3) * 0.5 + 0.5 * 0.7 + 0.5 * -0.3
    assert w(torch.tensor(2.0), torch.tensor(0.5)).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("s_re,s_spp,l_re,l_spp", [(0.7, -0.3, 2.0, 0.5), (-1.2, 2.5, 0.3, 4.0)])
def test_uncertainty_gradient_is_analytic(s_re, s_spp, l_re, l_spp):
    w = uncertainty(s_re, s_spp)
    loss = w(torch.tensor(l_re), torch.tensor(l_spp))
    loss.backward()
    # ∂L/∂s_k = ½ - ½ e^{-s_k} L_k
    assert float(w.log_var_re.grad) == pytest.approx(0.5 - 0.5 * math.exp(-s_re) * l_re, rel=1e-5, abs=1e-6)
    assert float(w.log_var_spp.grad) == pytest.approx(0.5 - 0.5 * math.exp(-s_spp) * l_spp, rel=1e-5, abs=1e-6)


def test_uncertainty_gradient_vanishes_at_optimum():
    # ∂L/∂s_k = 0 at s_k = log L_k: the learned σ_k² tracks the task loss.
    w = uncertainty(math.log(2.0), math.log(0.5))
    w(torch.tensor(2.0), torch.tensor(0.5)).backward()
    assert float(w.log_var_re.grad) == pytest.approx(0.0, abs=1e-6)
    assert float(w.log_var_spp.grad) == pytest.approx(0.0, abs=1e-6)


def test_uncertainty_sigmas_are_exp_half_s():
    w = uncertainty(0.7, -0.3)
    sig = w.sigmas()
    assert sig["sigma_re"] == pytest.approx(math.exp(0.35))  # 1.419068
    assert sig["sigma_spp"] == pytest.approx(math.exp(-0.15))  # 0.860708
    assert sig["sigma_re"] == pytest.approx(1.419068, abs=1e-6)


def test_unknown_weighting_raises():
    with pytest.raises(ValueError, match="weighting"):
        build_weighting("bogus", 0.4)


# ---------------------------------------------------------------------------------------------------
# Eq. 12: heads


def features() -> torch.Tensor:
    # B=2, n=4, d=2; token t of example b holds (10b + t, -(10b + t))
    return torch.tensor([[[10.0 * b + t, -(10.0 * b + t)] for t in range(4)] for b in range(2)])


def test_gather_positions_per_example():
    got = gather_positions(features(), torch.tensor([1, 3]))
    torch.testing.assert_close(got, torch.tensor([[1.0, -1.0], [13.0, -13.0]]))


def test_cls_e1_e2_head_reads_cls_e1_e2_in_order():
    head = HEADS["cls_e1_e2"](hidden=2, num_labels=3, dropout=0.5)
    assert isinstance(head, ClsE1E2Head)
    assert head.classifier.weight.shape == (3, 6)  # one linear layer 3d -> R
    head.eval()  # dropout off
    with torch.no_grad():
        w = torch.zeros(3, 6)
        w[0, 0] = 1.0  # logit 0 = C_CLS[0]
        w[1, 2] = 1.0  # logit 1 = C_e1[0]
        w[2, 5] = 2.0  # logit 2 = 2·C_e2[1]
        head.classifier.weight.copy_(w)
        head.classifier.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
    e1, e2 = torch.tensor([1, 2]), torch.tensor([3, 1])
    logits = head(features(), e1, e2)
    # example 0: CLS = (0,-0), e1 = tok 1 = (1,-1), e2 = tok 3 = (3,-3) -> (0+.1, 1+.2, -6+.3)
    # example 1: CLS = (10,-10), e1 = tok 2 = (12,-12), e2 = tok 1 = (11,-11) -> (10.1, 12.2, -21.7)
    torch.testing.assert_close(logits, torch.tensor([[0.1, 1.2, -5.7], [10.1, 12.2, -21.7]]))


def test_cls_e1_e2_head_param_count():
    head = ClsE1E2Head(hidden=16, num_labels=5, dropout=0.1)
    assert sum(p.numel() for p in head.parameters()) == 3 * 16 * 5 + 5


def test_e1_e2_mlp_head_shapes_params_and_value():
    d, r = 4, 3
    head = HEADS["e1_e2_mlp"](hidden=d, num_labels=r, dropout=0.0)
    assert isinstance(head, E1E2MLPHead)
    # Linear(2d, d) + Linear(d, R)
    assert sum(p.numel() for p in head.parameters()) == (2 * d * d + d) + (d * r + r)
    x = torch.randn(2, 5, d)
    assert head(x, torch.tensor([1, 2]), torch.tensor([3, 4])).shape == (2, r)

    with torch.no_grad():
        first, last = head.mlp[0], head.mlp[-1]
        first.weight.zero_()
        first.bias.zero_()
        first.weight[0, 0] = 1.0  # hidden 0 = C_e1[0]
        first.weight[1, d] = -1.0  # hidden 1 = -C_e2[0]
        last.weight.zero_()
        last.weight[0, 0] = 1.0
        last.weight[1, 1] = 1.0
        last.bias.copy_(torch.tensor([0.0, 0.0, 0.5]))
    f = features().repeat_interleave(2, dim=-1)  # d = 4: (v, v, -v, -v)
    logits = head(f, torch.tensor([1, 2]), torch.tensor([3, 1]))
    # ex 0: relu(C_e1[0] = 1) = 1, relu(-C_e2[0] = -3) = 0; ex 1: relu(12) = 12, relu(-11) = 0
    torch.testing.assert_close(logits, torch.tensor([[1.0, 0.0, 0.5], [12.0, 0.0, 0.5]]))
    # CLS is not read by this head
    g = f.clone()
    g[:, 0] = 100.0
    torch.testing.assert_close(head(g, torch.tensor([1, 2]), torch.tensor([3, 1])), logits)


class _WeightingOnly(torch.nn.Module):
    """What build_optimizer needs of a model, holding only the weighting (the toy problem below)."""

    def __init__(self):
        super().__init__()
        self.weighting = UncertaintyWeighting()

    def head_parameters(self):
        return []

    def weighting_parameters(self):
        return list(self.weighting.parameters())


def _learn_sigmas(steps: int, l_re: float, l_spp: float, **train_kw) -> tuple[float, float]:
    """Run the real optimizer + schedule of a training run on Eq. 15 with fixed task losses; -> σ_k²."""
    from selfre.config import TrainConfig
    from selfre.train.optim import build_optimizer, linear_warmup_decay

    model = _WeightingOnly()
    cfg = TrainConfig(**train_kw)
    opt = build_optimizer(model, cfg)
    sched = linear_warmup_decay(opt, steps, cfg.warmup_ratio)
    for _ in range(steps):
        opt.zero_grad()
        model.weighting(torch.tensor(l_re), torch.tensor(l_spp)).backward()
        opt.step()
        sched.step()
    s = model.weighting
    return math.exp(s.log_var_re.item()), math.exp(s.log_var_spp.item())


def test_uncertainty_weights_reach_kendalls_optimum_within_a_run():
    # Kendall et al.: ∂L/∂s_k = ½(1 - L_k e^{-s_k}) = 0  <=>  σ_k² = e^{s_k} = L_k. L_spp ≈ 0.004 nats is the
    # default SPP loss's magnitude (docs/method.md §3): s_spp must travel from 0 to log 0.004 ≈ -5.5. 300 steps is a
    # short run (SemEval: 225 steps per epoch at batch 32).
    var_re, var_spp = _learn_sigmas(300, l_re=1.5, l_spp=0.004)
    assert var_re == pytest.approx(1.5, rel=0.05)
    assert var_spp == pytest.approx(0.004, rel=0.05)


def test_with_the_encoders_learning_rate_the_weights_would_not_move():
    # Why the log-variances have their own rate: at 3e-5 they stay at σ² ≈ 1, i.e. fixed ½/½ weights.
    var_re, var_spp = _learn_sigmas(300, l_re=1.5, l_spp=0.004, weighting_learning_rate=3e-5)
    assert abs(math.log(var_re)) < 0.01 and abs(math.log(var_spp)) < 0.01


def test_optimizer_gives_each_part_its_learning_rate():
    from transformers import RobertaConfig, RobertaModel

    from selfre.config import ModelConfig, TrainConfig
    from selfre.model.self_model import SELFModel
    from selfre.train.optim import build_optimizer

    enc = RobertaModel(
        RobertaConfig(
            vocab_size=50,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=40,
        ),
        add_pooling_layer=False,
    )
    model = SELFModel(enc, 3, ModelConfig(weighting="uncertainty"))
    opt = build_optimizer(model, TrainConfig(learning_rate=3e-5, head_learning_rate=1e-3, weighting_learning_rate=0.05))
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert {lr_of[id(p)] for p in model.weighting_parameters()} == {0.05}
    assert len(model.weighting_parameters()) == 2
    assert {lr_of[id(p)] for p in model.head_parameters()} == {1e-3}
    assert {lr_of[id(p)] for p in model.encoder.parameters()} == {3e-5}
    assert len(lr_of) == len(list(model.parameters()))  # every parameter in exactly one group
