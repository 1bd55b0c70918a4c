"""SPP (docs/method.md §3, paper Eq. 1-5) on small hand-written tensors.

Every expected value is either written out by hand (with the arithmetic in a comment) or recomputed by a
plain Python loop in this file; nothing is checked by calling `selfre.model.spp` a second way.
"""

from __future__ import annotations

import math

import pytest
import torch

from selfre.model.spp import (
    SPPLoss,
    alpha_distribution,
    column_mean_attention,
    iel_distribution,
    kl_divergence,
    spp_target,
)

# ---------------------------------------------------------------------------------------------------
# plain-Python reference implementations (lists of floats, math.exp / math.log)


def ref_softmax_valid(x: list[float], mask: list[int]) -> list[float]:
    """softmax over the positions with mask 1; masked positions get exactly 0."""
    z = sum(math.exp(v) for v, m in zip(x, mask, strict=True) if m)
    return [math.exp(v) / z if m else 0.0 for v, m in zip(x, mask, strict=True)]


def ref_kl(p: list[float], q: list[float], mask: list[int]) -> float:
    """Σ_j p_j log(p_j / q_j) over valid j, with 0·log 0 = 0."""
    return sum(pj * math.log(pj / qj) for pj, qj, m in zip(p, q, mask, strict=True) if m and pj > 0)


def ref_q(iel: list[int]) -> list[float]:
    s = sum(iel)
    return [v / s for v in iel]


def ref_smooth(q: list[float], mask: list[int], eps: float) -> list[float]:
    n = sum(mask)
    return [((1 - eps) * qj + eps / n) if m else 0.0 for qj, m in zip(q, mask, strict=True)]


def as_lists(t: torch.Tensor) -> list[list[float]]:
    return [[float(v) for v in row] for row in t]


# ---------------------------------------------------------------------------------------------------
# Eq. 1: q = Q / 1ᵀQ


def test_iel_distribution_hand_values_with_padding():
    # row 0: 5 real tokens + 2 padding; entity sub-words at 1, 2, 4 -> q = 1/3 there.
    # row 1: 7 real tokens; a single entity sub-word at 5 -> q = 1 there.
    iel = torch.tensor([[0, 1, 1, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1, 0]])
    q = iel_distribution(iel)
    third = 1 / 3
    expected = torch.tensor([[0, third, third, 0, third, 0, 0], [0, 0, 0, 0, 0, 1.0, 0]])
    assert q.dtype == torch.float32
    torch.testing.assert_close(q, expected)
    torch.testing.assert_close(q.sum(-1), torch.ones(2))
    assert torch.equal(q == 0, iel == 0)  # zeros (context, specials, padding) stay exactly zero


def test_iel_distribution_empty_row_stays_zero_not_nan():
    q = iel_distribution(torch.zeros(1, 4))
    assert torch.equal(q, torch.zeros(1, 4))


# ---------------------------------------------------------------------------------------------------
# Eq. 2-3: α'_j = mean over layers, heads and valid query rows of A_l[h, i, j]

# Two examples, n = 4. Example 0 has its last position padded, example 1 has no padding.
MASK = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])

# Example 0 rows 0-2 are the valid query rows; their padding column is 0 (as the encoder's masked softmax
# leaves it). Its padding query row 3 is deliberately weird (all mass on column 0 / column 3) so that
# including it would change the result.
_A = {
    # (layer, head): (example 0 rows, example 1 rows)
    (0, 0): (
        [[0.5, 0.25, 0.25, 0.0], [0.2, 0.6, 0.2, 0.0], [0.1, 0.1, 0.8, 0.0], [1.0, 0.0, 0.0, 0.0]],
        [[0.25, 0.25, 0.25, 0.25], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1], [0.7, 0.1, 0.1, 0.1]],
    ),
    (0, 1): (
        [[0.3, 0.3, 0.4, 0.0], [0.0, 0.5, 0.5, 0.0], [0.6, 0.2, 0.2, 0.0], [0.0, 0.0, 0.0, 1.0]],
        [[0.1, 0.1, 0.1, 0.7], [0.2, 0.2, 0.2, 0.4], [0.25, 0.25, 0.25, 0.25], [0.0, 0.5, 0.5, 0.0]],
    ),
    (1, 0): (
        [[0.9, 0.05, 0.05, 0.0], [0.4, 0.4, 0.2, 0.0], [0.2, 0.2, 0.6, 0.0], [0.5, 0.0, 0.0, 0.5]],
        [[0.6, 0.2, 0.1, 0.1], [0.3, 0.3, 0.3, 0.1], [0.05, 0.05, 0.45, 0.45], [0.25, 0.25, 0.25, 0.25]],
    ),
    (1, 1): (
        [[0.2, 0.4, 0.4, 0.0], [0.7, 0.1, 0.2, 0.0], [0.3, 0.3, 0.4, 0.0], [0.0, 1.0, 0.0, 0.0]],
        [[0.2, 0.3, 0.4, 0.1], [0.1, 0.1, 0.1, 0.7], [0.5, 0.2, 0.2, 0.1], [0.3, 0.3, 0.2, 0.2]],
    ),
}


