"""SPP: sparse entity position prediction, the parameter-free auxiliary loss (SPEC §3, paper Eq. 1-5).

Shapes: B batch, n sequence, H heads. `mask` is the attention mask (1 = real token, 0 = padding).
Everything is computed in float32: the quantities are ~1/n and AMP's half precision would swamp them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

NEG_INF = float("-inf")


def iel_distribution(iel: torch.Tensor) -> torch.Tensor:
    """q = Q / 1ᵀQ (Eq. 1). `iel` is Q: 1 on entity sub-words, 0 elsewhere (padding included)."""
    iel = iel.float()
    return iel / iel.sum(dim=-1, keepdim=True).clamp_min(1.0)  # Eq. 1


def _masked_softmax(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x.masked_fill(mask == 0, NEG_INF), dim=-1)


def spp_target(q: torch.Tensor, mask: torch.Tensor, mode: str, epsilon: float) -> torch.Tensor:
    """q~: the smoothed target, since KL(α||q) is infinite where q = 0 (SPEC §3)."""
    if mode == "softmax":
        return _masked_softmax(q, mask)  # q~ = softmax(q) over valid positions (authors' code)
    if mode == "smooth":
        valid = mask.float()
        uniform = valid / valid.sum(dim=-1, keepdim=True)
        return (1.0 - epsilon) * q + epsilon * uniform  # q~ = (1-ε)q + ε·uniform
    raise ValueError(f"unknown spp_target {mode!r}")


def column_mean_attention(attentions: Sequence[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
    """α'_j: attention received by token j, averaged over layers, heads and valid query rows (Eq. 2-3).

    Summing each layer's columns as we go (instead of stacking L×B×H×n×n) keeps memory at one layer's
    attention; the result equals mean_l mean_h mean_{i valid} A_l[h, i, j].
    """
    rows = mask.float()  # valid query rows i
    col_sum = None
    for a in attentions:  # a: B×H×n×n
        s = torch.einsum("bhij,bi->bj", a.float(), rows)  # Σ_h Σ_{i valid} A_l[h,i,j]
        col_sum = s if col_sum is None else col_sum + s
    heads = attentions[0].shape[1]
    denom = len(attentions) * heads * rows.sum(dim=-1, keepdim=True)
    return (col_sum / denom) * rows  # Eq. 2 (a^h) and Eq. 3 (α' = mean over rows); padding columns -> 0


def alpha_distribution(alpha_prime: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """α from α': softmax over valid positions (Eq. 3) or α' itself renormalised (SPEC `spp_alpha`)."""
    if mode == "softmax":
        return _masked_softmax(alpha_prime, mask)  # Eq. 3: α = Softmax(α')
    if mode == "renormalize":
        a = alpha_prime * mask.float()
        return a / a.sum(dim=-1, keepdim=True)
    raise ValueError(f"unknown spp_alpha {mode!r}")


def kl_divergence(p: torch.Tensor, q: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-example KL(p||q) = Σ_j p_j log(p_j / q_j) over valid positions (Eq. 4); 0·log 0 = 0."""
    valid = mask.bool() & (p > 0)
    terms = torch.where(valid, p * (torch.log(p.clamp_min(1e-30)) - torch.log(q.clamp_min(1e-30))), 0.0)
    return terms.sum(dim=-1)  # Eq. 4


class SPPLoss(nn.Module):
    """L_spp = KL(α || q~) averaged over the batch (Eq. 5), or KL(q~ || α) under `direction=q_alpha`."""

    def __init__(self, target: str = "softmax", epsilon: float = 0.1, direction: str = "alpha_q", alpha: str = "softmax"):
        super().__init__()
        if target == "smooth" and direction == "alpha_q" and epsilon <= 0:
            raise ValueError("spp_target=smooth with spp_epsilon=0 makes KL(α||q~) infinite; use epsilon > 0")
        self.target, self.epsilon, self.direction, self.alpha_mode = target, epsilon, direction, alpha

    def forward(
        self, alpha_prime: torch.Tensor, iel: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (L_spp, α). `alpha_prime` comes from `column_mean_attention` (or a fast path)."""
        alpha = alpha_distribution(alpha_prime.float(), mask, self.alpha_mode)  # Eq. 3
        q_t = spp_target(iel_distribution(iel), mask, self.target, self.epsilon)  # Eq. 1 + smoothing
        if self.direction == "alpha_q":
            kl = kl_divergence(alpha, q_t, mask)  # Eq. 5: KL(α || q~)
        else:
            kl = kl_divergence(q_t, alpha, mask)  # KL(q~ || α)
        return kl.mean(), alpha
