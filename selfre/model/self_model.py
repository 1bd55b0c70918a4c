"""SELF = encoder + SPP auxiliary loss + HR module + relation head (docs/method.md §3-5).

The four ablation variants are two flags: `use_spp`, `use_hr` (baseline: both off, the head reads T^L).
The encoder is asked for attention probabilities only when SPP runs, and for all hidden states only
when HR runs, so the baseline and `+HR` keep the encoder's fused attention kernel. With
`spp_kernel=fused` SPP asks for no probabilities either: it reads its layers' queries and keys
(`AttentionSummaryProbe`) and the encoder stays on sdpa.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from selfre.config import ModelConfig, parse_spp_layers
from selfre.model.heads import HEADS
from selfre.model.retainer import HierarchicalRetainer
from selfre.model.spp import AttentionSummaryProbe, SPPLoss, column_mean_attention
from selfre.model.weighting import build_weighting


@dataclass
class SELFOutput:
    logits: torch.Tensor
    loss: torch.Tensor | None = None
    loss_re: torch.Tensor | None = None
    loss_spp: torch.Tensor | None = None
    gate: torch.Tensor | None = None  # HR retainer gate G, B×n×(L+2)
    alpha: torch.Tensor | None = None  # SPP attention distribution α, B×n
    alpha_prime: torch.Tensor | None = None  # the attention summary α' SPP reads (Eq. 3, before the α regime), B×n


class SELFModel(nn.Module):
    def __init__(self, encoder: nn.Module, num_labels: int, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder
        ecfg = encoder.config
        hidden, heads, layers = ecfg.hidden_size, ecfg.num_attention_heads, ecfg.num_hidden_layers
        self.use_spp, self.use_hr = cfg.use_spp, cfg.use_hr
        # 1-based layer numbers -> indices into the encoder's attentions tuple.
        self.spp_layer_index = [i - 1 for i in parse_spp_layers(cfg.spp_layers, layers)]
        self.spp = SPPLoss(cfg.spp_target, cfg.spp_epsilon, cfg.spp_direction, cfg.spp_alpha) if cfg.use_spp else None
        # spp_kernel=fused: Q/K hooks on the SPP layers replace the eager attention probabilities.
        self.spp_probe = (
            AttentionSummaryProbe(encoder, self.spp_layer_index) if cfg.use_spp and cfg.spp_kernel == "fused" else None
        )
        self.hr = HierarchicalRetainer(hidden, heads, layers, cfg.hr_connector) if cfg.use_hr else None
        self.head = HEADS[cfg.head](hidden, num_labels, cfg.dropout)
        self.weighting = build_weighting(cfg.weighting, cfg.spp_lambda) if cfg.use_spp else None

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        e1: torch.Tensor,
        e2: torch.Tensor,
        iel: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        with_spp: bool | None = None,
        **_: object,
    ) -> SELFOutput:
        """`with_spp` defaults to training mode: at inference SPP adds nothing to the prediction."""
        with_spp = self.use_spp and (self.training if with_spp is None else with_spp)
        if with_spp and iel is None:
            raise ValueError("SPP needs the IEL vector (batch['iel'])")
        probe = self.spp_probe if with_spp else None
        with probe.capture() if probe is not None else contextlib.nullcontext() as captured:
            out = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                output_attentions=with_spp and probe is None,
                output_hidden_states=self.use_hr,
                return_dict=True,
            )
        mask = attention_mask
        gate = None
        if self.hr is not None:
            hr = self.hr(out.hidden_states, mask)  # Eq. 7-11
            features, gate = hr.features, hr.gate
        else:
            features = out.last_hidden_state  # baseline: T^L
        logits = self.head(features, e1, e2)  # Eq. 12
        result = SELFOutput(logits=logits, gate=gate)
        if probe is not None:
            alpha_prime = probe.column_mean(captured, mask)  # Eq. 2-3 from Q, K next to the fused kernel
            result.loss_spp, result.alpha = self.spp(alpha_prime, iel, mask)  # Eq. 2-5
            result.alpha_prime = alpha_prime
        elif with_spp:
            if not out.attentions:
                raise RuntimeError(
                    "the encoder returned no attention probabilities: it must be loaded with "
                    "attn_implementation='eager' when SPP is on (transformers' sdpa kernel returns none), "
                    "or use spp_kernel=fused"
                )
            alpha_prime = column_mean_attention([out.attentions[i] for i in self.spp_layer_index], mask)
            result.loss_spp, result.alpha = self.spp(alpha_prime, iel, mask)  # Eq. 2-5
            result.alpha_prime = alpha_prime
        if labels is not None:
            result.loss_re = F.cross_entropy(logits.float(), labels)  # Eq. 13
            if result.loss_spp is not None:
                result.loss = self.weighting(result.loss_re, result.loss_spp)  # Eq. 14 | Eq. 15
            else:
                result.loss = result.loss_re
        return result

    def head_parameters(self) -> list[nn.Parameter]:
        """The new modules (HR, head): neither the pre-trained encoder nor the loss weighting."""
        other = {id(p) for p in self.encoder.parameters()} | {id(p) for p in self.weighting_parameters()}
        return [p for p in self.parameters() if id(p) not in other]

    def weighting_parameters(self) -> list[nn.Parameter]:
        """Uncertainty weighting's log-variances s_k (Eq. 15); none under manual weighting or without SPP."""
        return list(self.weighting.parameters()) if self.weighting is not None else []

    def loss_sigmas(self) -> dict[str, float]:
        return self.weighting.sigmas() if self.weighting is not None else {}
