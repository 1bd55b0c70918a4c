"""AdamW with decoupled weight decay (none on biases / LayerNorm) and linear warm-up + linear decay."""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import LambdaLR

from selfre.config import TrainConfig

NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight", "b_gate", "b1", "b2")


def build_optimizer(model, cfg: TrainConfig) -> torch.optim.AdamW:
    head_ids = {id(p) for p in model.head_parameters()}
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_head = id(p) in head_ids
        decay = not (name.endswith(NO_DECAY) or p.ndim == 0)
        groups.setdefault((is_head, decay), []).append(p)
    head_lr = cfg.head_learning_rate or cfg.learning_rate
    return torch.optim.AdamW(
        [
            {"params": ps, "lr": head_lr if is_head else cfg.learning_rate, "weight_decay": cfg.weight_decay if decay else 0.0}
            for (is_head, decay), ps in sorted(groups.items())
        ]
    )


def linear_warmup_decay(optimizer, total_steps: int, warmup_ratio: float) -> LambdaLR:
    warmup = int(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return LambdaLR(optimizer, factor)
