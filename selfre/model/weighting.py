"""Combining L_re and L_spp (docs/method.md §5): a fixed λ or learned homoscedastic uncertainty."""

from __future__ import annotations

import torch
from torch import nn


class ManualWeighting(nn.Module):
    def __init__(self, spp_lambda: float):
        super().__init__()
        self.spp_lambda = spp_lambda

    def forward(self, loss_re: torch.Tensor, loss_spp: torch.Tensor) -> torch.Tensor:
        return loss_re + self.spp_lambda * loss_spp  # Eq. 14: L = L_re + λ·L_spp

    def term_weights(self) -> tuple[float, float]:
        """(w_re, w_spp): what each loss is multiplied by in L (for diagnostics)."""
        return 1.0, float(self.spp_lambda)

    def sigmas(self) -> dict[str, float]:
        return {}


class UncertaintyWeighting(nn.Module):
    """L = ½e^{-s_re} L_re + ½e^{-s_spp} L_spp + ½s_re + ½s_spp, with s_k = log σ_k² learned (Eq. 15).

    s_k start at 0 (σ = 1), i.e. both tasks at weight ½.
    """

    def __init__(self):
        super().__init__()
        self.log_var_re = nn.Parameter(torch.zeros(()))
        self.log_var_spp = nn.Parameter(torch.zeros(()))

    def forward(self, loss_re: torch.Tensor, loss_spp: torch.Tensor) -> torch.Tensor:
        s_re, s_spp = self.log_var_re, self.log_var_spp
        return (
            0.5 * torch.exp(-s_re) * loss_re + 0.5 * torch.exp(-s_spp) * loss_spp + 0.5 * s_re + 0.5 * s_spp
        )  # Eq. 15

    def term_weights(self) -> tuple[float, float]:
        """(w_re, w_spp) = (½e^{-s_re}, ½e^{-s_spp}) now: the ½s_k terms carry no gradient to the model."""
        return float(0.5 * torch.exp(-self.log_var_re.detach())), float(0.5 * torch.exp(-self.log_var_spp.detach()))

    def sigmas(self) -> dict[str, float]:
        """σ_k = exp(s_k / 2), for logging."""
        return {
            "sigma_re": float(torch.exp(0.5 * self.log_var_re.detach())),
            "sigma_spp": float(torch.exp(0.5 * self.log_var_spp.detach())),
        }


def build_weighting(mode: str, spp_lambda: float) -> nn.Module:
    if mode == "manual":
        return ManualWeighting(spp_lambda)
    if mode == "uncertainty":
        return UncertaintyWeighting()
    raise ValueError(f"unknown weighting {mode!r}")
