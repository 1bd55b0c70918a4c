"""SPP: sparse entity position prediction, the parameter-free auxiliary loss (docs/method.md §3, paper Eq. 1-5).

Shapes: B batch, n sequence, H heads. `mask` is the attention mask (1 = real token, 0 = padding).
Everything is computed in float32, with autocast switched off (`_float32`): the quantities are ~1/n and
AMP's half precision would swamp them, and the column sums over layers, heads and query rows reach
L·H·n (98,304 for 24 layers × 16 heads at n = 256), past fp16's largest value (65,504). Under autocast
an explicit `.float()` is not enough: the matmuls inside `einsum`/`bmm` would be cast back down.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence

import torch
from torch import nn

from selfre.errors import ConfigError

NEG_INF = float("-inf")


def _float32(mask: torch.Tensor):
    """Autocast off on `mask`'s device for the block (see module doc)."""
    return torch.autocast(mask.device.type, enabled=False)


def iel_distribution(iel: torch.Tensor) -> torch.Tensor:
    """q = Q / 1ᵀQ (Eq. 1). `iel` is Q: 1 on entity sub-words, 0 elsewhere (padding included)."""
    iel = iel.float()
    return iel / iel.sum(dim=-1, keepdim=True).clamp_min(1.0)  # Eq. 1


def _masked_softmax(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x.masked_fill(mask == 0, NEG_INF), dim=-1)


def spp_target(q: torch.Tensor, mask: torch.Tensor, mode: str, epsilon: float) -> torch.Tensor:
    """q~: the smoothed target, since KL(α||q) is infinite where q = 0 (docs/method.md §3)."""
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
    with _float32(mask):
        rows = mask.float()  # valid query rows i
        col_sum = None
        for a in attentions:  # a: B×H×n×n
            s = torch.einsum("bhij,bi->bj", a.float(), rows)  # Σ_h Σ_{i valid} A_l[h,i,j]
            col_sum = s if col_sum is None else col_sum + s
        heads = attentions[0].shape[1]
        return _mean_of_column_sums(col_sum, len(attentions), heads, rows)


def _mean_of_column_sums(col_sum: torch.Tensor, layers: int, heads: int, rows: torch.Tensor) -> torch.Tensor:
    denom = layers * heads * rows.sum(dim=-1, keepdim=True)
    return (col_sum / denom) * rows  # Eq. 2 (a^h) and Eq. 3 (α' = mean over rows); padding columns -> 0


# ---------------------------------------------------------------------------------------------------
# Fast path (`spp_kernel=fused`): the same α' without the eager kernel.
#
# Asking the encoder for its attention probabilities forces every layer onto the eager kernel (an n×n
# matrix per head written out, softmaxed, dropped out and multiplied by V, all kept for backward). SPP
# only needs each SPP layer's column sums over valid query rows, and those follow from the layer's queries
# and keys: the encoder keeps its fused sdpa kernel, forward hooks on the SPP layers' query/key projections
# hand over Q and K (no recomputation), and `_ColumnSoftmaxSum` computes Σ_h Σ_{i valid} softmax(QKᵀ/√d)
# per layer. It keeps one n×n probability tensor per SPP layer for backward (eager keeps it too, plus the
# dropout mask and the dropped-out copy). Gradients reach the encoder through Q and K, exactly as through
# the eager probabilities. One difference in training: eager returns the probabilities after attention
# dropout, the fast path before it (their expectation); with attention dropout 0 they are equal.