def attention_layers() -> list[torch.Tensor]:
    """[A_1, A_2], each B×H×n×n = 2×2×4×4."""
    return [torch.tensor([[_A[(layer, h)][b] for h in range(2)] for b in range(2)]) for layer in range(2)]


def loop_column_mean(layers: list[int], mask: torch.Tensor) -> list[list[float]]:
    out = []
    for b in range(mask.shape[0]):
        valid = [i for i in range(mask.shape[1]) if mask[b, i]]
        row = []
        for j in range(mask.shape[1]):
            if j not in valid:
                row.append(0.0)
                continue
            total, count = 0.0, 0
            for layer in layers:
                for h in range(2):
                    for i in valid:
                        total += _A[(layer, h)][b][i][j]
                        count += 1
            row.append(total / count)
        out.append(row)
    return out


def test_column_mean_attention_matches_python_loop():
    alpha_prime = column_mean_attention(attention_layers(), MASK)
    assert alpha_prime.shape == (2, 4)
    torch.testing.assert_close(alpha_prime, torch.tensor(loop_column_mean([0, 1], MASK)), rtol=0, atol=1e-6)


def test_column_mean_attention_hand_value_and_padding():
    alpha_prime = column_mean_attention(attention_layers(), MASK)
    # Example 0, column 0: valid rows 0-2 of the four (layer, head) maps:
    #   (0,0): .5+.2+.1 = .8   (0,1): .3+0+.6 = .9   (1,0): .9+.4+.2 = 1.5   (1,1): .2+.7+.3 = 1.2
    #   sum 4.4 over 4 maps × 3 rows = 12 entries -> 0.36666...
    assert float(alpha_prime[0, 0]) == pytest.approx(4.4 / 12, abs=1e-7)
    # Had the padding row 3 been included: (4.4 + 1 + 0 + .5 + 0) / 16 = 0.36875 -- a different number.
    assert float(alpha_prime[0, 0]) != pytest.approx(5.9 / 16, abs=1e-4)
    assert float(alpha_prime[0, 3]) == 0.0  # padding column is exactly 0
    # Attention rows sum to 1 over the valid keys, so α' sums to 1 over the valid positions.
    torch.testing.assert_close(alpha_prime.sum(-1), torch.ones(2))


def test_column_mean_attention_padding_column_zero_even_if_attention_leaks():
    # A (buggy) encoder that puts mass on the padding key: α' must still be 0 there.
    layers = attention_layers()
    leaky = [a.clone() for a in layers]
    for a in leaky:
        a[0, :, :3, :] = 0.25  # uniform over all 4 keys, including padding key 3
    alpha_prime = column_mean_attention(leaky, MASK)
    assert float(alpha_prime[0, 3]) == 0.0
    torch.testing.assert_close(alpha_prime[0, :3], torch.full((3,), 0.25))


