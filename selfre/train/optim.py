"""AdamW with decoupled weight decay (none on biases / LayerNorm) and linear warm-up + linear decay."""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import LambdaLR

from selfre.config import TrainConfig

NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight", "b_gate", "b1", "b2")


def build_optimizer(model, cfg: TrainConfig) -> torch.optim.AdamW:
    """Three learning rates: the encoder's, the new modules' (HR + head; head_learning_rate, default the
    encoder's) and uncertainty weighting's log-variances (weighting_learning_rate: see that field's help)."""
    head_ids = {id(p) for p in model.head_parameters()}
    weighting_ids = {id(p) for p in model.weighting_parameters()}
    rates = {
        "encoder": cfg.learning_rate,
        "head": cfg.head_learning_rate or cfg.learning_rate,
        "weighting": cfg.weighting_learning_rate,
    }
    groups: dict[tuple[str, bool], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        kind = "weighting" if id(p) in weighting_ids else "head" if id(p) in head_ids else "encoder"
        decay = not (name.endswith(NO_DECAY) or p.ndim == 0)
        groups.setdefault((kind, decay), []).append(p)
    return torch.optim.AdamW(
        [
            {"params": ps, "lr": rates[kind], "weight_decay": cfg.weight_decay if decay else 0.0, "name": f"{kind}"}
            for (kind, decay), ps in sorted(groups.items())
        ]
    )


def linear_warmup_decay(optimizer, total_steps: int, warmup_ratio: float) -> LambdaLR:
    warmup = int(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return LambdaLR(optimizer, factor)
