"""HR: the hierarchical feature retainer (docs/method.md §4, paper Eq. 7-11).

Inputs are the L+1 hidden states T^0..T^L stacked on a leading layer axis: `states` is (L+1)×B×n×d.
No Python loop over layers: the connector is one attention call over (L+1)·B sequences, the per-layer
FFNs are one batched matmul each, and the retainer gate is one einsum. That is what keeps HR as
efficient per FLOP as the encoder itself (issue: efficiency benchmark).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class AttentionConnector(nn.Module):
    """R_l = LayerNorm(MultiHead(query=T^L, key=value=T^l) W_h) for every l at once (Eq. 7).

    Weights are shared across layers; padding keys are masked.
    """

    def __init__(self, hidden: int, heads: int):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not divisible by {heads} heads")
        self.heads = heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, hidden)  # W_h
        self.norm = nn.LayerNorm(hidden)

    def forward(self, last: torch.Tensor, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        layers, batch, n, d = states.shape
        h, dh = self.heads, d // self.heads

        def split(x: torch.Tensor) -> torch.Tensor:  # (..., n, d) -> (..., h, n, dh)
            return x.unflatten(-1, (h, dh)).transpose(-3, -2)

        q = split(self.q(last)).expand(layers, -1, -1, -1, -1)  # T^L W_q, shared by every layer
        k, v = split(self.k(states)), split(self.v(states))  # T^l W_k, T^l W_v for all l in one matmul
        keep = mask.bool()[None, :, None, None, :].expand(layers, -1, -1, -1, -1)
        flat = (layers * batch, h, n, dh)
        heads = F.scaled_dot_product_attention(
            q.reshape(flat), k.reshape(flat), v.reshape(flat), attn_mask=keep.reshape(layers * batch, 1, 1, n)
        )  # softmax(q kᵀ / sqrt(d/M)) v  (Eq. 7)
        merged = heads.view(layers, batch, h, n, dh).transpose(-3, -2).reshape(layers, batch, n, d)
        return self.norm(self.out(merged))  # R_l = LayerNorm([head_1; …; head_M] W_h)  (Eq. 7)


class LayerFFN(nn.Module):
    """V_l = W_2^l · act(W_1^l [T^L ; R_l] + b_1^l) + b_2^l + T^L, one weight set per layer, stacked (Eq. 8)."""

    def __init__(self, hidden: int, layers: int):
        super().__init__()
        self.w1_last = nn.Parameter(torch.empty(hidden, layers * hidden))  # W_1^l rows acting on T^L, all l
        self.w1_r = nn.Parameter(torch.empty(layers, hidden, hidden))  # W_1^l rows acting on R_l
        self.b1 = nn.Parameter(torch.zeros(layers, 1, hidden))
        self.w2 = nn.Parameter(torch.empty(layers, hidden, hidden))
        self.b2 = nn.Parameter(torch.zeros(layers, 1, hidden))
        bound = 1 / math.sqrt(2 * hidden)  # nn.Linear's init for fan-in 2d / d
        nn.init.uniform_(self.w1_last, -bound, bound)
        nn.init.uniform_(self.w1_r, -bound, bound)
        nn.init.uniform_(self.w2, -1 / math.sqrt(hidden), 1 / math.sqrt(hidden))

    def forward(self, last: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        layers, batch, n, d = r.shape
        # [T^L ; R_l] W_1^l = T^L W_1a^l + R_l W_1b^l. T^L's part for all l is one (B·n × d)·(d × (L+1)d) matmul.
        from_last = (last.reshape(batch * n, d) @ self.w1_last).view(batch * n, layers, d).transpose(0, 1)
        hidden = torch.baddbmm(from_last + self.b1, r.reshape(layers, batch * n, d), self.w1_r)
        v = torch.baddbmm(self.b2, F.gelu(hidden), self.w2)  # W_2^l act(·) + b_2^l
        return v.view(layers, batch, n, d) + last  # + T^L  (Eq. 8)


def retain(gate: torch.Tensor, last: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """C = G[:,0]·T^L + Σ_l G[:,l+1]·V_l (Eq. 11). gate: B×n×(L+2), last: B×n×d, v: (L+1)×B×n×d."""
    return gate[..., :1] * last + torch.einsum("bnl,lbnd->bnd", gate[..., 1:], v)  # Eq. 11


@dataclass
class HROutput:
    features: torch.Tensor  # C: B×n×d
    gate: torch.Tensor  # G: B×n×(L+2); column 0 weighs T^L, column l+1 weighs V_l (paper Fig. 6)


class HierarchicalRetainer(nn.Module):
    """Attention connector + per-layer FFN + retainer gate over all L+1 hidden states (Eq. 7-11)."""

    def __init__(self, hidden: int, heads: int, num_layers: int, connector: str = "attention"):
        super().__init__()
        states = num_layers + 1  # T^0 (embeddings) .. T^L
        if connector not in ("attention", "identity"):
            raise ValueError(f"unknown hr_connector {connector!r}; expected attention or identity")
        self.connector = AttentionConnector(hidden, heads) if connector == "attention" else None
        self.ffn = LayerFFN(hidden, states)
        # W_g ∈ R^{(L+2)d × (L+2)}: L+2 gate columns, one for T^L and one per V_l (docs/method.md §4 settles the
        # paper's L+1 / L+2 mismatch). Stored as (L+2) × d × (L+2) so the concat is never materialised.
        self.w_gate = nn.Parameter(torch.empty(states + 1, hidden, states + 1))
        self.b_gate = nn.Parameter(torch.zeros(states + 1))
        nn.init.uniform_(self.w_gate, -1 / math.sqrt((states + 1) * hidden), 1 / math.sqrt((states + 1) * hidden))

    def forward(self, hidden_states: tuple[torch.Tensor, ...], mask: torch.Tensor) -> HROutput:
        states = torch.stack(hidden_states)  # (L+1)×B×n×d
        last = hidden_states[-1]  # T^L
        r = self.connector(last, states, mask) if self.connector is not None else states  # Eq. 7 | identity
        v = self.ffn(last, r)  # Eq. 8
        slots = torch.cat([last.unsqueeze(0), r])  # [T^L ; R_0 ; … ; R_L]  (Eq. 10)
        gate = torch.softmax(torch.einsum("sbnd,sdk->bnk", slots, self.w_gate) + self.b_gate, dim=-1)  # Eq. 10
        return HROutput(retain(gate, last, v), gate)  # Eq. 11