def test_column_mean_attention_single_layer_selection():
    layers = attention_layers()
    last_only = column_mean_attention(layers[1:], MASK)
    torch.testing.assert_close(last_only, torch.tensor(loop_column_mean([1], MASK)), rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------------------
# α from α'


def test_alpha_softmax_over_valid_positions_only():
    alpha_prime = torch.tensor([[0.5, 0.2, 0.3, 0.0], [0.1, 0.2, 0.3, 0.4]])
    alpha = alpha_distribution(alpha_prime, MASK, "softmax")
    expected = [ref_softmax_valid(as_lists(alpha_prime)[b], MASK[b].tolist()) for b in range(2)]
    torch.testing.assert_close(alpha, torch.tensor(expected), rtol=0, atol=1e-7)
    assert float(alpha[0, 3]) == 0.0  # exactly 0, not e^0 / Z
    # hand value: e^.5 / (e^.5 + e^.2 + e^.3) = 1.648721 / (1.648721 + 1.221403 + 1.349859) = 0.390694
    assert float(alpha[0, 0]) == pytest.approx(0.390694, abs=1e-6)


def test_alpha_renormalize_mode():
    # α' whose valid part does not sum to 1, with garbage at the padding position.
    alpha_prime = torch.tensor([[0.2, 0.2, 0.4, 0.9], [1.0, 1.0, 1.0, 1.0]])
    alpha = alpha_distribution(alpha_prime, MASK, "renormalize")
    expected = torch.tensor([[0.25, 0.25, 0.5, 0.0], [0.25, 0.25, 0.25, 0.25]])
    torch.testing.assert_close(alpha, expected)
    assert float(alpha[0, 3]) == 0.0


def test_alpha_unknown_mode_raises():
    with pytest.raises(ValueError, match="spp_alpha"):
        alpha_distribution(torch.ones(1, 2), torch.ones(1, 2), "bogus")


# ---------------------------------------------------------------------------------------------------
# targets q~ and the KL loss (Eq. 4-5)

# example 0: 4 valid tokens + 1 padding, entity sub-words at 1, 2; example 1: 5 valid, entity at 3.
KL_MASK = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
KL_IEL = torch.tensor([[0, 1, 1, 0, 0], [0, 0, 0, 1, 0]])
KL_ALPHA_PRIME = torch.tensor([[0.4, 0.1, 0.2, 0.3, 0.0], [0.1, 0.3, 0.2, 0.25, 0.15]])


def test_softmax_target_hand_values():
    q = iel_distribution(KL_IEL)
    target = spp_target(q, KL_MASK, "softmax", 0.1)
    # example 0: q = (0, .5, .5, 0 | pad). softmax over 4 valid: Z = 2 + 2e^.5 = 5.297443
    z = 2 + 2 * math.exp(0.5)
    expected0 = [1 / z, math.exp(0.5) / z, math.exp(0.5) / z, 1 / z, 0.0]
    torch.testing.assert_close(target[0], torch.tensor(expected0))
    assert float(target[0, 4]) == 0.0
    torch.testing.assert_close(target.sum(-1), torch.ones(2))


def test_smooth_target_hand_values():
    q = iel_distribution(KL_IEL)
    target = spp_target(q, KL_MASK, "smooth", 0.2)
    # example 0: (1-.2)·(0, .5, .5, 0) + .2·(1/4 on the 4 valid) = (.05, .45, .45, .05, 0)
    # example 1: .8·(0,0,0,1,0) + .2/5 = (.04, .04, .04, .84, .04)
    expected = torch.tensor([[0.05, 0.45, 0.45, 0.05, 0.0], [0.04, 0.04, 0.04, 0.84, 0.04]])
    torch.testing.assert_close(target, expected)


def test_spp_target_unknown_mode_raises():
    with pytest.raises(ValueError, match="spp_target"):
        spp_target(torch.ones(1, 2), torch.ones(1, 2), "bogus", 0.1)


def reference_loss(target: str, eps: float, direction: str, alpha_mode: str) -> float:
    per_example = []
    for b in range(2):
        mask = KL_MASK[b].tolist()
        ap = as_lists(KL_ALPHA_PRIME)[b]
        if alpha_mode == "softmax":
            alpha = ref_softmax_valid(ap, mask)
        else:
            s = sum(v for v, m in zip(ap, mask, strict=True) if m)
            alpha = [v / s if m else 0.0 for v, m in zip(ap, mask, strict=True)]
        q = ref_q(KL_IEL[b].tolist())
        qt = ref_softmax_valid(q, mask) if target == "softmax" else ref_smooth(q, mask, eps)
        per_example.append(ref_kl(alpha, qt, mask) if direction == "alpha_q" else ref_kl(qt, alpha, mask))
    return sum(per_example) / len(per_example)  # Eq. 5: batch mean


@pytest.mark.parametrize("alpha_mode", ["softmax", "renormalize"])
@pytest.mark.parametrize("direction", ["alpha_q", "q_alpha"])
@pytest.mark.parametrize("target,eps", [("softmax", 0.1), ("smooth", 0.1), ("smooth", 0.3)])
def test_spp_loss_matches_loop_reference(target, eps, direction, alpha_mode):
    loss_fn = SPPLoss(target=target, epsilon=eps, direction=direction, alpha=alpha_mode)
    loss, alpha = loss_fn(KL_ALPHA_PRIME, KL_IEL, KL_MASK)
    assert loss.shape == ()
    assert float(loss) == pytest.approx(reference_loss(target, eps, direction, alpha_mode), rel=1e-5, abs=1e-7)
    assert float(loss) > 0
    assert float(alpha[0, 4]) == 0.0
    torch.testing.assert_close(alpha.sum(-1), torch.ones(2))


def test_spp_loss_is_batch_mean_not_sum():
    loss_fn = SPPLoss()
    both, _ = loss_fn(KL_ALPHA_PRIME, KL_IEL, KL_MASK)
    first, _ = loss_fn(KL_ALPHA_PRIME[:1], KL_IEL[:1], KL_MASK[:1])
    second, _ = loss_fn(KL_ALPHA_PRIME[1:], KL_IEL[1:], KL_MASK[1:])
    assert float(first) != pytest.approx(float(second), rel=1e-3)  # the mean is informative
    assert float(both) == pytest.approx((float(first) + float(second)) / 2, rel=1e-6)


def test_kl_hand_value():
    # KL((.5,.5) || (.25,.75)) = .5 ln 2 + .5 ln(2/3) = .346574 - .202733 = .143841
    p = torch.tensor([[0.5, 0.5, 0.0]])
    q = torch.tensor([[0.25, 0.75, 0.0]])
    mask = torch.tensor([[1, 1, 0]])
    assert float(kl_divergence(p, q, mask)[0]) == pytest.approx(0.143841, abs=1e-6)


def test_kl_ignores_masked_positions():
    # Only valid positions count, even if p carries (stray) mass on a padded one: (.5,.5 | .3) -> .143841 again.
    p = torch.tensor([[0.5, 0.5, 0.3]])
    q = torch.tensor([[0.25, 0.75, 0.01]])
    assert float(kl_divergence(p, q, torch.tensor([[1, 1, 0]]))[0]) == pytest.approx(0.143841, abs=1e-6)


def test_kl_zero_for_equal_and_nonnegative_for_random():
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0]] * 64)
    g = torch.Generator().manual_seed(0)
    p = alpha_distribution(torch.randn(64, 7, generator=g) * 3, mask, "softmax")
    q = alpha_distribution(torch.randn(64, 7, generator=g) * 3, mask, "softmax")
    torch.testing.assert_close(kl_divergence(p, p, mask), torch.zeros(64), rtol=0, atol=1e-6)
    kl = kl_divergence(p, q, mask)
    assert bool((kl >= 0).all())
    assert float(kl.min()) > 1e-4  # strictly positive for distinct distributions
    # 0·log 0 = 0: a p with zeros contributes nothing where it is zero (no NaN)
    sparse = torch.tensor([[0.0, 1.0, 0.0]])
    val = kl_divergence(sparse, torch.tensor([[0.2, 0.5, 0.3]]), torch.ones(1, 3))
    assert float(val[0]) == pytest.approx(math.log(2.0), abs=1e-6)