class _ColumnSoftmaxSum(torch.autograd.Function):
    """c_bj = Σ_h Σ_i r_bi P_bhij with P = softmax_j(scale·q_bhi·k_bhj + bias_bj): one layer's column sums.

    Written for few passes over the n×n tensors (on CPU each pass costs about as much as QKᵀ): forward =
    one baddbmm, one softmax, one bmm; backward = the softmax derivative in two passes over the saved P,
    then two bmms. In training that is 3·n²·d multiply-adds per head-layer (QKᵀ, ∂Q, ∂K) beyond eager.
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)  # SPP runs in float32 (see top)
    def forward(ctx, q, k, key_bias, rows, scale):
        b, h, n, d = q.shape
        bias = key_bias[:, None, None, :].expand(b, h, 1, n).reshape(b * h, 1, n)
        scores = torch.baddbmm(bias, q.reshape(b * h, n, d), k.reshape(b * h, n, d).transpose(1, 2), alpha=scale)
        p = torch.softmax(scores, dim=-1)  # P = softmax(q kᵀ·scale + mask), (B·H)×n×n
        r = rows[:, None, None, :].expand(b, h, 1, n).reshape(b * h, 1, n)
        ctx.save_for_backward(q, k, rows, p)
        ctx.scale = scale
        return torch.bmm(r, p).view(b, h, n).sum(dim=1)  # Σ_h Σ_{i valid} P[h,i,j]

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad):
        q, k, rows, p = ctx.saved_tensors
        b, h, n, d = q.shape
        g = grad[:, None, None, :].expand(b, h, 1, n).reshape(b * h, 1, n)  # ∂L/∂c_j, per head
        a = (rows * ctx.scale)[:, None, :, None].expand(b, h, n, 1).reshape(b * h, n, 1)  # r_i·scale
        # softmax derivative (s = scale·q·k): ∂L/∂s_ij = a_i P_ij (g_j - t_i), t_i = Σ_j P_ij g_j
        t = torch.bmm(p, g.transpose(1, 2))
        ds = (g - t).mul_(p)  # without the a_i factor, which is applied on the n×d side below
        dq = a * torch.bmm(ds, k.reshape(b * h, n, d))  # ∂L/∂q_i = Σ_j ∂L/∂s_ij · scale·k_j
        dk = torch.bmm(ds.transpose(1, 2), a * q.reshape(b * h, n, d))  # ∂L/∂k_j = Σ_i ∂L/∂s_ij · scale·q_i
        return dq.view(b, h, n, d), dk.view(b, h, n, d), None, None, None


def column_mean_from_queries_keys(
    queries_keys: Sequence[tuple[torch.Tensor, torch.Tensor, float]], mask: torch.Tensor
) -> torch.Tensor:
    """α' from (Q, K, scale) of each SPP layer, Q and K as B×H×n×d_head: equals `column_mean_attention` of
    the eager probabilities of those layers (padding keys get probability 0, padding query rows are skipped)."""
    with _float32(mask):
        rows = mask.float()  # valid query rows i
        key_bias = torch.zeros_like(rows).masked_fill(mask == 0, NEG_INF)  # padding keys: softmax weight 0
        col_sum = None
        for q, k, scale in queries_keys:
            s = _ColumnSoftmaxSum.apply(q.float(), k.float(), key_bias, rows, scale)  # Σ_h Σ_{i valid} A_l[h,i,j]
            col_sum = s if col_sum is None else col_sum + s
        heads = queries_keys[0][0].shape[1]
        return _mean_of_column_sums(col_sum, len(queries_keys), heads, rows)


def self_attention_modules(encoder: nn.Module) -> list[nn.Module]:
    """The encoder's self-attention blocks in layer order, for BERT-family encoders (BERT, RoBERTa,
    MiniLM, XLM-R, ELECTRA, …) whose attention is softmax(QKᵀ·scaling + padding mask) over `query`/`key`
    projections; [] for anything else (the fast path then refuses rather than compute a different α')."""
    found = []
    for m in encoder.modules():
        if not type(m).__name__.endswith("SelfAttention") or getattr(m, "is_causal", False):
            continue
        if not (isinstance(getattr(m, "query", None), nn.Linear) and isinstance(getattr(m, "key", None), nn.Linear)):
            return []
        if getattr(m, "position_embedding_type", "absolute") not in ("absolute", None):
            return []  # relative-position scores are added to QKᵀ: not reproduced here
        found.append(m)
    return found


class AttentionSummaryProbe:
    """Collects Q and K of the SPP layers during an encoder call; `column_mean` turns them into α'."""

    def __init__(self, encoder: nn.Module, layer_index: Sequence[int]):
        blocks = self_attention_modules(encoder)
        if len(blocks) != encoder.config.num_hidden_layers:
            raise ConfigError(
                f"model.spp_kernel=fused supports BERT-family encoders (query/key projections, absolute positions); "
                f"{type(encoder).__name__} is not one: use spp_kernel=eager"
            )
        self.layers = list(layer_index)
        self.shape = {i: (blocks[i].num_attention_heads, blocks[i].attention_head_size) for i in self.layers}
        self.scale = {i: getattr(blocks[i], "scaling", blocks[i].attention_head_size ** -0.5) for i in self.layers}
        self._captured: dict[int, dict[str, torch.Tensor]] | None = None
        for i in self.layers:
            blocks[i].query.register_forward_hook(functools.partial(self._keep, i, "q"))
            blocks[i].key.register_forward_hook(functools.partial(self._keep, i, "k"))

    def _keep(self, layer: int, which: str, module, args, output) -> None:
        if self._captured is not None:
            self._captured[layer][which] = output

    @contextlib.contextmanager
    def capture(self):
        """Within the block, the SPP layers' projections are kept (with their autograd graph) in the dict
        it yields: pass that to `column_mean`."""
        captured: dict[int, dict[str, torch.Tensor]] = {i: {} for i in self.layers}
        self._captured = captured
        try:
            yield captured
        finally:
            self._captured = None

    def column_mean(self, captured: dict[int, dict[str, torch.Tensor]], mask: torch.Tensor) -> torch.Tensor:
        """α' of the captured encoder call (Eq. 2-3)."""
        if any(len(c) != 2 for c in captured.values()):
            raise RuntimeError("the encoder call under capture() did not run every SPP layer's query/key projection")

        def split(x: torch.Tensor, layer: int) -> torch.Tensor:  # B×n×(H·d) -> B×H×n×d
            return x.view(*x.shape[:-1], *self.shape[layer]).transpose(1, 2)

        qk = [(split(captured[i]["q"], i), split(captured[i]["k"], i), self.scale[i]) for i in self.layers]
        return column_mean_from_queries_keys(qk, mask)


def alpha_distribution(alpha_prime: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """α from α': softmax over valid positions (Eq. 3) or α' itself renormalised (`model.spp_alpha`, docs/method.md
    §3)."""
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

    def __init__(
        self, target: str = "softmax", epsilon: float = 0.1, direction: str = "alpha_q", alpha: str = "softmax"
    ):
        super().__init__()
        for name, value, allowed in (
            ("spp_target", target, ("softmax", "smooth")),
            ("spp_direction", direction, ("alpha_q", "q_alpha")),
            ("spp_alpha", alpha, ("softmax", "renormalize")),
        ):
            if value not in allowed:  # a typo must not silently pick the other branch
                raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(allowed)}")
        if target == "smooth" and direction == "alpha_q" and epsilon <= 0:
            raise ValueError("spp_target=smooth with spp_epsilon=0 makes KL(α||q~) infinite; use epsilon > 0")
        self.target, self.epsilon, self.direction, self.alpha_mode = target, epsilon, direction, alpha

    def forward(
        self, alpha_prime: torch.Tensor, iel: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (L_spp, α). `alpha_prime` comes from `column_mean_attention` (or a fast path)."""
        with _float32(mask):
            alpha = alpha_distribution(alpha_prime.float(), mask, self.alpha_mode)  # Eq. 3
            q_t = spp_target(iel_distribution(iel), mask, self.target, self.epsilon)  # Eq. 1 + smoothing
            if self.direction == "alpha_q":
                kl = kl_divergence(alpha, q_t, mask)  # Eq. 5: KL(α || q~)
            else:
                kl = kl_divergence(q_t, alpha, mask)  # KL(q~ || α)
            return kl.mean(), alpha