def test_spp_loss_zero_when_alpha_equals_target():
    # renormalize uses α' as α; with α' := the smoothed target itself, KL(α || q~) = 0 in both directions.
    eps = 0.2
    alpha_prime = torch.tensor([[0.05, 0.45, 0.45, 0.05, 0.0], [0.04, 0.04, 0.04, 0.84, 0.04]])
    for direction in ("alpha_q", "q_alpha"):
        loss, _ = SPPLoss("smooth", eps, direction, "renormalize")(alpha_prime, KL_IEL, KL_MASK)
        assert float(loss) == pytest.approx(0.0, abs=1e-6)


def test_unknown_direction_raises():
    # spp_target and spp_alpha reject unknown values with ValueError; spp_direction must too. Today any value
    # other than "alpha_q" (a typo such as "alpha-q") silently computes KL(q~ || α): the opposite direction.
    with pytest.raises(ValueError, match="direction"):
        SPPLoss(direction="alpha-q")(KL_ALPHA_PRIME, KL_IEL, KL_MASK)


def test_smooth_without_epsilon_alpha_q_raises():
    with pytest.raises(ValueError, match="epsilon"):
        SPPLoss(target="smooth", epsilon=0.0, direction="alpha_q")


def test_smooth_without_epsilon_q_alpha_is_finite():
    # KL(q || α) with q having zeros is finite (0·log 0 = 0): Σ_{entity j} q_j log(q_j / α_j).
    loss, alpha = SPPLoss("smooth", 0.0, "q_alpha", "softmax")(KL_ALPHA_PRIME, KL_IEL, KL_MASK)
    a = as_lists(alpha)
    expected = (0.5 * math.log(0.5 / a[0][1]) + 0.5 * math.log(0.5 / a[0][2]) + math.log(1 / a[1][3])) / 2
    assert math.isfinite(float(loss))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------------------------------------------
# docs/method.md §3 "know the magnitude": n = 30 valid tokens, near-uniform attention


N = 30
ENTITY = [5, 6, 20, 21]  # 4 entity sub-words


def _magnitude_inputs(alpha_prime_row: list[float]):
    mask = torch.ones(1, N, dtype=torch.long)
    iel = torch.zeros(1, N, dtype=torch.long)
    iel[0, ENTITY] = 1
    return torch.tensor([alpha_prime_row]), iel, mask


def test_magnitude_uniform_attention_closed_form():
    # α' exactly uniform (1/n). Default: α = softmax(α') = uniform; q~ = softmax(q), q = 1/4 on 4 tokens:
    #   q~_ent = e^.25 / Z, q~_ctx = 1 / Z with Z = 4e^.25 + 26.
    #   KL(u || q~) = (4/30) ln((1/30) / q~_ent) + (26/30) ln((1/30) / q~_ctx) ≈ 0.00384 nats.
    z = 4 * math.exp(0.25) + 26
    kl_default = (4 / N) * math.log((1 / N) / (math.exp(0.25) / z)) + (26 / N) * math.log((1 / N) / (1 / z))
    assert kl_default == pytest.approx(0.003837, abs=1e-6)  # docs/method.md §3: "≈ 0.004 nats"
    # renormalize + smooth (ε = .1): α = uniform; q~_ent = .9/4 + .1/30, q~_ctx = .1/30.
    q_ent, q_ctx = 0.9 / 4 + 0.1 / N, 0.1 / N
    kl_smooth = (4 / N) * math.log((1 / N) / q_ent) + (26 / N) * math.log((1 / N) / q_ctx)
    assert kl_smooth == pytest.approx(1.739, abs=1e-3)  # docs/method.md §3: "≈ 2 nats"

    ap, iel, mask = _magnitude_inputs([1 / N] * N)
    default, _ = SPPLoss()(ap, iel, mask)
    smooth, _ = SPPLoss(target="smooth", epsilon=0.1, alpha="renormalize")(ap, iel, mask)
    assert float(default) == pytest.approx(kl_default, rel=1e-4)
    assert float(smooth) == pytest.approx(kl_smooth, rel=1e-4)


def test_magnitude_ramp_attention_nearly_uniform_alpha():
    # α'_j = 2j / (n(n-1)), j = 0..n-1: spans exactly 0..2/n and sums to 1.
    ramp = [2 * j / (N * (N - 1)) for j in range(N)]
    assert sum(ramp) == pytest.approx(1.0)
    ap, iel, mask = _magnitude_inputs(ramp)
    default, alpha = SPPLoss()(ap, iel, mask)
    ratio = float(alpha.max() / alpha.min())
    # max/min of softmax(α') = e^{(2/n - 0)} = e^{1/15} = 1.0690 (docs/method.md §3 rounds this to "≈ 1.06")
    assert ratio == pytest.approx(math.exp(2 / N), rel=1e-5)
    assert 1.05 < ratio < 1.07
    smooth, _ = SPPLoss(target="smooth", epsilon=0.1, alpha="renormalize")(ap, iel, mask)
    # default softmax target: a hundredth of a nat at most; renormalize + smooth: nats.
    assert float(default) < 0.01
    assert float(smooth) > 1.0
    assert float(smooth) > 100 * float(default)
